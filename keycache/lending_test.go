package keycache_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bucketkey/bucketkey/keycache"
	"github.com/bucketkey/bucketkey/keycache/localkey"
)

// lend runs WithBucketKey and keeps the lent plaintext slice itself (which
// callers must not do) so the test can watch the cache wipe it.
func lend(t *testing.T, c *keycache.Cache, bucket string) (alias, copyOf []byte) {
	t.Helper()
	err := c.WithBucketKey(context.Background(), keycache.WriteRequest{Bucket: bucket}, func(k keycache.Key) error {
		alias, copyOf = k.Plaintext, bytes.Clone(k.Plaintext)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if isZero(copyOf) {
		t.Fatal("lent an all-zero key")
	}
	return alias, copyOf
}

func TestWipeOnEviction(t *testing.T) {
	c := newCache(t, newLocal(t), keycache.Options{MaxEntries: 1, MaxUnwrapped: 2})
	a, _ := lend(t, c, "a")
	var seeded []byte
	wrapped, _ := write(t, c, keycache.WriteRequest{Bucket: "a"})
	_ = c.WithUnwrappedKey(context.Background(), keycache.ReadRequest{KeyBucket: "a", KeyID: localkey.Alias, Wrapped: wrapped}, func(p []byte) error {
		seeded = p
		return nil
	})
	b, _ := lend(t, c, "b") // evicts a's bucket key and unwrapped key
	if !isZero(a) {
		t.Error("evicted bucket key not wiped")
	}
	if !isZero(seeded) {
		t.Error("evicted unwrapped key not wiped")
	}
	if isZero(b) {
		t.Error("live key wiped")
	}
	if st := c.Stats(); st.CachedBucketKeys != 1 || st.CachedUnwrapped != 2 {
		t.Errorf("cached %d bucket keys, %d unwrapped; want 1, 2", st.CachedBucketKeys, st.CachedUnwrapped)
	}
}

// TestWipeWaitsForCallback: eviction never blocks on a callback and never
// zeroes a key while one uses it; the last callback out wipes it.
func TestWipeWaitsForCallback(t *testing.T) {
	c := newCache(t, newLocal(t), keycache.Options{MaxEntries: 1})
	inside, proceed, done := make(chan []byte), make(chan struct{}), make(chan error)
	go func() {
		done <- c.WithBucketKey(context.Background(), keycache.WriteRequest{Bucket: "a"}, func(k keycache.Key) error {
			want := bytes.Clone(k.Plaintext)
			inside <- k.Plaintext
			<-proceed
			if !bytes.Equal(k.Plaintext, want) {
				return errors.New("key changed during the callback")
			}
			return nil
		})
	}()
	a := recv(t, inside, "callback")
	lend(t, c, "b") // evicts a while its callback runs, without waiting for it
	if isZero(a) {
		t.Fatal("key wiped while a callback held it")
	}
	close(proceed)
	if err := recv(t, done, "callback return"); err != nil {
		t.Fatal(err)
	}
	if !isZero(a) {
		t.Fatal("key not wiped when its last callback returned")
	}
}

func TestWipeOnReplacementAndExpiry(t *testing.T) {
	clock := newFakeClock()
	c := newCache(t, newLocal(t), keycache.Options{TTL: time.Minute, RefreshAhead: -1, Now: clock.Now})
	a, _ := lend(t, c, "a")
	b, _ := lend(t, c, "b")
	clock.Advance(time.Minute)
	a2, _ := lend(t, c, "a") // replaces a's expired key
	if !isZero(a) || isZero(a2) {
		t.Fatal("replaced key not wiped, or new key wiped")
	}
	if isZero(b) {
		t.Fatal("expired but unswept key wiped early")
	}
	// The sweep wipes expired keys nobody asked for again: b, and the
	// unwrap seeds of a and b (two each: under the local key id and under
	// "" as requested); a2 and its seeds live.
	if n := keycache.RemoveExpired(c); n != 5 {
		t.Errorf("swept %d entries, want 5", n)
	}
	if !isZero(b) || isZero(a2) {
		t.Fatal("sweep did not wipe the expired key, or wiped a live one")
	}
	if st := c.Stats(); st.CachedBucketKeys != 1 || st.CachedUnwrapped != 2 {
		t.Errorf("after the sweep: %d bucket keys, %d unwrapped", st.CachedBucketKeys, st.CachedUnwrapped)
	}
}

func TestClose(t *testing.T) {
	c := keycache.New(newLocal(t), keycache.Options{})
	a, _ := lend(t, c, "a")
	wrapped, _ := write(t, c, keycache.WriteRequest{Bucket: "a"})
	c.Close()
	c.Close() // idempotent
	if !isZero(a) {
		t.Fatal("Close did not wipe cached keys")
	}
	if st := c.Stats(); st.CachedBucketKeys != 0 || st.CachedUnwrapped != 0 {
		t.Fatalf("Close left %d + %d keys", st.CachedBucketKeys, st.CachedUnwrapped)
	}
	err := c.WithBucketKey(context.Background(), keycache.WriteRequest{Bucket: "a"}, func(keycache.Key) error { return nil })
	if !errors.Is(err, keycache.ErrClosed) || keycache.KindOf(err) != keycache.KindUnavailable {
		t.Errorf("write after Close: %v", err)
	}
	_, err = read(c, keycache.ReadRequest{KeyBucket: "a", Wrapped: wrapped})
	if !errors.Is(err, keycache.ErrClosed) {
		t.Errorf("read after Close: %v", err)
	}
}

// TestCloseDuringRefresh: Close waits for a background refresh held open in
// the provider, cancels it, and leaves no key behind.
func TestCloseDuringRefresh(t *testing.T) {
	p := &countingProvider{Provider: newLocal(t)}
	clock := newFakeClock()
	c := keycache.New(p, keycache.Options{TTL: time.Minute, Now: clock.Now})
	a, _ := lend(t, c, "a")
	clock.Advance(55 * time.Second)
	called, release := p.hold()
	lend(t, c, "a")
	recv(t, called, "refresh")
	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	release()
	recv(t, closed, "Close")
	if !isZero(a) {
		t.Fatal("key survived Close")
	}
	if st := c.Stats(); st.CachedBucketKeys != 0 || st.CachedUnwrapped != 0 {
		t.Fatalf("a refresh finishing during Close left %d + %d keys", st.CachedBucketKeys, st.CachedUnwrapped)
	}
}

// fakeBlockingProvider forwards to a real provider, but holds every call
// until release is closed, without looking at its context: it stands for a
// provider slow to notice that Close canceled it (a real KMS cannot be made
// to hang on demand). Each call reports its operation on entered as it
// starts; running counts the calls inside it, and canceled those whose
// context had been canceled by the time they were released.
type fakeBlockingProvider struct {
	keycache.Provider
	entered  chan string
	release  chan struct{}
	running  atomic.Int64
	canceled atomic.Int64
}

func (p *fakeBlockingProvider) hold(ctx context.Context, op string) func() {
	p.running.Add(1)
	p.entered <- op
	<-p.release
	if ctx.Err() != nil {
		p.canceled.Add(1)
	}
	return func() { p.running.Add(-1) }
}

func (p *fakeBlockingProvider) GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string) (keycache.GeneratedKey, error) {
	defer p.hold(ctx, keycache.OpGenerateDataKey)()
	return p.Provider.GenerateDataKey(ctx, keyID, encCtx)
}

func (p *fakeBlockingProvider) Decrypt(ctx context.Context, keyID string, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	defer p.hold(ctx, keycache.OpDecrypt)()
	return p.Provider.Decrypt(ctx, keyID, wrapped, encCtx)
}

// TestCloseWaitsForProviderCalls: Close cancels the provider calls in
// flight and returns only once they have returned, for a miss's flight
// (which no background refresh owns) as for a Disabled-mode call. The
// bubble's Wait proves Close is blocked on the call rather than merely slow.
func TestCloseWaitsForProviderCalls(t *testing.T) {
	local := newLocal(t)
	cold, err := local.GenerateDataKey(context.Background(), "", keycache.BucketContext("a"))
	if err != nil {
		t.Fatal(err)
	}
	writeA := func(ctx context.Context, c *keycache.Cache) error {
		return c.WithBucketKey(ctx, keycache.WriteRequest{Bucket: "a"}, func(keycache.Key) error { return nil })
	}
	readCold := func(ctx context.Context, c *keycache.Cache) error {
		return c.WithUnwrappedKey(ctx, keycache.ReadRequest{KeyBucket: "a", Wrapped: cold.Wrapped}, func([]byte) error { return nil })
	}
	tests := []struct {
		name string
		o    keycache.Options
		call func(context.Context, *keycache.Cache) error
		op   string
	}{
		{"write miss", keycache.Options{}, writeA, keycache.OpGenerateDataKey},
		{"read miss", keycache.Options{}, readCold, keycache.OpDecrypt},
		{"baseline write", keycache.Options{Disabled: true}, writeA, keycache.OpGenerateDataKey},
		{"baseline read", keycache.Options{Disabled: true}, readCold, keycache.OpDecrypt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := &fakeBlockingProvider{Provider: local, entered: make(chan string, 1), release: make(chan struct{})}
				c := keycache.New(p, tt.o)
				errc := make(chan error, 1)
				go func() { errc <- tt.call(t.Context(), c) }()
				if op := <-p.entered; op != tt.op {
					t.Fatalf("provider called with %s, want %s", op, tt.op)
				}
				closed := make(chan int64)
				go func() {
					c.Close()
					closed <- p.running.Load()
				}()
				synctest.Wait() // every goroutine is blocked: Close too, if it waits
				early := false
				select {
				case n := <-closed:
					early = true
					t.Errorf("Close returned with %d provider calls running", n)
				default:
				}
				close(p.release)
				if !early {
					if n := <-closed; n != 0 {
						t.Errorf("Close returned with %d provider calls running", n)
					}
				}
				if err := <-errc; keycache.KindOf(err) != keycache.KindUnavailable {
					t.Errorf("request cut short by Close: %v, want kind unavailable", err)
				}
				if n := p.canceled.Load(); n != 1 {
					t.Errorf("%d provider calls saw their context canceled by Close, want 1", n)
				}
				if err := tt.call(t.Context(), c); !errors.Is(err, keycache.ErrClosed) {
					t.Errorf("request after Close: %v", err)
				}
				if n := p.running.Load(); n != 0 {
					t.Errorf("%d provider calls running at the end", n)
				}
			})
		})
	}
}
