package proxy

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/bucketkey/bucketkey/envelope"
)

// The one policy for what of a client request reaches the backend: every
// header and query parameter is forwarded unless a rule below names it, in
// any spelling. A name the backend must not get as a header it must not get
// as a query parameter either (issue 12): a presigned URL carries headers
// in its query string, and S3 reads x-amz-* ones as headers. Only the
// presigned URL's own authentication parameters are query-only.

// where says what part of a request a rule applies to.
type where uint8

const (
	inHeader where = 1 << iota
	inQuery
	inBoth = inHeader | inQuery
)

// upstreamRule names a client header or query parameter (lower case; a
// name prefix when prefix is set) that never reaches the backend.
type upstreamRule struct {
	name   string
	prefix bool
	in     where
	why    string
}

const (
	whyHop      = "hop-by-hop: describes the client's connection (RFC 9110 section 7.6.1)"
	whyProxy    = "the proxy's own request to the backend sets it, or it describes the client's connection"
	whySig      = "the client's signature: the proxy re-signs with its own credentials"
	whyPlain    = "describes the plaintext body; the backend gets ciphertext"
	whyKMS      = "the proxy does SSE-KMS itself; the backend must not be asked to"
	whyEnvelope = "envelope metadata: a client must not be able to plant it"
)

// hopByHop are the headers of one connection, never forwarded either way
// (RFC 9110 section 7.6.1, as net/http/httputil.ReverseProxy drops them).
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

// upstreamPolicy is the table. Its order is only for reading.
var upstreamPolicy = append(headerRules(whyHop, hopByHop...), []upstreamRule{
	{"host", false, inBoth, whyProxy},
	{"content-length", false, inBoth, whyProxy},
	{"expect", false, inBoth, whyProxy},
	{"accept-encoding", false, inBoth, whyProxy},
	{"user-agent", false, inBoth, whyProxy},
	{"cookie", false, inBoth, whyProxy},
	{"forwarded", false, inBoth, whyProxy},
	{"x-forwarded-for", false, inBoth, whyProxy},
	{"x-forwarded-host", false, inBoth, whyProxy},
	{"x-forwarded-proto", false, inBoth, whyProxy},

	{"authorization", false, inBoth, whySig},
	{"x-amz-algorithm", false, inQuery, whySig},
	{"x-amz-credential", false, inQuery, whySig},
	{"x-amz-expires", false, inQuery, whySig},
	{"x-amz-signedheaders", false, inQuery, whySig},
	{"x-amz-signature", false, inQuery, whySig},
	{"x-amz-date", false, inBoth, whySig},
	{"x-amz-security-token", false, inBoth, whySig},
	{"x-amz-content-sha256", false, inBoth, whySig},

	{"content-md5", false, inBoth, whyPlain},
	{"x-amz-checksum-", true, inBoth, whyPlain + " (x-amz-checksum-mode too: the backend's would be the ciphertext's)"},
	{"x-amz-sdk-checksum-algorithm", false, inBoth, whyPlain},
	{"x-amz-trailer", false, inBoth, whyPlain},
	{"x-amz-decoded-content-length", false, inBoth, whyPlain},
	{"x-amz-mp-object-size", false, inBoth, whyPlain + " (CompleteMultipartUpload's declared object size)"},

	{"x-amz-server-side-encryption", false, inBoth, whyKMS},
	{"x-amz-server-side-encryption-aws-kms-key-id", false, inBoth, whyKMS},
	{"x-amz-server-side-encryption-context", false, inBoth, whyKMS},
	{"x-amz-server-side-encryption-bucket-key-enabled", false, inBoth, whyKMS},

	{strings.ToLower(envelope.MetaPrefix), true, inBoth, whyEnvelope},
}...)

// headerRules are rules for whole header names.
func headerRules(why string, names ...string) []upstreamRule {
	out := make([]upstreamRule, len(names))
	for i, n := range names {
		out[i] = upstreamRule{name: strings.ToLower(n), in: inBoth, why: why}
	}
	return out
}

// dropped reports whether the policy keeps name (any case) in w from the
// backend.
func dropped(name string, w where) bool {
	for _, r := range upstreamPolicy {
		if r.in&w == 0 {
			continue
		}
		if r.prefix && hasPrefixFold(name, r.name) || len(name) == len(r.name) && strings.EqualFold(name, r.name) {
			return true
		}
	}
	return false
}

// forwardHeader returns the client's headers fit for the backend: the
// policy applied, any header the client named in Connection dropped, the
// extra names given dropped (headers an operation sets per backend request
// itself), aws-chunked taken out of Content-Encoding, and ETags in
// conditions turned into the backend's (etag.go).
func forwardHeader(src http.Header, extra ...string) http.Header {
	h := make(http.Header, len(src))
	vals := newValues(src)
	for k, vv := range src {
		if !dropped(k, inHeader) {
			h[k], vals = cut(vals, vv)
		}
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
	stripAWSChunked(h)
	backendETagHeaders(h)
	return h
}

// forwardQuery returns the client's query fit for the backend: the policy
// applied and the keys given dropped (parameters an operation sets
// itself).
func forwardQuery(q url.Values, drop ...string) url.Values {
	out := make(url.Values, len(q))
	for k, v := range q {
		if !dropped(k, inQuery) {
			out[k] = append([]string(nil), v...)
		}
	}
	for _, k := range drop {
		delete(out, k)
	}
	return out
}

// stripAWSChunked removes the aws-chunked token from Content-Encoding. It
// only frames a request body and S3 never stores it, but some backends
// (versitygw) keep it with the object's Content-Encoding; neither the
// backend (request) nor a client (response) must see it.
func stripAWSChunked(h http.Header) {
	var keep []string
	found := false
	for k, vs := range h {
		if !strings.EqualFold(k, "Content-Encoding") {
			continue
		}
		found = true
		delete(h, k)
		for _, v := range vs {
			for tok := range strings.SplitSeq(v, ",") {
				if tok = textproto.TrimString(tok); tok != "" && !strings.EqualFold(tok, "aws-chunked") {
					keep = append(keep, tok)
				}
			}
		}
	}
	if found && len(keep) > 0 {
		h.Set("Content-Encoding", strings.Join(keep, ","))
	}
}

// isEnvelopeHeader reports whether a header (any case) is envelope
// metadata.
func isEnvelopeHeader(name string) bool { return hasPrefixFold(name, envelope.MetaPrefix) }
