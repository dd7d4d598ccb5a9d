package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/bucketkey/bucketkey/proxy"
)

// upstreamTimeout is the proxy's wait for the backend's response header in
// these tests (proxy.Config.UpstreamTimeout; 2 minutes by default).
const upstreamTimeout = time.Second

// TestBackendFaults puts toxiproxy between the proxy and versitygw and
// breaks it: down (refused connections), slower than the proxy's backend
// timeout, slow within it, and resetting every connection. Every S3
// operation gets 503 ServiceUnavailable promptly (each request runs under
// a 15 s deadline: none hangs), the proxy serves again once the backend
// does, and no goroutine is left behind.
func TestBackendFaults(t *testing.T) {
	e := newEnv(t, envOptions{s3Faults: true, config: func(c *proxy.Config) { c.UpstreamTimeout = upstreamTimeout }})
	b := e.newBucket()
	data := randBytes(300 << 10)
	e.put(b, "obj", data)
	baseG := settledGoroutines(e)

	ops := []struct {
		name  string
		build func(ctx context.Context) *http.Request
	}{
		{"PutObject", func(ctx context.Context) *http.Request {
			return e.signedPut(ctx, "/"+b+"/new", randBytes(200<<10), nil)
		}},
		{"GetObject", func(ctx context.Context) *http.Request { return e.signed(ctx, http.MethodGet, "/"+b+"/obj") }},
		{"HeadObject", func(ctx context.Context) *http.Request { return e.signed(ctx, http.MethodHead, "/"+b+"/obj") }},
		{"ranged GetObject", func(ctx context.Context) *http.Request {
			r := e.signed(ctx, http.MethodGet, "/"+b+"/obj")
			r.Header.Set("Range", "bytes=100-200")
			return r
		}},
		{"ListObjectsV2", func(ctx context.Context) *http.Request { return e.signed(ctx, http.MethodGet, "/"+b+"?list-type=2") }},
		{"CreateMultipartUpload", func(ctx context.Context) *http.Request { return e.signed(ctx, http.MethodPost, "/"+b+"/mp?uploads") }},
		{"DeleteObject", func(ctx context.Context) *http.Request { return e.signed(ctx, http.MethodDelete, "/"+b+"/new") }},
	}
	// allFail sends every operation at once and checks each answer.
	allFail := func(t *testing.T) {
		var wg sync.WaitGroup
		for _, op := range ops {
			req := op.build(ctxFor(t, 15*time.Second))
			wg.Go(func() {
				start := time.Now()
				r, err := sendReq(e.httpClient, req)
				took := time.Since(start)
				switch {
				case err != nil:
					t.Errorf("%s: no answer within its deadline (%v): %v", op.name, took, err)
				case r.status != 503 || (r.code != "ServiceUnavailable" && op.name != "HeadObject"):
					t.Errorf("%s: %s, want 503 ServiceUnavailable", op.name, r)
				default:
					t.Logf("%s: %d %s in %v", op.name, r.status, r.code, took.Round(time.Millisecond))
				}
			})
		}
		wg.Wait()
	}
	allWork := func(t *testing.T) {
		for _, op := range ops {
			r := e.send(op.build(ctxFor(t, 15*time.Second)))
			if r.status/100 != 2 {
				t.Errorf("%s after the fault: %s", op.name, r)
			}
		}
		mustEqual(t, "object after the fault", e.get(b, "obj"), data)
	}

	phases := []struct {
		name, toxic, stream string
		attrs               toxAttrs
	}{
		{"down", "", "", nil},
		// A backend that never answers (longer than the proxy's timeout).
		// A "timeout" toxic, not a long "latency": toxiproxy v2.5.0 cannot
		// remove a latency toxic that still holds data of connections the
		// proxy gave up on (Shopify/toxiproxy#558, the API answers 503).
		{"silent longer than the proxy's timeout", "timeout", "downstream", toxAttrs{"timeout": 0}},
		{"resetting connections", "reset_peer", "upstream", toxAttrs{"timeout": 0}},
		{"closing connections without an answer", "timeout", "upstream", toxAttrs{"timeout": 100}},
	}
	for _, ph := range phases {
		t.Run(ph.name, func(t *testing.T) {
			e.t = t
			defer func() { e.t = nil }()
			if ph.toxic == "" {
				if err := e.s3Toxi.Disable(); err != nil {
					t.Fatal(err)
				}
			} else if _, err := e.s3Toxi.AddToxic("fault", ph.toxic, ph.stream, 1, ph.attrs); err != nil {
				t.Fatal(err)
			}
			allFail(t)
			if ph.toxic == "" {
				if err := e.s3Toxi.Enable(); err != nil {
					t.Fatal(err)
				}
			} else if err := e.s3Toxi.RemoveToxic("fault"); err != nil {
				t.Fatal(err)
			}
			allWork(t)
		})
	}
	t.Run("slow within the proxy's timeout", func(t *testing.T) {
		e.t = t
		defer func() { e.t = nil }()
		if _, err := e.s3Toxi.AddToxic("slowish", "latency", "downstream", 1, toxAttrs{"latency": 200}); err != nil {
			t.Fatal(err)
		}
		allWork(t)
		if err := e.s3Toxi.RemoveToxic("slowish"); err != nil {
			t.Fatal(err)
		}
	})
	e.t = t
	noGoroutineLeak(t, baseG, 2, e)
}

// TestBackendFailsMidBody: the backend's connection breaks, or stalls,
// while the proxy is streaming an object to the client. A reset breaks
// the client's transfer (never a complete 200); a stall holds the client
// until its own deadline, and once it leaves, the proxy's request ends
// and its goroutines go away.
func TestBackendFailsMidBody(t *testing.T) {
	e := newEnv(t, envOptions{s3Faults: true, config: func(c *proxy.Config) { c.UpstreamTimeout = upstreamTimeout }})
	b := e.newBucket()
	data := randBytes(4 << 20)
	e.put(b, "big", data)
	baseG := settledGoroutines(e)

	// startGet begins a GET of big with the backend's bandwidth held to
	// 256 KB/s (so little is buffered anywhere), reads its first 200 KB
	// and returns the response, with the rest unread.
	startGet := func(t *testing.T, ctx context.Context) *http.Response {
		t.Helper()
		if _, err := e.s3Toxi.AddToxic("narrow", "bandwidth", "downstream", 1, toxAttrs{"rate": 256}); err != nil {
			t.Fatal(err)
		}
		resp, err := e.httpClient.Do(e.signed(ctx, http.MethodGet, "/"+b+"/big"))
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 200<<10)
		if _, err := io.ReadFull(resp.Body, head); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || !bytes.Equal(head, data[:len(head)]) {
			t.Fatalf("GET: %d, first bytes differ", resp.StatusCode)
		}
		return resp
	}
	clear := func(t *testing.T, names ...string) {
		for _, n := range names {
			if err := e.s3Toxi.RemoveToxic(n); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("reset", func(t *testing.T) {
		e.t = t
		defer func() { e.t = nil }()
		ctx := ctxFor(t, 30*time.Second)
		resp := startGet(t, ctx)
		mark := e.obs.mark()
		if _, err := e.s3Toxi.AddToxic("reset", "reset_peer", "downstream", 1, toxAttrs{"timeout": 0}); err != nil {
			t.Fatal(err)
		}
		rest, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil || int64(200<<10+len(rest)) >= resp.ContentLength {
			t.Errorf("GET through a backend reset: read %d more bytes of %d, err %v: want a broken transfer", len(rest), resp.ContentLength, err)
		}
		if !bytes.Equal(rest, data[200<<10:200<<10+len(rest)]) {
			t.Error("bytes after the first 200 KB differ")
		}
		e.obs.waitFor(t, mark, "GetObject")
		clear(t, "reset", "narrow")
		mustEqual(t, "object after the fault", e.get(b, "big"), data)
	})
	t.Run("stall", func(t *testing.T) {
		e.t = t
		defer func() { e.t = nil }()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp := startGet(t, ctx)
		mark := e.obs.mark()
		if _, err := e.s3Toxi.AddToxic("stall", "timeout", "downstream", 1, toxAttrs{"timeout": 0}); err != nil {
			t.Fatal(err)
		}
		_, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("GET through a stalled backend: %v, want the client's deadline", err)
		}
		// The client has gone: the proxy must notice and end the request.
		e.obs.waitFor(t, mark, "GetObject")
		clear(t, "stall", "narrow")
		mustEqual(t, "object after the fault", e.get(b, "big"), data)
	})
	e.t = t
	noGoroutineLeak(t, baseG, 2, e)
}
