package envelope

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

var roundTripSizes = []int{0, 1, 15, 16, 17, S - 1, S, S + 1, 2*S - 1, 2 * S, 2*S + 1, 5*S + 12345}

// chunkWrite writes p in calls of at most n bytes.
func chunkWrite(w io.Writer, p []byte, n int) error {
	for len(p) > 0 {
		k := min(n, len(p))
		if _, err := w.Write(p[:k]); err != nil {
			return err
		}
		p = p[k:]
	}
	return nil
}

func TestRoundTrip(t *testing.T) {
	key := testKey(1)
	writes := map[string]func(w io.Writer, pt []byte) error{
		"one-write": func(w io.Writer, pt []byte) error { _, err := w.Write(pt); return err },
		"odd-7":     func(w io.Writer, pt []byte) error { return chunkWrite(w, pt, 7) },
		"odd-4093":  func(w io.Writer, pt []byte) error { return chunkWrite(w, pt, 4093) },
		"seg+1":     func(w io.Writer, pt []byte) error { return chunkWrite(w, pt, S+1) },
		"io.Copy-half": func(w io.Writer, pt []byte) error {
			_, err := io.Copy(w, iotest.HalfReader(bytes.NewReader(pt)))
			return err
		},
	}
	reads := map[string]func(r io.Reader) ([]byte, error){
		"ReadAll":  io.ReadAll,
		"one-byte": func(r io.Reader) ([]byte, error) { return io.ReadAll(iotest.OneByteReader(r)) },
		"io.Copy": func(r io.Reader) ([]byte, error) {
			var b bytes.Buffer
			_, err := io.Copy(&b, r) // uses WriteTo
			return b.Bytes(), err
		},
	}
	for _, n := range roundTripSizes {
		pt := pattern(n, byte(n))
		for wname, write := range writes {
			if n > 2*S+1 && wname == "odd-7" {
				continue // slow under -race; the small sizes cover it
			}
			var ct bytes.Buffer
			w, err := newSingleWriter(&ct, key)
			if err != nil {
				t.Fatal(err)
			}
			if err := write(w, pt); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if int64(ct.Len()) != ciphertextSize(int64(n)) {
				t.Fatalf("n=%d %s: ciphertext %d bytes, want %d", n, wname, ct.Len(), ciphertextSize(int64(n)))
			}
			if want := encrypt(t, pt, key, 0); !bytes.Equal(ct.Bytes(), want) {
				t.Fatalf("n=%d %s: ciphertext depends on write sizes", n, wname)
			}
			for rname, read := range reads {
				r, err := NewReader(bytes.NewReader(ct.Bytes()), key)
				if err != nil {
					t.Fatal(err)
				}
				got, err := read(r)
				if err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("n=%d %s/%s: got %d bytes, err %v", n, wname, rname, len(got), err)
				}
			}
		}
	}
}

func TestReaderConformance(t *testing.T) {
	key := testKey(2)
	for _, n := range []int{0, 1, S, S + 1, 3*S + 5} {
		pt := pattern(n, 3)
		ct := encrypt(t, pt, key, 0)
		r, _ := NewReader(bytes.NewReader(ct), key)
		if err := iotest.TestReader(r, pt); err != nil {
			t.Errorf("n=%d: %v", n, err)
		}
		l := singleLayout(int64(len(ct)))
		rr, err := NewRangeReader(bytes.NewReader(ct), key, l, Range{0, int64(n)})
		if err != nil {
			t.Fatal(err)
		}
		if err := iotest.TestReader(rr, pt); err != nil {
			t.Errorf("range n=%d: %v", n, err)
		}
	}
}

// A source of plaintext that fails must leave a stream that does not
// authenticate: the final segment is only written by Close.
func TestWriterHoldsFinalSegment(t *testing.T) {
	key := testKey(3)
	var dst bytes.Buffer
	w, _ := newSingleWriter(&dst, key)
	pt := pattern(2*S+10, 1)
	step := []struct {
		write, wantDst int
	}{
		{S, 0}, // a full segment is held until more data comes
		{1, S + tagSize},
		{S - 1, S + tagSize},
		{10, 2 * (S + tagSize)},
	}
	off := 0
	for i, s := range step {
		if _, err := w.Write(pt[off : off+s.write]); err != nil {
			t.Fatal(err)
		}
		off += s.write
		if dst.Len() != s.wantDst {
			t.Fatalf("step %d: %d ciphertext bytes written, want %d", i, dst.Len(), s.wantDst)
		}
		// Abandoned here, what was written does not decrypt.
		got, err := decrypt(dst.Bytes(), key, 0)
		if !errors.Is(err, ErrAuth) {
			t.Fatalf("step %d: abandoned stream decrypted: err %v", i, err)
		}
		if len(got)%S != 0 || !bytes.Equal(got, pt[:len(got)]) {
			t.Fatalf("step %d: released %d bytes", i, len(got))
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := decrypt(dst.Bytes(), key, 0); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("after Close: %d bytes, %v", len(got), err)
	}
	if _, err := w.Write([]byte{1}); err == nil {
		t.Fatal("Write after Close succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk on fire")
	}
	f.after--
	return len(p), nil
}

func TestWriterErrorsAreSticky(t *testing.T) {
	w, _ := newSingleWriter(&failWriter{after: 1}, testKey(1))
	if _, err := w.Write(make([]byte, 3*S)); err == nil {
		t.Fatal("Write succeeded over a failing destination")
	}
	if _, err := w.Write([]byte{1}); err == nil {
		t.Fatal("Write after a failure succeeded")
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close after a failure succeeded")
	}
}

func TestStreamRejectsBadPartOrSalt(t *testing.T) {
	salt := make([]byte, partHeaderSize)
	cases := []struct {
		part int
		salt []byte
	}{
		{-1, nil}, {maxPart + 1, salt}, // no such part
		{0, salt},                // a single-part stream has no salt
		{1, nil}, {1, salt[:15]}, // a part needs its 16-byte header
		{maxPart, make([]byte, 17)},
	}
	for _, c := range cases {
		if _, err := newStreamWriter(io.Discard, testKey(1), c.part, c.salt); err == nil {
			t.Errorf("writer: part %d with a %d-byte salt accepted", c.part, len(c.salt))
		}
		if _, err := newStreamReader(bytes.NewReader(nil), testKey(1), c.part, c.salt); err == nil {
			t.Errorf("reader: part %d with a %d-byte salt accepted", c.part, len(c.salt))
		}
	}
	for _, part := range []int{-1, 0, maxPart + 1} {
		if _, err := newPartWriterRand(io.Discard, testKey(1), part, 10); err == nil {
			t.Errorf("NewPartWriter: part %d accepted", part)
		}
	}
	if _, err := newSingleWriter(io.Discard, nil); err == nil {
		t.Error("nil key accepted")
	}
}

func TestWriterCounterLimit(t *testing.T) {
	wc, _ := newSingleWriter(io.Discard, testKey(1))
	w := wc.(*writer)
	w.index = math.MaxUint32 // as if 2^32-1 segments had been written
	if _, err := w.Write(make([]byte, S)); err != nil {
		t.Fatal(err) // the last index may still be the final segment
	}
	if _, err := w.Write([]byte{1}); err == nil {
		t.Fatal("segment counter wrapped")
	}
}

// Every single-bit flip of a small object fails, and nothing is released.
func TestEveryBitFlipFails(t *testing.T) {
	key := testKey(4)
	for _, n := range []int{0, 1, 100} {
		ct := encrypt(t, pattern(n, 9), key, 0)
		for bit := 0; bit < 8*len(ct); bit++ {
			bad := bytes.Clone(ct)
			bad[bit/8] ^= 1 << (bit % 8)
			got, err := decrypt(bad, key, 0)
			if !errors.Is(err, ErrAuth) || len(got) != 0 {
				t.Fatalf("n=%d bit %d: %d bytes, err %v", n, bit, len(got), err)
			}
		}
	}
}

// In a multi-segment object, a flip anywhere in segment i releases exactly
// the segments before i.
func TestBitFlipReleasesOnlyEarlierSegments(t *testing.T) {
	key := testKey(5)
	pt := pattern(3*S+77, 1)
	ct := encrypt(t, pt, key, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	var positions []int
	for seg := 0; seg < 4; seg++ {
		start := seg * (S + tagSize)
		end := min(start+S+tagSize, len(ct))
		positions = append(positions, start, start+1, end-tagSize, end-1, start+rng.IntN(end-start))
	}
	for _, pos := range positions {
		for _, bit := range []byte{1, 0x80} {
			bad := bytes.Clone(ct)
			bad[pos] ^= bit
			got, err := decrypt(bad, key, 0)
			seg := pos / (S + tagSize)
			if !errors.Is(err, ErrAuth) || !bytes.Equal(got, pt[:seg*S]) {
				t.Fatalf("flip at %d (segment %d): released %d bytes, err %v", pos, seg, len(got), err)
			}
		}
	}
}

func TestTruncationFails(t *testing.T) {
	key := testKey(6)
	for _, n := range []int{3*S + 100, 3 * S} {
		pt := pattern(n, 2)
		ct := encrypt(t, pt, key, 0)
		cuts := map[int]bool{0: true}
		for b := 0; b <= len(ct); b += S + tagSize {
			for _, d := range []int{-tagSize - 1, -tagSize, -1, 0, 1, tagSize, tagSize + 1, 1000} {
				if c := b + d; c >= 0 && c < len(ct) {
					cuts[c] = true
				}
			}
		}
		cuts[len(ct)-1] = true
		for c := range cuts {
			got, err := decrypt(ct[:c], key, 0)
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("n=%d cut at %d: err %v", n, c, err)
			}
			if len(got)%S != 0 || !bytes.Equal(got, pt[:len(got)]) {
				t.Fatalf("n=%d cut at %d: released %d bytes", n, c, len(got))
			}
		}
	}
}

// A stream cut inside its final segment's tag is reported as truncated.
func TestShortStreamIsUnexpectedEOF(t *testing.T) {
	ct := encrypt(t, pattern(S+5, 1), testKey(6), 0)
	for c, short := range map[int]bool{0: true, 5: true, tagSize - 1: true, tagSize: false, E: false, E + 1: true, E + tagSize - 1: true} {
		if _, err := decrypt(ct[:c], testKey(6), 0); !errors.Is(err, ErrAuth) || errors.Is(err, io.ErrUnexpectedEOF) != short {
			t.Errorf("cut at %d: %v", c, err)
		}
	}
}

func TestTrailingDataFails(t *testing.T) {
	key := testKey(7)
	for _, n := range []int{0, 5, S, S + 5} {
		ct := encrypt(t, pattern(n, 1), key, 0)
		for _, extra := range [][]byte{{0}, make([]byte, tagSize), ct, encrypt(t, nil, key, 0)} {
			got, err := decrypt(append(bytes.Clone(ct), extra...), key, 0)
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("n=%d + %d bytes: err %v", n, len(extra), err)
			}
			if len(got) > n {
				t.Fatalf("n=%d: released %d bytes", n, len(got))
			}
		}
	}
}

func TestSegmentReorderDropDuplicateFails(t *testing.T) {
	key := testKey(8)
	ct := encrypt(t, pattern(3*S+50, 4), key, 0)
	seg := func(i int) []byte { return ct[i*(S+tagSize) : min((i+1)*(S+tagSize), len(ct))] }
	cases := map[string][]int{
		"drop-first":   {1, 2, 3},
		"drop-middle":  {0, 2, 3},
		"drop-last":    {0, 1, 2},
		"dup-first":    {0, 0, 1, 2, 3},
		"dup-middle":   {0, 1, 1, 2, 3},
		"dup-last":     {0, 1, 2, 3, 3},
		"swap-0-1":     {1, 0, 2, 3},
		"swap-1-2":     {0, 2, 1, 3},
		"last-earlier": {0, 1, 3, 2},
		"only-last":    {3},
	}
	for name, order := range cases {
		var bad []byte
		for _, i := range order {
			bad = append(bad, seg(i)...)
		}
		if _, err := decrypt(bad, key, 0); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

func TestWrongKeyOrPartFails(t *testing.T) {
	pt := pattern(S+3, 5)
	for _, part := range []int{0, 1, 2, maxPart} {
		ct := encrypt(t, pt, testKey(9), part)
		if got, err := decrypt(ct, testKey(9), part); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("part %d: %v", part, err)
		}
		if _, err := decrypt(ct, testKey(10), part); !errors.Is(err, ErrAuth) {
			t.Errorf("part %d under another key: %v", part, err)
		}
		other := (part + 1) % (maxPart + 1)
		if _, err := decrypt(ct, testKey(9), other); !errors.Is(err, ErrAuth) {
			t.Errorf("part %d read as part %d: %v", part, other, err)
		}
	}
}

// Two objects under the same bucket key have different data keys, so
// swapping their bytes at the backend fails.
func TestSwappedObjectsFail(t *testing.T) {
	bk := bytes.Repeat([]byte{0x42}, keySize)
	ma, ka, err := sealRaw(bk, "bucket", "a", false, 100)
	if err != nil {
		t.Fatal(err)
	}
	mb, kb, _ := sealRaw(bk, "bucket", "b", false, 100)
	cta := encrypt(t, pattern(1000, 1), ka, 0)
	ctb := encrypt(t, pattern(1000, 2), kb, 0)
	// The proxy reads object "a" with a's metadata, but the bytes are b's.
	ka2, err := ma.Open(bk, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decrypt(ctb, ka2, 0); !errors.Is(err, ErrAuth) {
		t.Errorf("b's bytes under a's metadata: %v", err)
	}
	// Bytes and metadata of b both moved to name a.
	if _, err := mb.Open(bk, "a"); !errors.Is(err, ErrAuth) {
		t.Errorf("b's metadata under name a: %v", err)
	}
	if _, err := decrypt(cta, ka2, 0); err != nil {
		t.Errorf("a itself: %v", err)
	}
}

// The reader rejects an empty final segment after full ones even though it
// authenticates: the writer never makes one, so the encoding stays unique
// and CiphertextSize stays exact.
func TestEmptyFinalSegmentAfterFullRejected(t *testing.T) {
	key := testKey(11)
	c, _ := newSegmentCipher(key, 0, nil)
	ct := c.seal(nil, pattern(S, 1), 0, false)
	ct = c.seal(ct, nil, 1, true)
	if _, err := decrypt(ct, key, 0); !errors.Is(err, ErrAuth) {
		t.Fatalf("err %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestReaderPassesSourceErrors(t *testing.T) {
	boom := errors.New("connection reset")
	ct := encrypt(t, pattern(2*S, 1), testKey(1), 0)
	r, _ := NewReader(io.MultiReader(bytes.NewReader(ct[:S+tagSize+5]), errReader{boom}), testKey(1))
	got, err := io.ReadAll(r)
	if !errors.Is(err, boom) || errors.Is(err, ErrAuth) {
		t.Fatalf("err %v", err)
	}
	if len(got) != S {
		t.Fatalf("released %d bytes", len(got))
	}
	if _, err2 := r.Read(make([]byte, 1)); !errors.Is(err2, boom) {
		t.Fatalf("error not sticky: %v", err2)
	}
}

func ExampleNewWriter() {
	dek := testKey(1) // from Seal in real use
	var stored bytes.Buffer
	w, _ := NewWriter(&stored, dek, 0, 12)
	io.WriteString(w, "hello, world")
	w.Close() // only once the plaintext has been verified
	fmt.Println(stored.Len(), ciphertextSize(12))
	r, _ := NewReader(&stored, dek)
	pt, _ := io.ReadAll(r)
	fmt.Println(string(pt))
	// Output:
	// 28 28
	// hello, world
}
