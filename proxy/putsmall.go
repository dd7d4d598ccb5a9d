package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/bucketkey/bucketkey/envelope"
)

// Small uploads (docs/ARCHITECTURE.md, "Small uploads") are sealed in
// memory and sent with a plain Content-Length: the client's body is read
// and verified whole first, so nothing reaches the backend unless every
// hash, signature and checksum held, and the backend gets one hex
// x-amz-content-sha256 (or UNSIGNED-PAYLOAD) instead of aws-chunked
// framing with a signature per chunk to decode and verify.
const (
	// smallPutMax is the largest ciphertext (object or stored part) sealed
	// in memory; larger uploads stream. It stays below expectContinueMin:
	// a buffered upload has read the client's body before it asks.
	smallPutMax = 512 << 10
	// sealBudgetBytes bounds the memory all buffered uploads hold at
	// once; an upload that finds it spent streams instead of waiting.
	sealBudgetBytes = 32 << 20
)

// oneSegment is the capacity of a buffer for one segment's ciphertext, as
// an object or as a stored part (v1's size algebra, the zero DataKey's;
// only a capacity: larger uploads take the large pool): most small
// uploads need no more.
var oneSegment = int(max(new(envelope.DataKey).StoredSize(0, bufSize), new(envelope.DataKey).StoredSize(1, bufSize)))

// sealedSegment is the stored size of a full segment (65,552 bytes; v1's
// size algebra, the zero DataKey's), the size of the upstream aws-chunked
// chunks of a streamed upload (docs/ARCHITECTURE.md, "Upstream
// signatures").
var sealedSegment = int(new(envelope.DataKey).StoredSize(0, bufSize))

var (
	sealSmall = sync.Pool{New: func() any { b := make([]byte, 0, oneSegment); return &b }}
	sealLarge = sync.Pool{New: func() any { b := make([]byte, 0, smallPutMax); return &b }}
	// sealHeld is what buffered uploads hold now, in bytes.
	sealHeld atomic.Int64
)

// inlinePutMax is the largest ciphertext sealed into a buffer of its own
// size instead of a pooled one: sent as a plain bytes.Reader, which
// net/http knows to be in memory, so the request's headers and body leave
// in one write (with the transport's WriteBufferSize, DefaultTransport)
// where a pooled buffer's body, which must say when the transport is done
// with it, is written after the headers are flushed: one more write
// syscall for the proxy and one more read for the backend per small PUT.
const inlinePutMax = 12 << 10

// sealBuffer is a buffer for csize bytes of ciphertext: its own (pool nil)
// up to inlinePutMax, else pooled and charged to the budget; nil if csize
// is too large or the budget is spent.
type sealBuffer struct {
	b    *[]byte
	pool *sync.Pool
	once sync.Once
}

func getSealBuffer(csize int64) *sealBuffer {
	if csize <= inlinePutMax {
		b := make([]byte, 0, csize)
		return &sealBuffer{b: &b}
	}
	pool, c := &sealSmall, int64(oneSegment)
	if csize > c {
		pool, c = &sealLarge, smallPutMax
	}
	if csize > c {
		return nil
	}
	if sealHeld.Add(c) > sealBudgetBytes {
		sealHeld.Add(-c)
		return nil
	}
	b := pool.Get().(*[]byte)
	*b = (*b)[:0]
	return &sealBuffer{b: b, pool: pool}
}

// release returns a pooled buffer to its pool and its bytes to the
// budget, once.
func (s *sealBuffer) release() {
	if s.pool == nil {
		return
	}
	s.once.Do(func() {
		sealHeld.Add(-int64(cap(*s.b)))
		s.pool.Put(s.b)
	})
}

// Write appends to the buffer without ever growing it past its capacity
// (the writer writes exactly the ciphertext size, which fits).
func (s *sealBuffer) Write(p []byte) (int, error) {
	if len(*s.b)+len(p) > cap(*s.b) {
		return 0, io.ErrShortBuffer
	}
	*s.b = append(*s.b, p...)
	return len(p), nil
}

// releaseOnClose releases the buffer a request body reads when the
// transport closes that body (which may be after the response arrived).
type releaseOnClose struct {
	io.ReadCloser
	buf *sealBuffer
}

func (r *releaseOnClose) Close() error {
	err := r.ReadCloser.Close()
	r.buf.release()
	return err
}

// putBuffered seals u in buf and sends it in one request of csize bytes.
// The client's body is read to its verified end before anything is sent:
// if it fails, the backend never hears of the upload.
func (p *Proxy) putBuffered(ctx context.Context, u encryptedPut, buf *sealBuffer, csize int64) (*http.Response, error) {
	sent := false
	defer func() {
		if !sent {
			buf.release()
		}
	}()
	if err := encryptTo(buf, u); err != nil {
		if !u.fromClient {
			return nil, err
		}
		return nil, clientBodyError(err)
	}
	if int64(len(*buf.b)) != csize {
		return nil, io.ErrShortWrite // a bug: the writer's size is the format's
	}
	req, err := p.newUpstream(ctx, http.MethodPut, u.bucket, u.key, u.query, u.header)
	if err != nil {
		return nil, err
	}
	req, dl := p.withDeadline(req)
	if err := p.signer.SignBodyChecksum(req.Context(), req, *buf.b, u.ck); err != nil {
		dl.cancel(nil)
		return nil, fmt.Errorf("proxy: sign backend request: %w", err)
	}
	if req.Body != http.NoBody && buf.pool != nil {
		req.Body = &releaseOnClose{ReadCloser: req.Body, buf: buf}
		sent = true // the transport closes the body, on every path
	}
	dl.arm()
	return p.send(req, dl)
}
