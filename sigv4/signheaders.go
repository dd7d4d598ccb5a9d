package sigv4

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// signHeaders signs req with header auth exactly as aws-sdk-go-v2's v4
// signer does (Signer.SignHTTP with DisableURIPathEscaping, the upstream
// signer this replaces; TestUnitSignHeadersMatchesSDK holds it to that
// byte for byte), without its per-request maps, strings and key
// derivation:
//
//   - X-Amz-Date (and X-Amz-Security-Token for session credentials) are
//     set first, so they are signed;
//   - a default port for the URL's scheme is dropped from req.Host;
//   - every header is signed but Authorization, User-Agent,
//     X-Amzn-Trace-Id, Expect and Transfer-Encoding (exact keys, as the
//     SDK's rule) and any Content-Length or Host key; content-length is
//     signed from req.ContentLength when it is positive, host from
//     req.Host (or the URL's);
//   - the canonical URI is URL.EscapedPath (or the path of URL.Opaque),
//     not escaped again;
//   - the query is parsed as url.ParseQuery does (pairs it refuses are
//     dropped), re-encoded with SigV4's rules and sorted, and req.URL.RawQuery
//     becomes that canonical query, so that what is sent is what is signed.
//
// One deliberate difference: header keys that differ only in case (which
// net/http never makes) are signed as one header whose values come in
// the order of their keys, which is the order http.Header.Write puts
// them on the wire; the SDK's order is its map iteration's.
//
// It returns the signature, which is also in the Authorization header.
func (s *Signer) signHeaders(req *http.Request, creds aws.Credentials, payload, region, service string, t time.Time) [32]byte {
	t = t.UTC()
	sc := signPool.Get().(*signScratch)
	defer signPool.Put(sc)

	sc.date = t.AppendFormat(sc.date[:0], amzDateLayout)
	amzDate := string(sc.date)
	setHeader(req.Header, "X-Amz-Date", amzDate)
	if creds.SessionToken != "" {
		setHeader(req.Header, "X-Amz-Security-Token", creds.SessionToken)
	}
	sanitizeHostForHeader(req)
	host := req.URL.Host
	if req.Host != "" {
		host = req.Host
	}

	query := sc.canonicalQuery(req.URL.RawQuery)
	c := append(sc.canon[:0], req.Method...)
	c = append(c, '\n')
	c = append(c, canonicalURI(req.URL)...)
	c = append(c, '\n')
	c = append(c, query...)
	c = append(c, '\n')
	c, signed := sc.appendCanonicalHeaders(c, req.Header, host, req.ContentLength)
	c = append(c, '\n')
	c = append(c, signed...)
	c = append(c, '\n')
	c = append(c, payload...)
	sc.canon = c

	scope := sc.appendScope(amzDate[:8], region, service)
	sum := sha256.Sum256(c)
	sts := append(sc.sts[:0], algorithmHMAC+"\n"...)
	sts = append(sts, amzDate...)
	sts = append(sts, '\n')
	sts = append(sts, scope...)
	sts = append(sts, '\n')
	sts = hex.AppendEncode(sts, sum[:])
	sc.sts = sts
	key := s.keys.get(creds.SecretAccessKey, amzDate[:8], region, service)
	m := key.mac()
	m.Write(sc.sts)
	var sig [32]byte
	m.Sum(sig[:0])
	key.putMAC(m)

	if string(query) != req.URL.RawQuery {
		req.URL.RawQuery = string(query)
	}
	a := append(sc.sts[:0], algorithmHMAC+" Credential="...)
	a = append(a, creds.AccessKeyID...)
	a = append(a, '/')
	a = append(a, scope...)
	a = append(a, ", SignedHeaders="...)
	a = append(a, signed...)
	a = append(a, ", Signature="...)
	a = hex.AppendEncode(a, sig[:])
	sc.sts = a
	setHeader(req.Header, "Authorization", string(a))
	return sig
}

// setHeader sets h[key] to the one value v, reusing the slice there, as
// the SDK does.
func setHeader(h http.Header, key, v string) {
	h[key] = append(h[key][:0], v)
}

// signScratch holds the buffers of one header signature; pooled.
type signScratch struct {
	date    []byte
	canon   []byte
	sts     []byte
	scope   []byte
	names   []byte         // lowercased header names, back to back
	headers []signedHeader // indexes into names, with their keys
	query   []byte         // encoded query components, back to back
	pairs   []queryPair    // indexes into query
	out     []byte         // the canonical query
}

var signPool = sync.Pool{New: func() any {
	return &signScratch{canon: make([]byte, 0, 1024), sts: make([]byte, 0, 256)}
}}

// signedHeader is one header key of the request and its lowercase name,
// names[off:off+n] of its signScratch.
type signedHeader struct {
	key    string
	off, n int
}

// queryPair is one encoded key=value, each query[off:off+n] of its
// signScratch.
type queryPair struct {
	koff, kn, voff, vn int
}

func (sc *signScratch) appendScope(date, region, service string) []byte {
	b := append(sc.scope[:0], date...)
	b = append(b, '/')
	b = append(b, region...)
	b = append(b, '/')
	b = append(b, service...)
	b = append(b, "/"+scopeTerminal...)
	sc.scope = b
	return b
}

// sdkIgnoredHeader reports the header keys the SDK's signer leaves unsigned
// (its IgnoredHeaders rule: exact keys).
func sdkIgnoredHeader(k string) bool {
	switch k {
	case "Authorization", "User-Agent", "X-Amzn-Trace-Id", "Expect", "Transfer-Encoding":
		return true
	}
	return false
}

// appendCanonicalHeaders appends the canonical headers (each
// "name:values\n") and returns them with the signed-headers list, which
// aliases the scratch and is valid until the next use of sc.
func (sc *signScratch) appendCanonicalHeaders(dst []byte, h http.Header, host string, length int64) ([]byte, []byte) {
	names := append(sc.names[:0], "host"...)
	hs := append(sc.headers[:0], signedHeader{key: "", off: 0, n: 4})
	if length > 0 {
		hs = append(hs, signedHeader{key: "", off: len(names), n: len("content-length")})
		names = append(names, "content-length"...)
	}
	for k := range h {
		if sdkIgnoredHeader(k) || strings.EqualFold(k, "Content-Length") || strings.EqualFold(k, "Host") {
			continue
		}
		off := len(names)
		for i := 0; i < len(k); i++ {
			c := k[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			names = append(names, c)
		}
		hs = append(hs, signedHeader{key: k, off: off, n: len(k)})
	}
	slices.SortFunc(hs, func(a, b signedHeader) int {
		if c := bytes.Compare(names[a.off:a.off+a.n], names[b.off:b.off+b.n]); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	sc.names, sc.headers = names, hs

	// The signed-headers list is built after the names, in names.
	list := len(names)
	for i, e := range hs {
		name := names[e.off : e.off+e.n]
		if i > 0 && bytes.Equal(name, names[hs[i-1].off:hs[i-1].off+hs[i-1].n]) {
			continue // the same header under another key: merged below
		}
		dst = append(dst, name...)
		dst = append(dst, ':')
		switch {
		case e.key == "" && string(name) == "host":
			dst = appendStripExcessSpaces(dst, host)
		case e.key == "":
			dst = strconv.AppendInt(dst, length, 10)
		default:
			first := true
			for _, same := range hs[i:] {
				if !bytes.Equal(names[same.off:same.off+same.n], name) {
					break
				}
				for _, v := range h[same.key] {
					if !first {
						dst = append(dst, ',')
					}
					first = false
					dst = appendTrimmed(dst, v)
				}
			}
		}
		dst = append(dst, '\n')
		if len(names) > list {
			names = append(names, ';')
		}
		names = append(names, name...)
	}
	sc.names = names
	return dst, names[list:]
}

// appendStripExcessSpaces is the SDK's StripExcessSpaces: leading and
// trailing spaces removed, runs of spaces made one (the host value; other
// values are also trimmed of other whitespace, appendTrimmed).
func appendStripExcessSpaces(dst []byte, v string) []byte {
	v = strings.Trim(v, " ")
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' && space {
			continue
		}
		space = c == ' '
		dst = append(dst, c)
	}
	return dst
}

// canonicalURI is the SDK's GetURIPath: the path of an opaque URL, or
// the escaped path; "/" when empty.
func canonicalURI(u *url.URL) string {
	var p string
	if len(u.Opaque) > 0 {
		opaque := u.Opaque
		if i := strings.Index(opaque, "?"); i >= 0 {
			opaque = opaque[:i]
		}
		opaque = strings.TrimPrefix(opaque, "//")
		if i := strings.Index(opaque, "/"); i >= 0 {
			p = opaque[i:]
		}
	} else {
		p = u.EscapedPath()
	}
	if p == "" {
		p = "/"
	}
	return p
}

// maxFastQueryParams is how many parameters canonicalQuery parses
// itself; a query with more goes through url.ParseQuery, whose limit on
// the number of parameters (GODEBUG urlmaxqueryparams) then applies as
// it does to the SDK.
const maxFastQueryParams = 64

// canonicalQuery is the SDK's canonical query of raw: the pairs
// url.ParseQuery keeps (none with a ';', none with a bad %-escape, no
// empty ones), each key and value decoded and encoded again with SigV4's
// rules, sorted by key, then value, joined with '&'. It aliases sc.
func (sc *signScratch) canonicalQuery(raw string) []byte {
	enc, pairs := sc.query[:0], sc.pairs[:0]
	add := func(k, v string) {
		p := queryPair{koff: len(enc)}
		enc = appendURIEncode(enc, k)
		p.kn = len(enc) - p.koff
		p.voff = len(enc)
		enc = appendURIEncode(enc, v)
		p.vn = len(enc) - p.voff
		pairs = append(pairs, p)
	}
	if strings.Count(raw, "&") >= maxFastQueryParams {
		q, _ := url.ParseQuery(raw)
		for k, vs := range q {
			for _, v := range vs {
				add(k, v)
			}
		}
	} else {
		for rest := raw; rest != ""; {
			var kv string
			kv, rest, _ = strings.Cut(rest, "&")
			if kv == "" || strings.Contains(kv, ";") {
				continue
			}
			k, v, _ := strings.Cut(kv, "=")
			k, err1 := url.QueryUnescape(k)
			v, err2 := url.QueryUnescape(v)
			if err1 != nil || err2 != nil {
				continue
			}
			add(k, v)
		}
	}
	slices.SortFunc(pairs, func(a, b queryPair) int {
		if c := bytes.Compare(enc[a.koff:a.koff+a.kn], enc[b.koff:b.koff+b.kn]); c != 0 {
			return c
		}
		return bytes.Compare(enc[a.voff:a.voff+a.vn], enc[b.voff:b.voff+b.vn])
	})
	out := sc.out[:0]
	for i, p := range pairs {
		if i > 0 {
			out = append(out, '&')
		}
		out = append(out, enc[p.koff:p.koff+p.kn]...)
		out = append(out, '=')
		out = append(out, enc[p.voff:p.voff+p.vn]...)
	}
	sc.query, sc.pairs, sc.out = enc, pairs, out
	return out
}

// appendURIEncode appends SigV4's UriEncode of s (unreserved bytes as they
// are, every other byte %XX), which is the SDK's
// url.QueryEscape with "+" for "%20".
func appendURIEncode(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
	}
	return dst
}

// sanitizeHostForHeader is the SDK's: a port that is the default for the
// URL's scheme is dropped from req.Host.
func sanitizeHostForHeader(r *http.Request) {
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	port := portOnly(host)
	if port != "" && isDefaultPort(r.URL.Scheme, port) {
		r.Host = stripPort(host)
	}
}

func stripPort(hostport string) string {
	colon := strings.IndexByte(hostport, ':')
	if colon == -1 {
		return hostport
	}
	if i := strings.IndexByte(hostport, ']'); i != -1 {
		return strings.TrimPrefix(hostport[:i], "[")
	}
	return hostport[:colon]
}

func portOnly(hostport string) string {
	colon := strings.IndexByte(hostport, ':')
	if colon == -1 {
		return ""
	}
	if i := strings.Index(hostport, "]:"); i != -1 {
		return hostport[i+len("]:"):]
	}
	if strings.Contains(hostport, "]") {
		return ""
	}
	return hostport[colon+len(":"):]
}

func isDefaultPort(scheme, port string) bool {
	switch strings.ToLower(scheme) {
	case "http":
		return port == "80"
	case "https":
		return port == "443"
	}
	return false
}
