package envelope

import (
	"bytes"
	"io"
	"testing"
)

const (
	S = SegmentSize
	E = encSegmentSize
)

// testKey returns a data key filled with b.
func testKey(b byte) *DataKey {
	var k DataKey
	for i := range k {
		k[i] = b
	}
	return &k
}

// pattern returns n deterministic bytes, different for each seed.
func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7+i/251) ^ seed
	}
	return p
}

// encrypt encrypts pt as the stream of part in one Write.
func encrypt(t testing.TB, pt []byte, key *DataKey, part int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, key, part)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pt); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decrypt decrypts a whole stream, returning what the reader released
// before any error.
func decrypt(ct []byte, key *DataKey, part int) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(ct), key, part)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}
