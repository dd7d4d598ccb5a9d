package envelope

import (
	"errors"
	"fmt"
	"io"
)

// NewRangeReader decrypts the plaintext range r of an object with layout l.
// src must yield exactly the ciphertext bytes Locate(r) names (off, n),
// preceded, when Locate(r) names a header (hn > 0), by the PartHeaderSize bytes
// of that part's header. It returns exactly r.Length bytes, then io.EOF;
// or an error wrapping ErrAuth (a segment failed, src ended early or held
// more bytes) or src's error. Bytes of a segment are returned only after
// that segment authenticated, and the final segment's only once src has
// ended. It switches part keys at part boundaries (each part's header
// selects its key) and checks the (zero) end fields between parts, so one
// reader serves any range of a multipart object; a range that reaches the
// object's final segment (the whole object, say) also checks the object's
// end tag before it releases that segment, so a multipart object whose
// trailing parts were dropped never reads whole.
func NewRangeReader(src io.Reader, key *DataKey, l Layout, r Range) (io.Reader, error) {
	if key == nil {
		return nil, fmt.Errorf("envelope: nil data key")
	}
	if key.format() != orV1(l.f) {
		return nil, fmt.Errorf("envelope: a v%d key for a v%d layout", key.format().version, orV1(l.f).version)
	}
	p, err := l.plan(r)
	if err != nil {
		return nil, err
	}
	s := &rangeSource{
		key:        *key,
		l:          l,
		src:        src,
		bufp:       getSegmentBuf(l.sizes()),
		pos:        p.first,
		last:       p.last,
		end:        p.end && l.Multipart,
		skip:       r.Start - p.ptOff,
		remain:     r.Length,
		needHeader: l.Multipart,
	}
	s.buf = (*s.bufp)[:l.sizes().encSegment()]
	if !l.Multipart {
		if s.c, err = newSegmentCipher(&s.key, 0, nil); err != nil {
			putSegmentBuf(s.bufp)
			return nil, err
		}
	}
	return &plainReader{src: s}, nil
}

// rangeSource reads a known run of segments, possibly over several parts.
type rangeSource struct {
	key  DataKey
	l    Layout
	src  io.Reader
	bufp *[]byte // from segmentBufs
	buf  []byte
	c    *segmentCipher // of the part at pos

	pos, last  segPos // next segment to read; final segment of the run
	end        bool   // the run ends the multipart object: check its end tag
	needHeader bool   // multipart: pos is a part's first segment read, its header comes first
	skip       int64  // plaintext bytes to drop before the range starts
	remain     int64  // plaintext bytes of the range still to return
	done       bool
	peek       [1]byte
}

// rekey reads the header of the part at s.pos and derives its cipher.
func (s *rangeSource) rekey() error {
	var salt [partHeaderSize]byte
	if _, err := io.ReadFull(s.src, salt[:]); err != nil {
		return readErr(err, fmt.Sprintf("header of part %d", s.l.partNumber(s.pos.part)))
	}
	c, err := newSegmentCipher(&s.key, s.l.partNumber(s.pos.part), salt[:])
	if err != nil {
		return err
	}
	s.c, s.needHeader = c, false
	return nil
}

// next returns the range's next plaintext bytes; after an error (or
// io.EOF) the buffer goes back to the pool, as for streamSource, and the
// reader's copy of the data key is wiped.
func (s *rangeSource) next() ([]byte, error) {
	pt, err := s.read()
	if err != nil {
		putSegmentBuf(s.bufp)
		s.bufp, s.buf = nil, nil
		s.key.Wipe()
	}
	return pt, err
}

func (s *rangeSource) read() ([]byte, error) {
	if s.buf == nil {
		return nil, io.EOF
	}
	for !s.done {
		pt, err := s.segment()
		if err != nil {
			return nil, err
		}
		// Trim to the range.
		if s.skip > 0 {
			k := min(s.skip, int64(len(pt)))
			pt, s.skip = pt[k:], s.skip-k
		}
		if int64(len(pt)) > s.remain {
			pt = pt[:s.remain]
		}
		s.remain -= int64(len(pt))
		if len(pt) > 0 {
			return pt, nil
		}
	}
	return nil, io.EOF
}

// segment reads, authenticates and returns the segment at s.pos, then
// advances s.pos.
func (s *rangeSource) segment() ([]byte, error) {
	if s.needHeader {
		if err := s.rekey(); err != nil {
			return nil, err
		}
	}
	partSize := s.l.Parts[s.pos.part]
	enc := s.l.sizes().encSegment()
	segCt := min(enc, partSize-s.pos.seg*enc)
	final := (s.pos.seg+1)*enc >= partSize // final segment of its part
	ct := s.buf[:segCt]
	if _, err := io.ReadFull(s.src, ct); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("envelope: ciphertext ends early at part %d segment %d: %w: %w",
				s.l.partNumber(s.pos.part), s.pos.seg, ErrAuth, io.ErrUnexpectedEOF)
		}
		return nil, fmt.Errorf("envelope: read ciphertext: %w", err)
	}
	if final && s.l.Multipart && (s.pos != s.last || s.end) {
		if err := s.endField(); err != nil {
			return nil, err
		}
	}
	if s.pos == s.last {
		// Nothing may follow the run: check before releasing its bytes.
		n, err := io.ReadFull(s.src, s.peek[:])
		switch {
		case n > 0:
			return nil, fmt.Errorf("envelope: data after the requested segments: %w", ErrAuth)
		case !errors.Is(err, io.EOF):
			return nil, fmt.Errorf("envelope: read ciphertext: %w", err)
		}
	}
	pt, ok := s.c.open(ct[:0], ct, uint32(s.pos.seg), final)
	if !ok {
		return nil, fmt.Errorf("envelope: part %d segment %d: %w", s.l.partNumber(s.pos.part), s.pos.seg, ErrAuth)
	}
	if s.pos == s.last {
		s.done = true
	} else if final {
		s.pos = segPos{s.pos.part + 1, 0}
		s.needHeader = true
	} else {
		s.pos.seg++
	}
	return pt, nil
}

// endField reads the end field after the part at s.pos, which the fetched
// range spans: zeros between parts; at the end of the object, the end tag,
// there or (after zeros) in the marker part, behind its zero header.
func (s *rangeSource) endField() error {
	var field [endSize + markerSize]byte
	n := endSize
	lastPart := s.pos.part == len(s.l.Parts)-1
	if lastPart && s.l.Marker {
		n += markerSize
	}
	if _, err := io.ReadFull(s.src, field[:n]); err != nil {
		return readErr(err, fmt.Sprintf("end field of part %d", s.l.partNumber(s.pos.part)))
	}
	part := s.l.partNumber(s.pos.part)
	if !lastPart {
		return checkZeroEnd(field[:n], part)
	}
	tagAt := n - endSize
	if s.l.Marker {
		if err := checkZeroEnd(field[:tagAt], part); err != nil {
			return err
		}
	}
	return checkEndTag(&s.key, len(s.l.Parts), field[tagAt:n])
}
