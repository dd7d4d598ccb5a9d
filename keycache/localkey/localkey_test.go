package localkey

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bucketkey/bucketkey/keycache"
)

func TestLocalRoundTrip(t *testing.T) {
	l := newLocal(t)
	ctx := context.Background()
	encCtx := map[string]string{"aws:s3:arn": "arn:aws:s3:::photos", "tenant": "t1"}
	gk, err := l.GenerateDataKey(ctx, Alias, encCtx)
	if err != nil {
		t.Fatal(err)
	}
	if len(gk.Plaintext) != 32 || len(gk.Wrapped) != localBlobSize || gk.KeyID != l.KeyID() {
		t.Fatalf("got %d-byte key, %d-byte blob, key id %q", len(gk.Plaintext), len(gk.Wrapped), gk.KeyID)
	}
	if !strings.HasPrefix(l.KeyID(), "local:") || len(l.KeyID()) != len("local:")+16 {
		t.Errorf("KeyID = %q", l.KeyID())
	}
	for _, id := range []string{"", Alias, l.KeyID()} {
		pt, err := l.Decrypt(ctx, id, gk.Wrapped, map[string]string{"tenant": "t1", "aws:s3:arn": "arn:aws:s3:::photos"})
		if err != nil {
			t.Fatalf("Decrypt(%q): %v", id, err)
		}
		if !bytes.Equal(pt, gk.Plaintext) {
			t.Fatal("Decrypt returned another key")
		}
	}
	gk2, err := l.GenerateDataKey(ctx, "", encCtx)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(gk2.Plaintext, gk.Plaintext) || bytes.Equal(gk2.Wrapped[:localHeader], gk.Wrapped[:localHeader]) {
		t.Error("two generated keys share a key or salt")
	}
}

func TestLocalRejects(t *testing.T) {
	l := newLocal(t)
	other := newLocal(t)
	ctx := context.Background()
	encCtx := keycache.BucketContext("a")
	gk, err := l.GenerateDataKey(ctx, "", encCtx)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(gk.Wrapped)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name    string
		p       *Provider
		keyID   string
		wrapped []byte
		encCtx  map[string]string
		want    keycache.ErrorKind
	}{
		{"other bucket's context", l, "", gk.Wrapped, keycache.BucketContext("b"), keycache.KindInvalid},
		{"extra context pair", l, "", gk.Wrapped, map[string]string{"aws:s3:arn": "arn:aws:s3:::a", "x": ""}, keycache.KindInvalid},
		{"no context", l, "", gk.Wrapped, nil, keycache.KindInvalid},
		{"version", l, "", flip(0), encCtx, keycache.KindInvalid},
		{"fingerprint", l, "", flip(3), encCtx, keycache.KindDenied},
		{"salt", l, "", flip(20), encCtx, keycache.KindInvalid},
		{"ciphertext", l, "", flip(50), encCtx, keycache.KindInvalid},
		{"tag", l, "", flip(localBlobSize - 1), encCtx, keycache.KindInvalid},
		{"truncated", l, "", gk.Wrapped[:localBlobSize-1], encCtx, keycache.KindInvalid},
		{"extended", l, "", append(bytes.Clone(gk.Wrapped), 0), encCtx, keycache.KindInvalid},
		{"empty", l, "", nil, encCtx, keycache.KindInvalid},
		{"unknown key id", l, "alias/other", gk.Wrapped, encCtx, keycache.KindDenied},
		{"other master key", other, "", gk.Wrapped, encCtx, keycache.KindDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := tt.p.Decrypt(ctx, tt.keyID, tt.wrapped, tt.encCtx)
			if pt != nil || keycache.KindOf(err) != tt.want {
				t.Fatalf("Decrypt = %d bytes, kind %v (%v); want kind %v", len(pt), keycache.KindOf(err), err, tt.want)
			}
		})
	}
	if _, err := l.GenerateDataKey(ctx, "alias/other", encCtx); keycache.KindOf(err) != keycache.KindDenied {
		t.Errorf("GenerateDataKey with an unknown key id: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.GenerateDataKey(cctx, "", encCtx); keycache.KindOf(err) != keycache.KindUnavailable {
		t.Errorf("GenerateDataKey with a canceled context: %v", err)
	}
}

func TestLocalKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "master.key")
	if _, err := Open(path, false); err == nil {
		t.Fatal("Open without create made a key")
	}
	l1, err := Open(path, true)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	// Reloading (with or without create) gives the same key.
	l2, err := Open(path, true)
	if err != nil {
		t.Fatal(err)
	}
	l3, err := Open(path, false)
	if err != nil {
		t.Fatal(err)
	}
	gk, err := l1.GenerateDataKey(context.Background(), "", keycache.BucketContext("a"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []*Provider{l2, l3} {
		if l.KeyID() != l1.KeyID() {
			t.Fatalf("reloaded key id %s, want %s", l.KeyID(), l1.KeyID())
		}
		if _, err := l.Decrypt(context.Background(), "", gk.Wrapped, keycache.BucketContext("a")); err != nil {
			t.Fatalf("reloaded key cannot decrypt: %v", err)
		}
	}

	bad := []struct {
		name    string
		content string
		mode    os.FileMode
	}{
		{"world readable", strings.Repeat("ab", 32) + "\n", 0o644},
		{"short", strings.Repeat("ab", 31) + "\n", 0o600},
		{"not hex", strings.Repeat("zz", 32) + "\n", 0o600},
		{"empty", "", 0o600},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(b.name, " ", "-"))
			if err := os.WriteFile(p, []byte(b.content), b.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, b.mode); err != nil { // beat the umask
				t.Fatal(err)
			}
			_, err := Open(p, true)
			if err == nil {
				t.Fatal("Open accepted it")
			}
			if strings.Contains(err.Error(), "abab") {
				t.Errorf("error shows key material: %v", err)
			}
		})
	}
	if _, err := Open(dir, true); err == nil {
		t.Error("Open accepted a directory")
	}
	if _, err := New(make([]byte, 16)); err == nil {
		t.Error("New accepted a 16-byte key")
	}
}

// TestLocalClose: Close wipes the master key; calls after it fail as
// Unavailable, without touching the wiped key, and so do calls racing with
// it (run with -race), which otherwise succeed with a key that unwraps.
func TestLocalClose(t *testing.T) {
	l := newLocal(t)
	ctx := context.Background()
	gk, err := l.GenerateDataKey(ctx, "", keycache.BucketContext("a"))
	if err != nil {
		t.Fatal(err)
	}
	master := l.master // the provider's own copy, to watch it wiped

	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 8*50)
	for range 8 {
		wg.Go(func() {
			<-start
			for range 50 {
				g, err := l.GenerateDataKey(ctx, "", keycache.BucketContext("a"))
				if err == nil {
					var pt []byte
					pt, err = l.Decrypt(ctx, "", g.Wrapped, keycache.BucketContext("a"))
					if err == nil && !bytes.Equal(pt, g.Plaintext) {
						err = errors.New("a key generated during Close does not unwrap to itself")
					}
				}
				if err != nil && !errors.Is(err, errLocalClosed) {
					errs <- err
				}
			}
		})
	}
	close(start)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("call racing with Close: %v", err)
	}

	if !isZero(master) || l.master != nil {
		t.Fatal("Close left the master key in memory")
	}
	if _, err := l.GenerateDataKey(ctx, "", keycache.BucketContext("a")); keycache.KindOf(err) != keycache.KindUnavailable || !errors.Is(err, errLocalClosed) {
		t.Errorf("GenerateDataKey after Close: %v", err)
	}
	if pt, err := l.Decrypt(ctx, "", gk.Wrapped, keycache.BucketContext("a")); pt != nil || keycache.KindOf(err) != keycache.KindUnavailable || !errors.Is(err, errLocalClosed) {
		t.Errorf("Decrypt after Close: %d bytes, %v", len(pt), err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if l.KeyID() == "" || l.Name() != "local" {
		t.Errorf("Close lost the key id or name")
	}

	// Through a cache: a miss after the provider closed fails as Unavailable.
	c := newCache(t, l, keycache.Options{})
	if err := c.WithBucketKey(ctx, keycache.WriteRequest{Bucket: "a"}, func(keycache.Key) error { return nil }); keycache.KindOf(err) != keycache.KindUnavailable {
		t.Errorf("write through a cache over a closed provider: %v", err)
	}
}

// TestLocalKeyFileGolden pins the file format: a key written by hand loads
// and gives the fingerprint that names it, so blobs stay readable across
// versions.
func TestLocalKeyFileGolden(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k")
	hexKey := "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	if err := os.WriteFile(p, []byte("  "+hexKey+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Open(p, false)
	if err != nil {
		t.Fatal(err)
	}
	master := make([]byte, 32)
	for i := range master {
		master[i] = byte(i)
	}
	l2, err := New(master)
	if err != nil {
		t.Fatal(err)
	}
	if l.KeyID() != l2.KeyID() {
		t.Fatalf("file key id %s, raw key id %s", l.KeyID(), l2.KeyID())
	}
}

// FuzzLocalDecrypt feeds Decrypt untrusted blobs and contexts (they come
// from object metadata): it must never panic, and must succeed only on the
// blob and context it issued.
func FuzzLocalDecrypt(f *testing.F) {
	master := bytes.Repeat([]byte{7}, 32)
	l, err := New(master)
	if err != nil {
		f.Fatal(err)
	}
	// A fixed salt and key, so every fuzz worker knows the one valid blob.
	pt := bytes.Repeat([]byte{9}, 32)
	blob, err := l.wrap(bytes.Repeat([]byte{5}, localSaltSize), pt, keycache.BucketContext("a"))
	if err != nil {
		f.Fatal(err)
	}
	gk := keycache.GeneratedKey{Plaintext: pt, Wrapped: blob}
	f.Add(gk.Wrapped, "a")
	f.Add(gk.Wrapped, "b")
	f.Add(gk.Wrapped[:10], "a")
	f.Add([]byte{}, "")
	f.Add(append([]byte{2}, gk.Wrapped[1:]...), "a")
	f.Fuzz(func(t *testing.T, blob []byte, bucket string) {
		pt, err := l.Decrypt(context.Background(), "", blob, keycache.BucketContext(bucket))
		if err == nil {
			if !bytes.Equal(blob, gk.Wrapped) || bucket != "a" || !bytes.Equal(pt, gk.Plaintext) {
				t.Fatalf("Decrypt accepted a blob or context it did not issue")
			}
			return
		}
		if keycache.KindOf(err) != keycache.KindInvalid && keycache.KindOf(err) != keycache.KindDenied {
			t.Fatalf("Decrypt error of kind %v: %v", keycache.KindOf(err), err)
		}
	})
}
