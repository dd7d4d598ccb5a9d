package envelope

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// A stored part of a multipart object (docs/FORMAT.md, "Multipart
// objects") is
//
//	header (PartHeaderSize random bytes) || stream || end field (EndSize)
//
// The header is the part's salt in the payload key derivation: every
// upload of a part draws a new one, so uploading part k again (a retry,
// or a client that changed its mind) never reuses a key and nonce for
// other bytes. The end field is zero, or the object's end tag when the
// part necessarily ends the object (end.go).

const (
	// PartHeaderSize is the size of a stored part's random header.
	partHeaderSize = 16
	// partOverhead is what a stored part adds to its stream: its header
	// and its end field.
	partOverhead = partHeaderSize + endSize
)

// newPartWriterRand returns a writer of part number part (1..MaxPart) of a
// multipart object, to hold exactly size plaintext bytes: it writes a
// fresh random header, the part's stream as NewWriter does and, on Close,
// the end field: END(part) if endsObject(part, size), zeros otherwise.
// Close fails, writing no final segment, if the plaintext written is not
// size bytes, since the end field was chosen for that size.
func newPartWriterRand(dst io.Writer, key *DataKey, part int, size int64) (io.WriteCloser, error) {
	salt := make([]byte, partHeaderSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("envelope: draw part header: %w", err)
	}
	return newPartWriter(dst, key, part, size, salt)
}

// newPartWriter is newPartWriterRand with the header supplied, for test vectors.
func newPartWriter(dst io.Writer, key *DataKey, part int, size int64, salt []byte) (io.WriteCloser, error) {
	if part < 1 || part > maxPart {
		return nil, fmt.Errorf("envelope: part number %d outside 1..%d", part, maxPart)
	}
	if size < 0 || size > key.format().sizes.maxStream() {
		return nil, fmt.Errorf("envelope: part size %d", size)
	}
	end := zeroEnd[:endSize]
	if endsObject(part, size) {
		var err error
		if end, err = endTag(key, part); err != nil {
			return nil, err
		}
	}
	w, err := newStreamWriter(dst, key, part, salt)
	if err != nil {
		return nil, err
	}
	return &partWriter{w: w, dst: dst, header: salt, end: end, size: size}, nil
}

type partWriter struct {
	w           *writer
	dst         io.Writer
	header, end []byte // header is written before the first byte of the stream
	size, n     int64
	closed      bool
}

func (p *partWriter) writeHeader() error {
	if p.header == nil {
		return nil
	}
	if _, err := p.dst.Write(p.header); err != nil {
		p.w.err = fmt.Errorf("envelope: write part header: %w", err)
		return p.w.err
	}
	p.header = nil
	return nil
}

func (p *partWriter) Write(b []byte) (int, error) {
	if err := p.writeHeader(); err != nil {
		return 0, err
	}
	n, err := p.w.Write(b)
	p.n += int64(n)
	return n, err
}

func (p *partWriter) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	if p.n != p.size {
		p.w.err = fmt.Errorf("envelope: part of %d bytes written, %d declared", p.n, p.size)
		p.w.release()
		return p.w.err
	}
	if err := p.writeHeader(); err != nil {
		p.w.release()
		return err
	}
	if err := p.w.Close(); err != nil {
		return err
	}
	if _, err := p.dst.Write(p.end); err != nil {
		return fmt.Errorf("envelope: write end field: %w", err)
	}
	return nil
}

// NewPartReader returns a reader of the plaintext of part number part
// (1..len(l.Parts)) of a multipart object with layout l, from src
// holding exactly that stored part (GET ?partNumber=part): its header,
// its stream, then its end field, which must be the end tag for the last
// part without a marker and zeros otherwise. The part's final segment is
// released only after the end field checked and src ended.
func NewPartReader(src io.Reader, key *DataKey, l Layout, part int) (io.Reader, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	if !l.Multipart || part < 1 || part > len(l.Parts) {
		return nil, fmt.Errorf("envelope: part %d of a %d-part layout", part, len(l.Parts))
	}
	if key == nil {
		return nil, errors.New("envelope: nil data key")
	}
	if key.format() != orV1(l.f) {
		return nil, fmt.Errorf("envelope: a v%d key for a v%d layout", key.format().version, orV1(l.f).version)
	}
	// The end tag is no secret (the backend stores it): compute it now
	// rather than keep a copy of the data key for the end.
	var want []byte
	if part == len(l.Parts) && !l.Marker {
		var err error
		if want, err = endTag(key, part); err != nil {
			return nil, err
		}
	}
	tail := func(field []byte) error {
		if want != nil {
			return compareEndTag(want, field, part)
		}
		return checkZeroEnd(field, part)
	}
	return &partReader{src: src, key: *key, part: part, stream: l.Parts[part-1], tail: tail}, nil
}

// partReader reads a stored part's header on first use, then its stream
// (through an endReader) under the key the header selects.
type partReader struct {
	src    io.Reader
	key    DataKey
	part   int
	stream int64
	tail   func([]byte) error
	r      io.Reader
	err    error
}

func (p *partReader) Read(b []byte) (int, error) {
	if p.r == nil {
		if p.err != nil {
			return 0, p.err
		}
		salt := make([]byte, partHeaderSize)
		if _, err := io.ReadFull(p.src, salt); err != nil {
			p.err = readErr(err, fmt.Sprintf("part %d header", p.part))
			p.key.Wipe()
			return 0, p.err
		}
		r, err := newStreamReader(&endReader{src: p.src, remain: p.stream, check: p.tail}, &p.key, p.part, salt)
		p.key.Wipe()
		if err != nil {
			p.err = err
			return 0, err
		}
		p.r = r
	}
	return p.r.Read(b)
}

// readErr describes a failure to read what of the ciphertext: an early
// end is an authentication failure (the backend holds less than the
// layout says), anything else the source's error.
func readErr(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("envelope: ciphertext ends early in the %s: %w: %w", what, ErrAuth, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("envelope: read ciphertext: %w", err)
}

// endReader yields the first remain bytes of src (a stream); then,
// instead of io.EOF, it reads the EndSize bytes of the end field, checks
// them and that src ends, and only then reports io.EOF. A stream reader
// opens its final segment only once its source reported io.EOF, so the
// final segment is released only if the end checked.
type endReader struct {
	src    io.Reader
	remain int64
	check  func(field []byte) error
	err    error
}

func (r *endReader) Read(p []byte) (int, error) {
	if r.remain > 0 {
		if int64(len(p)) > r.remain {
			p = p[:r.remain]
		}
		n, err := r.src.Read(p)
		r.remain -= int64(n)
		if errors.Is(err, io.EOF) {
			if r.remain > 0 {
				return n, io.ErrUnexpectedEOF
			}
			err = nil
		}
		return n, err
	}
	if r.err == nil {
		r.err = r.finish()
	}
	return 0, r.err
}

func (r *endReader) finish() error {
	var field [endSize + 1]byte
	n, err := io.ReadFull(r.src, field[:])
	switch {
	case n < endSize && (err == io.EOF || err == io.ErrUnexpectedEOF):
		return fmt.Errorf("envelope: part ends without its end field: %w", ErrAuth)
	case n == endSize+1:
		return fmt.Errorf("envelope: data after the end field: %w", ErrAuth)
	case err != io.ErrUnexpectedEOF:
		return fmt.Errorf("envelope: read ciphertext: %w", err)
	}
	if err := r.check(field[:endSize]); err != nil {
		return err
	}
	return io.EOF
}
