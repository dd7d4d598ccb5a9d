// Package envelope is bucketkey's encrypted object format: a streaming,
// segmented AES-256-GCM AEAD (the STREAM construction) under a per-object
// data key, the data key sealed in object metadata under an object key
// derived with HKDF-SHA256 from the bucket key and bound to the bucket and
// object name, the exact size algebra between plaintext and ciphertext, and
// the mapping of plaintext ranges to ciphertext ranges.
//
// The format, "bucketkey/v1", is specified byte by byte in docs/FORMAT.md;
// known-answer vectors live in testdata/envelope/.
//
// Writing an object:
//
//	m, dek, err := envelope.Seal(bucketKey, keyBucket, object)
//	// fill m.KeyID, m.WrappedKey, m.Context, m.Multipart, m.Size
//	w, err := envelope.NewWriter(upstreamBody, dek, 0)
//	io.Copy(w, plaintext) ... w.Close() // only after the plaintext verified
//
// Reading it back:
//
//	m, err := envelope.ParseMetadata(resp.Header)
//	dek, err := m.Open(bucketKey, object)
//	r, err := envelope.NewReader(resp.Body, dek, 0)
package envelope

// Regenerate the known-answer vectors in testdata/envelope/ (deliberately:
// they pin the format, so a change there is a format change).
//go:generate go test -run ^TestVectors$ -update-vectors .

import "errors"

// Format constants.
const (
	Version     = 1
	SegmentSize = 64 << 10 // plaintext bytes per full segment
	TagSize     = 16       // GCM tag per segment
	KeySize     = 32       // AES-256

	// MaxPart is the highest multipart part number (S3 allows 1..10000).
	MaxPart = 10000
	// MaxStreamSize is the largest plaintext one stream (object or part)
	// can hold: 2^32 segments, the reach of the 32-bit segment counter in
	// the nonce. It is 256 TiB, far beyond S3's 5 TiB object limit.
	MaxStreamSize = 1 << 32 * SegmentSize

	// encSegmentSize is the ciphertext size of a full segment.
	encSegmentSize = SegmentSize + TagSize
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
