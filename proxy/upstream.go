package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/sigv4"
)

// encodeQuery encodes q in sorted order with RFC 3986 escaping (a space is
// %20, never '+', so no backend can read it two ways); a key with an empty
// value is sent bare ("?uploads"), as S3 clients do.
func encodeQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		vs := q[k]
		if len(vs) == 0 {
			vs = []string{""}
		}
		for _, v := range vs {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(queryEscape(k))
			if v != "" {
				b.WriteByte('=')
				b.WriteString(queryEscape(v))
			}
		}
	}
	return b.String()
}

func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// upstreamURL is the backend URL of bucket/key (path style, whatever style
// the client used), escaped as S3 expects (sigv4.EscapePath) from the
// decoded names, so that the client's own escaping never reaches the
// backend's signature check.
func (p *Proxy) upstreamURL(bucket, key string, q url.Values) *url.URL {
	u := *p.cfg.Upstream
	base := strings.TrimSuffix(u.Path, "/")
	rawBase := strings.TrimSuffix(u.EscapedPath(), "/")
	// One concatenation each: a GET pays for this on every request.
	switch {
	case bucket != "" && key != "":
		u.Path = base + "/" + bucket + "/" + key
		u.RawPath = rawBase + "/" + sigv4.EscapePath(bucket) + "/" + sigv4.EscapePath(key)
	case bucket != "":
		u.Path, u.RawPath = base+"/"+bucket, rawBase+"/"+sigv4.EscapePath(bucket)
	default:
		u.Path, u.RawPath = base+"/", rawBase+"/"
	}
	u.RawQuery = encodeQuery(q)
	return &u
}

// newUpstream builds a fresh backend request with headers h (which it
// owns from now on). The caller signs it with do or doStream.
func (p *Proxy) newUpstream(ctx context.Context, method, bucket, key string, q url.Values, h http.Header) (*http.Request, error) {
	u := p.upstreamURL(bucket, key, q)
	if h == nil {
		h = make(http.Header)
	}
	// Bytes exactly as stored: no transparent decompression by any
	// transport the operator plugs in.
	// Both values in one backing array (h.Set allocates one per header).
	fixed := []string{"identity", "bucketkey"}
	h["Accept-Encoding"] = fixed[0:1:1]
	h["User-Agent"] = fixed[1:2:2]
	req := &http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Host:       u.Host,
	}
	return req.WithContext(ctx), nil
}

// errUpstreamTimeout is the cancel cause when the backend's response
// header does not arrive in time.
var errUpstreamTimeout = errors.New("proxy: backend response header timeout")

// upstreamError is a failure to get any response from the backend
// (unreachable, reset, timed out): the client gets 503 ServiceUnavailable.
type upstreamError struct{ err error }

func (e *upstreamError) Error() string { return "proxy: backend request failed: " + e.err.Error() }
func (e *upstreamError) Unwrap() error { return e.err }

// deadline bounds the wait for the backend's response header. It is armed
// when the request is fully sent (at once for in-memory bodies; when the
// last ciphertext byte is written for streamed ones, whose upload may take
// far longer than any header timeout) and disarmed when the header arrives.
type deadline struct {
	mu     sync.Mutex
	d      time.Duration
	t      *time.Timer
	done   bool
	cancel context.CancelCauseFunc
}

// withDeadline returns req under a context the deadline can cancel.
func (p *Proxy) withDeadline(req *http.Request) (*http.Request, *deadline) {
	ctx, cancel := context.WithCancelCause(req.Context())
	return req.WithContext(ctx), &deadline{d: p.cfg.UpstreamTimeout, cancel: cancel}
}

func (d *deadline) arm() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done || d.t != nil {
		return
	}
	d.t = time.AfterFunc(d.d, func() { d.cancel(errUpstreamTimeout) })
}

func (d *deadline) disarm() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done = true
	if d.t != nil {
		d.t.Stop()
	}
}

// do signs req with its in-memory body (nil for none) and sends it.
func (p *Proxy) do(req *http.Request, body []byte) (*http.Response, error) {
	req, dl := p.withDeadline(req)
	if err := p.signer.Sign(req.Context(), req, body); err != nil {
		dl.cancel(nil)
		return nil, fmt.Errorf("proxy: sign backend request: %w", err)
	}
	dl.arm()
	return p.send(req, dl)
}

// doStream signs req for a streamed body of exactly size bytes, with its
// checksum of ck (sigv4.Signer.SignStreamChecksum), and sends it; the
// caller arms dl when body has been fully produced.
func (p *Proxy) doStream(req *http.Request, dl *deadline, body io.Reader, size int64, ck checksum.Algorithm) (*http.Response, error) {
	if err := p.signer.SignStreamChecksum(req.Context(), req, body, size, ck); err != nil {
		dl.cancel(nil)
		return nil, fmt.Errorf("proxy: sign backend request: %w", err)
	}
	return p.send(req, dl)
}

func (p *Proxy) send(req *http.Request, dl *deadline) (*http.Response, error) {
	resp, err := p.upstream.RoundTrip(req)
	dl.disarm()
	if err != nil {
		cause := context.Cause(req.Context())
		dl.cancel(nil)
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL names the object; the log has the bucket
		}
		if errors.Is(cause, errUpstreamTimeout) {
			err = errUpstreamTimeout
		}
		return nil, &upstreamError{err: err}
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: dl.cancel}
	return resp, nil
}

// cancelOnClose releases the request context when the body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel(nil)
	return err
}

// drain discards what remains of a small response body (so the connection
// can be reused) and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// ok2xx reports whether a backend status is a success.
func ok2xx(status int) bool { return status >= 200 && status < 300 }
