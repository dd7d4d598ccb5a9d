package envelope

import (
	"fmt"
	"slices"
)

// The format version is data (as in minio/sio): every object records the
// version that wrote it (Metadata.Version, x-amz-meta-bk-v), and that
// number selects, here and nowhere else, everything that differs between
// versions: the labels of every derivation and the size algebra (segment
// and tag sizes), and so the reader. Seal writes writeVersion; Open returns
// a DataKey bound to the version that sealed it, and readers and writers
// take their labels and segment size from that key (and a Layout from the
// metadata it was made for). Every version ever written stays in formats,
// so that its objects stay readable. docs/FORMAT.md ("Versions") says what
// a new version must keep (listing sizes) and how to add one.

// format is one version of the object format.
type format struct {
	version int
	labels  labels
	sizes   sizes
}

// labels are a version's derivation labels (HKDF info prefixes, the sealed
// key's associated data, MAC prefixes). They start with the format's name,
// so keys of another version or purpose never coincide.
type labels struct {
	objectKey string // HKDF info: bucket key -> object key and seal nonce
	sealedKey string // associated data of the sealed data key
	payload   string // HKDF info: data key -> payload key and nonce prefix
	end       string // HKDF info: data key -> end key and nonce
	checksum  string // HKDF info and MAC prefix of the checksum tag
	uploadID  string // HKDF info: data key -> the proxy's upload-ID MAC key
	// HKDF info: data key -> the MAC key of the proxy's upload IDs that
	// carry a declared checksum algorithm (docs/FORMAT.md, "Multipart
	// checksums")
	uploadIDChecksum string
	// HKDF info: data key -> the MAC key of the part checksum records in
	// the proxy's part ETags (docs/FORMAT.md, "Multipart checksums")
	partChecksum string
}

// sizes is a version's size algebra: plaintext bytes per full segment and
// the tag each segment carries. Stored-part framing (part header, end
// field, marker part) is v1's in every version so far.
type sizes struct {
	segment, tag int64
}

// formatV1 is "bucketkey/v1" (docs/FORMAT.md).
var formatV1 = &format{
	version: 1,
	labels: labels{
		objectKey: "bucketkey/v1 object key",
		sealedKey: "bucketkey/v1 data key",
		payload:   "bucketkey/v1 payload",
		end:       "bucketkey/v1 end",
		checksum:  "bucketkey/v1 checksum",
		uploadID:  "bucketkey proxy upload id v1",

		uploadIDChecksum: "bucketkey proxy upload id v2",
		partChecksum:     "bucketkey proxy part checksum v1",
	},
	sizes: sizes{segment: segmentSize, tag: tagSize},
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

// orV1 is f, or v1 for the zero DataKey or Layout a caller built by hand
// (Seal, Open and NewLayout always set the format).
func orV1(f *format) *format {
	if f == nil {
		return formatV1
	}
	return f
}

// versions lists the versions in formats, in order.
func versions() []int {
	vs := make([]int, 0, len(formats))
	for v := range formats {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}
