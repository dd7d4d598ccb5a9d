package proxy

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/bucketkey/bucketkey/envelope"
)

// parseRange resolves an HTTP Range header value ("bytes=a-b", "bytes=a-",
// "bytes=-n"; one range only) against an object of size bytes, as S3 does:
// an end past the object is clamped; a start past the end, a suffix of
// zero, or a first-byte range of an empty object is errUnsatisfiableRange
// (416 InvalidRange) with ok=true; a malformed or multi-range value (a
// space anywhere included), one whose end is before its start, or a
// non-zero suffix of an empty object returns ok=false (S3 then ignores
// the header and returns the whole object). An empty header is ok=false
// too.
// Numbers too large for int64 saturate, so "bytes=0-99999999999999999999"
// is the whole object, as it would be for S3.
// errUnsatisfiableRange is a Range header S3 answers with 416 InvalidRange.
var errUnsatisfiableRange = errors.New("proxy: range not satisfiable")

func parseRange(header string, size int64) (r envelope.Range, ok bool, err error) {
	if size < 0 {
		return envelope.Range{}, false, fmt.Errorf("proxy: negative object size %d", size)
	}
	spec, found := strings.CutPrefix(header, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return envelope.Range{}, false, nil
	}
	a, b, found := strings.Cut(spec, "-")
	if !found {
		return envelope.Range{}, false, nil
	}
	unsatisfiable := fmt.Errorf("proxy: range %q of a %d-byte object: %w", header, size, errUnsatisfiableRange)
	if a == "" {
		n, valid := parseDecimal(b)
		switch {
		case !valid:
			return envelope.Range{}, false, nil
		case n == 0:
			return envelope.Range{}, true, unsatisfiable
		case size == 0:
			// S3 answers the whole (empty) object.
			return envelope.Range{}, false, nil
		}
		n = min(n, size)
		return envelope.Range{Start: size - n, Length: n}, true, nil
	}
	start, valid := parseDecimal(a)
	if !valid {
		return envelope.Range{}, false, nil
	}
	end := int64(math.MaxInt64)
	if b != "" {
		if end, valid = parseDecimal(b); !valid || end < start {
			return envelope.Range{}, false, nil
		}
	}
	if start >= size {
		return envelope.Range{}, true, unsatisfiable
	}
	end = min(end, size-1)
	return envelope.Range{Start: start, Length: end - start + 1}, true, nil
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
