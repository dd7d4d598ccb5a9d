package proxy

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/s3err"
)

func sealTestKey(t *testing.T, size int64) *envelope.DataKey {
	t.Helper()
	_, dk, err := envelope.Seal(envelope.BucketKey{Plaintext: randBytes(32), KeyID: "k", Wrapped: []byte("w"), Bucket: "bkt"}, "obj", false, size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dk.Wipe)
	return dk
}

// readSealed reads r to its end or failure, 32 KiB at a time.
func readSealed(r io.Reader) ([]byte, error) {
	var out []byte
	p := make([]byte, 32<<10)
	for {
		n, err := r.Read(p)
		out = append(out, p[:n]...)
		if err != nil {
			return out, err
		}
	}
}

// TestUnitSealReader: the streamed upload's body is the stored size of
// the plaintext, decrypts to it, and after abandon
// reports that sealing completed.
func TestUnitSealReader(t *testing.T) {
	for _, size := range []int64{1, bufSize, bufSize + 1, 5*bufSize + 17} {
		dk := sealTestKey(t, size)
		pt := randBytes(int(size))
		armed := 0
		r, err := newSealReader(encryptedPut{dk: dk, plaintext: bytes.NewReader(pt), size: size}, func() { armed++ })
		if err != nil {
			t.Fatal(err)
		}
		ct, err := readSealed(r)
		if err != io.EOF {
			t.Fatalf("size %d: %v", size, err)
		}
		if err := r.abandon(); err != nil {
			t.Errorf("size %d: abandon after the end: %v", size, err)
		}
		if int64(len(ct)) != dk.StoredSize(0, size) || armed != 1 {
			t.Fatalf("size %d: %d bytes of ciphertext, want %d; sent called %d times", size, len(ct), dk.StoredSize(0, size), armed)
		}
		dec, err := envelope.NewReader(bytes.NewReader(ct), dk)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(dec)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("size %d: decrypts to %d bytes (%v), want the plaintext", size, len(got), err)
		}
		if _, err := r.Read(make([]byte, 1)); !errors.Is(err, errAbandoned) {
			t.Errorf("size %d: a read after abandon: %v, want errAbandoned", size, err)
		}
	}
}

// TestUnitSealReaderFails: a source that fails, ends short or runs long
// never gets its final segment sealed: the body fails short of the stored
// size, and abandon reports the source's failure (or IncompleteBody).
func TestUnitSealReaderFails(t *testing.T) {
	const size = 3*bufSize + 5
	pt := randBytes(size)
	boom := errors.New("boom")
	for name, src := range map[string]io.Reader{
		"fails":  io.MultiReader(bytes.NewReader(pt[:size-1]), &failReader{err: boom}),
		"short":  bytes.NewReader(pt[:size-1]),
		"long":   bytes.NewReader(append(pt[:size:size], 'x')),
		"at-end": io.MultiReader(bytes.NewReader(pt), &failReader{err: boom}),
	} {
		dk := sealTestKey(t, size)
		r, err := newSealReader(encryptedPut{dk: dk, plaintext: src, size: size}, func() { t.Errorf("%s: final segment sealed", name) })
		if err != nil {
			t.Fatal(err)
		}
		ct, err := readSealed(r)
		if err == io.EOF || int64(len(ct)) >= dk.StoredSize(0, size) {
			t.Fatalf("%s: %d of %d bytes, %v: want a failure short of the end", name, len(ct), dk.StoredSize(0, size), err)
		}
		got := r.abandon()
		want := boom
		if name == "short" || name == "long" {
			want = s3err.IncompleteBody
		}
		if !errors.Is(got, want) {
			t.Errorf("%s: abandon: %v, want %v", name, got, want)
		}
	}
}

type failReader struct{ err error }

func (f *failReader) Read([]byte) (int, error) { return 0, f.err }

// TestUnitSealReaderAllocs: sealing allocates per upload, never per
// segment.
func TestUnitSealReaderAllocs(t *testing.T) {
	allocs := func(size int64) float64 {
		dk := sealTestKey(t, size)
		p := make([]byte, 32<<10)
		return testing.AllocsPerRun(5, func() {
			r, err := newSealReader(encryptedPut{dk: dk, plaintext: newPattern(size), size: size}, func() {})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.CopyBuffer(io.Discard, onlyReader{r}, p); err != nil {
				t.Fatal(err)
			}
			r.abandon()
		})
	}
	// A pool may refill between runs: a few, not 63 more.
	if one, many := allocs(bufSize), allocs(64*bufSize); many > one+4 {
		t.Errorf("%v allocs for 1 segment, %v for 64", one, many)
	}
}

// nothing returns (0, nil) forever: a broken reader.
type nothing struct{}

func (nothing) Read([]byte) (int, error) { return 0, nil }

// TestUnitSealReaderNoProgress: a source that keeps returning nothing
// fails the body (io.ErrNoProgress) instead of spinning, with s.mu held,
// in Read.
func TestUnitSealReaderNoProgress(t *testing.T) {
	const size = 5 * bufSize
	s, err := newSealReader(encryptedPut{dk: sealTestKey(t, size), plaintext: nothing{}, size: size}, func() {})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readSealed(s); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("read: %v, want io.ErrNoProgress", err)
	}
	if err := s.abandon(); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("abandon: %v", err)
	}
}
