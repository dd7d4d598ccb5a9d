package proxy

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/bucketkey/bucketkey/s3err"
)

// idleBody is a client's request body whose every read may wait at most
// idle for bytes, as S3 closes an upload whose client went quiet (400
// RequestTimeout): a client that stops sending mid-body otherwise holds
// its request's buffers and backend connection for as long as it likes.
//
// The deadline is set for each read and cleared after it, so that time
// the proxy spends elsewhere (writing to a slow backend) never counts,
// and no deadline is left on the connection for the server's own read
// once the body is done (which would cancel the request).
type idleBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	idle  time.Duration
	off   bool // the connection takes no deadlines (not a net.Conn)
	quiet bool // a read timed out: the client stopped sending
}

func (b *idleBody) Read(p []byte) (int, error) {
	if b.off {
		return b.ReadCloser.Read(p)
	}
	if err := b.rc.SetReadDeadline(time.Now().Add(b.idle)); err != nil {
		b.off = true // e.g. httptest's recorder, HTTP/2 without support
		return b.ReadCloser.Read(p)
	}
	n, err := b.ReadCloser.Read(p)
	_ = b.rc.SetReadDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		b.quiet = true
		return n, s3err.RequestTimeout.Wrap(err)
	}
	return n, err
}

// Close closes the body, which reads what is left of it (net/http drains
// up to 256 KiB to keep the connection): that read waits idle at most
// too, and not at all once the client has gone quiet.
func (b *idleBody) Close() error {
	if b.off {
		return b.ReadCloser.Close()
	}
	d := time.Now().Add(b.idle)
	if b.quiet {
		d = time.Now()
	}
	if err := b.rc.SetReadDeadline(d); err == nil {
		defer func() { _ = b.rc.SetReadDeadline(time.Time{}) }()
	}
	return b.ReadCloser.Close()
}
