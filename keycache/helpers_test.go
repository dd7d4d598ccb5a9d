package keycache_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bucketkey/bucketkey/internal/testenv"
	"github.com/bucketkey/bucketkey/keycache"
	"github.com/bucketkey/bucketkey/keycache/awskms"
	"github.com/bucketkey/bucketkey/keycache/localkey"
)

// fakeClock is an injected clock: time moves only when a test says so.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingProvider forwards to a real provider and counts the calls that
// reach it. With gate set, a GenerateDataKey call first reports on called
// and then waits for gate to close, so a test can hold a provider call open
// and prove nobody waits on it.
type countingProvider struct {
	keycache.Provider
	gens, decs atomic.Int64

	mu     sync.Mutex
	called chan string
	gate   chan struct{}
}

func (p *countingProvider) hold() (called chan string, release func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.called = make(chan string, 16)
	p.gate = make(chan struct{})
	gate := p.gate
	var once sync.Once
	return p.called, func() { once.Do(func() { close(gate) }) }
}

func (p *countingProvider) waitGate(op string) {
	p.mu.Lock()
	called, gate := p.called, p.gate
	p.mu.Unlock()
	if gate == nil {
		return
	}
	called <- op
	<-gate
}

func (p *countingProvider) GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string) (keycache.GeneratedKey, error) {
	p.gens.Add(1)
	p.waitGate(keycache.OpGenerateDataKey)
	return p.Provider.GenerateDataKey(ctx, keyID, encCtx)
}

func (p *countingProvider) Decrypt(ctx context.Context, keyID string, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	p.decs.Add(1)
	p.waitGate(keycache.OpDecrypt)
	return p.Provider.Decrypt(ctx, keyID, wrapped, encCtx)
}

// fakeFaultProvider injects provider failures a real local-kms cannot
// produce on demand (throttling, an outage of a running server): while a
// fault is set, calls fail with it without reaching the real provider.
type fakeFaultProvider struct {
	keycache.Provider
	fault atomic.Pointer[keycache.Error]
}

func (p *fakeFaultProvider) set(kind keycache.ErrorKind) {
	if kind == 0 {
		p.fault.Store(nil)
		return
	}
	p.fault.Store(&keycache.Error{Kind: kind, Err: errInjected(kind)})
}

type errInjected keycache.ErrorKind

func (e errInjected) Error() string { return "injected fault: " + keycache.ErrorKind(e).String() }

func (p *fakeFaultProvider) GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string) (keycache.GeneratedKey, error) {
	if f := p.fault.Load(); f != nil {
		return keycache.GeneratedKey{}, keycache.NewError(f.Kind, keycache.OpGenerateDataKey, f.Err)
	}
	return p.Provider.GenerateDataKey(ctx, keyID, encCtx)
}

func (p *fakeFaultProvider) Decrypt(ctx context.Context, keyID string, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	if f := p.fault.Load(); f != nil {
		return nil, keycache.NewError(f.Kind, keycache.OpDecrypt, f.Err)
	}
	return p.Provider.Decrypt(ctx, keyID, wrapped, encCtx)
}

// startKMS starts a local-kms for the test and returns a provider over it.
func startKMS(t testing.TB) *awskms.KMS {
	t.Helper()
	p := testenv.KMS(t)
	k, err := awskms.New(context.Background(), awskms.Options{
		Region: testenv.Region, Endpoint: p.URL,
		AccessKey: "test-access", SecretKey: "test-secret",
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newLocal returns a local provider over a fresh master key file.
func newLocal(t testing.TB) *localkey.Provider {
	t.Helper()
	l, err := localkey.Open(filepath.Join(t.TempDir(), "master.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// newCache returns a cache closed when the test ends.
func newCache(t testing.TB, p keycache.Provider, o keycache.Options) *keycache.Cache {
	t.Helper()
	c := keycache.New(p, o)
	t.Cleanup(c.Close)
	return c
}

// write runs WithBucketKey and returns copies of what was lent.
func write(t testing.TB, c *keycache.Cache, req keycache.WriteRequest) (wrapped []byte, plaintext []byte) {
	t.Helper()
	err := c.WithBucketKey(context.Background(), req, func(k keycache.Key) error {
		wrapped = append([]byte(nil), k.Wrapped...)
		plaintext = append([]byte(nil), k.Plaintext...)
		return nil
	})
	if err != nil {
		t.Fatalf("WithBucketKey(%s): %v", req.Bucket, err)
	}
	return wrapped, plaintext
}

// read runs WithUnwrappedKey and returns a copy of the plaintext.
func read(c *keycache.Cache, req keycache.ReadRequest) ([]byte, error) {
	var pt []byte
	err := c.WithUnwrappedKey(context.Background(), req, func(p []byte) error {
		pt = append([]byte(nil), p...)
		return nil
	})
	return pt, err
}

func requests(s keycache.Savings, op, outcome string) int64 { return s.Requests[op][outcome] }

// keyEncodings are the forms in which key bytes could leak into text: raw,
// hex in both cases, and base64 in the standard and URL alphabets (unpadded,
// so the padded forms contain them too).
func keyEncodings(key []byte) []string {
	h := hex.EncodeToString(key)
	return []string{
		string(key), h, strings.ToUpper(h),
		base64.RawStdEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key),
	}
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return len(b) > 0
}

// recv receives from ch, failing the test if nothing comes within a
// generous watchdog: a regression then fails instead of hanging the suite.
// It is not synchronisation: the value normally arrives at once.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: nothing after 10s", what)
		panic("unreachable")
	}
}
