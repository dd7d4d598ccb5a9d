package envelope

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// segmentSource yields authenticated plaintext one segment at a time. The
// returned slice is valid until the next call; io.EOF means the stream
// ended where it authenticated its end.
type segmentSource interface {
	next() ([]byte, error)
}

// plainReader turns a segmentSource into an io.Reader and io.WriterTo. It
// only ever hands out bytes of segments that authenticated, and after an
// error it returns that error forever.
type plainReader struct {
	src segmentSource
	pt  []byte // authenticated plaintext not yet returned
	err error
}

func (r *plainReader) Read(p []byte) (int, error) {
	for len(r.pt) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if len(p) == 0 {
			return 0, nil
		}
		r.pt, r.err = r.src.next()
	}
	n := copy(p, r.pt)
	r.pt = r.pt[n:]
	return n, nil
}

// Close ends the reader: a read-ahead stops (once the source is closed,
// if it is inside a read) and buffers go back to their pools. Reads after
// Close fail.
func (r *plainReader) Close() error {
	r.pt = nil
	if r.err == nil || r.err == io.EOF {
		r.err = errReaderClosed
	}
	if c, ok := r.src.(interface{ close() }); ok {
		c.close()
	}
	return nil
}

// errReaderClosed is what a closed reader returns.
var errReaderClosed = errors.New("envelope: read of a closed reader")

// WriteTo writes the plaintext straight from the decryption buffer, saving
// io.Copy a buffer and a copy per segment.
func (r *plainReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.pt) > 0 {
			n, err := w.Write(r.pt)
			total += int64(n)
			r.pt = r.pt[n:]
			if err != nil {
				return total, err
			}
			if len(r.pt) > 0 {
				return total, io.ErrShortWrite
			}
		}
		if r.err != nil {
			if r.err == io.EOF {
				return total, nil
			}
			return total, r.err
		}
		r.pt, r.err = r.src.next()
	}
}

// NewReader returns a reader of the plaintext of the whole stream of a
// single-part object read from src. It returns ErrAuth (wrapped) if any
// segment fails, if the stream is truncated, or if data follows the final
// segment; it never returns bytes of a segment that did not authenticate.
// Errors reading src are returned wrapped. Memory is O(SegmentSize), and
// reading allocates nothing after NewReader. A stored part of a multipart
// object is read with NewPartReader, any range with NewRangeReader.
//
// A long stream is read ahead by one goroutine (readahead.go); if the
// caller stops reading before the end, it must close the source and then
// the reader (the returned reader is an io.Closer) to end that goroutine.
func NewReader(src io.Reader, key *DataKey) (io.Reader, error) {
	r, err := newStreamReader(src, key, 0, nil)
	if err != nil {
		return nil, err
	}
	// Read-ahead (readahead.go) is sized for v1's segments; a version with
	// other segments is read one segment at a time.
	r.src.(*streamSource).aheadOK = key.format().sizes == formatV1.sizes
	return r, nil
}

// newStreamReader reads the stream of part with its salt.
func newStreamReader(src io.Reader, key *DataKey, part int, partSalt []byte) (*plainReader, error) {
	c, err := newSegmentCipher(key, part, partSalt)
	if err != nil {
		return nil, err
	}
	bp := getSegmentBuf(c.sizes)
	return &plainReader{src: &streamSource{c: c, src: src, bufp: bp, buf: *bp}}, nil
}

// streamSource reads a stream of unknown length. It reads one byte past
// each full segment to learn whether that segment must be the final one,
// so no segment is ever opened twice.
type streamSource struct {
	c       *segmentCipher
	src     io.Reader
	bufp    *[]byte    // from segmentBufs
	buf     []byte     // a full segment and the look-ahead byte
	index   uint64     // index of the next segment
	ahead   byte       // the look-ahead byte, the first of the next segment
	hasNext bool       // ahead is valid
	done    bool       // the final segment has been returned
	aheadOK bool       // a long stream may be read ahead
	ra      *readAhead // the read-ahead, once started
}

// next returns the next segment's plaintext. Once it returns an error the
// caller holds no slice of the buffer (plainReader asks for a segment only
// when it has handed out the previous one), so the buffer goes back to the
// pool.
func (s *streamSource) next() ([]byte, error) {
	pt, err := s.read()
	if err != nil {
		putSegmentBuf(s.bufp)
		s.bufp, s.buf = nil, nil
	}
	return pt, err
}

func (s *streamSource) read() ([]byte, error) {
	if s.ra != nil {
		return s.readBatch()
	}
	if s.aheadOK && s.hasNext && !s.done && s.index >= readAheadAfter {
		if acquireReadAhead() {
			s.startReadAhead()
			return s.readBatch()
		}
		s.aheadOK = false // no slot free: this stream stays synchronous
	}
	if s.done || s.buf == nil {
		return nil, io.EOF
	}
	start := 0
	if s.hasNext {
		s.buf[0] = s.ahead
		start = 1
	}
	n, err := io.ReadFull(s.src, s.buf[start:])
	n += start
	switch {
	case err == nil:
		// A full segment and one more byte: a non-final segment.
		full := len(s.buf) - 1
		s.ahead, s.hasNext = s.buf[full], true
		return s.open(s.buf[:full], false)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		s.hasNext = false
		switch {
		case n < int(s.c.sizes.tag):
			return nil, fmt.Errorf("envelope: stream truncated at segment %d: %w: %w", s.index, ErrAuth, io.ErrUnexpectedEOF)
		case n == int(s.c.sizes.tag) && s.index > 0:
			// The writer never ends with an empty segment after others.
			return nil, fmt.Errorf("envelope: empty final segment %d: %w", s.index, ErrAuth)
		}
		return s.open(s.buf[:n], true)
	default:
		return nil, fmt.Errorf("envelope: read ciphertext: %w", err)
	}
}

func (s *streamSource) open(ct []byte, last bool) ([]byte, error) {
	return s.openTo(ct[:0], ct, last)
}

// openTo opens the next segment, ct, into dst.
func (s *streamSource) openTo(dst, ct []byte, last bool) ([]byte, error) {
	if s.index > math.MaxUint32 {
		return nil, fmt.Errorf("envelope: stream longer than %d segments: %w", uint64(math.MaxUint32)+1, ErrAuth)
	}
	pt, ok := s.c.open(dst, ct, uint32(s.index), last)
	if !ok {
		return nil, fmt.Errorf("envelope: segment %d: %w", s.index, ErrAuth)
	}
	s.index++
	if last {
		s.done = true
		if len(pt) == 0 {
			return nil, io.EOF
		}
	}
	return pt, nil
}
