package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/bucketkey/bucketkey/s3err"
)

// queryParam is one key=value pair of a raw query string, still encoded.
type queryParam struct {
	key    string // decoded (keys of interest are plain ASCII)
	value  string // raw, as received
	rawKey string
}

// splitRequestURI splits a request target into its path and raw query,
// exactly as received: S3 signs the path as the client sent it, so nothing
// here cleans, unescapes or re-escapes it ("a//b/./c" and "%2F" survive).
// An absolute-form target ("http://host/p?q", sent to proxies) loses its
// scheme and authority.
func splitRequestURI(uri string) (path, rawQuery string) {
	if !strings.HasPrefix(uri, "/") {
		if i := strings.Index(uri, "://"); i >= 0 {
			rest := uri[i+3:]
			if j := strings.IndexAny(rest, "/?"); j >= 0 {
				uri = rest[j:]
			} else {
				uri = ""
			}
		}
	}
	path, rawQuery, _ = strings.Cut(uri, "?")
	if path == "" {
		path = "/"
	}
	return path, rawQuery
}

// parseQuery splits a raw query into pairs, keeping the raw value. Keys are
// decoded when they need it (X-Amz-* keys never do).
func parseQuery(raw string, buf []queryParam) []queryParam {
	q := buf[:0]
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		dk := k
		if strings.ContainsAny(k, "%+") {
			if u, ok := unescapeQuery(k); ok {
				dk = u
			}
		}
		q = append(q, queryParam{key: dk, value: v, rawKey: k})
	}
	return q
}

// canonicalQuery writes the SigV4 canonical query string: each key and value
// decoded as form data ('+' is a space, as minio-go sends it), re-encoded
// with SigV4's rules (unreserved bytes kept, everything else %XX uppercase),
// sorted by key then value. skip names a parameter to leave out
// (X-Amz-Signature for presigned URLs).
func canonicalQuery(dst []byte, q []queryParam, skip string) ([]byte, bool) {
	type pair struct{ k, v string }
	var arr [16]pair
	pairs := arr[:0]
	for _, p := range q {
		if skip != "" && p.key == skip {
			continue
		}
		k, ok1 := canonicalComponent(p.rawKey)
		v, ok2 := canonicalComponent(p.value)
		if !ok1 || !ok2 {
			return dst, false
		}
		pairs = append(pairs, pair{k, v})
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	for i, p := range pairs {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, p.k...)
		dst = append(dst, '=')
		dst = append(dst, p.v...)
	}
	return dst, true
}

// canonicalComponent returns the SigV4 encoding of a raw query component.
// Components already in canonical form (the common case: SDKs send what
// they sign) are returned as is, without allocating.
func canonicalComponent(raw string) (string, bool) {
	if isCanonicalEncoding(raw) {
		return raw, true
	}
	s, ok := unescapeQuery(raw)
	if !ok {
		return "", false
	}
	return uriEncode(s, false), true
}

func isCanonicalEncoding(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) {
			continue
		}
		if c != '%' || i+2 >= len(s) || !isUpperHex(s[i+1]) || !isUpperHex(s[i+2]) {
			return false
		}
		if isUnreserved(unhex(s[i+1])<<4 | unhex(s[i+2])) {
			return false
		}
		i += 2
	}
	return true
}

// unescapeQuery decodes %XX escapes and '+' as space.
func unescapeQuery(s string) (string, bool) {
	n := 0
	plus := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", false
			}
			n++
			i += 2
		case '+':
			plus = true
		}
	}
	if n == 0 && !plus {
		return s, true
	}
	b := make([]byte, 0, len(s)-2*n)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		case '+':
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return string(b), true
}

// uriEncode is SigV4's UriEncode: unreserved bytes as they are, '/' kept
// when keepSlash, everything else %XX with uppercase hex.
func uriEncode(s string, keepSlash bool) string {
	i := 0
	for i < len(s) && (isUnreserved(s[i]) || keepSlash && s[i] == '/') {
		i++
	}
	if i == len(s) {
		return s // nothing to encode: no copy (most keys, every request)
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/2)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) || (keepSlash && c == '/') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// headerValues finds the values of a signed (lowercase) header name in h
// without allocating: it looks the canonical MIME form up with a key built
// on the stack, then falls back to a case-insensitive scan for maps that
// were not built by net/http.
func headerValues(h http.Header, name string) []string {
	var buf [128]byte
	if len(name) <= len(buf) {
		k := buf[:len(name)]
		upper := true
		for i := 0; i < len(name); i++ {
			c := name[i]
			if upper && 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			k[i] = c
			upper = c == '-'
		}
		if v, ok := h[string(k)]; ok {
			return v
		}
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// canonicalHeaderValues returns the values of a signed header as the
// request carries them, including the ones net/http moves out of the
// header map.
func canonicalHeaderValues(r *http.Request, name string) []string {
	if name == "host" {
		return []string{requestHost(r)}
	}
	if v := headerValues(r.Header, name); v != nil {
		return v
	}
	switch name {
	case "content-length":
		if r.ContentLength >= 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return []string{strings.Join(r.TransferEncoding, ",")}
		}
	}
	return nil
}

// requestHost is the Host header, which net/http moves to r.Host.
func requestHost(r *http.Request) string {
	if r.Host != "" {
		return r.Host
	}
	return r.URL.Host
}

// appendTrimmed appends a header value with leading and trailing whitespace
// removed and runs of spaces collapsed to one, as SigV4 canonical headers
// require.
func appendTrimmed(dst []byte, v string) []byte {
	v = strings.TrimSpace(v)
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		dst = append(dst, c)
	}
	return dst
}

// canonicalInput is everything the canonical request is built from.
type canonicalInput struct {
	method        string
	path          string // as received
	query         []queryParam
	skipQuery     string // parameter left out of the canonical query
	signedHeaders string
	payload       string
}

// sigScratch holds the buffers of one signature computation; pooled so
// that verifying a request allocates nothing for them.
type sigScratch struct {
	canon []byte
	sts   []byte
	sig   [32]byte
}

var scratchPool = sync.Pool{New: func() any {
	return &sigScratch{canon: make([]byte, 0, 1024), sts: make([]byte, 0, 256)}
}}

// appendCanonicalRequest appends the SigV4 canonical request of r.
func appendCanonicalRequest(dst []byte, r *http.Request, in *canonicalInput) ([]byte, bool) {
	dst = append(dst, in.method...)
	dst = append(dst, '\n')
	dst = append(dst, in.path...)
	dst = append(dst, '\n')
	var ok bool
	dst, ok = canonicalQuery(dst, in.query, in.skipQuery)
	if !ok {
		return dst, false
	}
	dst = append(dst, '\n')
	for rest := in.signedHeaders; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ";")
		dst = append(dst, name...)
		dst = append(dst, ':')
		if name == "host" {
			dst = appendTrimmed(dst, requestHost(r))
		} else {
			for i, v := range canonicalHeaderValues(r, name) {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = appendTrimmed(dst, v)
			}
		}
		dst = append(dst, '\n')
	}
	dst = append(dst, '\n')
	dst = append(dst, in.signedHeaders...)
	dst = append(dst, '\n')
	dst = append(dst, in.payload...)
	return dst, true
}

// appendStringToSign appends the SigV4 string to sign for a canonical
// request hash.
func appendStringToSign(dst []byte, amzDate, scope string, canonicalHash *[32]byte) []byte {
	dst = append(dst, algorithmHMAC...)
	dst = append(dst, '\n')
	dst = append(dst, amzDate...)
	dst = append(dst, '\n')
	dst = append(dst, scope...)
	dst = append(dst, '\n')
	return hex.AppendEncode(dst, canonicalHash[:])
}

// computeSignature computes the request signature under signing key key. It
// reports false if the query cannot be canonicalised (a bad %-escape).
func computeSignature(r *http.Request, in *canonicalInput, amzDate, scope string, key *signingKey) ([32]byte, bool) {
	s := scratchPool.Get().(*sigScratch)
	defer scratchPool.Put(s)
	cr, ok := appendCanonicalRequest(s.canon[:0], r, in)
	s.canon = cr[:0]
	if !ok {
		return [32]byte{}, false
	}
	h := sha256.Sum256(cr)
	s.sts = appendStringToSign(s.sts[:0], amzDate, scope, &h)
	m := key.mac()
	m.Write(s.sts)
	m.Sum(s.sig[:0])
	key.putMAC(m)
	return s.sig, true
}

// signatureMismatch is S3's SignatureDoesNotMatch for a request whose
// signature did not verify: it shows the client what the server signed
// (the string to sign and canonical request, as text and as bytes), so
// that a client can find where its signer differs. It runs only on
// failure, so it recomputes both rather than keep them on the fast path.
func signatureMismatch(r *http.Request, in *canonicalInput, p *authParams) *s3err.Error {
	provided := p.badSignature
	if provided == "" {
		provided = hex.EncodeToString(p.signature[:])
	}
	e := s3err.SignatureDoesNotMatch.WithExtra("AWSAccessKeyId", p.cred.accessKey)
	cr, ok := appendCanonicalRequest(nil, r, in)
	if !ok {
		return e.WithExtra("SignatureProvided", provided)
	}
	h := sha256.Sum256(cr)
	sts := appendStringToSign(nil, p.amzDate, p.cred.scope, &h)
	return e.WithExtra("StringToSign", string(sts)).
		WithExtra("SignatureProvided", provided).
		WithExtra("StringToSignBytes", spacedHex(sts)).
		WithExtra("CanonicalRequest", string(cr)).
		WithExtra("CanonicalRequestBytes", spacedHex(cr))
}

// spacedHex writes b as S3 does in its *Bytes error elements: two hex
// digits per byte, separated by spaces.
func spacedHex(b []byte) string {
	out := make([]byte, 0, 3*len(b))
	for i, c := range b {
		if i > 0 {
			out = append(out, ' ')
		}
		out = append(out, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
	}
	return string(out)
}
