package envelope

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The end of a multipart object is authenticated (docs/FORMAT.md,
// "Multipart objects"): each part's own stream authenticates its end, but
// nothing in a part says how many parts follow, and S3 fixes an object's
// metadata before the part count is known. So every stored part is its
// stream followed by a 16-byte end field, and the object's last EndSize
// bytes are the end tag END(N), a MAC of N, the number of parts, under
// the data key. The end field of the part that ends the object holds the
// tag when the writer knew the part would be last; otherwise end fields
// are zero and the tag follows the last part as a part of its own, the
// marker part. A backend that drops trailing parts leaves an object whose
// end is zeros or a tag for another N, and readers refuse it.

const (
	// EndSize is the size of the end field after every stored part's
	// stream, and of the end tag and the marker part.
	EndSize = TagSize
	// MinPartSize is S3's smallest part that may be followed by another:
	// a part of less plaintext is necessarily the last one (the proxy
	// enforces S3's rule on the plaintext itself at CompleteMultipartUpload).
	MinPartSize = 5 << 20

	endLabel = "bucketkey/v1 end"
)

// zeroEnd is the end field of a part that does not end its object.
var zeroEnd [EndSize]byte

// EndsObject reports whether a part with this number and plaintext size
// necessarily ends its object, so that its writer seals the end tag into
// its end field: less than MinPartSize (S3 refuses such a part anywhere
// but last), or part number MaxPart (no part can follow it).
func EndsObject(part int, n int64) bool {
	return n < MinPartSize || part == MaxPart
}

// StoredPartSize is the size the backend stores for a multipart part of n
// plaintext bytes: its stream and its end field. It returns -1 if no
// stream can hold n bytes.
func StoredPartSize(n int64) int64 {
	c := CiphertextSize(n)
	if c < 0 {
		return -1
	}
	return c + EndSize
}

// StoredPartPlaintextSize inverts StoredPartSize (ListParts reports stored
// sizes), with ErrInvalidSize for sizes no part can have.
func StoredPartPlaintextSize(c int64) (int64, error) {
	if c < EndSize {
		return 0, fmt.Errorf("envelope: stored part size %d: %w", c, ErrInvalidSize)
	}
	return PlaintextSize(c - EndSize)
}

// MultipartPlaintextSize is the plaintext size of a multipart object from
// its total stored size c and its stored part count m (a listing's size
// and the "-m" of its ETag), the marker part included: every stored part
// adds exactly EndSize bytes to its stream, and a marker part is EndSize
// bytes alone. It is exact when every part but the last holds a multiple
// of SegmentSize plaintext bytes (docs/FORMAT.md, "Listing sizes").
func MultipartPlaintextSize(c int64, m int) (int64, error) {
	if m < 1 || m > MaxPart || c < int64(m)*EndSize {
		return 0, fmt.Errorf("envelope: %d bytes in %d parts: %w", c, m, ErrInvalidSize)
	}
	return PlaintextSize(c - int64(m)*EndSize)
}

// EndTag returns END(parts), the end tag of a multipart object of that
// many parts: AES-GCM-Seal over the empty message under a key and nonce
// derived from the data key and the part count. Each derived key seals
// that one empty message and nothing else, so sealing it again (a retried
// upload, the same tag as end field or marker part) reproduces the same
// 16 bytes: no key and nonce ever seal two different messages. Tags for
// different counts come from unrelated keys.
func EndTag(key *DataKey, parts int) ([]byte, error) {
	if key == nil {
		return nil, errors.New("envelope: nil data key")
	}
	if parts < 1 || parts > MaxPart {
		return nil, fmt.Errorf("envelope: part count %d outside 1..%d", parts, MaxPart)
	}
	info := binary.BigEndian.AppendUint16([]byte(endLabel), uint16(parts))
	okm, err := hkdf.Key(sha256.New, key[:], nil, string(info), KeySize+sealNonceSize)
	if err != nil {
		return nil, fmt.Errorf("envelope: derive end key: %w", err)
	}
	defer Wipe(okm)
	aead, err := newGCM(okm[:KeySize])
	if err != nil {
		return nil, err
	}
	return aead.Seal(make([]byte, 0, EndSize), okm[KeySize:], nil, nil), nil
}

// checkEndTag compares got with END(parts) in constant time.
func checkEndTag(key *DataKey, parts int, got []byte) error {
	want, err := EndTag(key, parts)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(want, got) != 1 {
		return fmt.Errorf("envelope: the object's end does not authenticate %d parts (parts dropped or added): %w", parts, ErrAuth)
	}
	return nil
}

// checkZeroEnd checks the end field of a part that does not end the object.
func checkZeroEnd(field []byte, part int) error {
	if subtle.ConstantTimeCompare(field, zeroEnd[:]) != 1 {
		return fmt.Errorf("envelope: part %d has a non-zero end field but is not the last: %w", part, ErrAuth)
	}
	return nil
}

// NewPartWriter returns a writer of part number part (1..MaxPart) of a
// multipart object, to hold exactly size plaintext bytes: it writes the
// part's stream as NewWriter does and, on Close, the end field: END(part)
// if EndsObject(part, size), zeros otherwise. Close fails, writing no
// final segment, if the plaintext written is not size bytes, since the
// end field was chosen for that size.
func NewPartWriter(dst io.Writer, key *DataKey, part int, size int64) (io.WriteCloser, error) {
	if part < 1 || part > MaxPart {
		return nil, fmt.Errorf("envelope: part number %d outside 1..%d", part, MaxPart)
	}
	if size < 0 || size > MaxStreamSize {
		return nil, fmt.Errorf("envelope: part size %d", size)
	}
	end := zeroEnd[:]
	if EndsObject(part, size) {
		var err error
		if end, err = EndTag(key, part); err != nil {
			return nil, err
		}
	}
	w, err := NewWriter(dst, key, part)
	if err != nil {
		return nil, err
	}
	return &partWriter{w: w, dst: dst, end: end, size: size}, nil
}

type partWriter struct {
	w       io.WriteCloser
	dst     io.Writer
	end     []byte
	size, n int64
	closed  bool
}

func (p *partWriter) Write(b []byte) (int, error) {
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
		return fmt.Errorf("envelope: part of %d bytes written, %d declared", p.n, p.size)
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
// (1..l.PartCount()) of a multipart object with layout l, from src
// holding exactly that stored part (GET ?partNumber=part): its stream,
// then its end field, which must be the end tag for the last part without
// a marker and zeros otherwise. The part's final segment is released only
// after the end field checked and src ended.
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
	k := *key
	tail := func(field []byte) error {
		if part == len(l.Parts) && !l.Marker {
			return checkEndTag(&k, part, field)
		}
		return checkZeroEnd(field, part)
	}
	return NewReader(&endReader{src: src, remain: l.Parts[part-1], check: tail}, key, part)
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
	var field [EndSize + 1]byte
	n, err := io.ReadFull(r.src, field[:])
	switch {
	case n < EndSize && (err == io.EOF || err == io.ErrUnexpectedEOF):
		return fmt.Errorf("envelope: part ends without its end field: %w", ErrAuth)
	case n == EndSize+1:
		return fmt.Errorf("envelope: data after the end field: %w", ErrAuth)
	case err != io.ErrUnexpectedEOF:
		return fmt.Errorf("envelope: read ciphertext: %w", err)
	}
	if err := r.check(field[:EndSize]); err != nil {
		return err
	}
	return io.EOF
}
