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
	return strings.HasPrefix(strings.ToLower(name), "x-amz-copy-source")
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
	for k, vv := range src {
		if dropResponseHeader(k, object) {
			continue
		}
		dst[k] = append([]string(nil), vv...)
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
	lk := strings.ToLower(k)
	switch lk {
	case "content-length", "content-range", "content-md5", "x-amz-mp-parts-count":
		return true
	}
	return strings.HasPrefix(lk, "x-amz-checksum-") || isKMSHeader(lk)
}

// isKMSHeader reports whether a header is one of S3's SSE-KMS headers (not
// SSE-C's "-customer-" ones, which the backend handles).
func isKMSHeader(k string) bool {
	switch strings.ToLower(k) {
	case "x-amz-server-side-encryption",
		"x-amz-server-side-encryption-aws-kms-key-id",
		"x-amz-server-side-encryption-context",
		"x-amz-server-side-encryption-bucket-key-enabled":
		return true
	}
	return false
}
