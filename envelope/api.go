// Package envelope is bucketkey's encrypted object format: a streaming,
// segmented AES-256-GCM AEAD (the STREAM construction) under a per-object
// data key, the data key sealed in object metadata under an object key
// derived with HKDF-SHA256 from the bucket key and bound to the bucket and
// object name, the exact size algebra between plaintext and ciphertext, and
// the mapping of plaintext ranges to ciphertext ranges.
//
// The format is specified byte by byte in docs/FORMAT.md.
//
// CONTRACT STUB: the signatures in this file are the API the proxy codes
// against. Implementations replace the bodies; see docs/ARCHITECTURE.md.
package envelope

import (
	"errors"
	"io"
	"net/http"
)

// Format constants.
const (
	Version     = 1
	SegmentSize = 64 << 10 // plaintext bytes per full segment
	TagSize     = 16       // GCM tag per segment
	KeySize     = 32       // AES-256
)

// Errors callers distinguish with errors.Is.
var (
	// ErrAuth: ciphertext, key or binding failed authentication. No plaintext
	// of the failing segment has been returned.
	ErrAuth = errors.New("envelope: message authentication failed")
	// ErrNotEncrypted: the headers carry no envelope metadata (an object
	// written before the proxy); pass it through.
	ErrNotEncrypted = errors.New("envelope: object has no envelope metadata")
	// ErrInvalidSize: a ciphertext size no plaintext can produce.
	ErrInvalidSize = errors.New("envelope: invalid ciphertext size")
	// ErrUnsatisfiableRange: the range does not overlap the object.
	ErrUnsatisfiableRange = errors.New("envelope: range not satisfiable")
)

// DataKey is a per-object data encryption key. The payload of each part is
// encrypted under a key derived from it and the part number.
type DataKey [KeySize]byte

// Wipe zeroes the key.
func (k *DataKey) Wipe() { *k = DataKey{} }

// CiphertextSize returns the ciphertext size of a single stream (object or
// part) of n plaintext bytes.
func CiphertextSize(n int64) int64 { panic("unimplemented") }

// PlaintextSize inverts CiphertextSize, rejecting sizes no plaintext can
// produce with ErrInvalidSize.
func PlaintextSize(c int64) (int64, error) { panic("unimplemented") }

// NewWriter returns a writer that encrypts what is written to it as the
// stream of part (0 for a single-part object, 1..10000 for multipart parts)
// and writes ciphertext to dst. Full segments are written as soon as they
// are complete and the next byte arrives; the final segment is sealed and
// written only by Close, so a caller whose plaintext source fails can
// abandon the writer and the ciphertext written so far is incomplete (and
// will not authenticate). Memory is O(SegmentSize).
func NewWriter(dst io.Writer, key *DataKey, part int) (io.WriteCloser, error) {
	panic("unimplemented")
}

// NewReader returns a reader of the plaintext of the whole stream of part
// read from src. It returns ErrAuth (wrapped) if any segment fails, if the
// stream is truncated, or if data follows the final segment; it never
// returns bytes of a segment that did not authenticate.
func NewReader(src io.Reader, key *DataKey, part int) (io.Reader, error) { panic("unimplemented") }

// Range is a plaintext byte range: Start and Length, both >= 0.
type Range struct {
	Start, Length int64
}

// ParseRange resolves an HTTP Range header value ("bytes=a-b", "bytes=a-",
// "bytes=-n"; one range only) against an object of size bytes, as S3 does:
// an end past the object is clamped; a start past the end, or a suffix of
// zero, is ErrUnsatisfiableRange; a malformed or multi-range value returns
// ok=false (S3 then ignores the header and returns the whole object).
func ParseRange(header string, size int64) (r Range, ok bool, err error) {
	panic("unimplemented")
}

// Layout is the shape of a stored object: the ciphertext size of each part
// in order (one entry for a single-part object, whose part number is 0).
type Layout struct {
	Multipart bool
	Parts     []int64 // ciphertext sizes; for multipart, Parts[i] is part i+1
}

// SingleLayout is the layout of a single-part object of ciphertext size c.
func SingleLayout(c int64) Layout { return Layout{Parts: []int64{c}} }

// PlaintextSize returns the object's plaintext size, or ErrInvalidSize if
// some part's size is impossible.
func (l Layout) PlaintextSize() (int64, error) { panic("unimplemented") }

// CiphertextRange returns the ciphertext byte range [off, off+n) to fetch
// from the backend to decrypt the plaintext range r: whole segments only.
func (l Layout) CiphertextRange(r Range) (off, n int64, err error) { panic("unimplemented") }

// NewRangeReader decrypts the plaintext range r of an object with layout l.
// src must yield exactly the ciphertext bytes CiphertextRange(r) returned.
// It returns exactly r.Length bytes or an error wrapping ErrAuth; bytes of a
// segment are returned only after that segment authenticated.
func NewRangeReader(src io.Reader, key *DataKey, l Layout, r Range) (io.Reader, error) {
	panic("unimplemented")
}

// Metadata is everything needed to decrypt an object, stored as
// x-amz-meta-* headers next to it. It holds no secret in the clear.
type Metadata struct {
	Version    int
	KeyID      string // KMS key id (as KMS reported it) that wraps the bucket key
	KeyBucket  string // bucket named in the bucket key's KMS encryption context
	WrappedKey []byte // the bucket key as KMS wrapped it
	// Context is any additional KMS encryption context the client supplied
	// (x-amz-server-side-encryption-context), nil if none.
	Context   map[string]string
	Salt      []byte // per-object randomness for the object-key derivation
	SealedKey []byte // the data key, sealed under the object key
	Multipart bool
	Size      int64 // plaintext size; -1 when not recorded (multipart)
}

// Headers returns m as lower-case "x-amz-meta-..." header names and values.
func (m *Metadata) Headers() map[string]string { panic("unimplemented") }

// ParseMetadata reads envelope metadata from response or request headers.
// It returns ErrNotEncrypted if there is none, and a descriptive error for
// unknown versions, missing or malformed fields, and oversize values.
func ParseMetadata(h http.Header) (*Metadata, error) { panic("unimplemented") }

// IsEnvelopeHeader reports whether a header name (any case) is reserved for
// envelope metadata; the proxy strips such headers from client requests.
func IsEnvelopeHeader(name string) bool { panic("unimplemented") }

// Seal starts a new object: it draws a fresh data key and salt, derives the
// object key from bucketKey, keyBucket and object, and returns metadata
// holding the sealed data key (Version, Salt, SealedKey, KeyBucket set; the
// caller fills KeyID, WrappedKey, Context, Multipart, Size) and the data key.
func Seal(bucketKey []byte, keyBucket, object string) (*Metadata, *DataKey, error) {
	panic("unimplemented")
}

// Open unseals the data key of an object named object, whose metadata is m,
// with the bucket key that m.WrappedKey unwraps to. It fails with ErrAuth if
// the metadata was moved to another object name or key bucket, or edited.
func (m *Metadata) Open(bucketKey []byte, object string) (*DataKey, error) {
	panic("unimplemented")
}

// Reseal returns a copy of m for the same ciphertext stored under a new
// name: the data key is sealed afresh under a new salt and the object key of
// (bucketKey, keyBucket, object). The caller sets KeyID and WrappedKey for
// bucketKey. This is how CopyObject avoids re-encrypting data.
func (m *Metadata) Reseal(key *DataKey, bucketKey []byte, keyBucket, object string) (*Metadata, error) {
	panic("unimplemented")
}
