package proxy

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/bucketkey/bucketkey/envelope"
)

// ETags of encrypted objects. A single-part object's backend ETag is the
// MD5 of its ciphertext: 32 hex digits that clients take for the MD5 of
// what they uploaded (rclone and s3cmd compare it with the plaintext's and
// report corruption). Toward the client the proxy turns such an ETag into
// "<hex>-0", which clients read as a multipart ETag, not an MD5 (rclone
// accepts only ^[0-9a-f]{32}$ as an MD5; s3cmd, the AWS SDKs' checks and
// most tools skip an ETag containing '-'). No real ETag ends in "-0" (a
// multipart one counts at least one part), so the mapping is reversible:
// ETags the client sends back (conditions, the parts of
// CompleteMultipartUpload) lose the "-0" before they reach the backend.
// Multipart ETags ("<hex>-N") and ETags of other shapes pass unchanged,
// and so do the proxy's own pinned reads, which use backend ETags.

// emptyMD5 is the MD5 of the empty string, in hex.
const emptyMD5 = "d41d8cd98f00b204e9800998ecf8427e"

// etagSuffix marks an ETag the proxy derived from a backend MD5 ETag.
const etagSuffix = "-0"

// clientETag is the ETag the client sees for an encrypted object (or
// part) whose backend ETag is e, quoted or not.
//
// The MD5 of nothing passes unchanged: only an empty stored body has it
// (every ciphertext is at least 16 bytes), and an empty object is stored
// empty (docs/FORMAT.md, "Empty objects"), so it is the plaintext's MD5,
// the ETag S3 gives an empty object.
func clientETag(e string) string {
	inner, quoted := unquoteETag(e)
	if !isMD5Hex(inner) || strings.EqualFold(inner, emptyMD5) {
		return e
	}
	if quoted {
		return `"` + inner + etagSuffix + `"`
	}
	return inner + etagSuffix
}

// backendETag undoes clientETag for one ETag the client sent, quoted or
// not, strong or weak (W/). Anything else is returned unchanged, so a
// client may also name an object by the ETag the backend stored (what
// earlier versions of the proxy reported).
func backendETag(e string) string {
	weak := ""
	if strings.HasPrefix(e, "W/") {
		weak, e = "W/", e[2:]
	}
	inner, quoted := unquoteETag(e)
	hex, ok := strings.CutSuffix(inner, etagSuffix)
	if !ok || !isMD5Hex(hex) {
		return weak + e
	}
	if quoted {
		return weak + `"` + hex + `"`
	}
	return weak + hex
}

// backendETagList maps an If-Match or If-None-Match value (a list of
// ETags, or "*") with backendETag, leaving the value as it is when no tag
// changes.
func backendETagList(v string) string {
	tags := splitETags(v)
	changed := false
	for i, t := range tags {
		if b := backendETag(t); b != t {
			tags[i], changed = b, true
		}
	}
	if !changed {
		return v
	}
	return strings.Join(tags, ", ")
}

// etagConditionHeaders are the request headers that name ETags.
var etagConditionHeaders = []string{
	"If-Match", "If-None-Match",
	"X-Amz-Copy-Source-If-Match", "X-Amz-Copy-Source-If-None-Match",
}

// backendETagHeaders maps the ETags of h's conditions, in place, to what
// the backend stores.
func backendETagHeaders(h http.Header) {
	for _, k := range etagConditionHeaders {
		for i, v := range h[http.CanonicalHeaderKey(k)] {
			h[http.CanonicalHeaderKey(k)][i] = backendETagList(v)
		}
	}
}

// clientETagHeader maps the ETag header of an answer about an encrypted
// object, in place.
func clientETagHeader(h http.Header) {
	if e := h.Get("ETag"); e != "" {
		h.Set("ETag", clientETag(e))
	}
}

// clientETagRule maps the ETag elements under parent to client ETags
// unless the entry's size (its sibling element sizeName) is one no
// ciphertext can have: listings carry no metadata, so the proxy tells an
// encrypted entry from one written before it as it does for the size
// (docs/ARCHITECTURE.md, "Listing sizes"), and size and ETag of an entry
// always follow the same choice. Without the size element the entry is
// taken as encrypted.
func clientETagRule(parent, sizeName string) xmlRule {
	return xmlRule{
		path: []string{parent, "ETag"},
		replaceIn: func(text string, siblings map[string]string) (string, bool) {
			if s, ok := siblings[sizeName]; ok {
				if _, ok := plaintextSizeText(s); !ok {
					return "", false
				}
			}
			e := clientETag(strings.TrimSpace(text))
			return e, e != strings.TrimSpace(text)
		},
	}
}

// backendPartETags maps the part ETags of a CompleteMultipartUpload
// document back to the backend's (UploadPart answered client ETags).
var backendPartETags = xmlRule{
	path: []string{"Part", "ETag"},
	replace: func(text string) (string, bool) {
		e := backendETag(strings.TrimSpace(text))
		return e, e != strings.TrimSpace(text)
	},
}

// notModifiedETag is the ETag a 304 answer to a read carries. The
// backend's 304 may carry the backend ETag or none, and never the
// metadata that says whether the object is encrypted; so the answer names
// the tag of the client's If-None-Match that matched when it can tell,
// and otherwise asks the backend (a HEAD pinned to the ETag it reported,
// if any). "" leaves the 304 without an ETag.
func (p *Proxy) notModifiedETag(ctx context.Context, s readSpec, backendTag string, ifNoneMatch []string) string {
	var tags []string
	for _, v := range ifNoneMatch {
		tags = append(tags, splitETags(v)...)
	}
	if backendTag == "" {
		if len(tags) == 1 && tags[0] != "*" {
			return tags[0] // the only tag it can have matched
		}
	} else {
		for _, t := range tags {
			if sameETag(t, backendTag) || sameETag(t, clientETag(backendTag)) {
				return t
			}
		}
	}
	h := s.pinned(backendTag)
	resp, err := p.sendRead(ctx, http.MethodHead, s, s.internalQuery(), h)
	if err != nil {
		return backendTag
	}
	drain(resp)
	if !ok2xx(resp.StatusCode) {
		return backendTag
	}
	e := resp.Header.Get("ETag")
	if _, err := envelope.ParseMetadata(resp.Header); errors.Is(err, envelope.ErrNotEncrypted) {
		return e
	}
	return clientETag(e)
}

// sameETag compares two ETags strongly, ignoring quotes (S3 accepts
// unquoted ETags in conditions).
func sameETag(a, b string) bool {
	if strings.HasPrefix(a, "W/") || strings.HasPrefix(b, "W/") {
		return false
	}
	x, _ := unquoteETag(a)
	y, _ := unquoteETag(b)
	return x == y
}

// splitETags splits a list of ETags at the commas outside quotes, each
// tag trimmed.
func splitETags(v string) []string {
	var tags []string
	start, quoted := 0, false
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				if t := strings.TrimSpace(v[start:i]); t != "" {
					tags = append(tags, t)
				}
				start = i + 1
			}
		}
	}
	if t := strings.TrimSpace(v[start:]); t != "" {
		tags = append(tags, t)
	}
	return tags
}

func unquoteETag(e string) (string, bool) {
	if len(e) >= 2 && e[0] == '"' && e[len(e)-1] == '"' {
		return e[1 : len(e)-1], true
	}
	return e, false
}

// isMD5Hex reports whether s is 32 hex digits.
func isMD5Hex(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
