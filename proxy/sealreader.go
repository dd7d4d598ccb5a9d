package proxy

import (
	"fmt"
	"io"
	"sync"

	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/s3err"
)

// sealReader is a streamed upload's backend request body: the transport's
// own reads pull the plaintext, seal it (envelope.NewWriter into a
// buffer) and take the ciphertext, with no goroutine and pipe in between
// (each sealed segment crossed an io.Pipe in three reads, each a
// goroutine hand-off). As encryptTo, it seals the final segment only after
// the source returned io.EOF with exactly size bytes, which the verifying
// client body does only if every check held: a failing source fails the
// body instead, and the backend, short of its Content-Length, stores
// nothing. Memory: one plaintext segment, the writer's and one sealed
// segment, pooled.
type sealReader struct {
	mu      sync.Mutex
	src     io.Reader
	ew      io.WriteCloser
	size    int64
	left    int64 // plaintext not yet read
	in      *[]byte
	out     *[]byte
	pending []byte // ciphertext not yet returned
	closed  bool   // the final segment is sealed
	sent    func() // called once the final segment is sealed
	err     error  // sticky: io.EOF once all is returned, the failure, or errAbandoned
	fail    error  // the sealing's own failure (the source's), for abandon
	done    bool   // abandoned: buffers returned
	empty   int    // consecutive reads of the source that gave nothing
}

// maxEmptyReads is how many reads in a row may return (0, nil) before a
// source is taken for broken, as bufio does.
const maxEmptyReads = 100

// sealOutSize holds what one write to the envelope writer can emit: a
// sealed segment, and a part's 16-byte header or end field.
var sealOutSize = sealedSegment + 64

var sealOutPool = sync.Pool{New: func() any { b := make([]byte, 0, sealOutSize); return &b }}

func newSealReader(u encryptedPut, sent func()) (*sealReader, error) {
	s := &sealReader{src: onlyReader{u.plaintext}, size: u.size, left: u.size, sent: sent}
	ew, err := envelope.NewWriter(s, u.dk, u.part, u.size)
	if err != nil {
		return nil, err
	}
	s.ew, s.in, s.out = ew, getBuf(), sealOutPool.Get().(*[]byte)
	return s, nil
}

// Write takes the envelope writer's ciphertext; it never grows the buffer.
func (s *sealReader) Write(p []byte) (int, error) {
	b := *s.out
	if len(b)+len(p) > cap(b) {
		return 0, io.ErrShortBuffer // a bug: sealOutSize is the format's
	}
	*s.out = append(b, p...)
	return len(p), nil
}

// Read implements io.Reader (the signer's framing around it fills the
// transport's reads across segments).
func (s *sealReader) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.pending) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if err := s.next(); err != nil {
			s.err = err
			if err != io.EOF {
				s.fail = err
			}
		}
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}

// next seals the next plaintext into s.pending; io.EOF after the final
// segment.
func (s *sealReader) next() error {
	if s.closed {
		return io.EOF
	}
	*s.out = (*s.out)[:0]
	if s.left == 0 {
		var one [1]byte
		switch n, err := io.ReadFull(s.src, one[:]); {
		case n > 0:
			return s3err.IncompleteBody.Wrap(fmt.Errorf("proxy: body longer than the declared %d bytes", s.size))
		case err != io.EOF:
			return err
		}
		if err := s.ew.Close(); err != nil {
			return err
		}
		s.closed = true
		s.sent()
	} else {
		// One read, whatever it gives (the writer gathers segments): a
		// read to fill the buffer exactly would ask the client's body,
		// which holds its last byte back, for 1-byte reads.
		n, err := s.src.Read((*s.in)[:min(int64(len(*s.in)), s.left)])
		if n == 0 && err == nil {
			// A reader that returns nothing again and again would have
			// Read loop here, holding s.mu (which abandon waits for).
			if s.empty++; s.empty >= maxEmptyReads {
				return io.ErrNoProgress
			}
		} else {
			s.empty = 0
		}
		s.left -= int64(n)
		if _, werr := s.ew.Write((*s.in)[:n]); werr != nil {
			return werr
		}
		switch {
		case err == io.EOF && s.left > 0:
			return s3err.IncompleteBody.Wrap(fmt.Errorf("proxy: body of %d bytes, declared %d", s.size-s.left, s.size))
		case err != nil && err != io.EOF:
			return err
		}
	}
	s.pending = *s.out
	return nil
}

// abandon ends the body (later reads fail with errAbandoned), waiting for
// a read in progress, returns its buffers, and reports how sealing ended:
// nil if the final segment was sealed and taken, the source's failure,
// or errAbandoned if the transport stopped reading before either.
func (s *sealReader) abandon() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	complete := s.closed && len(s.pending) == 0
	if !s.done {
		s.done = true
		putBuf(s.in)
		sealOutPool.Put(s.out)
		s.in, s.out, s.pending = nil, nil, nil
	}
	err := s.fail
	if err == nil && !complete {
		err = errAbandoned
	}
	if s.err == nil || s.err == io.EOF {
		s.err = errAbandoned
	}
	return err
}
