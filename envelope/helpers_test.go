package envelope

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

const (
	S = segmentSize
	E = encSegmentSize
)

// testKey returns a data key filled with b.
func testKey(b byte) *DataKey {
	var k DataKey
	for i := range k.b {
		k.b[i] = b
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

// testSalt is the part header the tests use for the stream of part (nil
// for part 0), so that encrypt and decrypt agree.
func testSalt(part int) []byte {
	if part == 0 {
		return nil
	}
	s := make([]byte, partHeaderSize)
	for i := range s {
		s[i] = byte(part) + byte(i)
	}
	return s
}

// encrypt encrypts pt as the stream of part (with testSalt) in one Write.
func encrypt(t testing.TB, pt []byte, key *DataKey, part int) []byte {
	t.Helper()
	return writeAll(t, pt, func(w io.Writer) (io.WriteCloser, error) {
		return newStreamWriter(w, key, part, testSalt(part))
	})
}

// writeAll writes pt in one Write to the writer newWriter makes over a
// buffer, closes it, and returns what it wrote.
func writeAll(t testing.TB, pt []byte, newWriter func(io.Writer) (io.WriteCloser, error)) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := newWriter(&buf)
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
// before any error. A stream of part 0 is read twice, synchronously with
// Read and with read-ahead (readahead.go) with WriteTo, and both must
// release the same bytes and fail alike.
func decrypt(ct []byte, key *DataKey, part int) ([]byte, error) {
	r, err := newStreamReader(bytes.NewReader(ct), key, part, testSalt(part))
	if err != nil {
		return nil, err
	}
	got, err := io.ReadAll(r)
	if part != 0 {
		return got, err
	}
	ahead, err2 := decryptAhead(ct, key)
	if !bytes.Equal(got, ahead) || errors.Is(err, ErrAuth) != errors.Is(err2, ErrAuth) || (err == nil) != (err2 == nil) {
		return got, fmt.Errorf("read-ahead released %d bytes (err %v), synchronous read %d (err %v)", len(ahead), err2, len(got), err)
	}
	return got, err
}

// decryptAhead decrypts ct with NewReader (read-ahead on) through WriteTo.
func decryptAhead(ct []byte, key *DataKey) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(ct), key)
	if err != nil {
		return nil, err
	}
	defer r.(io.Closer).Close()
	var buf bytes.Buffer
	_, err = r.(io.WriterTo).WriteTo(&buf)
	return buf.Bytes(), err
}

// testBucketKey is a BucketKey around a raw bucket key, as tests seal with.
func testBucketKey(bk []byte, bucket string) BucketKey {
	return BucketKey{Plaintext: bk, KeyID: "test-key", Wrapped: []byte("wrapped bucket key"), Bucket: bucket}
}

// sealRaw is Seal under a raw bucket key.
func sealRaw(bk []byte, bucket, object string, multipart bool, size int64) (*Metadata, *DataKey, error) {
	return Seal(testBucketKey(bk, bucket), object, multipart, size)
}

// ciphertextSize and plaintextSize are v1's size algebra.
func ciphertextSize(n int64) int64         { return formatV1.sizes.ciphertext(n) }
func plaintextSize(c int64) (int64, error) { return formatV1.sizes.plaintext(c) }

// storedPartSize is what a v1 multipart part of n bytes stores.
func storedPartSize(n int64) int64 { return new(DataKey).StoredSize(1, n) }
