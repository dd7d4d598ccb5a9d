package envelope

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// object is an encrypted test object: its plaintext, ciphertext and layout.
type object struct {
	pt, ct []byte
	l      Layout
	key    *DataKey
}

// newObject encrypts parts of the given plaintext sizes; one size and
// multipart=false makes a single-part object. A multipart object is
// stored as a completed upload is: each stream behind its header
// (testSalt) and followed by its end field, the last one holding the end
// tag (withMarker moves it to a marker part). Unlike the proxy, which
// refuses a part under 5 MiB anywhere but last, it builds parts of any
// size, so that small objects exercise every layout.
func newObject(t testing.TB, multipart bool, sizes ...int) *object {
	t.Helper()
	o := &object{key: testKey(byte(len(sizes))), l: Layout{Multipart: multipart}}
	for i, n := range sizes {
		pt := pattern(n, byte(i))
		part := 0
		if multipart {
			part = i + 1
		}
		ct := encrypt(t, pt, o.key, part)
		o.pt = append(o.pt, pt...)
		o.ct = append(o.ct, testSalt(part)...)
		o.ct = append(o.ct, ct...)
		o.l.Parts = append(o.l.Parts, int64(len(ct)))
		if multipart {
			end := make([]byte, endSize)
			if i == len(sizes)-1 {
				end = mustEndTag(t, o.key, len(sizes))
			}
			o.ct = append(o.ct, end...)
		}
	}
	return o
}

// withMarker moves a multipart object's end tag from its last part's end
// field to a marker part.
func withMarker(t testing.TB, o *object) *object {
	t.Helper()
	n := len(o.ct)
	tag := bytes.Clone(o.ct[n-endSize:])
	clear(o.ct[n-endSize:])
	o.ct = append(o.ct, make([]byte, partHeaderSize)...)
	o.ct = append(o.ct, tag...)
	o.l.Marker = true
	return o
}

func mustEndTag(t testing.TB, key *DataKey, parts int) []byte {
	t.Helper()
	tag, err := endTag(key, parts)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

// read fetches and decrypts r the way the proxy does.
func (o *object) read(r Range) ([]byte, error) {
	off, n, err := o.l.ciphertextRange(r)
	if err != nil {
		return nil, err
	}
	src := io.Reader(bytes.NewReader(o.ct[off : off+n]))
	if hoff, hn, ok := o.l.headerRange(r); ok {
		src = io.MultiReader(bytes.NewReader(o.ct[hoff:hoff+hn]), src)
	}
	rr, err := NewRangeReader(src, o.key, o.l, r)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(rr)
}

func TestCiphertextRange(t *testing.T) {
	single := singleLayout(ciphertextSize(3*S + 100))
	multi := Layout{Multipart: true, Parts: []int64{ciphertextSize(2 * S), ciphertextSize(S + 10), ciphertextSize(0), ciphertextSize(5)}}
	marked := multi
	marked.Marker = true
	const H, F = partHeaderSize, endSize
	cases := []struct {
		l      Layout
		r      Range
		off, n int64
		header int64 // HeaderRange's offset, -1 for none
	}{
		{single, Range{0, 1}, 0, E, -1},
		{single, Range{S - 1, 1}, 0, E, -1},
		{single, Range{S - 1, 2}, 0, 2 * E, -1},
		{single, Range{S, 1}, E, E, -1},
		{single, Range{3 * S, 100}, 3 * E, 116, -1},
		{single, Range{3*S + 99, 1}, 3 * E, 116, -1},
		{single, Range{0, 3*S + 100}, 0, 3*E + 116, -1},
		// multipart: part 1 = 2 full segments, part 2 = S+10, part 3 empty,
		// part 4 = 5; each stream behind its 16-byte header (H) and
		// followed by its 16-byte end field (F).
		{multi, Range{2*S - 1, 2}, H + E, E + F + H + E, 0},                                      // spans parts 1 and 2
		{multi, Range{2 * S, S + 10}, H + 2*E + F, H + E + 26, -1},                               // exactly part 2, with its header
		{multi, Range{3*S + 9, 2}, 2*H + 3*E + F, 26 + F + H + 16 + F + H + 21 + F, H + 2*E + F}, // spans the empty part 3, to the end
		{multi, Range{3*S + 10, 5}, 3*E + 26 + 16 + 3*(H+F), H + 21 + F, -1},                     // exactly part 4, with the end tag
		{multi, Range{0, 3*S + 15}, 0, 3*E + 26 + 16 + 21 + 4*(H+F), -1},                         // whole object
		{marked, Range{3*S + 10, 5}, 3*E + 26 + 16 + 3*(H+F), H + 21 + F + markerSize, -1},       // and the marker part
		{marked, Range{0, 3*S + 15}, 0, 3*E + 26 + 16 + 21 + 4*(H+F) + markerSize, -1},           // whole object
		{marked, Range{3*S + 9, 1}, 2*H + 3*E + F, 26, H + 2*E + F},                              // end of part 2 only
	}
	for _, c := range cases {
		off, n, err := c.l.ciphertextRange(c.r)
		if err != nil || off != c.off || n != c.n {
			t.Errorf("%v %+v: off=%d n=%d err=%v; want %d, %d", c.l.Parts, c.r, off, n, err, c.off, c.n)
		}
		hoff, hn, ok := c.l.headerRange(c.r)
		if ok != (c.header >= 0) || ok && (hoff != c.header || hn != H) {
			t.Errorf("%v %+v: HeaderRange %d+%d %v; want %d", c.l.Parts, c.r, hoff, hn, ok, c.header)
		}
	}
	for _, r := range []Range{{-1, 1}, {0, -1}, {3*S + 100, 1}, {0, 3*S + 101}, {5, 0}, {1 << 62, 1 << 62}} {
		if _, _, err := single.ciphertextRange(r); !errors.Is(err, errUnsatisfiableRange) {
			t.Errorf("%+v: %v", r, err)
		}
	}
	for _, l := range []Layout{{}, {Parts: []int64{16, 16}}, {Parts: []int64{1}}, {Multipart: true, Parts: make([]int64, maxPart+1)}} {
		if _, _, err := l.ciphertextRange(Range{0, 0}); err == nil || errors.Is(err, errUnsatisfiableRange) {
			t.Errorf("layout %d parts: %v", len(l.Parts), err)
		}
	}
}

// Ranges of random objects, single and multipart, with part sizes uniform,
// non-uniform and not aligned to segments, checked against the plaintext.
func TestRangeReaderProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	shapes := map[string]*object{
		"empty":               newObject(t, false, 0),
		"single-1":            newObject(t, false, 1),
		"single-seg":          newObject(t, false, S),
		"single-many":         newObject(t, false, 4*S+777),
		"mp-uniform-aligned":  newObject(t, true, 2*S, 2*S, 2*S, 100),
		"mp-uniform-odd":      newObject(t, true, S+333, S+333, S+333),
		"mp-nonuniform":       newObject(t, true, 3*S-1, 1, 2*S+5, S),
		"mp-with-empty-parts": newObject(t, true, S+1, 0, 7, 0),
		"mp-one-part":         newObject(t, true, S+1),
		"mp-empty":            newObject(t, true, 0),
		"mp-marker":           withMarker(t, newObject(t, true, 2*S, S+5)),
		"mp-marker-one":       withMarker(t, newObject(t, true, 3)),
	}
	for name, o := range shapes {
		total, err := o.l.PlaintextSize()
		if err != nil || total != int64(len(o.pt)) {
			t.Fatalf("%s: PlaintextSize %d, %v", name, total, err)
		}
		// The whole object, and every part boundary +-1.
		ranges := []Range{{0, total}}
		var b int64
		for _, c := range o.l.Parts {
			n, _ := plaintextSize(c)
			b += n
			for _, s := range []int64{b - 2, b - 1, b} {
				for _, ln := range []int64{1, 2, 3, S + 1} {
					if s >= 0 && s+ln <= total {
						ranges = append(ranges, Range{s, ln})
					}
				}
			}
		}
		for range 60 {
			if total == 0 {
				break
			}
			s := rng.Int64N(total)
			ranges = append(ranges, Range{s, 1 + rng.Int64N(total-s)})
		}
		for _, r := range ranges {
			got, err := o.read(r)
			if err != nil || !bytes.Equal(got, o.pt[r.Start:r.Start+r.Length]) {
				t.Fatalf("%s %+v: %d bytes, %v", name, r, len(got), err)
			}
		}
		// Every header a client may send.
		// (bytes=0-, bytes=-1, bytes=-70000, bytes=65535-65537, bytes=1-)
		for _, r := range []Range{{0, total}, {total - 1, 1}, {max(0, total-70000), min(total, 70000)}, {65535, min(3, total-65535)}, {1, total - 1}} {
			if r.Start < 0 || r.Length < 1 || r.Start+r.Length > total {
				continue
			}
			got, err := o.read(r)
			if err != nil || !bytes.Equal(got, o.pt[r.Start:r.Start+r.Length]) {
				t.Fatalf("%s %+v: %d bytes, %v", name, r, len(got), err)
			}
		}
	}
}

func TestRangeReaderReadStyles(t *testing.T) {
	o := newObject(t, true, 2*S+9, S+1)
	r := Range{S - 3, 2*S + 10}
	want := o.pt[r.Start : r.Start+r.Length]
	off, n, _ := o.l.ciphertextRange(r)
	for name, src := range map[string]io.Reader{
		"plain":    bytes.NewReader(o.ct[off : off+n]),
		"one-byte": iotest.OneByteReader(bytes.NewReader(o.ct[off : off+n])),
		"half":     iotest.HalfReader(bytes.NewReader(o.ct[off : off+n])),
	} {
		rr, _ := NewRangeReader(src, o.key, o.l, r)
		if err := iotest.TestReader(rr, want); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestRangeReaderTamper(t *testing.T) {
	o := newObject(t, true, 2*S, 2*S, S+50)
	r := Range{S + 5, 2*S + 10} // part 1 segment 1 .. part 2 segment 1
	off, n, _ := o.l.ciphertextRange(r)
	fetched := o.ct[off : off+n]
	readFrom := func(src []byte, l Layout) ([]byte, error) {
		rr, err := NewRangeReader(bytes.NewReader(src), o.key, l, r)
		if err != nil {
			return nil, err
		}
		return io.ReadAll(rr)
	}
	// A flip in the k-th fetched segment releases only earlier segments' bytes.
	for seg := int64(0); seg < n/E; seg++ {
		for _, pos := range []int64{seg * E, seg*E + E/2, seg*E + E - 1} {
			bad := bytes.Clone(fetched)
			bad[pos] ^= 0x10
			got, err := readFrom(bad, o.l)
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("flip at %d: %v", pos, err)
			}
			maxOut := max(0, seg*S-(r.Start-S)) // bytes of range in segments before seg
			if int64(len(got)) > maxOut || !bytes.Equal(got, o.pt[r.Start:r.Start+int64(len(got))]) {
				t.Fatalf("flip in segment %d: released %d bytes (at most %d)", seg, len(got), maxOut)
			}
		}
	}
	cases := map[string]struct {
		src []byte
		l   Layout
	}{
		"short":          {fetched[:len(fetched)-1], o.l},
		"empty":          {nil, o.l},
		"extra byte":     {append(bytes.Clone(fetched), 0), o.l},
		"shifted":        {o.ct[off+E : off+n+E], o.l},
		"parts swapped":  {swapParts(o, 0, 1)[off : off+n], o.l},
		"layout lies":    {fetched, Layout{Multipart: true, Parts: []int64{o.l.Parts[0] - E, o.l.Parts[1] + E, o.l.Parts[2]}}},
		"read as single": {fetched, Layout{Parts: []int64{o.l.Parts[0] + o.l.Parts[1] + o.l.Parts[2]}}},
	}
	for name, c := range cases {
		if _, err := readFrom(c.src, c.l); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A range reader of the whole object catches a truncated last part,
	// which a byte range inside the object cannot see.
	whole := Range{0, int64(len(o.pt))}
	l := Layout{Multipart: true, Parts: []int64{o.l.Parts[0], o.l.Parts[1], E}}
	cut := bytes.Clone(o.ct[:o.l.Parts[0]+o.l.Parts[1]+E+2*endSize])
	cut = append(cut, mustEndTag(t, o.key, 3)...)
	rr, err := NewRangeReader(bytes.NewReader(cut), o.key, l, Range{0, 5 * S})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rr); !errors.Is(err, ErrAuth) {
		t.Errorf("truncated last part: %v", err)
	}
	if got, err := o.read(whole); err != nil || !bytes.Equal(got, o.pt) {
		t.Fatalf("whole: %v", err)
	}
}

// swapParts returns o's ciphertext with parts i and j (of equal size) swapped.
func swapParts(o *object, i, j int) []byte {
	starts := []int64{0}
	for i := range o.l.Parts {
		starts = append(starts, starts[len(starts)-1]+o.l.stride(i))
	}
	ct := bytes.Clone(o.ct)
	copy(ct[starts[i]:starts[i+1]], o.ct[starts[j]:starts[j+1]])
	copy(ct[starts[j]:starts[j+1]], o.ct[starts[i]:starts[i+1]])
	return ct
}

func TestRangeReaderSourceError(t *testing.T) {
	o := newObject(t, false, 3*S)
	boom := fmt.Errorf("reset")
	src := io.MultiReader(bytes.NewReader(o.ct[:E+3]), errReader{boom})
	rr, _ := NewRangeReader(src, o.key, o.l, Range{0, 3 * S})
	got, err := io.ReadAll(rr)
	if !errors.Is(err, boom) || errors.Is(err, ErrAuth) || len(got) != S {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	if _, err := NewRangeReader(bytes.NewReader(nil), nil, o.l, Range{0, 1}); err == nil {
		t.Fatal("nil key accepted")
	}
}
