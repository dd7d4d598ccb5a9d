package keycache_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bucketkey/bucketkey/keycache"
	"github.com/bucketkey/bucketkey/keycache/localkey"
)

// The proxy's use: a bucket key for each PUT, the unwrapped key for each
// GET, and the savings for the metrics endpoint.
func Example() {
	dir, _ := os.MkdirTemp("", "keycache-example")
	defer os.RemoveAll(dir)
	p, err := localkey.Open(filepath.Join(dir, "master.key"), true) // dev mode
	if err != nil {
		panic(err)
	}
	c := keycache.New(p, keycache.Options{})
	defer c.Close()
	ctx := context.Background()

	var wrapped []byte
	var keyID string
	for range 100 { // 100 PUTs
		err := c.WithBucketKey(ctx, keycache.WriteRequest{Bucket: "photos", KeyID: localkey.Alias}, func(k keycache.Key) error {
			// Derive the object key from k.Plaintext here; store k.Wrapped
			// and k.KeyID in the object's metadata.
			wrapped, keyID = append(wrapped[:0], k.Wrapped...), k.KeyID
			return nil
		})
		if err != nil {
			panic(err)
		}
	}
	for range 100 { // 100 GETs
		err := c.WithUnwrappedKey(ctx, keycache.ReadRequest{KeyBucket: "photos", KeyID: keyID, Wrapped: wrapped}, func(bucketKey []byte) error {
			return nil // derive the object key and decrypt
		})
		if err != nil {
			panic(err)
		}
	}
	s := c.Stats().Total
	fmt.Printf("KMS requests: %d, one-per-object design: %d, saved %.1f%%\n", s.Actual, s.BaselineTotal, 100*s.Ratio)
	// Output: KMS requests: 1, one-per-object design: 200, saved 99.5%
}
