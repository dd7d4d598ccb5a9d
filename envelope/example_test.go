package envelope_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/bucketkey/bucketkey/envelope"
)

// ExampleSeal writes an object and reads it back, as the proxy does: Seal
// under the bucket key the key cache lends, the metadata goes next to the
// ciphertext, and a reader opens the data key from the metadata with the
// unwrapped bucket key.
func ExampleSeal() {
	// From the key cache (KMS GenerateDataKey); never stored in the clear.
	bk := envelope.BucketKey{
		Plaintext: bytes.Repeat([]byte{7}, 32),
		KeyID:     "arn:aws:kms:us-east-1:111122223333:key/example",
		Wrapped:   []byte("the bucket key as KMS wrapped it"),
		Bucket:    "photos",
	}
	plaintext := []byte("hello, world")

	// Write: complete, validated metadata and a fresh data key.
	md, dek, err := envelope.Seal(bk, "2024/cat.txt", false, int64(len(plaintext)))
	if err != nil {
		panic(err)
	}
	defer dek.Wipe()
	var stored bytes.Buffer
	w, _ := envelope.NewWriter(&stored, dek, 0, int64(len(plaintext)))
	w.Write(plaintext)
	w.Close() // only once the plaintext has been verified
	header := http.Header{}
	for k, v := range md.Headers() {
		header.Set(k, v)
	}
	fmt.Println(stored.Len() == int(dek.StoredSize(0, int64(len(plaintext)))))

	// Read: parse the metadata, unwrap the bucket key (KMS Decrypt of
	// WrappedKey, cached), open the data key, decrypt.
	got, err := envelope.ParseMetadata(header)
	if err != nil {
		panic(err)
	}
	key, err := got.Open(bk.Plaintext, "2024/cat.txt")
	if err != nil {
		panic(err)
	}
	r, _ := envelope.NewReader(&stored, key)
	pt, _ := io.ReadAll(r)
	fmt.Println(got.KeyBucket, string(pt))

	// The same metadata under another name does not open.
	_, err = got.Open(bk.Plaintext, "2024/dog.txt")
	fmt.Println(err)
	// Output:
	// true
	// photos hello, world
	// envelope: unseal data key: envelope: message authentication failed
}
