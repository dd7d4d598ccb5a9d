package envelope

import (
	"bytes"
	"io"
	"testing"
)

// Steady state allocates nothing per segment: the writer seals in place
// into its one buffer, and the readers open in place.
func TestWriterAllocsPerSegment(t *testing.T) {
	w, err := newSingleWriter(io.Discard, testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	seg := pattern(S, 1)
	w.Write(seg)
	for name, p := range map[string][]byte{"segment": seg, "odd": seg[:4093], "two-segments": pattern(2*S+1, 2)} {
		if a := testing.AllocsPerRun(50, func() {
			if _, err := w.Write(p); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%s: %.1f allocations per Write", name, a)
		}
	}
}

func TestReadersAllocsPerSegment(t *testing.T) {
	const runs = 50
	key := testKey(2)
	ct := encrypt(t, pattern((runs+5)*S, 1), key, 0)
	buf := make([]byte, S)

	r, err := NewReader(bytes.NewReader(ct), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.(io.Closer).Close() // ends its read-ahead, as NewReader asks
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(runs, func() {
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Reader: %.1f allocations per segment", a)
	}

	o := &object{ct: ct, key: key, l: singleLayout(int64(len(ct)))}
	rr, err := NewRangeReader(bytes.NewReader(ct[E:]), key, o.l, Range{S + 7, (runs + 3) * S})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rr, buf); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(runs, func() {
		if _, err := io.ReadFull(rr, buf); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("range reader: %.1f allocations per segment", a)
	}
}
