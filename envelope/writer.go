package envelope

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// NewWriter returns a writer that encrypts what is written to it as one
// stream and writes ciphertext to dst. Full
// segments are written as soon as they are complete and the next byte
// arrives; the final segment is sealed and written only by Close, so a
// caller whose plaintext source fails can abandon the writer and the
// ciphertext written so far is incomplete (and will not authenticate).
// Close does not close dst. Memory is O(SegmentSize), and writing
// allocates nothing after NewWriter.
//
// part 0 is a single-part object's stream, its whole stored body (size is
// not used: the stream authenticates its own end). part 1..10000 is part
// of a multipart upload, written as newPartWriter says: a fresh header,
// the stream, and on Close the end field, which depends on size; Close
// fails, writing no final segment, if the plaintext written is not size
// bytes.
func NewWriter(dst io.Writer, key *DataKey, part int, size int64) (io.WriteCloser, error) {
	if part == 0 {
		return newSingleWriter(dst, key)
	}
	return newPartWriterRand(dst, key, part, size)
}

// newSingleWriter writes the stream of a single-part object.
func newSingleWriter(dst io.Writer, key *DataKey) (io.WriteCloser, error) {
	return newStreamWriter(dst, key, 0, nil)
}

// newStreamWriter writes the stream of part with its salt (see
// payloadKeyMaterial).
func newStreamWriter(dst io.Writer, key *DataKey, part int, partSalt []byte) (*writer, error) {
	c, err := newSegmentCipher(key, part, partSalt)
	if err != nil {
		return nil, err
	}
	bp := getSegmentBuf(c.sizes)
	return &writer{c: c, dst: dst, bufp: bp, buf: (*bp)[:c.sizes.encSegment()]}, nil
}

var errClosed = errors.New("envelope: write to closed writer")

type writer struct {
	c     *segmentCipher
	dst   io.Writer
	bufp  *[]byte // from segmentBufs; returned by Close
	buf   []byte  // buf[:n] is plaintext not yet sealed; sealing reuses buf
	n     int
	index uint32 // index of the next segment to seal
	err   error  // sticky: the first failure, or errClosed
}

// Write buffers p and seals every full segment followed by more data.
// A segment written in one piece with more data after it is sealed straight
// from p, without a copy.
func (w *writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	total := len(p)
	segmentSize := int(w.c.sizes.segment)
	for len(p) > 0 {
		if w.n == segmentSize {
			// A full segment and at least one more byte: not the last.
			if err := w.flush(w.buf[:0], w.buf[:segmentSize]); err != nil {
				return total - len(p), err
			}
			continue
		}
		if w.n == 0 && len(p) > segmentSize {
			if err := w.flush(w.buf[:0], p[:segmentSize]); err != nil {
				return total - len(p), err
			}
			p = p[segmentSize:]
			continue
		}
		k := copy(w.buf[w.n:segmentSize], p)
		w.n += k
		p = p[k:]
	}
	return total, nil
}

// flush seals the non-final segment pt into dst (which is w.buf[:0]) and
// writes it.
func (w *writer) flush(dst, pt []byte) error {
	if w.index == math.MaxUint32 {
		// The counter would wrap; only the final segment may use the last index.
		w.err = fmt.Errorf("envelope: stream longer than %d bytes", w.c.sizes.maxStream())
		return w.err
	}
	ct := w.c.seal(dst, pt, w.index, false)
	w.index++
	w.n = 0
	if _, err := w.dst.Write(ct); err != nil {
		w.err = fmt.Errorf("envelope: write ciphertext: %w", err)
		return w.err
	}
	return nil
}

// Close seals and writes the final segment (empty only if nothing was
// written at all). It does not close the underlying writer.
func (w *writer) Close() error {
	defer w.release()
	if w.err != nil {
		if w.err == errClosed {
			return nil
		}
		return w.err
	}
	ct := w.c.seal(w.buf[:0], w.buf[:w.n], w.index, true)
	w.n = 0
	if _, err := w.dst.Write(ct); err != nil {
		w.err = fmt.Errorf("envelope: write ciphertext: %w", err)
		return w.err
	}
	w.err = errClosed
	return nil
}

// release returns the buffer to the pool once nothing can use it. A writer
// abandoned without Close leaves its buffer to the garbage collector.
func (w *writer) release() {
	if w.err != nil {
		putSegmentBuf(w.bufp)
		w.bufp, w.buf = nil, nil
	}
}
