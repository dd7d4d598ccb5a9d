package sigv4

import (
	"crypto/hmac"
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/s3err"
)

// DefaultMaxSkew is the clock skew S3 tolerates for header-authenticated
// requests.
const DefaultMaxSkew = 15 * time.Minute

// Verifier authenticates client requests for one region and service "s3".
// It caches derived signing keys, so it must not be copied after first use;
// it is safe for concurrent use.
type Verifier struct {
	Region      string
	Credentials Credentials
	Now         func() time.Time // [time.Now]
	MaxSkew     time.Duration    // header-auth clock skew allowed [15m]

	keys keyCache
	// minChunk, when positive, replaces S3's 8 KiB minimum for the
	// aws-chunked data chunks that are not the last: tests frame small
	// bodies in small chunks.
	minChunk int64
	// service is the credential-scope service; "" means "s3". Only the
	// generic AWS test vectors use another.
	service string
}

// VerifyOptions vary the rules per operation.
type VerifyOptions struct {
	// AnyRegion accepts a credential scope for any region (ListBuckets,
	// GetBucketLocation, CreateBucket), as S3 does.
	AnyRegion bool
	// AllowStreaming accepts the streaming (aws-chunked, STREAMING-*)
	// payload modes. S3 takes them only for the operations that upload
	// object data, PutObject and UploadPart; everywhere else they are
	// refused, so a small configuration body the proxy buffers and forwards
	// (tagging, ACLs, ...) always comes with a hash checked before use.
	AllowStreaming bool
	// ObjectChecksum: the request's x-amz-checksum-* headers describe the
	// object being made, not the request body (CompleteMultipartUpload,
	// whose x-amz-checksum-<algorithm> is the whole object's), so the body
	// is not checked against them; the caller checks them.
	ObjectChecksum bool
}

// Authenticated is a request whose signature verified.
type Authenticated struct {
	AccessKey string
	Presigned bool
	// Body yields the decoded payload (aws-chunked framing removed). As bytes
	// stream it checks the payload hash, chunk and trailer signatures, the
	// declared length, Content-MD5 and any x-amz-checksum-* (header or
	// trailer). If anything fails it returns a *s3err.Error in place of
	// io.EOF at the end (or earlier, as soon as the failure is known): callers
	// treat only io.EOF as a verified body. Whatever the payload mode, the
	// last byte is held back until everything has verified, so a failing
	// body is never released in full before its error.
	Body io.ReadCloser
	// ContentLength is the decoded payload length, or -1 if unknown.
	ContentLength int64
	// ChecksumAlgorithm is the x-amz-checksum-* algorithm the client asked
	// for (one of package checksum's names, e.g. "CRC64NVME"), or "".
	ChecksumAlgorithm string
	// Checksum returns the base64 checksum of the plaintext the client sent,
	// valid after Body returned io.EOF ("" when no algorithm).
	Checksum func() string
}

var (
	errNoDate          = s3err.AccessDenied.With("AWS authentication requires a valid Date or x-amz-date header.")
	errUnsignedHeaders = s3err.AccessDenied.With("There were headers present in the request which were not signed")
	errHostNotSigned   = s3err.AccessDenied.With("The host header must be signed")
	errDateNotSigned   = s3err.AccessDenied.With("The x-amz-date header must be signed")
	errNoContentSHA256 = s3err.InvalidRequest.With("Missing required header for this request: x-amz-content-sha256")
	errTwoMechanisms   = s3err.InvalidRequest.With("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified")
	errAnonymous       = s3err.AccessDenied.With("Anonymous requests are not allowed")
	errSessionToken    = s3err.InvalidToken // S3's message: this endpoint knows no session credentials
	errNotYetValid     = s3err.AccessDenied.With("Request is not valid yet")
	errExpired         = s3err.AccessDenied.With("Request has expired")
	errBadQuery        = s3err.SignatureDoesNotMatch.With("The query string is not correctly URL-encoded, so it cannot match a signature.")
	// S3's documentation defines streaming uploads for object data only and
	// names no error for other operations. InvalidRequest (400), which
	// this verifier already uses for streaming on presigned or non-PUT
	// requests, says the client must change the request; NotImplemented
	// (501) would say the server lacks a feature, which it does not, and
	// a 5xx invites retries of a request that can never succeed.
	errStreamingNotAllowed = s3err.InvalidRequest.With("The value of x-amz-content-sha256 header is invalid.")
)

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew > 0 {
		return v.MaxSkew
	}
	return DefaultMaxSkew
}

func (v *Verifier) scopeService() string {
	if v.service != "" {
		return v.service
	}
	return serviceS3
}

// Verify authenticates r. It reads r's headers and URL (the path exactly as
// received, from r.RequestURI, never cleaned) and wraps r.Body; it does not
// read the body itself. Failures are *s3err.Error with S3's codes.
//
// Requests built in-process rather than received by a server have no
// RequestURI; their URL's RequestURI() is used instead, and their header
// keys need not be canonical: every lookup is case-insensitive.
func (v *Verifier) Verify(r *http.Request, o VerifyOptions) (*Authenticated, error) {
	a, err := v.verify(r, o)
	if err != nil {
		return nil, err
	}
	return a, nil
}

func (v *Verifier) verify(r *http.Request, o VerifyOptions) (*Authenticated, *s3err.Error) {
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	path, rawQuery := splitRequestURI(uri)
	var qbuf [16]queryParam
	query := parseQuery(rawQuery, qbuf[:])
	// Every header lookup below is by canonical key, on a view in which
	// each key is canonical: a map built in-process with "content-md5"
	// must not skip the Content-MD5 check.
	h := canonicalHeader(r.Header)

	authz := h["Authorization"]
	presigned := isPresigned(query)
	var p authParams
	var perr *s3err.Error
	switch {
	case len(authz) > 0 && presigned:
		return nil, errTwoMechanisms
	case len(authz) > 1:
		return nil, malformedHeader("there is more than one Authorization header.")
	case len(authz) == 1:
		p, perr = parseAuthorization(authz[0], v.scopeService())
	case presigned:
		p, perr = parsePresigned(query, v.scopeService())
	case isPresignedV2(query):
		return nil, errUnsupportedMechanism
	default:
		return nil, errAnonymous
	}
	if perr != nil {
		return nil, perr
	}
	malformed := malformedHeader
	if p.presigned {
		malformed = malformedQuery
	}

	// Region first: clients re-sign for the region named in the error.
	if !o.AnyRegion && p.cred.region != v.Region {
		msg := "the region '" + p.cred.region + "' is wrong; expecting '" + v.Region + "'"
		if p.presigned {
			msg = "Error parsing the X-Amz-Credential parameter; " + msg
		}
		return nil, malformed(msg).WithExtra("Region", v.Region)
	}

	// The request time.
	if !p.presigned {
		d := h["X-Amz-Date"]
		if len(d) != 1 {
			return nil, errNoDate
		}
		p.amzDate = d[0]
	}
	t, ok := parseAmzDate(p.amzDate)
	if !ok {
		return nil, errNoDate
	}
	if p.amzDate[:8] != p.cred.date {
		if p.presigned {
			return nil, malformedQuery("Invalid credential date " + strconv.Quote(p.cred.date) + ". This date is not the same as X-Amz-Date: " + strconv.Quote(p.amzDate[:8]) + ".")
		}
		return nil, malformedHeader("Invalid credential date. Date is not the same as X-Amz-Date.")
	}

	// What must be signed.
	if !hasSignedHeader(p.signedHeaders, "host") {
		return nil, errHostNotSigned
	}
	if !p.presigned && !hasSignedHeader(p.signedHeaders, "x-amz-date") {
		return nil, errDateNotSigned
	}
	if e := unsignedHeaders(r.Header, p.signedHeaders); e != nil {
		return nil, e
	}
	if _, ok := h["X-Amz-Security-Token"]; ok {
		return nil, errSessionToken
	}
	for _, q := range query {
		if q.key == qSecurityToken {
			return nil, errSessionToken
		}
	}

	// Who.
	secret, ok := v.Credentials.Secret(p.cred.accessKey)
	if !ok {
		return nil, s3err.InvalidAccessKeyID.WithExtra("AWSAccessKeyId", p.cred.accessKey)
	}

	// When.
	now := v.now()
	if p.presigned {
		if t.After(now.Add(v.maxSkew())) {
			return nil, errNotYetValid
		}
		if now.After(t.Add(p.expires)) {
			return nil, errExpired.
				WithExtra("X-Amz-Expires", strconv.FormatInt(int64(p.expires/time.Second), 10)).
				WithExtra("Expires", t.Add(p.expires).UTC().Format(time.RFC3339)).
				WithExtra("ServerTime", now.UTC().Format(time.RFC3339))
		}
	} else if d := now.Sub(t); d > v.maxSkew() || d < -v.maxSkew() {
		return nil, s3err.RequestTimeTooSkewed.
			WithExtra("RequestTime", p.amzDate).
			WithExtra("ServerTime", now.UTC().Format(time.RFC3339)).
			WithExtra("MaxAllowedSkewMilliseconds", strconv.FormatInt(v.maxSkew().Milliseconds(), 10))
	}

	// The payload hash the signature covers.
	payload := p.payload
	if payload == "" {
		switch v := h["X-Amz-Content-Sha256"]; {
		case len(v) == 1:
			payload = v[0]
		case len(v) > 1:
			return nil, s3err.InvalidRequest.With("x-amz-content-sha256 appears more than once.")
		case p.presigned:
			payload = unsignedPayload
		default:
			return nil, errNoContentSHA256
		}
	}
	var wantSHA [32]byte
	mode, merr := parsePayload(payload, &wantSHA)
	if merr != nil {
		return nil, merr
	}
	if mode.chunked() && (p.presigned || r.Method != http.MethodPut) {
		return nil, errStreamingNotAllowed
	}

	// The signature.
	key := v.keys.get(secret, p.cred.date, p.cred.region, p.cred.service)
	in := canonicalInput{
		method:        r.Method,
		path:          path,
		query:         query,
		signedHeaders: p.signedHeaders,
		payload:       payload,
	}
	if p.presigned {
		in.skipQuery = qSignature
	}
	sig, ok := computeSignature(r, &in, p.amzDate, p.cred.scope, key)
	if !ok {
		return nil, errBadQuery
	}
	if p.badSignature != "" || !hmac.Equal(sig[:], p.signature[:]) {
		return nil, signatureMismatch(r, &in, &p)
	}
	// After the signature: who may stream what is for authenticated
	// callers to learn.
	if mode.chunked() && !o.AllowStreaming {
		return nil, errStreamingNotAllowed
	}

	// The body.
	bh := h
	if o.ObjectChecksum {
		bh = withoutChecksumHeaders(h)
	}
	body, length, berr := v.wrapBody(r, bh, mode, &wantSHA, &key.key, &p)
	if berr != nil {
		return nil, berr
	}
	auth := &Authenticated{
		AccessKey:     p.cred.accessKey,
		Presigned:     p.presigned,
		Body:          body,
		ContentLength: length,
		Checksum:      body.br.checksum,
	}
	if body.br.ckAlg != checksumNone {
		auth.ChecksumAlgorithm = body.br.ckAlg.String()
	}
	return auth, nil
}

// canonicalHeader returns h itself when every key is in canonical MIME
// form, as net/http makes them for every request it parses, and otherwise
// a copy whose keys are, with the values of keys that differ only in case
// merged under one key. Merged, such duplicates meet the checks for
// repeated headers instead of one of them going unnoticed. Keys that are
// not valid header names stay as they are: they match no name looked up.
func canonicalHeader(h http.Header) http.Header {
	canonical := true
	for k := range h {
		if !isCanonicalKey(k) {
			canonical = false
			break
		}
	}
	if canonical {
		return h
	}
	c := make(http.Header, len(h))
	for k, v := range h {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		c[ck] = append(c[ck], v...)
	}
	return c
}

// isCanonicalKey reports whether k is in canonical MIME form: upper case at
// the start and after each '-', lower case elsewhere. It is the quick check
// of textproto.CanonicalMIMEHeaderKey without its validation of the bytes
// (a key with invalid bytes takes canonicalHeader's slow path, where
// CanonicalMIMEHeaderKey leaves it as it is).
func isCanonicalKey(k string) bool {
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
}

// unsignedHeaders is S3's AccessDenied for x-amz-* headers the signature
// does not cover, naming every one of them (lower case, sorted, comma
// separated), or nil.
func unsignedHeaders(h http.Header, signed string) *s3err.Error {
	var names []string
	for k := range h {
		if len(k) > 6 && strings.EqualFold(k[:6], "x-amz-") && !hasSignedHeaderFold(signed, k) {
			names = append(names, strings.ToLower(k))
		}
	}
	if names == nil {
		return nil
	}
	slices.Sort(names)
	names = slices.Compact(names)
	return errUnsignedHeaders.WithExtra("HeadersNotSigned", strings.Join(names, ", "))
}

// withoutChecksumHeaders is h (canonical keys) without its
// x-amz-checksum-<algorithm> headers.
func withoutChecksumHeaders(h http.Header) http.Header {
	c := h.Clone()
	for _, a := range checksum.All {
		delete(c, a.CanonicalHeader())
	}
	return c
}
