package envelope

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// formatV2Test is a format that exists only in this test: a second version
// with its own labels, as a real v2 would have.
var formatV2Test = &format{
	version:         2,
	objectKeyLabel:  "bucketkey/v2-test object key",
	payloadKeyLabel: formatV1.payloadKeyLabel,
	sealedKeyLabel:  "bucketkey/v2-test data key",
	endLabel:        formatV1.endLabel,
	segmentSize:     segmentSize,
}

// withV2 registers formatV2Test and makes it the version Seal writes, for
// the rest of the test.
func withV2(t *testing.T) {
	formats[2], writeVersion = formatV2Test, 2
	t.Cleanup(func() { delete(formats, 2); writeVersion = 1 })
}

// TestVersionIsData: an object written as v1 still decrypts after a v2
// exists and is the version written; each version's metadata opens only
// under its own derivation; an unknown version is invalid metadata.
func TestVersionIsData(t *testing.T) {
	bk := bucketKey(1)
	pt := pattern(70000, 3)
	m1, k1, err := sealRaw(bk, "b", "o", false, int64(len(pt)))
	if err != nil || m1.Version != 1 {
		t.Fatalf("v1 seal: version %d, %v", m1.Version, err)
	}
	ct := encrypt(t, pt, k1, 0)
	h1 := headerOf(m1.Headers())

	withV2(t)
	m2, _, err := sealRaw(bk, "b", "o", false, 5)
	if err != nil || m2.Version != 2 {
		t.Fatalf("v2 seal: version %d, %v", m2.Version, err)
	}
	if p2, err := ParseMetadata(headerOf(m2.Headers())); err != nil || p2.Version != 2 {
		t.Fatalf("v2 metadata parses back: %+v, %v", p2, err)
	}
	// The v1 object, read with v2 in place.
	p1, err := ParseMetadata(h1)
	if err != nil || p1.Version != 1 {
		t.Fatalf("v1 metadata: %+v, %v", p1, err)
	}
	k, err := p1.Open(bk, "o")
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(bytes.NewReader(ct), k)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("v1 object after v2: %d bytes, %v", len(got), err)
	}
	// A version is part of the derivation: v1 metadata relabelled v2 fails.
	forged := *p1
	forged.Version = 2
	if _, err := forged.Open(bk, "o"); !errors.Is(err, ErrAuth) {
		t.Errorf("v1 metadata opened as v2: %v", err)
	}
	// Versions this build does not know are invalid metadata.
	h := headerOf(m1.Headers())
	h.Set(headerVersion, "3")
	if _, err := ParseMetadata(h); !errors.Is(err, ErrInvalidMetadata) {
		t.Errorf("unknown version: %v", err)
	}
}
