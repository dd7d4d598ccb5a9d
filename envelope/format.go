package envelope

import "fmt"

// The format version is data (as in minio/sio): every object records the
// version that wrote it (Metadata.Version, x-amz-meta-bk-v), and that
// number selects, here and nowhere else, everything that differs between
// versions. Seal writes writeVersion; every version ever written stays in
// formats, so that its objects stay readable. docs/FORMAT.md says what a
// new version must keep (listing sizes) and how to add one.

// format is one version of the object format.
type format struct {
	version int
	// Key-derivation labels (HKDF info prefixes and the sealed key's
	// associated data). They start with the format's name, so keys of
	// another version or purpose never coincide.
	objectKeyLabel  string
	payloadKeyLabel string
	sealedKeyLabel  string
	endLabel        string
	// segmentSize is the plaintext of a full segment. The size algebra
	// (size.go, part.go) is v1's: a version that changes it must keep
	// listing sizes exact (docs/FORMAT.md, "Versions").
	segmentSize int64
}

// formatV1 is "bucketkey/v1" (docs/FORMAT.md).
var formatV1 = &format{
	version:         1,
	objectKeyLabel:  "bucketkey/v1 object key",
	payloadKeyLabel: "bucketkey/v1 payload",
	sealedKeyLabel:  "bucketkey/v1 data key",
	endLabel:        "bucketkey/v1 end",
	segmentSize:     segmentSize,
}

// formats holds every version ever written, by number.
var formats = map[int]*format{
	1: formatV1,
}

// writeVersion is the version Seal writes.
var writeVersion = 1

// formatOf returns the format of version v, or an error wrapping
// ErrInvalidMetadata for a version this build cannot read.
func formatOf(v int) (*format, error) {
	if f, ok := formats[v]; ok {
		return f, nil
	}
	return nil, fmt.Errorf("envelope: unsupported format version %d: %w", v, ErrInvalidMetadata)
}
