package proxy

import (
	"net/http"
	"strings"
)

// If-Range (RFC 9110, section 13.1.5) makes a Range conditional: the range
// is served only if the representation is still the one the client holds,
// else the whole object with 200. The proxy evaluates it itself, against
// what the client saw, and never forwards it: the backend would compare the
// client's ETag with the ciphertext's (S3 then answers the whole object
// with 200, which a ranged read does not expect), or ignore it (and serve a
// range of a newer object to a client resuming an older one).

// effectiveRange returns the Range to serve for an object whose first
// backend answer has headers h: s.rangeHeader, or "" when s.ifRange does
// not hold. encrypted says whether the object has an envelope (its
// client-visible ETag is then clientETag of the backend's).
func (s readSpec) effectiveRange(h http.Header, encrypted bool) string {
	if s.rangeHeader == "" || s.ifRange == "" {
		return s.rangeHeader
	}
	etag := h.Get("ETag")
	if encrypted {
		etag = clientETag(etag)
	}
	if ifRangeHolds(s.ifRange, etag, h.Get("Last-Modified")) {
		return s.rangeHeader
	}
	return ""
}

// ifRangeHolds evaluates an If-Range value against the object's
// client-visible ETag and Last-Modified: an entity tag must match strongly
// (a weak tag never does); an HTTP-date must equal Last-Modified exactly.
// Anything else does not hold.
func ifRangeHolds(v, etag, lastModified string) bool {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "W/") {
		return etag != "" && !strings.HasPrefix(v, "W/") && !strings.HasPrefix(etag, "W/") && v == etag
	}
	if lastModified == "" {
		return false
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return false
	}
	lm, err := http.ParseTime(lastModified)
	return err == nil && t.Equal(lm)
}
