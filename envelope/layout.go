package envelope

import "fmt"

// Range is a plaintext byte range: Start and Length, both >= 0.
type Range struct {
	Start, Length int64
}

// Layout is the shape of a stored object: the ciphertext size of each part
// in order (one entry for a single-part object, whose part number is 0).
// The proxy learns it from Content-Length (single-part) or from one
// HEAD ?partNumber=k per part (multipart); see docs/FORMAT.md.
type Layout struct {
	Multipart bool
	Parts     []int64 // ciphertext sizes; for multipart, Parts[i] is part i+1
}

// SingleLayout is the layout of a single-part object of ciphertext size c.
func SingleLayout(c int64) Layout { return Layout{Parts: []int64{c}} }

// partNumber is the part number of Parts[i].
func (l Layout) partNumber(i int) int {
	if l.Multipart {
		return i + 1
	}
	return 0
}

func (l Layout) check() error {
	switch {
	case len(l.Parts) == 0:
		return fmt.Errorf("envelope: layout has no parts")
	case !l.Multipart && len(l.Parts) != 1:
		return fmt.Errorf("envelope: single-part layout has %d parts", len(l.Parts))
	case len(l.Parts) > MaxPart:
		return fmt.Errorf("envelope: layout has %d parts, more than %d", len(l.Parts), MaxPart)
	}
	return nil
}

// PlaintextSize returns the object's plaintext size, or ErrInvalidSize if
// some part's size is impossible.
func (l Layout) PlaintextSize() (int64, error) {
	if err := l.check(); err != nil {
		return 0, err
	}
	var total int64
	for i, c := range l.Parts {
		n, err := PlaintextSize(c)
		if err != nil {
			return 0, fmt.Errorf("envelope: part %d: %w", l.partNumber(i), err)
		}
		total += n
	}
	return total, nil
}

// CiphertextRange returns the ciphertext byte range [off, off+n) to fetch
// from the backend to decrypt the plaintext range r: whole segments only,
// spanning parts as needed. A range of the whole object (Start 0, Length
// the plaintext size, even 0) maps to the whole ciphertext, so that every
// part's end is authenticated; any other range must have Length >= 1 and
// lie inside the object, or the error wraps ErrUnsatisfiableRange.
func (l Layout) CiphertextRange(r Range) (off, n int64, err error) {
	p, err := l.plan(r)
	if err != nil {
		return 0, 0, err
	}
	return p.ctOff, p.ctEnd - p.ctOff, nil
}

// segPos is a segment: its part (an index into Parts) and its index there.
type segPos struct {
	part int
	seg  int64
}

// rangePlan is the run of segments [first, last] (inclusive, in order
// across parts) covering a plaintext range, and where it lies.
type rangePlan struct {
	first, last  segPos
	ctOff, ctEnd int64 // ciphertext bytes to fetch
	ptOff        int64 // plaintext offset of the first segment in the object
}

// plan maps r to the segments that cover it.
func (l Layout) plan(r Range) (*rangePlan, error) {
	total, err := l.PlaintextSize()
	if err != nil {
		return nil, err
	}
	if r.Start < 0 || r.Length < 0 || r.Start > total || r.Length > total-r.Start {
		return nil, fmt.Errorf("envelope: range %d+%d of a %d-byte object: %w", r.Start, r.Length, total, ErrUnsatisfiableRange)
	}
	var first, last segPos
	if r.Start == 0 && r.Length == total {
		last = segPos{len(l.Parts) - 1, segments(mustPlain(l.Parts[len(l.Parts)-1])) - 1}
	} else {
		if r.Length == 0 {
			return nil, fmt.Errorf("envelope: empty range: %w", ErrUnsatisfiableRange)
		}
		first = l.locate(r.Start)
		last = l.locate(r.Start + r.Length - 1)
	}
	p := &rangePlan{first: first, last: last}
	var ct, pt int64 // offsets of part i
	for i, c := range l.Parts {
		if i == first.part {
			p.ctOff = ct + first.seg*encSegmentSize
			p.ptOff = pt + first.seg*SegmentSize
		}
		if i == last.part {
			p.ctEnd = ct + min((last.seg+1)*encSegmentSize, c)
			break
		}
		ct += c
		pt += mustPlain(c)
	}
	return p, nil
}

// locate finds the segment holding plaintext byte off, which must be
// inside the object; empty parts hold no byte and are skipped.
func (l Layout) locate(off int64) segPos {
	for i, c := range l.Parts {
		n := mustPlain(c)
		if off < n {
			return segPos{i, off / SegmentSize}
		}
		off -= n
	}
	panic("envelope: internal error: offset outside layout")
}

// mustPlain is PlaintextSize of a size already validated.
func mustPlain(c int64) int64 {
	n, err := PlaintextSize(c)
	if err != nil {
		panic("envelope: internal error: unchecked part size")
	}
	return n
}
