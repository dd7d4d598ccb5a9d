package envelope

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestEndTag(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	a := mustEndTag(t, k1, 3)
	if len(a) != endSize || !bytes.Equal(a, mustEndTag(t, k1, 3)) {
		t.Fatalf("END(3) = %x: not %d deterministic bytes", a, endSize)
	}
	for _, other := range [][]byte{mustEndTag(t, k1, 2), mustEndTag(t, k1, 4), mustEndTag(t, k2, 3), make([]byte, endSize)} {
		if bytes.Equal(a, other) {
			t.Fatal("END(3) equals the tag of another count, another key, or zeros")
		}
	}
	for _, n := range []int{0, -1, maxPart + 1} {
		if _, err := endTag(k1, n); err == nil {
			t.Errorf("EndTag(%d) accepted", n)
		}
	}
	if _, err := endTag(nil, 1); err == nil {
		t.Error("nil key accepted")
	}
	l := Layout{Multipart: true, Parts: []int64{ciphertextSize(1), ciphertextSize(2), ciphertextSize(3)}}
	if err := l.checkTag(k1, a); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		l   Layout
		key *DataKey
		tag []byte
	}{
		"wrong N":   {Layout{Multipart: true, Parts: l.Parts[:2]}, k1, a},
		"wrong key": {l, k2, a},
		"zeros":     {l, k1, make([]byte, endSize)},
		"short":     {l, k1, a[:endSize-1]},
	} {
		if err := c.l.checkTag(c.key, c.tag); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := singleLayout(16).checkTag(k1, a); err == nil || errors.Is(err, ErrAuth) {
		t.Errorf("single-part CheckEnd: %v", err)
	}
}

func TestEndsObject(t *testing.T) {
	for _, c := range []struct {
		part int
		n    int64
		want bool
	}{
		{1, 0, true}, {1, minPartSize - 1, true}, {1, minPartSize, false}, {9999, 8 << 20, false},
		{maxPart, 8 << 20, true}, {maxPart, 0, true},
	} {
		if got := endsObject(c.part, c.n); got != c.want {
			t.Errorf("EndsObject(%d, %d) = %v", c.part, c.n, got)
		}
	}
	for _, n := range []int64{0, 1, S, minPartSize, minPartSize + 1} {
		c := storedPartSize(n)
		if got, err := PlaintextSize(c, 1); c != ciphertextSize(n)+partOverhead || err != nil || got != n {
			t.Errorf("stored size of %d: %d -> %d, %v", n, c, got, err)
		}
	}
	for _, c := range []int64{0, 15, 16, 31, 32, 47} {
		if _, err := PlaintextSize(c, 1); !errors.Is(err, errInvalidSize) {
			t.Errorf("StoredPartPlaintextSize(%d): %v", c, err)
		}
	}
}

// writePart writes a part with NewPartWriter.
func writePart(t *testing.T, key *DataKey, part int, pt []byte) []byte {
	t.Helper()
	return writeAll(t, pt, func(w io.Writer) (io.WriteCloser, error) {
		return newPartWriterRand(w, key, part, int64(len(pt)))
	})
}

func TestPartWriterReader(t *testing.T) {
	key := testKey(9)
	for _, c := range []struct {
		part int
		n    int
	}{{1, 0}, {1, 100}, {2, S}, {3, 2*S + 1}, {4, minPartSize}, {maxPart, 3}, {maxPart, minPartSize}} {
		pt := pattern(c.n, byte(c.part))
		stored := writePart(t, key, c.part, pt)
		if int64(len(stored)) != storedPartSize(int64(c.n)) {
			t.Fatalf("part %d of %d bytes: stored %d, want %d", c.part, c.n, len(stored), storedPartSize(int64(c.n)))
		}
		field := stored[len(stored)-endSize:]
		ends := endsObject(c.part, int64(c.n))
		if ends != bytes.Equal(field, mustEndTag(t, key, c.part)) || !ends != bytes.Equal(field, zeroEnd[:endSize]) {
			t.Fatalf("part %d of %d bytes: end field %x, ends=%v", c.part, c.n, field, ends)
		}
		// As the last part of a c.part-part object: with its own end tag,
		// or with a marker part; and as a part followed by others.
		sizes := make([]int64, c.part)
		for i := range sizes {
			sizes[i] = ciphertextSize(minPartSize)
		}
		sizes[c.part-1] = int64(len(stored)) - partOverhead
		last := Layout{Multipart: true, Parts: sizes, Marker: !ends}
		read := func(l Layout, src []byte) ([]byte, error) {
			r, err := NewPartReader(bytes.NewReader(src), key, l, c.part)
			if err != nil {
				return nil, err
			}
			return io.ReadAll(r)
		}
		if got, err := read(last, stored); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("part %d of %d bytes: %d bytes, %v", c.part, c.n, len(got), err)
		}
		wrongN := Layout{Multipart: true, Parts: append(append([]int64{}, sizes...), 16)}
		if c.part < maxPart {
			got, err := read(wrongN, stored)
			if ends && !errors.Is(err, ErrAuth) || !ends && err != nil {
				t.Fatalf("part %d read as not the last: %v", c.part, err)
			}
			if ends && len(got) > 0 && c.n <= S {
				t.Fatal("released the final segment before the end field checked")
			}
		}
		flipped := bytes.Clone(stored)
		flipped[len(flipped)-1] ^= 1
		for name, src := range map[string][]byte{
			"flipped end": flipped, "no end": stored[:len(stored)-endSize], "short end": stored[:len(stored)-1],
			"extra byte": append(bytes.Clone(stored), 0), "no header": stored[partHeaderSize:],
			"short header": stored[:partHeaderSize-1], "flipped header": flipFirst(stored),
		} {
			if _, err := read(last, src); !errors.Is(err, ErrAuth) {
				t.Errorf("part %d of %d bytes, %s: %v", c.part, c.n, name, err)
			}
		}
		if _, err := NewPartReader(bytes.NewReader(stored), testKey(8), last, c.part); err == nil {
			r, _ := NewPartReader(bytes.NewReader(stored), testKey(8), last, c.part)
			if _, err := io.ReadAll(r); !errors.Is(err, ErrAuth) {
				t.Errorf("wrong key: %v", err)
			}
		}
	}
	// Close checks the declared size, and then writes no final segment.
	var buf bytes.Buffer
	w, _ := newPartWriterRand(&buf, key, 1, 10)
	w.Write(make([]byte, 9))
	if err := w.Close(); err == nil {
		t.Fatal("short part closed")
	}
	if buf.Len() > partHeaderSize {
		t.Fatalf("short part wrote %d bytes", buf.Len())
	}
	for _, part := range []int{0, maxPart + 1} {
		if _, err := newPartWriterRand(&buf, key, part, 1); err == nil {
			t.Errorf("part %d accepted", part)
		}
	}
}

func flipFirst(b []byte) []byte {
	b = bytes.Clone(b)
	b[0] ^= 1
	return b
}

// TestPartUploadedAgain: S3 lets a client upload part k again with other
// bytes (and a failed upload is retried), under the same data key and part
// number. Each upload draws a fresh header, so the two never share a key
// and nonces: the XOR of their ciphertexts is not the XOR of their
// plaintexts, as it would be under a reused GCM key stream.
func TestPartUploadedAgain(t *testing.T) {
	key := testKey(4)
	a, b := pattern(3*S, 1), pattern(3*S, 2)
	ca, cb := writePart(t, key, 7, a), writePart(t, key, 7, b)
	if bytes.Equal(ca[:partHeaderSize], cb[:partHeaderSize]) {
		t.Fatal("two uploads of a part drew the same header")
	}
	same := 0
	for i := range a {
		if ca[partHeaderSize+i]^cb[partHeaderSize+i] == a[i]^b[i] {
			same++
		}
	}
	if same > len(a)/100 {
		t.Fatalf("%d of %d ciphertext bytes XOR to the plaintexts' XOR: key stream reused", same, len(a))
	}
	// And the same plaintext uploaded twice gives different bytes, both
	// readable.
	ca2 := writePart(t, key, 7, a)
	if bytes.Equal(ca, ca2) {
		t.Fatal("uploading the same part twice stored identical bytes")
	}
	l := Layout{Multipart: true, Parts: make([]int64, 7)} // part 7 ends the object: its end field is END(7)
	for i := range l.Parts {
		l.Parts[i] = int64(len(ca)) - partOverhead
	}
	for _, stored := range [][]byte{ca, ca2} {
		r, _ := NewPartReader(bytes.NewReader(stored), key, l, 7)
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, a) {
			t.Fatalf("re-uploaded part: %v", err)
		}
	}
}

func TestMultipartLayout(t *testing.T) {
	a, b := storedPartSize(minPartSize), storedPartSize(7)
	l, err := multipartLayout(formatV1, []int64{a, b})
	if err != nil || l.Marker || len(l.Parts) != 2 || l.storedSize() != a+b {
		t.Fatalf("%+v, %v", l, err)
	}
	if off, n := l.endRange(); off != a+b-endSize || n != endSize {
		t.Fatalf("EndRange %d+%d", off, n)
	}
	l, err = multipartLayout(formatV1, []int64{a, a, markerSize})
	if err != nil || !l.Marker || len(l.Parts) != 2 || l.storedSize() != 2*a+markerSize {
		t.Fatalf("with marker: %+v, %v", l, err)
	}
	if n, _ := l.PlaintextSize(); n != 2*minPartSize {
		t.Fatalf("plaintext size %d", n)
	}
	for _, bad := range [][]int64{nil, {markerSize}, {a, 15}, {47}, {a, endSize}, {a, markerSize, markerSize}} {
		if _, err := multipartLayout(formatV1, bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	many := make([]int64, maxPart+1)
	for i := range many {
		many[i] = a
	}
	many[maxPart] = markerSize
	if _, err := multipartLayout(formatV1, many); err == nil {
		t.Error("marker after part 10000 accepted")
	}
}

// TestDroppedTrailingParts is the attack the end tag exists for: a
// backend re-creates a completed object from its first k parts (their
// stored bytes unchanged). Every part still authenticates on its own, but
// no read of the result reaches its end: the whole object, and any range
// that reaches its end, fail before the final segment is released; the
// end tag does not check against the smaller count.
func TestDroppedTrailingParts(t *testing.T) {
	for name, o := range map[string]*object{
		"tag in last part": newObject(t, true, 2*S, 2*S, S+5),
		"marker part":      withMarker(t, newObject(t, true, 2*S, 2*S, 2*S)),
	} {
		for k := 1; k < len(o.l.Parts); k++ {
			var keep int64
			for i := range k {
				keep += o.l.stride(i)
			}
			marker := func(tag []byte) []byte { return append(make([]byte, partHeaderSize), tag...) }
			nextEnd := o.ct[keep : keep+o.l.stride(k)]
			nextEnd = nextEnd[len(nextEnd)-endSize:]
			for variant, tail := range map[string][]byte{
				"dropped":          nil,
				"old marker":       marker(mustEndTag(t, o.key, len(o.l.Parts))), // the real END(N) as marker
				"zero marker":      make([]byte, markerSize),
				"own-count marker": marker(mustEndTag(t, testKey(99), k)), // END(k) under another key
				"next part's end":  marker(nextEnd),                       // part k+1's end field
			} {
				ct := append(bytes.Clone(o.ct[:keep]), tail...)
				l := Layout{Multipart: true, Parts: o.l.Parts[:k], Marker: len(tail) == markerSize}
				total, _ := l.PlaintextSize()
				for _, r := range []Range{{0, total}, {total - 1, 1}, {S, total - S}} {
					off, n, err := l.ciphertextRange(r)
					if err != nil {
						t.Fatal(err)
					}
					if off+n > int64(len(ct)) {
						continue // fetching past the object: the backend answers short, as below
					}
					src := io.Reader(bytes.NewReader(ct[off : off+n]))
					if hoff, hn, ok := l.headerRange(r); ok {
						src = io.MultiReader(bytes.NewReader(ct[hoff:hoff+hn]), src)
					}
					rr, err := NewRangeReader(src, o.key, l, r)
					if err != nil {
						t.Fatal(err)
					}
					got, err := io.ReadAll(rr)
					if !errors.Is(err, ErrAuth) || int64(len(got)) == r.Length {
						t.Fatalf("%s, %d of %d parts, %s, range %+v: %d bytes, %v", name, k, len(o.l.Parts), variant, r, len(got), err)
					}
				}
				if len(tail) == markerSize {
					if err := l.checkTag(o.key, tail[partHeaderSize:]); !errors.Is(err, ErrAuth) {
						t.Fatalf("%s, %d parts, %s: CheckEnd %v", name, k, variant, err)
					}
				}
				// Read as if the last kept part held the tag itself.
				l.Marker = false
				if err := l.checkTag(o.key, ct[len(ct)-endSize:]); !errors.Is(err, ErrAuth) {
					t.Fatalf("%s, %d parts, %s: CheckEnd without marker %v", name, k, variant, err)
				}
			}
		}
		// The intact object reads whole.
		if got, err := o.read(Range{0, int64(len(o.pt))}); err != nil || !bytes.Equal(got, o.pt) {
			t.Fatalf("%s intact: %v", name, err)
		}
	}
}
