package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bucketkey/bucketkey/sigv4"
)

// failAtEnd returns all of r, then err where r would return io.EOF: a
// client body whose last check (a hash, a checksum) fails.
type failAtEnd struct {
	r   io.Reader
	err error
}

func (f *failAtEnd) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// fakeBackend is an injected fault, not a real server: an httptest
// server that either reads every PUT body and records whether it got all
// of it (then answers 200), or answers at once without reading (with
// early's status), as no real backend can be made to on demand.
type fakeBackend struct {
	srv   *httptest.Server
	early atomic.Int32 // 0: read the body; otherwise answer this at once
	mu    sync.Mutex
	whole map[string]bool // by path: the body arrived whole (a request
	// abandoned earlier may still be recording when the next one starts)
}

func newFakeBackend(t *testing.T) *fakeBackend {
	b := &fakeBackend{whole: map[string]bool{}}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := b.early.Load(); s != 0 {
			w.WriteHeader(int(s))
			return
		}
		n, err := io.Copy(io.Discard, r.Body)
		b.mu.Lock()
		b.whole[r.URL.Path] = b.whole[r.URL.Path] || err == nil && n == r.ContentLength
		b.mu.Unlock()
		if err == nil {
			w.WriteHeader(http.StatusOK)
		}
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *fakeBackend) answerEarly(status int) { b.early.Store(int32(status)) }

// completed reports whether a PUT of path arrived whole.
func (b *fakeBackend) completed(path string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.whole[path]
}

// TestUnitPutNeverCompletes: a streamed upload whose client body fails at
// its very end, is a byte short or a byte long never completes the
// backend's request and never answers success, in every upstream payload
// mode, for sizes around a segment boundary, whether the backend reads
// the body or answers at once; a body that holds answers 200.
func TestUnitPutNeverCompletes(t *testing.T) {
	be := newFakeBackend(t)
	up, _ := url.Parse(be.srv.URL)
	boom := errors.New("boom")
	n := 0
	for _, mode := range []sigv4.PayloadMode{sigv4.PayloadUnsigned, sigv4.PayloadChunked, sigv4.PayloadUnsignedTrailer} {
		p := unitProxy(t, func(c *Config) { c.Upstream = up; c.UpstreamPayload = mode; c.UpstreamTimeout = time.Minute })
		for _, size := range []int64{600<<10 + 17, 640 << 10, 2<<20 + 3} {
			pt := randBytes(int(size))
			for _, src := range []struct {
				name string
				body func() io.Reader
			}{
				{"whole", func() io.Reader { return bytes.NewReader(pt) }},
				{"fails at the end", func() io.Reader { return &failAtEnd{bytes.NewReader(pt), boom} }},
				{"fails a byte short", func() io.Reader { return &failAtEnd{bytes.NewReader(pt[:size-1]), boom} }},
				{"a byte short", func() io.Reader { return bytes.NewReader(pt[:size-1]) }},
				{"a byte long", func() io.Reader { return bytes.NewReader(append(bytes.Clone(pt), 'x')) }},
			} {
				for _, early := range []int{0, http.StatusForbidden} {
					be.answerEarly(early)
					n++
					key := fmt.Sprintf("k%d", n) // each PUT its own, for completed
					resp, err := p.putEncrypted(context.Background(), encryptedPut{
						bucket: "b", key: key, header: http.Header{}, dk: sealTestKey(t, size),
						plaintext: src.body(), size: size, fromClient: true,
					})
					status := 0
					if resp != nil {
						status = resp.StatusCode
						drain(resp)
					}
					desc := fmt.Sprintf("%v, %d bytes, body %s, backend answers early %d: status %d, err %v", mode, size, src.name, early, status, err)
					switch {
					case src.name == "whole" && early == 0:
						if status != http.StatusOK || !be.completed("/b/"+key) {
							t.Errorf("%s: not stored", desc)
						}
					case src.name == "whole":
						if status != early {
							t.Errorf("%s: the backend's answer not relayed", desc)
						}
					case status/100 == 2 || be.completed("/b/"+key):
						t.Errorf("%s: completed", desc)
					}
				}
			}
		}
	}
}

// TestUnitPutBackendSuccessEarly: a backend that answers 200 to a
// streamed PUT before it took the whole body (only a broken one does) is
// not believed: the client gets InternalError, not success.
func TestUnitPutBackendSuccessEarly(t *testing.T) {
	be := newFakeBackend(t)
	up, _ := url.Parse(be.srv.URL)
	p := unitProxy(t, func(c *Config) { c.Upstream = up })
	be.answerEarly(http.StatusOK)
	const size = 2<<20 + 3
	resp, err := p.putEncrypted(context.Background(), encryptedPut{
		bucket: "b", key: "k", header: http.Header{}, dk: sealTestKey(t, size),
		plaintext: bytes.NewReader(randBytes(size)), size: size, fromClient: true,
	})
	if resp != nil {
		drain(resp)
		t.Fatalf("a 200 before the body was taken is relayed as %s", resp.Status)
	}
	if e := toS3(err); err == nil || e.Code != "InternalError" {
		t.Fatalf("err %v, want one answered as InternalError", err)
	}
}
