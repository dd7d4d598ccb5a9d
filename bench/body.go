package bench

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// maxBlock is the most memory a payload takes: larger objects repeat a
// random block of this size, so a 5 GiB object streams from a generator
// instead of from memory or disk.
const maxBlock = 64 << 20

// objectBody is the body every PUT of a run sends: size bytes, the first
// min(size, maxBlock) random, then that block repeated.
type objectBody struct {
	block []byte
	size  int64
}

func newPayload(size int64) (*objectBody, error) {
	n := size
	if n > maxBlock {
		n = maxBlock
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("bench: random payload: %w", err)
	}
	return &objectBody{block: b, size: size}, nil
}

// reader returns a fresh seekable reader over the payload: the SDK seeks
// back after hashing the body for its signature and checksum.
func (p *objectBody) reader() *blockReader { return &blockReader{p: p} }

// blockReader reads a payload; it implements io.ReadSeeker.
type blockReader struct {
	p   *objectBody
	off int64
}

func (r *blockReader) Read(b []byte) (int, error) {
	if r.off >= r.p.size {
		return 0, io.EOF
	}
	if rem := r.p.size - r.off; int64(len(b)) > rem {
		b = b[:rem]
	}
	n := 0
	for n < len(b) {
		i := (r.off + int64(n)) % int64(len(r.p.block))
		n += copy(b[n:], r.p.block[i:])
	}
	r.off += int64(n)
	return n, nil
}

func (r *blockReader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.off + offset
	case io.SeekEnd:
		abs = r.p.size + offset
	default:
		return 0, errors.New("bench: bad whence")
	}
	if abs < 0 {
		return 0, errors.New("bench: negative position")
	}
	r.off = abs
	return abs, nil
}
