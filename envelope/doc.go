// Package envelope is bucketkey's encrypted object format: a streaming,
// segmented AES-256-GCM AEAD (the STREAM construction) under a per-object
// data key, the data key sealed in object metadata under an object key
// derived with HKDF-SHA256 from the bucket key and bound to the bucket and
// object name, the exact size algebra between plaintext and ciphertext, and
// the mapping of plaintext ranges to ciphertext ranges.
//
// The format, "bucketkey/v1", is specified byte by byte in docs/FORMAT.md;
// known-answer vectors live in testdata/envelope/. The version is data:
// each object records the version that wrote it, which selects its
// derivation labels (format.go); see ExampleSeal for writing and reading
// an object.
package envelope

// Regenerate the known-answer vectors in testdata/envelope/ (deliberately:
// they pin the format, so a change there is a format change).
//go:generate go test -run ^TestVectors$ -update-vectors .

import (
	"errors"
	"fmt"
)

// Format constants.
const (
	segmentSize = 64 << 10 // plaintext bytes per full segment
	tagSize     = 16       // GCM tag per segment
	keySize     = 32       // AES-256

	// MaxPart is the highest multipart part number (S3 allows 1..10000).
	maxPart = 10000
	// MaxStreamSize is the largest plaintext one stream (object or part)
	// can hold: 2^32 segments, the reach of the 32-bit segment counter in
	// the nonce. It is 256 TiB, far beyond S3's 5 TiB object limit.
	maxStreamSize = 1 << 32 * segmentSize

	// encSegmentSize is the ciphertext size of a full segment.
	encSegmentSize = segmentSize + tagSize
)

// Errors callers distinguish with errors.Is.
var (
	// ErrAuth: ciphertext, key or binding failed authentication. No plaintext
	// of the failing segment has been returned.
	ErrAuth = errors.New("envelope: message authentication failed")
	// ErrNotEncrypted: the headers carry no envelope metadata (an object
	// written before the proxy); pass it through.
	ErrNotEncrypted = errors.New("envelope: object has no envelope metadata")
	// errInvalidSize: a ciphertext size no plaintext can produce. Stored
	// bytes of a size no writer makes did not come from one: it wraps
	// ErrAuth.
	errInvalidSize = fmt.Errorf("envelope: invalid ciphertext size: %w", ErrAuth)
	// errUnsatisfiableRange: the range does not overlap the object.
	errUnsatisfiableRange = errors.New("envelope: range not satisfiable")
)
