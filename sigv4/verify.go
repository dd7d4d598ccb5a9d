package sigv4

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

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
	// service is the credential-scope service; "" means "s3". Only the
	// generic AWS test vectors use another.
	service string
}

// VerifyOptions vary the rules per operation.
type VerifyOptions struct {
	// AnyRegion accepts a credential scope for any region (ListBuckets,
	// GetBucketLocation, CreateBucket), as S3 does.
	AnyRegion bool
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
	// treat only io.EOF as a verified body.
	Body io.ReadCloser
	// ContentLength is the decoded payload length, or -1 if unknown.
	ContentLength int64
	// ChecksumAlgorithm is the x-amz-checksum-* algorithm the client asked
	// for ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"), or "".
	ChecksumAlgorithm string
	// Checksum returns the base64 checksum of the plaintext the client sent,
	// valid after Body returned io.EOF ("" when no algorithm).
	Checksum func() string
}

// Payload hash values of x-amz-content-sha256 other than a hex SHA-256.
const (
	unsignedPayload          = "UNSIGNED-PAYLOAD"
	streamingSigned          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	streamingECDSA           = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
	streamingECDSATrailer    = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"
)

// payloadMode is how the request protects its body.
type payloadMode uint8

const (
	payloadSHA256 payloadMode = iota
	payloadUnsigned
	payloadChunkedSigned
	payloadChunkedSignedTrailer
	payloadChunkedUnsignedTrailer
)

func (m payloadMode) chunked() bool { return m >= payloadChunkedSigned }
func (m payloadMode) trailer() bool {
	return m == payloadChunkedSignedTrailer || m == payloadChunkedUnsignedTrailer
}

// parsePayload classifies an x-amz-content-sha256 value.
func parsePayload(s string, sum *[32]byte) (payloadMode, *s3err.Error) {
	switch s {
	case unsignedPayload:
		return payloadUnsigned, nil
	case streamingSigned:
		return payloadChunkedSigned, nil
	case streamingSignedTrailer:
		return payloadChunkedSignedTrailer, nil
	case streamingUnsignedTrailer:
		return payloadChunkedUnsignedTrailer, nil
	case streamingECDSA, streamingECDSATrailer:
		return 0, errSigV4a
	}
	if len(s) == 64 {
		if _, err := hex.Decode(sum[:], []byte(s)); err == nil {
			return payloadSHA256, nil
		}
	}
	return 0, s3err.InvalidRequest.With("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-UNSIGNED-PAYLOAD-TRAILER, or a valid sha256 value.")
}

var (
	errNoDate          = s3err.AccessDenied.With("AWS authentication requires a valid Date or x-amz-date header")
	errUnsignedHeaders = s3err.AccessDenied.With("There were headers present in the request which were not signed")
	errHostNotSigned   = s3err.AccessDenied.With("The host header must be signed")
	errDateNotSigned   = s3err.AccessDenied.With("The x-amz-date header must be signed")
	errNoContentSHA256 = s3err.InvalidRequest.With("Missing required header for this request: x-amz-content-sha256")
	errTwoMechanisms   = s3err.InvalidRequest.With("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified")
	errAnonymous       = s3err.AccessDenied.With("Anonymous requests are not allowed")
	errSessionToken    = s3err.InvalidToken.With("Session tokens are not accepted by this endpoint.")
	errNotYetValid     = s3err.AccessDenied.With("Request is not valid yet")
	errExpired         = s3err.AccessDenied.With("Request has expired")
	errBadQuery        = s3err.SignatureDoesNotMatch.With("The query string is not correctly URL-encoded, so it cannot match a signature.")
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
// RequestURI; their URL's RequestURI() is used instead.
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

	authz := r.Header["Authorization"]
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
		d := r.Header["X-Amz-Date"]
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
		return nil, malformed("Invalid credential date. Date is not the same as X-Amz-Date.")
	}

	// What must be signed.
	if !hasSignedHeader(p.signedHeaders, "host") {
		return nil, errHostNotSigned
	}
	if !p.presigned && !hasSignedHeader(p.signedHeaders, "x-amz-date") {
		return nil, errDateNotSigned
	}
	for k := range r.Header {
		if len(k) > 6 && strings.EqualFold(k[:6], "x-amz-") && !hasSignedHeaderFold(p.signedHeaders, k) {
			return nil, errUnsignedHeaders.WithExtra("HeadersNotSigned", strings.ToLower(k))
		}
	}
	if _, ok := r.Header["X-Amz-Security-Token"]; ok {
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
		return nil, s3err.InvalidAccessKeyID
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
		switch h := r.Header["X-Amz-Content-Sha256"]; {
		case len(h) == 1:
			payload = h[0]
		case len(h) > 1:
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
		return nil, s3err.InvalidRequest.With("Streaming (aws-chunked) payloads are only accepted on header-signed PUT requests.")
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
	if !hmac.Equal(sig[:], p.signature[:]) {
		return nil, s3err.SignatureDoesNotMatch.WithExtra("AWSAccessKeyId", p.cred.accessKey)
	}

	// The body.
	body, length, berr := v.wrapBody(r, mode, &wantSHA, &key.key, &p)
	if berr != nil {
		return nil, berr
	}
	auth := &Authenticated{
		AccessKey:     p.cred.accessKey,
		Presigned:     p.presigned,
		Body:          body,
		ContentLength: length,
		Checksum:      body.checksum,
	}
	if body.ckAlg != checksumNone {
		auth.ChecksumAlgorithm = body.ckAlg.String()
	}
	return auth, nil
}

// wrapBody builds the verifying body reader for the payload mode.
func (v *Verifier) wrapBody(r *http.Request, mode payloadMode, wantSHA *[32]byte, key *[32]byte, p *authParams) (*bodyReader, int64, *s3err.Error) {
	src := r.Body
	if src == nil {
		src = http.NoBody
	}
	b := &bodyReader{src: src, body: src, want: r.ContentLength}
	length := r.ContentLength

	if mode == payloadSHA256 {
		if r.ContentLength == 0 || src == http.NoBody {
			// No body: settle the hash now rather than at a read that
			// the caller might never make.
			if *wantSHA != emptySHA256 {
				return nil, 0, errSHA256Mismatch
			}
			b.want = 0
		} else {
			b.sha = newSHA256()
			b.wantSHA = *wantSHA
		}
	}
	if r.Method == http.MethodPut && !mode.chunked() && r.ContentLength < 0 {
		return nil, 0, s3err.MissingContentLength
	}

	// Checksums the client declared.
	ck, ckWant, inTrailer, cerr := requestChecksum(r.Header, mode)
	if cerr != nil {
		return nil, 0, cerr
	}
	if ck != checksumNone {
		b.ck = ck.newHash()
		b.ckAlg = ck
		b.ckWant = ckWant
	}
	if md := r.Header["Content-Md5"]; len(md) > 0 {
		raw, err := base64.StdEncoding.DecodeString(md[0])
		if len(md) > 1 || err != nil || len(raw) != 16 {
			return nil, 0, s3err.InvalidDigest
		}
		b.md5 = newMD5()
		copy(b.wantMD5[:], raw)
	}

	if mode.chunked() {
		dl := r.Header["X-Amz-Decoded-Content-Length"]
		if len(dl) != 1 {
			return nil, 0, s3err.MissingContentLength.With("You must provide x-amz-decoded-content-length with a streaming (aws-chunked) upload.")
		}
		n, err := strconv.ParseInt(dl[0], 10, 64)
		if err != nil || n < 0 {
			return nil, 0, s3err.InvalidRequest.With("x-amz-decoded-content-length is not a non-negative integer.")
		}
		var chain *chainSigner
		if mode == payloadChunkedSigned || mode == payloadChunkedSignedTrailer {
			chain = newChainSigner(key, p.amzDate, p.cred.scope, &p.signature)
		}
		trailerCk := checksumNone
		if inTrailer {
			trailerCk = ck
		}
		b.dec = newChunkDecoder(src, n, chain, mode.trailer(), trailerCk)
		b.src = b.dec
		b.want = -1 // the decoder enforces the decoded length
		length = n
	}
	return b, length, nil
}

// requestChecksum finds the x-amz-checksum-* the client declared: in a
// header (with its value), or announced in x-amz-trailer (value to come),
// or just named by x-amz-sdk-checksum-algorithm (computed, nothing to
// compare with).
func requestChecksum(h http.Header, mode payloadMode) (alg checksumAlg, want []byte, inTrailer bool, err *s3err.Error) {
	for a := checksumCRC32; a <= checksumSHA256; a++ {
		vals := h[checksumAlgs[a].canonical]
		if len(vals) == 0 {
			continue
		}
		if alg != checksumNone || len(vals) > 1 {
			return 0, nil, false, s3err.InvalidRequest.With("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		raw, derr := base64.StdEncoding.DecodeString(vals[0])
		if derr != nil || len(raw) != a.size() {
			return 0, nil, false, s3err.InvalidRequest.With("Value for " + a.header() + " header is invalid.")
		}
		alg, want = a, raw
	}
	if tr := h["X-Amz-Trailer"]; len(tr) > 0 {
		if !mode.trailer() {
			return 0, nil, false, s3err.InvalidRequest.With("x-amz-trailer is only valid with a STREAMING-*-TRAILER x-amz-content-sha256.")
		}
		for _, list := range tr {
			for _, name := range strings.Split(list, ",") {
				name = strings.TrimSpace(name)
				if name == "" {
					continue
				}
				a := checksumByHeader(name)
				if a == checksumNone {
					return 0, nil, false, s3err.InvalidRequest.With("The trailer " + name + " is not supported; only x-amz-checksum-* trailers are.")
				}
				if alg != checksumNone {
					return 0, nil, false, s3err.InvalidRequest.With("Expecting a single x-amz-checksum- header or trailer. Multiple checksum Types are not allowed.")
				}
				alg, inTrailer = a, true
			}
		}
	}
	if sdk := h["X-Amz-Sdk-Checksum-Algorithm"]; len(sdk) > 0 {
		a := checksumByName(strings.TrimSpace(sdk[0]))
		switch {
		case len(sdk) > 1 || a == checksumNone:
			return 0, nil, false, s3err.InvalidRequest.With("Value for x-amz-sdk-checksum-algorithm header is invalid.")
		case alg != checksumNone && a != alg:
			return 0, nil, false, s3err.InvalidRequest.With("Value for x-amz-sdk-checksum-algorithm header is invalid; it does not match the x-amz-checksum- header or trailer.")
		}
		alg = a
	}
	return alg, want, inTrailer, nil
}
