package envelope

import (
	"errors"
	"math/rand/v2"
	"testing"
)

func TestCiphertextSizeTable(t *testing.T) {
	for n, want := range map[int64]int64{
		0:                 16,
		1:                 17,
		S - 1:             S + 15,
		S:                 S + 16,
		S + 1:             S + 1 + 32,
		2 * S:             2*S + 32,
		5 << 20:           5<<20 + 80*16,
		maxStreamSize:     maxStreamSize + 16<<32,
		-1:                -1,
		maxStreamSize + 1: -1,
	} {
		if got := ciphertextSize(n); got != want {
			t.Errorf("ciphertextSize(%d) = %d, want %d", n, got, want)
		}
	}
}

// Exhaustively around the first segment boundaries (and the last ones):
// PlaintextSize inverts CiphertextSize and accepts exactly its image.
func TestSizeAlgebraExhaustive(t *testing.T) {
	image := map[int64]int64{} // ciphertext size -> plaintext size
	var centres []int64
	for k := int64(0); k <= 4; k++ {
		centres = append(centres, k*S)
	}
	centres = append(centres, maxStreamSize-S, maxStreamSize)
	for _, c := range centres {
		for n := c - 3*tagSize; n <= c+3*tagSize; n++ {
			ct := ciphertextSize(n)
			if n < 0 || n > maxStreamSize {
				if ct != -1 {
					t.Fatalf("ciphertextSize(%d) = %d", n, ct)
				}
				continue
			}
			image[ct] = n
			back, err := plaintextSize(ct)
			if err != nil || back != n {
				t.Fatalf("PlaintextSize(ciphertextSize(%d)=%d) = %d, %v", n, ct, back, err)
			}
		}
	}
	// Every ciphertext size in the windows: valid exactly when in the image.
	var cs []int64
	for k := int64(0); k <= 4; k++ {
		cs = append(cs, k*E)
	}
	cs = append(cs, ciphertextSize(maxStreamSize-S), ciphertextSize(maxStreamSize))
	for _, centre := range cs {
		for c := centre - 2*tagSize; c <= centre+2*tagSize; c++ {
			n, err := plaintextSize(c)
			want, valid := image[c]
			switch {
			case valid && (err != nil || n != want):
				t.Fatalf("PlaintextSize(%d) = %d, %v; want %d", c, n, err, want)
			case !valid && !errors.Is(err, errInvalidSize):
				t.Fatalf("PlaintextSize(%d) = %d, %v; want ErrInvalidSize", c, n, err)
			}
		}
	}
	// Named impossible sizes.
	for _, c := range []int64{-1, 0, 1, 15, E + 1, E + 15, E + 16, 2*E + 16, ciphertextSize(maxStreamSize) + 1} {
		if _, err := plaintextSize(c); !errors.Is(err, errInvalidSize) {
			t.Errorf("PlaintextSize(%d): %v", c, err)
		}
	}
}

func TestSizeAlgebraRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		n := rng.Int64N(6 << 40) // up to 6 TiB
		if back, err := plaintextSize(ciphertextSize(n)); err != nil || back != n {
			t.Fatalf("n=%d: %d, %v", n, back, err)
		}
		c := rng.Int64N(6 << 40)
		if n, err := plaintextSize(c); err == nil && ciphertextSize(n) != c {
			t.Fatalf("c=%d: PlaintextSize %d does not map back", c, n)
		}
	}
}

// The listing-size rule: LIST reports the stored size of a multipart
// object (streams, their framing, perhaps a marker part) and its ETag the
// stored part count m; MultipartPlaintextSize of the two is the plaintext
// size exactly when every part but the last holds whole segments (a
// multiple of 64 KiB).
func TestMultipartListingSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	// stored is the stored size and part count of parts of these sizes,
	// with a marker part when the last part does not end the object.
	stored := func(sizes []int64) (c int64, m int) {
		for _, n := range sizes {
			c += storedPartSize(n)
		}
		m = len(sizes)
		if !endsObject(m, sizes[m-1]) {
			c, m = c+markerSize, m+1
		}
		return c, m
	}
	for range 20000 {
		parts := 1 + rng.IntN(40)
		var sizes []int64
		var pt int64
		for i := 0; i < parts; i++ {
			var n int64
			if i < parts-1 {
				n = (80 + rng.Int64N(2000)) * S // 5 MiB .. ~130 MiB, whole segments
			} else {
				n = 1 + rng.Int64N(200*S) // the last part: any non-empty size
			}
			sizes = append(sizes, n)
			pt += n
		}
		c, m := stored(sizes)
		got, err := PlaintextSize(c, m)
		if err != nil || got != pt {
			t.Fatalf("aligned parts: PlaintextSize(%d, %d) = %d, %v; want %d", c, m, got, err, pt)
		}
	}
	// Misaligned parts (e.g. 5,300,000 bytes) break the rule: the result
	// is never too small, at most 16 bytes per extra part too large, or
	// the sum is an invalid size.
	c, m := stored([]int64{5_300_000, 5_300_000, 1234})
	if got, err := PlaintextSize(c, m); err != nil || got != 5_300_000*2+1234+16 {
		t.Fatalf("5,300,000-byte parts: MultipartPlaintextSize = %d, %v; want %d", got, err, 5_300_000*2+1234+16)
	}
	for range 20000 {
		parts := 1 + rng.IntN(40)
		var sizes []int64
		var pt int64
		for range parts {
			n := 1 + rng.Int64N(200*S)
			sizes = append(sizes, n)
			pt += n
		}
		c, m := stored(sizes)
		got, err := PlaintextSize(c, m)
		if err == nil && (got < pt || got > pt+16*int64(parts-1) || (got-pt)%16 != 0) {
			t.Fatalf("misaligned parts: MultipartPlaintextSize = %d for %d bytes in %d parts", got, pt, parts)
		}
	}
	// An empty last part after aligned parts (legal in S3) makes the sum
	// invalid, so listings pass it through: the documented edge.
	if c, m := stored([]int64{80 * S, 0}); !errors.Is(func() error { _, err := PlaintextSize(c, m); return err }(), errInvalidSize) {
		t.Fatal("empty last part: valid size")
	}
	for _, bad := range []struct {
		c int64
		m int
	}{{15, 1}, {31, 2}, {100, -1}, {1 << 20, maxPart + 1}} {
		if _, err := PlaintextSize(bad.c, bad.m); !errors.Is(err, errInvalidSize) {
			t.Errorf("PlaintextSize(%d, %d): %v", bad.c, bad.m, err)
		}
	}
}

func TestCheckSize(t *testing.T) {
	m := sampleMetadata()
	m.Size = 1000
	if err := m.checkSize(ciphertextSize(1000)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []int64{ciphertextSize(999), ciphertextSize(1001), 1000, 5} {
		if err := m.checkSize(c); !errors.Is(err, errInvalidSize) {
			t.Errorf("CheckSize(%d): %v", c, err)
		}
	}
	m.Multipart, m.Size = true, -1
	if err := m.checkSize(12345); err != nil {
		t.Errorf("multipart: %v", err)
	}
}

// TestStoredEmpty: an empty object is stored as an empty body (or, written
// before that, as its 16-byte stream); an empty body is the layout of
// nothing else.
func TestStoredEmpty(t *testing.T) {
	for _, tc := range []struct {
		layout Layout
		empty  bool
		size   int64
		valid  bool
	}{
		{singleLayout(0), true, 0, true},
		{singleLayout(ciphertextSize(0)), false, 0, true},
		{singleLayout(ciphertextSize(1)), false, 1, true},
		{singleLayout(1), false, 0, false},
		{Layout{Multipart: true, Parts: []int64{0}}, false, 0, false},
	} {
		if tc.layout.storedEmpty() != tc.empty {
			t.Errorf("%+v: StoredEmpty %v", tc.layout, !tc.empty)
		}
		n, err := tc.layout.PlaintextSize()
		if (err == nil) != tc.valid || (tc.valid && n != tc.size) {
			t.Errorf("%+v: PlaintextSize %d, %v", tc.layout, n, err)
		}
	}
	empty := &Metadata{Version: 1, Size: 0}
	for c, ok := range map[int64]bool{0: true, ciphertextSize(0): true, 1: false, 17: false} {
		if err := empty.checkSize(c); (err == nil) != ok {
			t.Errorf("size 0, stored %d: CheckSize %v", c, err)
		}
	}
	if err := (&Metadata{Version: 1, Size: 1}).checkSize(0); err == nil {
		t.Error("an empty body passes for a 1-byte object")
	}
}
