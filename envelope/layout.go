package envelope

import (
	"errors"
	"fmt"
)

// Range is a plaintext byte range: Start and Length, both >= 0.
type Range struct {
	Start, Length int64
}

// Layout is the shape of a stored object: the stream (ciphertext) size of
// each part in order (one entry for a single-part object, whose part
// number is 0). In a multipart object each stream is framed by its part's
// PartHeaderSize-byte header and EndSize-byte end field, and Marker says
// whether a marker part holding the end tag follows the last one (see
// part.go, end.go). The proxy learns it from Content-Length (single-part)
// or from one HEAD ?partNumber=k per stored part (multipart,
// NewLayout); see docs/FORMAT.md.
type Layout struct {
	Multipart bool
	Parts     []int64 // stream sizes; for multipart, Parts[i] is part i+1 without its framing
	Marker    bool    // multipart: the end tag is a marker part after the last part
	f         *format // the version that wrote it (nil: v1)
}

// NewLayout is the layout of a stored object whose metadata is md (its
// version selects the size algebra, its Multipart the framing) from the
// sizes the backend reports: for a single-part object its one ciphertext
// size (Content-Length), for a multipart object the sizes of its stored
// parts 1..M in order (HEAD ?partNumber=k), the marker part included.
func NewLayout(md *Metadata, stored ...int64) (Layout, error) {
	f, err := formatOf(md.Version)
	if err != nil {
		return Layout{}, err
	}
	var l Layout
	if !md.Multipart {
		if len(stored) != 1 {
			return Layout{}, fmt.Errorf("envelope: a single-part object has one size, got %d", len(stored))
		}
		l = singleLayout(stored[0])
	} else if l, err = multipartLayout(f, stored); err != nil {
		return Layout{}, err
	}
	l.f = f
	return l, nil
}

// sizes is the size algebra of the version that wrote l.
func (l Layout) sizes() sizes { return orV1(l.f).sizes }

// storedEmpty reports whether l is an empty single-part object stored as
// an empty body, with no stream: its envelope is in its metadata alone
// (docs/FORMAT.md, "Empty objects"). There is nothing to decrypt; a
// reader checks that the metadata records size 0 and opens the data key
// to authenticate it.
func (l Layout) storedEmpty() bool {
	return !l.Multipart && len(l.Parts) == 1 && l.Parts[0] == 0
}

// singleLayout is the layout of a single-part object of ciphertext size c.
func singleLayout(c int64) Layout { return Layout{Parts: []int64{c}} }

// multipartLayout is the layout of a multipart object whose stored parts
// (as the backend reports them: parts 1..M in order) have the given sizes.
// A last stored part of exactly markerSize bytes is the marker part (no
// part of the object is that small: its framing alone is, and a stream is
// at least tagSize bytes); every other stored part is a framed stream.
func multipartLayout(f *format, stored []int64) (Layout, error) {
	l := Layout{Multipart: true, f: f}
	n := len(stored)
	if n >= 2 && stored[n-1] == markerSize {
		l.Marker, n = true, n-1
	}
	for i, c := range stored[:n] {
		if _, err := f.sizes.listed(c, 1); err != nil {
			return Layout{}, fmt.Errorf("envelope: part %d: %w", i+1, err)
		}
		l.Parts = append(l.Parts, c-partOverhead)
	}
	if err := l.check(); err != nil {
		return Layout{}, err
	}
	return l, nil
}

// storedSize is the number of bytes the backend stores for the object.
func (l Layout) storedSize() int64 {
	var total int64
	for i := range l.Parts {
		total += l.stride(i)
	}
	if l.Marker {
		total += markerSize
	}
	return total
}

// endRange is where the object's end tag is stored: its last EndSize
// bytes. A reader that does not fetch them with its range checks them
// with CheckEnd, so that a backend that dropped trailing parts cannot
// pass off the shorter object (its sizes, its part count, a 416) as
// authentic.
func (l Layout) endRange() (off, n int64) {
	return l.storedSize() - endSize, endSize
}

// CheckEnd authenticates the end of a multipart object for a read that
// does not read it itself, so that a backend that dropped trailing parts
// cannot pass off the shorter object (its sizes, its part count, a 416) as
// authentic. reading is the plaintext range the caller reads with
// NewRangeReader, or nil for a read of none of the object's end (a part
// read, a 416). When the read checks the end itself (a whole read, or a
// range that reaches the final segment), or the object is single-part,
// CheckEnd does nothing; otherwise it fetches the object's last 16 stored
// bytes with fetch and checks that they are the end tag of its part count
// (the error wraps ErrAuth).
func (l Layout) CheckEnd(key *DataKey, reading *Range, fetch func(off, n int64) ([]byte, error)) error {
	if !l.Multipart || (reading != nil && l.checksEnd(*reading)) {
		return nil
	}
	tag, err := fetch(l.endRange())
	if err != nil {
		return err
	}
	return l.checkTag(key, tag)
}

// checkTag checks tag, the bytes at endRange of a multipart object, which
// must be the end tag of its part count; the error wraps ErrAuth.
func (l Layout) checkTag(key *DataKey, tag []byte) error {
	if err := l.check(); err != nil {
		return err
	}
	if !l.Multipart {
		return errors.New("envelope: a single-part object has no end tag")
	}
	return checkEndTag(key, len(l.Parts), tag)
}

// stride is the stored size of Parts[i]: its stream and, for multipart,
// its header and end field.
func (l Layout) stride(i int) int64 {
	return l.header() + l.Parts[i] + l.end()
}

// header is the size of a part's header: PartHeaderSize for multipart.
func (l Layout) header() int64 {
	if l.Multipart {
		return partHeaderSize
	}
	return 0
}

// end is the size of a part's end field: EndSize for multipart.
func (l Layout) end() int64 {
	if l.Multipart {
		return endSize
	}
	return 0
}

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
	case len(l.Parts) > maxPart, l.Marker && len(l.Parts) >= maxPart:
		return fmt.Errorf("envelope: layout has %d parts, more than %d", len(l.Parts), maxPart)
	case l.Marker && !l.Multipart:
		return fmt.Errorf("envelope: single-part layout with an end marker")
	}
	return nil
}

// PlaintextSize returns the object's plaintext size, or an error wrapping ErrAuth if
// some part's size is impossible.
func (l Layout) PlaintextSize() (int64, error) {
	if err := l.check(); err != nil {
		return 0, err
	}
	if l.storedEmpty() {
		return 0, nil
	}
	var total int64
	for i, c := range l.Parts {
		n, err := l.sizes().plaintext(c)
		if err != nil {
			return 0, fmt.Errorf("envelope: part %d: %w", l.partNumber(i), err)
		}
		total += n
	}
	return total, nil
}

// ciphertextRange returns the stored byte range [off, off+n) to fetch
// from the backend to decrypt the plaintext range r: whole segments only,
// spanning parts (and the framing between them) as needed. A range of the
// whole object (Start 0, Length the plaintext size, even 0) maps to the
// whole stored object, so that every part's end and the object's end are
// authenticated, and so does the tail of any range that reaches the
// object's final segment; any other range must have Length >= 1 and lie
// inside the object, or the error wraps errUnsatisfiableRange. In a
// multipart object, a range whose first segment is its part's first
// starts at that part's header; otherwise the header is elsewhere
// (HeaderRange).
func (l Layout) ciphertextRange(r Range) (off, n int64, err error) {
	p, err := l.plan(r)
	if err != nil {
		return 0, 0, err
	}
	return p.ctOff, p.ctEnd - p.ctOff, nil
}

// headerRange reports where the header of the first part r touches is
// stored when CiphertextRange(r) does not include it (r starts past the
// first segment of a multipart part): NewRangeReader needs those
// PartHeaderSize bytes first, so the caller fetches them too and puts them
// before the range's bytes. ok is false when there is nothing to add.
func (l Layout) headerRange(r Range) (off, n int64, ok bool) {
	p, err := l.plan(r)
	if err != nil || !l.Multipart || p.first.seg == 0 {
		return 0, 0, false
	}
	return p.partOff, partHeaderSize, true
}

// checksEnd reports whether NewRangeReader, reading r, fetches and checks
// the object's end tag itself: r is in a multipart object and reaches its
// final segment.
func (l Layout) checksEnd(r Range) bool {
	p, err := l.plan(r)
	return err == nil && l.Multipart && p.end
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
	partOff      int64 // stored offset of the first segment's part
	// end: the run ends with the object's final segment, and (multipart)
	// the fetch includes the object's end, whose tag the reader checks.
	end bool
}

// plan maps r to the segments that cover it.
func (l Layout) plan(r Range) (*rangePlan, error) {
	total, err := l.PlaintextSize()
	if err != nil {
		return nil, err
	}
	if r.Start < 0 || r.Length < 0 || r.Start > total || r.Length > total-r.Start {
		return nil, fmt.Errorf("envelope: range %d+%d of a %d-byte object: %w", r.Start, r.Length, total, errUnsatisfiableRange)
	}
	var first, last segPos
	if r.Start == 0 && r.Length == total {
		last = segPos{len(l.Parts) - 1, l.sizes().segments(l.mustPlain(l.Parts[len(l.Parts)-1])) - 1}
	} else {
		if r.Length == 0 {
			return nil, fmt.Errorf("envelope: empty range: %w", errUnsatisfiableRange)
		}
		first = l.locate(r.Start)
		last = l.locate(r.Start + r.Length - 1)
	}
	final := len(l.Parts) - 1
	p := &rangePlan{first: first, last: last,
		end: last.part == final && last.seg == l.sizes().segments(l.mustPlain(l.Parts[final]))-1}
	enc, seg := l.sizes().encSegment(), l.sizes().segment
	var ct, pt int64 // stored and plaintext offsets of part i
	for i, c := range l.Parts {
		stream := ct + l.header() // where part i's stream starts
		if i == first.part {
			p.partOff = ct
			p.ctOff = stream + first.seg*enc
			if first.seg == 0 {
				p.ctOff = ct // with the part's header
			}
			p.ptOff = pt + first.seg*seg
		}
		if i == last.part {
			p.ctEnd = stream + min((last.seg+1)*enc, c)
			break
		}
		ct += l.stride(i)
		pt += l.mustPlain(c)
	}
	if p.end {
		// Fetch through the end field and any marker part: a range that
		// reaches the end of the object checks the end tag itself.
		p.ctEnd = l.storedSize()
	}
	return p, nil
}

// locate finds the segment holding plaintext byte off, which must be
// inside the object; empty parts hold no byte and are skipped.
func (l Layout) locate(off int64) segPos {
	for i, c := range l.Parts {
		n := l.mustPlain(c)
		if off < n {
			return segPos{i, off / l.sizes().segment}
		}
		off -= n
	}
	panic("envelope: internal error: offset outside layout")
}

// mustPlain is the plaintext size of a stream size already validated.
func (l Layout) mustPlain(c int64) int64 {
	n, err := l.sizes().plaintext(c)
	if err != nil {
		panic("envelope: internal error: unchecked part size")
	}
	return n
}

// Locate says which stored bytes a read of the plaintext range r fetches:
// [off, off+n) are its segments (ciphertextRange; a whole-object range is
// the whole stored object, n its stored size), and, when the range starts
// inside a multipart part past its first segment, [hoff, hoff+hn) is that
// part's header, which NewRangeReader needs first (hn is 0 otherwise).
func (l Layout) Locate(r Range) (off, n, hoff, hn int64, err error) {
	if off, n, err = l.ciphertextRange(r); err != nil {
		return 0, 0, 0, 0, err
	}
	if ho, h, ok := l.headerRange(r); ok {
		hoff, hn = ho, h
	}
	return off, n, hoff, hn, nil
}

// PartRange is the plaintext range of part number part (1..len(Parts)) of
// a multipart object: what GET ?partNumber=part returns.
func (l Layout) PartRange(part int) (Range, error) {
	if err := l.check(); err != nil {
		return Range{}, err
	}
	if !l.Multipart || part < 1 || part > len(l.Parts) {
		return Range{}, fmt.Errorf("envelope: part %d of a %d-part layout", part, len(l.Parts))
	}
	var r Range
	for i, c := range l.Parts[:part] {
		n, err := l.sizes().plaintext(c)
		if err != nil {
			return Range{}, fmt.Errorf("envelope: part %d: %w", i+1, err)
		}
		r = Range{Start: r.Start + r.Length, Length: n}
	}
	return r, nil
}
