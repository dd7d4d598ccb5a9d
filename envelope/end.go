package envelope

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// The end of a multipart object is authenticated (docs/FORMAT.md,
// "Multipart objects"): each part's own stream authenticates its end, but
// nothing in a part says how many parts follow, and S3 fixes an object's
// metadata before the part count is known. So every stored part ends with
// a 16-byte end field (part.go), and the object's last EndSize bytes are
// the end tag END(N), a MAC of N, the number of parts, under the data key.
// The end field of the part that ends the object holds the tag when the
// writer knew the part would be last; otherwise end fields are zero and
// the tag follows the last part in a part of its own, the marker part. A
// backend that drops trailing parts leaves an object whose end is zeros or
// a tag for another N, and readers refuse it.

const (
	// EndSize is the size of the end field after every stored part's
	// stream, and of the end tag.
	endSize = tagSize
	// markerSize is the size of the marker part: a zero part header and
	// the end tag, partOverhead bytes like every stored part's framing,
	// so that a listing's size still says the plaintext size.
	markerSize = partHeaderSize + endSize
	// minPartSize is S3's smallest part that may be followed by another:
	// a part of less plaintext is necessarily the last one (the proxy
	// enforces S3's rule on the plaintext itself at CompleteMultipartUpload).
	minPartSize = 5 << 20
)

// zeroEnd is the end field of a part that does not end its object, and
// (with the marker's header) the start of a marker part.
var zeroEnd [endSize + partHeaderSize]byte

// endsObject reports whether a part with this number and plaintext size
// necessarily ends its object, so that its writer seals the end tag into
// its end field: less than minPartSize (S3 refuses such a part anywhere
// but last), or part number maxPart (no part can follow it).
func endsObject(part int, n int64) bool {
	return n < minPartSize || part == maxPart
}

// EndTag returns END(parts), the end tag of a multipart object of that
// many parts: AES-GCM-Seal over the empty message under a key and nonce
// derived from the data key and the part count. Each derived key seals
// that one empty message and nothing else, so sealing it again (a retried
// upload, the same tag as end field or marker part) reproduces the same
// 16 bytes: no key and nonce ever seal two different messages. Tags for
// different counts come from unrelated keys.
func endTag(key *DataKey, parts int) ([]byte, error) {
	if key == nil {
		return nil, errors.New("envelope: nil data key")
	}
	if parts < 1 || parts > maxPart {
		return nil, fmt.Errorf("envelope: part count %d outside 1..%d", parts, maxPart)
	}
	info := binary.BigEndian.AppendUint16([]byte(key.format().labels.end), uint16(parts))
	okm, err := hkdf.Key(sha256.New, key.b[:], nil, string(info), keySize+sealNonceSize)
	if err != nil {
		return nil, fmt.Errorf("envelope: derive end key: %w", err)
	}
	defer wipe(okm)
	aead, err := newGCM(okm[:keySize])
	if err != nil {
		return nil, err
	}
	return aead.Seal(make([]byte, 0, endSize), okm[keySize:], nil, nil), nil
}

// Marker returns the marker part a multipart object of that many parts
// needs after its last part, whose plaintext size is last: 16 zero bytes
// (a part header), then END(parts); or nil when the last part's own end
// field holds the end tag (it necessarily ended the object: under 5 MiB,
// or part 10,000), and the object needs no marker part.
func Marker(key *DataKey, parts int, last int64) ([]byte, error) {
	if endsObject(parts, last) {
		return nil, nil
	}
	tag, err := endTag(key, parts)
	if err != nil {
		return nil, err
	}
	return append(make([]byte, partHeaderSize, markerSize), tag...), nil
}

// checkEndTag compares got with END(parts) in constant time.
func checkEndTag(key *DataKey, parts int, got []byte) error {
	want, err := endTag(key, parts)
	if err != nil {
		return err
	}
	return compareEndTag(want, got, parts)
}

// compareEndTag compares got with want, END(parts), in constant time.
func compareEndTag(want, got []byte, parts int) error {
	if subtle.ConstantTimeCompare(want, got) != 1 {
		return fmt.Errorf("envelope: the object's end does not authenticate %d parts (parts dropped or added): %w", parts, ErrAuth)
	}
	return nil
}

// checkZeroEnd checks the end field of a part that does not end the
// object (or the zero header of a marker part).
func checkZeroEnd(field []byte, part int) error {
	if subtle.ConstantTimeCompare(field, zeroEnd[:len(field)]) != 1 {
		return fmt.Errorf("envelope: part %d has a non-zero end field but is not the last: %w", part, ErrAuth)
	}
	return nil
}
