package e2e

import (
	"testing"
)

func TestSmoke(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		data := randBytes(100000)
		e.put(b, "k", data)
		mustEqual(t, "get", e.get(b, "k"), data)
		raw, md := e.stored(b, "k")
		t.Logf("stored %d bytes, md %v", len(raw), md)
		t.Log(e.snapshot(b))
	})
}
