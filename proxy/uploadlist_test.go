package proxy

import (
	"net/http"
	"testing"
	"time"
)

// TestUnitParseConditionDate: x-amz-if-match-initiated-time is read as an
// HTTP or RFC 3339 date; one that cannot be read or lies in the future is
// no condition (S3 ignores it).
func TestUnitParseConditionDate(t *testing.T) {
	past := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	future := time.Now().AddDate(1, 0, 0).UTC().Truncate(time.Second)
	for _, c := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{past.Format(http.TimeFormat), past, true},
		{past.Format(time.RFC3339), past, true},
		{"Friday, 02-Jan-26 03:04:05 GMT", past, true},
		{future.Format(http.TimeFormat), time.Time{}, false},
		{future.Format(time.RFC3339), time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"", time.Time{}, false},
	} {
		got, ok := parseConditionDate(c.in)
		if ok != c.ok || (ok && !got.Equal(c.want)) {
			t.Errorf("parseConditionDate(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
