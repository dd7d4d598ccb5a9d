package awskms

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/bucketkey/bucketkey/internal/testenv"
	"github.com/bucketkey/bucketkey/keycache"
)

// startKMS starts a local-kms for the test and returns a provider over it.
func startKMS(t testing.TB) *KMS {
	t.Helper()
	p := testenv.KMS(t)
	k, err := New(context.Background(), Options{
		Region: testenv.Region, Endpoint: p.URL,
		AccessKey: "test-access", SecretKey: "test-secret",
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newCache returns a cache over p closed when the test ends.
func newCache(t testing.TB, p keycache.Provider, o keycache.Options) *keycache.Cache {
	t.Helper()
	c := keycache.New(p, o)
	t.Cleanup(c.Close)
	return c
}

func requests(s keycache.Savings, op, outcome string) int64 { return s.Requests[op][outcome] }

// keyEncodings are the forms in which key bytes could leak into text: raw,
// hex in both cases, and base64 in the standard and URL alphabets.
func keyEncodings(key []byte) []string {
	h := hex.EncodeToString(key)
	return []string{
		string(key), h, strings.ToUpper(h),
		base64.RawStdEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key),
	}
}
