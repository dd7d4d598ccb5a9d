package localkey

import (
	"path/filepath"
	"testing"

	"github.com/bucketkey/bucketkey/keycache"
)

// newLocal returns a local provider over a fresh master key file.
func newLocal(t testing.TB) *Provider {
	t.Helper()
	l, err := Open(filepath.Join(t.TempDir(), "master.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// newCache returns a cache over p closed when the test ends.
func newCache(t testing.TB, p keycache.Provider, o keycache.Options) *keycache.Cache {
	t.Helper()
	c := keycache.New(p, o)
	t.Cleanup(c.Close)
	return c
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return len(b) > 0
}
