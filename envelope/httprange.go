package envelope

import (
	"fmt"
	"math"
	"strings"
)

// ParseRange resolves an HTTP Range header value ("bytes=a-b", "bytes=a-",
// "bytes=-n"; one range only) against an object of size bytes, as S3 does:
// an end past the object is clamped; a start past the end, a suffix of
// zero, or a first-byte range of an empty object is ErrUnsatisfiableRange
// (416 InvalidRange) with ok=true; a malformed or multi-range value (a
// space anywhere included), one whose end is before its start, or a
// non-zero suffix of an empty object returns ok=false (S3 then ignores
// the header and returns the whole object). An empty header is ok=false
// too.
// Numbers too large for int64 saturate, so "bytes=0-99999999999999999999"
// is the whole object, as it would be for S3.
func ParseRange(header string, size int64) (r Range, ok bool, err error) {
	if size < 0 {
		return Range{}, false, fmt.Errorf("envelope: negative object size %d", size)
	}
	spec, found := strings.CutPrefix(header, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return Range{}, false, nil
	}
	a, b, found := strings.Cut(spec, "-")
	if !found {
		return Range{}, false, nil
	}
	unsatisfiable := fmt.Errorf("envelope: range %q of a %d-byte object: %w", header, size, ErrUnsatisfiableRange)
	if a == "" {
		n, valid := parseDecimal(b)
		switch {
		case !valid:
			return Range{}, false, nil
		case n == 0:
			return Range{}, true, unsatisfiable
		case size == 0:
			// S3 answers the whole (empty) object.
			return Range{}, false, nil
		}
		n = min(n, size)
		return Range{Start: size - n, Length: n}, true, nil
	}
	start, valid := parseDecimal(a)
	if !valid {
		return Range{}, false, nil
	}
	end := int64(math.MaxInt64)
	if b != "" {
		if end, valid = parseDecimal(b); !valid || end < start {
			return Range{}, false, nil
		}
	}
	if start >= size {
		return Range{}, true, unsatisfiable
	}
	end = min(end, size-1)
	return Range{Start: start, Length: end - start + 1}, true, nil
}

// parseDecimal parses ASCII digits, saturating at MaxInt64.
func parseDecimal(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		d := s[i]
		if d < '0' || d > '9' {
			return 0, false
		}
		if n > (math.MaxInt64-int64(d-'0'))/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + int64(d-'0')
	}
	return n, true
}
