package proxy

import (
	"net/http"
	"net/textproto"
	"strings"
)

// objectReadHeaders are the client headers an object read sets per backend
// request itself (ranges and conditions are resolved by the proxy).
var objectReadHeaders = []string{
	"Range",
	"If-Range", // evaluated by the proxy (ifrange.go)
	"If-Match",
	"If-None-Match",
	"If-Modified-Since",
	"If-Unmodified-Since",
	"X-Amz-Checksum-Mode",
}

// copySourceHeaders describe a copy source; copy operations set them.
func isCopySourceHeader(name string) bool {
	return hasPrefixFold(name, "x-amz-copy-source")
}

// dropFromBackend are backend response headers never copied to the client:
// connection-level ones, and the backend's own request ids (the client gets
// the proxy's; the backend's go to the log).
var dropFromBackend = []string{
	"Date",
	"Server",
	"X-Amz-Request-Id",
	"X-Amz-Id-2",
}

// copyResponseHeader copies the backend's response headers to dst, minus
// hop-by-hop and connection headers. With object set (the response
// describes an encrypted object), it also drops everything that describes
// the ciphertext rather than the plaintext: length, range, checksums,
// Content-MD5, the backend's own encryption headers and the envelope
// metadata; the caller sets the plaintext's. Its ETag becomes the client
// ETag (etag.go).
func copyResponseHeader(dst, src http.Header, object bool) {
	vals := newValues(src)
	for k, vv := range src {
		if dropResponseHeader(k, object) {
			continue
		}
		if isUserMetadata(k) {
			// S3 names user metadata in lower case, and clients take
			// the name as sent for the key (boto3's Metadata); the
			// backend's may have come canonicalized.
			k = strings.ToLower(k)
		}
		dst[k], vals = cut(vals, vv)
	}
	if object {
		clientETagHeader(dst)
	}
	for _, c := range src.Values("Connection") {
		for f := range strings.SplitSeq(c, ",") {
			if f = textproto.TrimString(f); f != "" {
				dst.Del(f)
			}
		}
	}
	stripAWSChunked(dst)
	if _, ok := dst["Content-Type"]; !ok {
		// Never let net/http sniff a type from (plaintext) body bytes.
		dst["Content-Type"] = nil
	}
}

// isUserMetadata reports whether header k is user metadata (x-amz-meta-*).
func isUserMetadata(k string) bool {
	return len(k) > len(userMetadataPrefix) && hasPrefixFold(k, userMetadataPrefix)
}

func dropResponseHeader(k string, object bool) bool {
	for _, h := range hopByHop {
		if strings.EqualFold(k, h) {
			return true
		}
	}
	for _, h := range dropFromBackend {
		if strings.EqualFold(k, h) {
			return true
		}
	}
	if isEnvelopeHeader(k) {
		return true
	}
	if !object {
		return false
	}
	return equalFoldAny(k, ciphertextHeaders...) || hasPrefixFold(k, "x-amz-checksum-") || isKMSHeader(k)
}

// ciphertextHeaders describe the stored bytes of an encrypted object, not
// its plaintext (besides its checksums and encryption headers).
var ciphertextHeaders = []string{"Content-Length", "Content-Range", "Content-Md5", "X-Amz-Mp-Parts-Count"}

// kmsHeaders are S3's SSE-KMS headers (not SSE-C's "-customer-" ones,
// which the backend handles).
var kmsHeaders = []string{
	"X-Amz-Server-Side-Encryption",
	"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id",
	"X-Amz-Server-Side-Encryption-Context",
	"X-Amz-Server-Side-Encryption-Bucket-Key-Enabled",
}

// isKMSHeader reports whether a header is one of kmsHeaders, in any case.
func isKMSHeader(k string) bool { return equalFoldAny(k, kmsHeaders...) }

// equalFoldAny reports whether s is one of names, ignoring case, without
// allocating (strings.ToLower would, on every header of every request).
func equalFoldAny(s string, names ...string) bool {
	for _, n := range names {
		if len(s) == len(n) && strings.EqualFold(s, n) {
			return true
		}
	}
	return false
}

// hasPrefixFold reports whether s begins with prefix, ignoring case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// newValues returns an empty slice with room for every value of h, from
// which cut hands out the value slices of a header copy: one allocation
// per copy instead of one per header.
func newValues(h http.Header) []string {
	n := 0
	for _, vv := range h {
		n += len(vv)
	}
	return make([]string, 0, n)
}

// cut appends vv to vals and returns the appended part, capped so that an
// append to it never writes into the next header's values, and the rest.
func cut(vals, vv []string) (part, rest []string) {
	i := len(vals)
	vals = append(vals, vv...)
	return vals[i:len(vals):len(vals)], vals
}
