package envelope

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// formatV2Test is a format that exists only in this test: a second version
// with labels of its own for every derivation and another size algebra
// (32 KiB segments), as a real v2 might have.
var formatV2Test = &format{
	version: 2,
	labels: labels{
		objectKey: "bucketkey/v2-test object key",
		sealedKey: "bucketkey/v2-test data key",
		payload:   "bucketkey/v2-test payload",
		end:       "bucketkey/v2-test end",
		checksum:  "bucketkey/v2-test checksum",
		uploadID:  "bucketkey/v2-test upload id",
	},
	sizes: sizes{segment: 32 << 10, tag: tagSize},
}

// withV2 registers formatV2Test and makes it the version Seal writes, for
// the rest of the test.
func withV2(t *testing.T) {
	formats[2], writeVersion = formatV2Test, 2
	t.Cleanup(func() { delete(formats, 2); writeVersion = 1 })
}

// versionObject is an object written through the public API: its
// metadata headers as stored, its stored bytes, its plaintext.
type versionObject struct {
	h      map[string]string
	stored []byte
	pt     []byte
}

// writeObject seals and writes a single-part object of pt as Seal writes
// today, with a recorded checksum.
func writeObject(t *testing.T, bk []byte, pt []byte) versionObject {
	t.Helper()
	m, dk, err := sealRaw(bk, "b", "o", false, int64(len(pt)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetChecksum(dk, "CRC32:FULL_OBJECT:AAAAAA=="); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, dk, 0, int64(len(pt)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pt); err != nil || w.Close() != nil {
		t.Fatalf("write: %v", err)
	}
	if int64(buf.Len()) != dk.StoredSize(0, int64(len(pt))) {
		t.Fatalf("v%d: stored %d bytes, StoredSize says %d", m.Version, buf.Len(), dk.StoredSize(0, int64(len(pt))))
	}
	return versionObject{h: m.Headers(), stored: buf.Bytes(), pt: pt}
}

// readObject reads o back as the proxy does: parse, open, whole read and
// a ranged read through its layout, the checksum.
func readObject(t *testing.T, bk []byte, o versionObject, version int) {
	t.Helper()
	m, err := ParseMetadata(headerOf(o.h))
	if err != nil || m.Version != version {
		t.Fatalf("metadata: %+v, %v; want v%d", m, err, version)
	}
	if err := m.checkSize(int64(len(o.stored))); err != nil {
		t.Fatalf("v%d size: %v", version, err)
	}
	dk, err := m.Open(bk, "o")
	if err != nil {
		t.Fatalf("v%d open: %v", version, err)
	}
	r, err := NewReader(bytes.NewReader(o.stored), dk)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, o.pt) {
		t.Fatalf("v%d whole read: %d bytes, %v", version, len(got), err)
	}
	l, err := NewLayout(m, int64(len(o.stored)))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := l.PlaintextSize(); err != nil || n != int64(len(o.pt)) {
		t.Fatalf("v%d layout size %d, %v", version, n, err)
	}
	rg := Range{Start: 40000, Length: 1000} // in v1's first segment, v2's second
	off, n, _, _, err := l.Locate(rg)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := NewRangeReader(bytes.NewReader(o.stored[off:off+n]), dk, l, rg)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(rr); err != nil || !bytes.Equal(got, o.pt[40000:41000]) {
		t.Fatalf("v%d range read: %d bytes, %v", version, len(got), err)
	}
	if ck, err := m.OpenChecksum(dk); err != nil || ck != "CRC32:FULL_OBJECT:AAAAAA==" {
		t.Fatalf("v%d checksum: %q, %v", version, ck, err)
	}
}

// TestVersionIsData: an object written as v1 still decrypts (whole,
// ranged, its checksum) after a v2 with other labels and another segment
// size exists and is the version written; each version's objects read
// with their own labels and size algebra; a copy keeps its version;
// listing sizes are decided across versions; an unknown version is
// invalid metadata.
func TestVersionIsData(t *testing.T) {
	bk := bucketKey(1)
	pt := pattern(70000, 3)
	o1 := writeObject(t, bk, pt)
	_, k1, _ := sealRaw(bk, "b", "o", true, 0)

	withV2(t)
	o2 := writeObject(t, bk, pt)
	readObject(t, bk, o2, 2)
	readObject(t, bk, o1, 1)
	if len(o1.stored) == len(o2.stored) {
		t.Fatalf("v2's size algebra is v1's: %d bytes", len(o1.stored))
	}

	// Every label is the version's: relabelled, v1 metadata does not
	// open, and a v2 key derives other payload, end, checksum and
	// upload-ID keys than a v1 key of the same bytes.
	p1, _ := ParseMetadata(headerOf(o1.h))
	forged := *p1
	forged.Version = 2
	if _, err := forged.Open(bk, "o"); !errors.Is(err, ErrAuth) {
		t.Errorf("v1 metadata opened as v2: %v", err)
	}
	k2 := &DataKey{b: k1.b, f: formatV2Test}
	if _, err := decrypt(encrypt(t, pt[:100], k1, 0), k2, 0); !errors.Is(err, ErrAuth) {
		t.Errorf("v1 payload opened with v2 labels: %v", err)
	}
	e1, _ := endTag(k1, 3)
	e2, _ := endTag(k2, 3)
	c1, _ := checksumMAC(k1, "x")
	c2, _ := checksumMAC(k2, "x")
	u1, _, _ := k1.UploadKeys(false)
	u2, _, _ := k2.UploadKeys(false)
	if bytes.Equal(e1, e2) || bytes.Equal(c1, c2) || bytes.Equal(u1, u2) {
		t.Errorf("v1 and v2 share an end, checksum or upload-ID key")
	}
	// A layout and a key of different versions do not mix.
	l2, _ := NewLayout(&Metadata{Version: 2}, int64(len(o2.stored)))
	if _, err := NewRangeReader(bytes.NewReader(o2.stored), k1, l2, Range{Length: 70000}); err == nil {
		t.Errorf("v1 key read a v2 layout")
	}

	// A copy of a v1 object, made while v2 is written, stays v1: its
	// bytes were written in v1.
	d1, _ := p1.Open(bk, "o")
	m, err := p1.Reseal(d1, testBucketKey(bk, "b"), "copy")
	if err != nil || m.Version != 1 {
		t.Fatalf("reseal of v1: version %d, %v", m.Version, err)
	}

	// Listing sizes name no version: a size both algebras read alike is
	// exact, one they read differently is refused (FORMAT.md, "Versions").
	if n, err := PlaintextSize(ciphertextSize(100), 0); err != nil || n != 100 {
		t.Errorf("listed size of 100 bytes: %d, %v", n, err)
	}
	if _, err := PlaintextSize(int64(len(o1.stored)), 0); !errors.Is(err, errInvalidSize) {
		t.Errorf("a size v1 and v2 read differently was listed: %v", err)
	}

	// Versions this build does not know are invalid metadata.
	h := headerOf(o1.h)
	h.Set(headerVersion, "3")
	if _, err := ParseMetadata(h); !errors.Is(err, ErrInvalidMetadata) {
		t.Errorf("unknown version: %v", err)
	}
}
