package proxy

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/bucketkey/bucketkey/s3err"
	"github.com/bucketkey/bucketkey/sigv4"
)

// requestKey is the context key of the *request being served.
type requestKey struct{}

// request is one client request as it moves through the proxy: who sent it
// (auth), what it addresses, and what has been answered so far, for the
// log line and the Observer.
type request struct {
	p     *Proxy
	r     *http.Request
	w     *responseWriter
	id    string
	op    string
	start time.Time

	level       level
	bucket, key string
	query       url.Values // parsed once, by the route matchers

	auth      *sigv4.Authenticated
	anonymous bool           // an unsigned request, forwarded unsigned (anonymous.go)
	in        countingReader // the verified body, counted

	err     error // the error answered or that aborted the response, for the log
	aborted bool
}

// begin starts the bookkeeping of a request and gives it a request id.
func (p *Proxy) begin(w http.ResponseWriter, r *http.Request) *request {
	rq := &request{
		p:     p,
		r:     r,
		w:     &responseWriter{ResponseWriter: w},
		id:    newRequestID(),
		op:    "Unknown",
		start: p.cfg.Now(),
	}
	// Canonical keys, assigned: Set would canonicalise (allocate) both
	// lower-case names on every request.
	h := w.Header()
	h["X-Amz-Request-Id"] = []string{rq.id}
	h["X-Amz-Id-2"] = []string{s3err.HostID(rq.id)}
	return rq
}

// newRequestID returns 16 random upper-case characters, like S3's ids.
func newRequestID() string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUV"
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return string(b[:])
}

// fail answers err as S3 error XML if nothing has been sent yet. If the
// response has started, the only honest signal left is a broken transfer:
// it aborts the handler so the client sees a failed download, never a
// complete 200 with wrong bytes.
func (rq *request) fail(err error) {
	rq.err = err
	if rq.w.wroteHeader {
		rq.aborted = true
		panic(http.ErrAbortHandler)
	}
	e := toS3(err)
	dropChecksumHeaders(rq.w.Header())
	if e.Code == "InvalidRange" {
		// S3 tells the client the object size with a 416.
		if size := extraOf(e, "ActualObjectSize"); size != "" {
			rq.w.Header().Set("Content-Range", "bytes */"+size)
		}
	}
	s3err.Write(rq.w, rq.r, e, rq.id)
}

// finish writes the request's log line and reports it to the Observer. It
// runs deferred, so it also sees aborted handlers: an abort is logged and
// re-raised; any other panic (a bug) is logged with its stack and answered
// with 500 InternalError when the response has not started.
func (rq *request) finish() {
	v := recover()
	if v != nil {
		if v != http.ErrAbortHandler { //nolint:errorlint // sentinel identity is the contract
			rq.p.cfg.Logger.Error("proxy: panic serving request", "request_id", rq.id, "op", rq.op, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !rq.w.wroteHeader {
				rq.err = fmt.Errorf("proxy: panic: %v", v)
				s3err.Write(rq.w, rq.r, s3err.InternalError, rq.id)
				v = nil
			}
		}
		if v != nil {
			rq.aborted = true
		}
	}
	status := rq.w.status
	if !rq.w.wroteHeader {
		status = http.StatusOK
	}
	d := rq.p.cfg.Now().Sub(rq.start)
	in, out := rq.in.n.Load(), rq.w.n
	attrs := []slog.Attr{
		slog.String("request_id", rq.id),
		slog.String("op", rq.op),
		slog.String("method", rq.r.Method),
		slog.String("bucket", rq.bucket),
		slog.Int("status", status),
		slog.Int64("bytes_in", in),
		slog.Int64("bytes_out", out),
		slog.Duration("duration", d),
	}
	if rq.anonymous {
		attrs = append(attrs, slog.Bool("anonymous", true))
	} else if rq.auth != nil {
		attrs = append(attrs, slog.String("access_key", rq.auth.AccessKey))
	}
	level := slog.LevelInfo
	if rq.aborted {
		attrs = append(attrs, slog.Bool("aborted", true))
		level = slog.LevelWarn
	}
	if rq.err != nil {
		attrs = append(attrs, slog.String("error", rq.err.Error()))
		if status >= 500 || rq.aborted {
			level = slog.LevelError
		}
	}
	rq.log(level, attrs)
	if o := rq.p.cfg.Observer; o != nil {
		o.ObserveRequest(rq.op, status, in, out, d)
	}
	if v != nil {
		panic(v)
	}
}

// log writes the request's line. It calls the handler itself, with no
// caller PC: Logger.LogAttrs walks the stack for one (runtime.Callers) on
// every request, for a source that would name this function anyway.
func (rq *request) log(level slog.Level, attrs []slog.Attr) {
	ctx, h := rq.r.Context(), rq.p.cfg.Logger.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	r := slog.NewRecord(time.Now(), level, "request", 0)
	r.AddAttrs(attrs...)
	_ = h.Handle(ctx, r) // as Logger does: a log that fails does not fail the request
}

// responseWriter records what was sent, for the log and for deciding
// whether an error can still be answered as XML.
type responseWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	n           int64
	preflight   bool // a CORS preflight's answer: relayed as the backend gave it
}

func (w *responseWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		if !w.preflight {
			exposeProxyHeaders(w.Header())
		}
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingReader counts the plaintext bytes read from a client body.
type countingReader struct {
	r io.ReadCloser
	n atomic.Int64 // read by the log line while a copy goroutine may still run
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

// body returns the verified client body: it yields the decoded payload and
// ends in io.EOF only if every check sigv4 made passed.
func (rq *request) body() io.Reader { return &rq.in }

// readBody reads a small verified body (an XML document) whole, refusing
// more than limit bytes.
func (rq *request) readBody(limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(rq.body(), limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, s3err.EntityTooLarge.With(fmt.Sprintf("This request body may be at most %d bytes.", limit))
	}
	return b, nil
}
