package proxy

import (
	"net/http"
	"net/textproto"
	"strings"

	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/sigv4"
)

// hopByHop are the headers of one connection, never forwarded (RFC 9110
// section 7.6.1, as net/http/httputil.ReverseProxy drops them).
var hopByHop = []string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// notForwarded are end-to-end request headers the proxy sets itself for the
// backend or that describe the client's connection or signature.
var notForwarded = []string{
	"Host",
	"Content-Length",
	"Expect",
	"Accept-Encoding",
	"User-Agent",
	"Cookie",
	"Forwarded",
	"X-Forwarded-For",
	"X-Forwarded-Host",
	"X-Forwarded-Proto",
	// The proxy is the one doing SSE-KMS: the backend must not be asked to.
	"X-Amz-Server-Side-Encryption",
	"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id",
	"X-Amz-Server-Side-Encryption-Context",
	"X-Amz-Server-Side-Encryption-Bucket-Key-Enabled",
	// Newer clients declare the whole object's plaintext size on
	// CompleteMultipartUpload; the backend would compare it to ciphertext.
	"X-Amz-Mp-Object-Size",
}

// reservedRequestName reports whether a client request header is never
// forwarded as it is: hop-by-hop, set by the proxy (notForwarded), part of
// the client's signature or plaintext payload, or envelope metadata. The
// same names are dropped from the query (forwardQuery): a presigned URL
// carries headers as query parameters, and S3 reads x-amz-* ones as
// headers, so the query must not be a way around this policy.
func reservedRequestName(k string) bool {
	for _, list := range [][]string{hopByHop, notForwarded, sigv4.ClientSignatureHeaders} {
		for _, h := range list {
			if strings.EqualFold(k, h) {
				return true
			}
		}
	}
	lk := strings.ToLower(k)
	return strings.HasPrefix(lk, "x-amz-checksum-") || envelope.IsEnvelopeHeader(k)
}

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

// forwardHeader returns the client's end-to-end headers fit for the
// backend: no hop-by-hop header (nor any the client named in Connection),
// nothing of the client's signature or plaintext payload
// (sigv4.StripForUpstream), no envelope metadata (a client must not be able
// to plant x-amz-meta-bk-*), no SSE-KMS request (the proxy does it), and
// none of the extra names given. ETags in conditions become the backend's
// (etag.go).
func forwardHeader(src http.Header, extra ...string) http.Header {
	h := make(http.Header, len(src))
	for k, vv := range src {
		h[k] = append([]string(nil), vv...)
	}
	for _, c := range src.Values("Connection") {
		for f := range strings.SplitSeq(c, ",") {
			if f = textproto.TrimString(f); f != "" {
				h.Del(f)
			}
		}
	}
	for _, k := range extra {
		h.Del(k)
	}
	for k := range h {
		if reservedRequestName(k) {
			delete(h, k)
		}
	}
	sigv4.StripForUpstream(h)
	backendETagHeaders(h)
	return h
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
	if envelope.IsEnvelopeHeader(k) {
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

// stripAWSChunked removes the aws-chunked token from Content-Encoding. It
// only frames a request body and S3 never stores it, but some backends
// (versitygw) keep it with the object's Content-Encoding; a client must
// not see it on the object.
func stripAWSChunked(h http.Header) {
	vs := h.Values("Content-Encoding")
	if len(vs) == 0 {
		return
	}
	var keep []string
	for _, v := range vs {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = textproto.TrimString(tok); tok != "" && !strings.EqualFold(tok, "aws-chunked") {
				keep = append(keep, tok)
			}
		}
	}
	if len(keep) == 0 {
		h.Del("Content-Encoding")
		return
	}
	h.Set("Content-Encoding", strings.Join(keep, ","))
}
