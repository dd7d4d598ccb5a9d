package sigv4

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/bucketkey/bucketkey/checksum"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testAK     = "AKTESTCLIENT"
	testSK     = "test-client-secret/0123456789"
	testRegion = "us-east-1"
	testHost   = "s3.bucketkey.test"
)

var testTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func testVerifier(now time.Time) *Verifier {
	return &Verifier{
		Region:      testRegion,
		Credentials: StaticCredentials{testAK: testSK, "AKSECOND": "second-secret"},
		Now:         func() time.Time { return now },
		minChunk:    1,
	}
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// signSpec describes a request for sdkSign.
type signSpec struct {
	method, target string // target is the raw path?query sent
	headers        map[string]string
	body           []byte
	payload        string // x-amz-content-sha256 value; "" for the body's hex SHA-256; "-" for none
	region, ak, sk string
	at             time.Time
	noLength       bool // sent with Transfer-Encoding: chunked, no Content-Length
}

// sdkSign signs a request with aws-sdk-go-v2's signer (an implementation
// independent of ours) and returns it as a server receives it.
func sdkSign(t testing.TB, s signSpec) *http.Request {
	t.Helper()
	if s.method == "" {
		s.method = "PUT"
	}
	if s.target == "" {
		s.target = "/bucket/key"
	}
	if s.region == "" {
		s.region = testRegion
	}
	if s.ak == "" {
		s.ak, s.sk = testAK, testSK
	}
	if s.at.IsZero() {
		s.at = testTime
	}
	req, err := http.NewRequest(s.method, "http://"+testHost+s.target, bytes.NewReader(s.body))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(s.body))
	if s.noLength {
		req.ContentLength = -1
	}
	for k, v := range s.headers {
		req.Header.Set(k, v)
	}
	payload := s.payload
	switch payload {
	case "":
		payload = hexSHA256(s.body)
		req.Header.Set("X-Amz-Content-Sha256", payload)
	case "-":
		payload = hexSHA256(s.body)
	default:
		req.Header.Set("X-Amz-Content-Sha256", payload)
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: s.ak, SecretAccessKey: s.sk}
	if err := signer.SignHTTP(context.Background(), creds, req, payload, "s3", s.region, s.at); err != nil {
		t.Fatal(err)
	}
	r := toServer(req, s.body)
	if s.noLength {
		r.Header.Del("Content-Length")
		r.ContentLength = -1
		r.TransferEncoding = []string{"chunked"}
	}
	return r
}

// toServer turns a signed client request into the request a server sees.
func toServer(req *http.Request, body []byte) *http.Request {
	h := map[string]string{}
	r := serverRequest(req.Method, req.URL.RequestURI(), req.Host, h, body)
	if req.Host == "" {
		r.Host = req.URL.Host
	}
	for k, v := range req.Header {
		r.Header[k] = append([]string(nil), v...)
	}
	if req.ContentLength > 0 {
		r.Header.Set("Content-Length", strconv.FormatInt(req.ContentLength, 10))
	}
	return r
}

// ourSign signs with this package's canonicalisation, for requests the SDK
// refuses to produce (x-amz-date unsigned, host unsigned, ...).
func ourSign(r *http.Request, signedHeaders, payload string, at time.Time, region string) {
	amzDate := at.UTC().Format(amzDateLayout)
	scope := amzDate[:8] + "/" + region + "/s3/aws4_request"
	path, rawQuery := splitRequestURI(r.RequestURI)
	in := canonicalInput{method: r.Method, path: path, query: parseQuery(rawQuery, nil), signedHeaders: signedHeaders, payload: payload}
	key := deriveKey(testSK, amzDate[:8], region, "s3")
	sig, _ := computeSignature(r, &in, amzDate, scope, newSigningKey(key))
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testAK+"/"+scope+", SignedHeaders="+signedHeaders+", Signature="+hex.EncodeToString(sig[:]))
}

func TestVerifyAcceptsSDKRequests(t *testing.T) {
	for _, tc := range []signSpec{
		{method: "GET", target: "/bucket/key", headers: map[string]string{"Range": "bytes=0-9"}},
		{method: "GET", target: "/bucket?list-type=2&prefix=a%20b%2Bc%2F%C3%BC&delimiter=%2F"},
		{method: "PUT", target: "/bucket/a//b/./c", body: []byte("hello")},
		{method: "PUT", target: "/bucket/a%2Fb%252F%20c~", body: []byte("hello"), headers: map[string]string{"X-Amz-Meta-Color": "  blue   and  green ", "Content-Type": "text/plain"}},
		{method: "PUT", target: "/bucket/k", body: []byte("hello"), payload: unsignedPayload},
		{method: "HEAD", target: "/bucket/k"},
		{method: "DELETE", target: "/bucket/k?versionId=abc"},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			r := sdkSign(t, tc)
			a, err := testVerifier(testTime).Verify(r, VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := readBody(t, a)
			if err != nil || !bytes.Equal(got, tc.body) {
				t.Fatalf("body %q, %v", got, err)
			}
		})
	}
}

func TestVerifyRules(t *testing.T) {
	base := signSpec{body: []byte("hello"), headers: map[string]string{"X-Amz-Meta-A": "1"}}
	with := func(f func(*signSpec)) signSpec {
		s := base
		s.headers = map[string]string{}
		for k, v := range base.headers {
			s.headers[k] = v
		}
		f(&s)
		return s
	}
	for _, tc := range []struct {
		name   string
		req    func(t *testing.T) *http.Request
		now    time.Time
		opts   VerifyOptions
		code   string
		status int
		check  func(t *testing.T, err error)
	}{
		{name: "valid", req: func(t *testing.T) *http.Request { return sdkSign(t, base) }},
		{
			name: "unsigned x-amz-meta header", code: "AccessDenied", status: 403,
			req: func(t *testing.T) *http.Request {
				r := sdkSign(t, base)
				r.Header.Set("X-Amz-Meta-Injected", "1")
				return r
			},
			check: func(t *testing.T, err error) {
				if h := extra(wantCode(t, err, "AccessDenied", 403), "HeadersNotSigned"); h != "x-amz-meta-injected" {
					t.Errorf("HeadersNotSigned %q", h)
				}
			},
		},
		{
			name: "unsigned x-amz-storage-class", code: "AccessDenied", status: 403,
			req: func(t *testing.T) *http.Request {
				r := sdkSign(t, base)
				r.Header.Set("X-Amz-Storage-Class", "GLACIER")
				return r
			},
		},
		{
			name: "unsigned x-amz-checksum header", code: "AccessDenied", status: 403,
			req: func(t *testing.T) *http.Request {
				r := sdkSign(t, base)
				r.Header.Set("X-Amz-Checksum-Crc32", "AAAAAA==")
				return r
			},
		},
		{
			name: "host not signed", code: "AccessDenied", status: 403,
			req: func(t *testing.T) *http.Request {
				r := sdkSign(t, base)
				ourSign(r, "x-amz-content-sha256;x-amz-date;x-amz-meta-a", hexSHA256(base.body), testTime, testRegion)
				return r
			},
		},
		{
			name: "x-amz-date not signed", code: "AccessDenied", status: 403,
			req: func(t *testing.T) *http.Request {
				r := sdkSign(t, base)
				ourSign(r, "host;x-amz-content-sha256;x-amz-meta-a", hexSHA256(base.body), testTime, testRegion)
				return r
			},
		},
		{
			name: "signed by our canonicalisation (control for the two above)",
			req: func(t *testing.T) *http.Request {
				r := sdkSign(t, base)
				ourSign(r, "host;x-amz-content-sha256;x-amz-date;x-amz-meta-a", hexSHA256(base.body), testTime, testRegion)
				return r
			},
		},
		{
			name: "no x-amz-date", code: "AccessDenied", status: 403,
			req: func(t *testing.T) *http.Request {
				r := sdkSign(t, base)
				r.Header.Del("X-Amz-Date")
				return r
			},
		},
		{
			name: "x-amz-date of another day than the scope", code: "AuthorizationHeaderMalformed", status: 400,
			req: func(t *testing.T) *http.Request {
				r := sdkSign(t, base)
				r.Header.Set("X-Amz-Date", "20240103T030405Z")
				return r
			},
			now: testTime.Add(24 * time.Hour),
		},
		{
			name: "clock 16 minutes ahead", code: "RequestTimeTooSkewed", status: 403, now: testTime.Add(16 * time.Minute),
			req: func(t *testing.T) *http.Request { return sdkSign(t, base) },
			check: func(t *testing.T, err error) {
				e := wantCode(t, err, "RequestTimeTooSkewed", 403)
				if st := extra(e, "ServerTime"); st != "2024-01-02T03:20:05Z" {
					t.Errorf("ServerTime %q", st)
				}
			},
		},
		{
			name: "clock 16 minutes behind", code: "RequestTimeTooSkewed", status: 403, now: testTime.Add(-16 * time.Minute),
			req: func(t *testing.T) *http.Request { return sdkSign(t, base) },
		},
		{
			name: "clock 14 minutes ahead", now: testTime.Add(14 * time.Minute),
			req: func(t *testing.T) *http.Request { return sdkSign(t, base) },
		},
		{
			name: "wrong region", code: "AuthorizationHeaderMalformed", status: 400,
			req: func(t *testing.T) *http.Request {
				return sdkSign(t, with(func(s *signSpec) { s.region = "eu-west-1" }))
			},
			check: func(t *testing.T, err error) {
				if r := extra(wantCode(t, err, "AuthorizationHeaderMalformed", 400), "Region"); r != testRegion {
					t.Errorf("Region %q, want %q", r, testRegion)
				}
			},
		},
		{
			name: "any region where allowed", opts: VerifyOptions{AnyRegion: true},
			req: func(t *testing.T) *http.Request {
				return sdkSign(t, with(func(s *signSpec) { s.region = "eu-west-1" }))
			},
		},
		{
			name: "unknown access key", code: "InvalidAccessKeyId", status: 403,
			req: func(t *testing.T) *http.Request {
				return sdkSign(t, with(func(s *signSpec) { s.ak, s.sk = "AKUNKNOWN", testSK }))
			},
		},
		{
			name: "second access key",
			req: func(t *testing.T) *http.Request {
				return sdkSign(t, with(func(s *signSpec) { s.ak, s.sk = "AKSECOND", "second-secret" }))
			},
		},
		{
			name: "wrong secret", code: "SignatureDoesNotMatch", status: 403,
			req: func(t *testing.T) *http.Request {
				return sdkSign(t, with(func(s *signSpec) { s.ak, s.sk = testAK, "not-the-secret" }))
			},
		},
		{
			name: "path changed", code: "SignatureDoesNotMatch", status: 403,
			req: func(t *testing.T) *http.Request {
				r := sdkSign(t, with(func(s *signSpec) { s.target = "/bucket/a//b/./c" }))
				r.RequestURI = "/bucket/a/b/c"
				return r
			},
		},
		{
			name: "path re-encoded", code: "SignatureDoesNotMatch", status: 403,
			req: func(t *testing.T) *http.Request {
				r := sdkSign(t, with(func(s *signSpec) { s.target = "/bucket/a%2Fb" }))
				r.RequestURI = "/bucket/a/b"
				return r
			},
		},
		{
			name: "query changed", code: "SignatureDoesNotMatch", status: 403,
			req: func(t *testing.T) *http.Request {
				r := sdkSign(t, with(func(s *signSpec) { s.target = "/bucket/k?uploadId=1" }))
				r.RequestURI = "/bucket/k?uploadId=2"
				return r
			},
		},
		{
			name: "host changed", code: "SignatureDoesNotMatch", status: 403,
			req: func(t *testing.T) *http.Request {
				r := sdkSign(t, base)
				r.Host = "other.test"
				return r
			},
		},
		{
			name: "signed header value changed", code: "SignatureDoesNotMatch", status: 403,
			req: func(t *testing.T) *http.Request {
				r := sdkSign(t, base)
				r.Header.Set("X-Amz-Meta-A", "2")
				return r
			},
		},
		{
			name: "SigV4a", code: "NotImplemented", status: 501,
			req: func(t *testing.T) *http.Request {
				r := sdkSign(t, base)
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1))
				return r
			},
		},
		{
			name: "SigV4a streaming payload", code: "NotImplemented", status: 501,
			req: func(t *testing.T) *http.Request {
				return sdkSign(t, with(func(s *signSpec) { s.payload = streamingECDSA }))
			},
		},
		{
			name: "SigV2", code: "InvalidRequest", status: 400,
			req: func(t *testing.T) *http.Request {
				r := sdkSign(t, base)
				r.Header.Set("Authorization", "AWS "+testAK+":c2lnbmF0dXJl")
				return r
			},
		},
		{
			name: "anonymous", code: "AccessDenied", status: 403,
			req: func(t *testing.T) *http.Request {
				r := sdkSign(t, base)
				r.Header.Del("Authorization")
				return r
			},
		},
		{
			name: "two Authorization headers", code: "AuthorizationHeaderMalformed", status: 400,
			req: func(t *testing.T) *http.Request {
				r := sdkSign(t, base)
				r.Header.Add("Authorization", r.Header.Get("Authorization"))
				return r
			},
		},
		{
			name: "header and query auth", code: "InvalidRequest", status: 400,
			req: func(t *testing.T) *http.Request {
				r := sdkSign(t, with(func(s *signSpec) { s.target = "/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256" }))
				return r
			},
		},
		{
			name: "no x-amz-content-sha256", code: "InvalidRequest", status: 400,
			req: func(t *testing.T) *http.Request { return sdkSign(t, with(func(s *signSpec) { s.payload = "-" })) },
		},
		{
			name: "garbage x-amz-content-sha256", code: "InvalidArgument", status: 400,
			req: func(t *testing.T) *http.Request { return sdkSign(t, with(func(s *signSpec) { s.payload = "abc" })) },
		},
		{
			name: "session token", code: "InvalidToken", status: 400,
			req: func(t *testing.T) *http.Request {
				return sdkSign(t, with(func(s *signSpec) { s.headers["X-Amz-Security-Token"] = "token" }))
			},
		},
		{
			name: "streaming payload on GET", code: "InvalidRequest", status: 400,
			req: func(t *testing.T) *http.Request {
				return sdkSign(t, with(func(s *signSpec) { s.method, s.body, s.payload = "GET", nil, streamingUnsignedTrailer }))
			},
		},
		{
			name: "empty body with the hash of another", code: "XAmzContentSHA256Mismatch", status: 400,
			req: func(t *testing.T) *http.Request {
				return sdkSign(t, with(func(s *signSpec) { s.method, s.body, s.payload = "GET", nil, hexSHA256([]byte("x")) }))
			},
		},
		{
			name: "PUT without Content-Length", code: "MissingContentLength", status: 411,
			req: func(t *testing.T) *http.Request {
				r := sdkSign(t, base)
				r.ContentLength = -1
				r.TransferEncoding = []string{"chunked"}
				return r
			},
		},
		{
			name: "streaming without x-amz-decoded-content-length", code: "MissingContentLength", status: 411, opts: VerifyOptions{AllowStreaming: true},
			req: func(t *testing.T) *http.Request {
				return sdkSign(t, with(func(s *signSpec) { s.payload = streamingUnsignedTrailer }))
			},
		},
		{
			name: "Content-MD5 not base64", code: "InvalidDigest", status: 400,
			req: func(t *testing.T) *http.Request {
				return sdkSign(t, with(func(s *signSpec) { s.headers["Content-Md5"] = "not base64!" }))
			},
		},
		{
			name: "Content-MD5 of the wrong length", code: "InvalidDigest", status: 400,
			req: func(t *testing.T) *http.Request {
				return sdkSign(t, with(func(s *signSpec) { s.headers["Content-Md5"] = "AAAA" }))
			},
		},
		{
			name: "malformed checksum header", code: "InvalidRequest", status: 400,
			req: func(t *testing.T) *http.Request {
				return sdkSign(t, with(func(s *signSpec) { s.headers["X-Amz-Checksum-Sha256"] = "AAAA" }))
			},
		},
		{
			name: "two checksum headers", code: "InvalidRequest", status: 400,
			req: func(t *testing.T) *http.Request {
				return sdkSign(t, with(func(s *signSpec) {
					s.headers["X-Amz-Checksum-Crc32"] = crcB64(checksumCRC32, s.body)
					s.headers["X-Amz-Checksum-Crc32c"] = crcB64(checksumCRC32C, s.body)
				}))
			},
		},
		{
			name: "sdk algorithm disagrees with the checksum header", code: "InvalidRequest", status: 400,
			req: func(t *testing.T) *http.Request {
				return sdkSign(t, with(func(s *signSpec) {
					s.headers["X-Amz-Checksum-Crc32"] = crcB64(checksumCRC32, s.body)
					s.headers["X-Amz-Sdk-Checksum-Algorithm"] = "SHA256"
				}))
			},
		},
		{
			name: "x-amz-trailer without a trailer payload", code: "MalformedTrailerError", status: 400,
			req: func(t *testing.T) *http.Request {
				return sdkSign(t, with(func(s *signSpec) { s.headers["X-Amz-Trailer"] = "x-amz-checksum-crc32" }))
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = testTime
			}
			a, err := testVerifier(now).Verify(tc.req(t), tc.opts)
			switch {
			case tc.check != nil:
				tc.check(t, err)
			case tc.code != "":
				wantCode(t, err, tc.code, tc.status)
			case err != nil:
				t.Fatalf("unexpected %v", err)
			default:
				if _, err := readBody(t, a); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestVerifyMalformedAuthorization(t *testing.T) {
	good := "AWS4-HMAC-SHA256 Credential=" + testAK + "/20240102/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + strings.Repeat("a", 64)
	// S3 answers InvalidArgument for a header that is not "<algorithm>
	// <components>" or names an unknown algorithm, and compares a
	// signature that is not 64 lower-case hex digits (which can match
	// nothing) like any other.
	for _, tc := range []struct {
		name, value, code string
		status            int
	}{
		{"no components", "AWS4-HMAC-SHA256", "InvalidArgument", 400},
		{"unknown algorithm", strings.Replace(good, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", 1), "InvalidArgument", 400},
		{"short signature", strings.Replace(good, strings.Repeat("a", 64), strings.Repeat("a", 63), 1), "SignatureDoesNotMatch", 403},
		{"non-hex signature", strings.Replace(good, strings.Repeat("a", 64), strings.Repeat("g", 64), 1), "SignatureDoesNotMatch", 403},
		{"upper-case hex signature", strings.Replace(good, strings.Repeat("a", 64), strings.Repeat("A", 64), 1), "SignatureDoesNotMatch", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sdkSign(t, signSpec{method: "GET"})
			r.Header.Set("Authorization", tc.value)
			_, err := testVerifier(testTime).Verify(r, VerifyOptions{})
			wantCode(t, err, tc.code, tc.status)
		})
	}
	for _, tc := range []struct{ name, value string }{
		{"short credential", strings.Replace(good, "/20240102/us-east-1", "", 1)},
		{"bad terminator", strings.Replace(good, "aws4_request", "aws4_reqest", 1)},
		{"bad service", strings.Replace(good, "/s3/", "/ec2/", 1)},
		{"bad date", strings.Replace(good, "20240102", "20241302", 1)},
		{"empty region", strings.Replace(good, "us-east-1", "", 1)},
		{"empty access key", strings.Replace(good, testAK, "", 1)},
		{"unsorted signed headers", strings.Replace(good, "host;x-amz-content-sha256", "x-amz-content-sha256;host", 1)},
		{"uppercase signed headers", strings.Replace(good, "host;", "Host;", 1)},
		{"duplicate signed header", strings.Replace(good, "host;", "host;host;", 1)},
		{"empty signed header", strings.Replace(good, "host;", "host;;", 1)},
		{"duplicate component", good + ", Signature=" + strings.Repeat("b", 64)},
		{"unknown component", good + ", Foo=bar"},
		{"missing signature", strings.Split(good, ", Signature")[0]},
		{"no equals", strings.Replace(good, "SignedHeaders=", "SignedHeaders", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sdkSign(t, signSpec{method: "GET"})
			r.Header.Set("Authorization", tc.value)
			_, err := testVerifier(testTime).Verify(r, VerifyOptions{})
			wantCode(t, err, "AuthorizationHeaderMalformed", 400)
		})
	}
}

func crcB64(a checksumAlg, b []byte) string {
	h := a.New()
	h.Write(b)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// presign builds a presigned URL with the SDK and returns the request a
// server receives for it.
func presign(t testing.TB, method, target string, expires string, region string, headers map[string]string, mutate func(q url.Values)) *http.Request {
	t.Helper()
	u := "http://" + testHost + target
	if expires != "" {
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		u += sep + "X-Amz-Expires=" + expires
	}
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	signed, hdr, err := signer.PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSK}, req, unsignedPayload, "s3", region, testTime)
	if err != nil {
		t.Fatal(err)
	}
	su, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		q := su.Query()
		mutate(q)
		su.RawQuery = q.Encode()
	}
	r := serverRequest(method, su.RequestURI(), su.Host, nil, nil)
	for k, v := range hdr {
		if !strings.EqualFold(k, "host") {
			r.Header[k] = v
		}
	}
	return r
}

func TestVerifyPresigned(t *testing.T) {
	for _, tc := range []struct {
		name    string
		req     func(t *testing.T) *http.Request
		now     time.Time
		code    string
		status  int
		region  string
		checkFn func(t *testing.T, err error)
	}{
		{name: "valid", req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "3600", testRegion, nil, nil)
		}},
		{name: "valid with query and signed header", req: func(t *testing.T) *http.Request {
			return presign(t, "PUT", "/bucket/a%20b?partNumber=1&uploadId=x%2By", "3600", testRegion, map[string]string{"X-Amz-Meta-Owner": "me"}, nil)
		}},
		{name: "valid an hour later (no skew rule)", now: testTime.Add(time.Hour), req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "7200", testRegion, nil, nil)
		}},
		{name: "valid a minute early (clock drift)", now: testTime.Add(-time.Minute), req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "3600", testRegion, nil, nil)
		}},
		{name: "not yet valid", now: testTime.Add(-16 * time.Minute), code: "AccessDenied", status: 403, req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "3600", testRegion, nil, nil)
		}},
		{name: "expired", now: testTime.Add(3601 * time.Second), code: "AccessDenied", status: 403, req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "3600", testRegion, nil, nil)
		},
			checkFn: func(t *testing.T, err error) {
				e := wantCode(t, err, "AccessDenied", 403)
				if extra(e, "Expires") != "2024-01-02T04:04:05Z" || extra(e, "X-Amz-Expires") != "3600" {
					t.Errorf("extras %v", e.Extra)
				}
			}},
		{name: "expires at the edge", now: testTime.Add(3600 * time.Second), req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "3600", testRegion, nil, nil)
		}},
		{name: "a week", now: testTime.Add(604800 * time.Second), req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "604800", testRegion, nil, nil)
		}},
		{name: "more than a week", code: "AuthorizationQueryParametersError", status: 400, req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "604801", testRegion, nil, nil)
		}},
		{name: "zero expiry", code: "AuthorizationQueryParametersError", status: 400, req: func(t *testing.T) *http.Request { return presign(t, "GET", "/bucket/key", "0", testRegion, nil, nil) }},
		{name: "negative expiry", code: "AuthorizationQueryParametersError", status: 400, req: func(t *testing.T) *http.Request { return presign(t, "GET", "/bucket/key", "-5", testRegion, nil, nil) }},
		{name: "non-numeric expiry", code: "AuthorizationQueryParametersError", status: 400, req: func(t *testing.T) *http.Request { return presign(t, "GET", "/bucket/key", "1h", testRegion, nil, nil) }},
		// strconv takes a sign; S3 wants digits. "%2B5" is a literal "+5"
		// ("+5" in a query would be " 5").
		{name: "expiry with a plus sign", code: "AuthorizationQueryParametersError", status: 400, req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "%2B5", testRegion, nil, nil)
		}},
		{name: "expiry with a space", code: "AuthorizationQueryParametersError", status: 400, req: func(t *testing.T) *http.Request { return presign(t, "GET", "/bucket/key", "+5", testRegion, nil, nil) }},
		{name: "expiry with leading zeros", req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "0005", testRegion, nil, nil)
		}},
		{name: "no expiry", code: "AuthorizationQueryParametersError", status: 400, req: func(t *testing.T) *http.Request { return presign(t, "GET", "/bucket/key", "", testRegion, nil, nil) }},
		{name: "missing signed headers", code: "AuthorizationQueryParametersError", status: 400, req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "3600", testRegion, nil, func(q url.Values) { q.Del("X-Amz-SignedHeaders") })
		}},
		{name: "duplicated parameter", code: "AuthorizationQueryParametersError", status: 400, req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "3600", testRegion, nil, func(q url.Values) { q.Add("X-Amz-Date", q.Get("X-Amz-Date")) })
		}},
		{name: "bad algorithm", code: "AuthorizationQueryParametersError", status: 400, req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "3600", testRegion, nil, func(q url.Values) { q.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA1") })
		}},
		{name: "SigV4a", code: "AuthorizationQueryParametersError", status: 400, req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "3600", testRegion, nil, func(q url.Values) { q.Set("X-Amz-Algorithm", "AWS4-ECDSA-P256-SHA256") })
		}},
		{name: "bad date", code: "AuthorizationQueryParametersError", status: 400, req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "3600", testRegion, nil, func(q url.Values) { q.Set("X-Amz-Date", "2024-01-02") })
		}},
		{name: "date of another day than the scope", code: "AuthorizationQueryParametersError", status: 400, req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "3600", testRegion, nil, func(q url.Values) { q.Set("X-Amz-Date", "20240101T230000Z") })
		}},
		{name: "wrong region", code: "AuthorizationQueryParametersError", status: 400, req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "3600", "eu-west-1", nil, nil)
		},
			checkFn: func(t *testing.T, err error) {
				if r := extra(wantCode(t, err, "AuthorizationQueryParametersError", 400), "Region"); r != testRegion {
					t.Errorf("Region %q", r)
				}
			}},
		{name: "tampered signature", code: "SignatureDoesNotMatch", status: 403, req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "3600", testRegion, nil, func(q url.Values) {
				s := q.Get("X-Amz-Signature")
				if s[0] == '0' {
					s = "1" + s[1:]
				} else {
					s = "0" + s[1:]
				}
				q.Set("X-Amz-Signature", s)
			})
		}},
		// The right signature, spelled in upper case: S3 compares strings.
		{name: "upper-case signature", code: "SignatureDoesNotMatch", status: 403, req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "3600", testRegion, nil, func(q url.Values) {
				q.Set("X-Amz-Signature", strings.ToUpper(q.Get("X-Amz-Signature")))
			})
		}},
		{name: "extra parameter", code: "SignatureDoesNotMatch", status: 403, req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "3600", testRegion, nil, func(q url.Values) { q.Set("versionId", "1") })
		}},
		{name: "unsigned x-amz header", code: "AccessDenied", status: 403, req: func(t *testing.T) *http.Request {
			r := presign(t, "GET", "/bucket/key", "3600", testRegion, nil, nil)
			r.Header.Set("X-Amz-Meta-Injected", "1")
			return r
		}},
		{name: "session token", code: "InvalidToken", status: 400, req: func(t *testing.T) *http.Request {
			return presign(t, "GET", "/bucket/key", "3600", testRegion, nil, func(q url.Values) { q.Set("X-Amz-Security-Token", "t") })
		}},
		{name: "streaming payload", code: "InvalidRequest", status: 400, req: func(t *testing.T) *http.Request {
			return presign(t, "PUT", "/bucket/key?X-Amz-Content-Sha256="+streamingSigned, "3600", testRegion, nil, nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = testTime
			}
			a, err := testVerifier(now).Verify(tc.req(t), VerifyOptions{})
			switch {
			case tc.checkFn != nil:
				tc.checkFn(t, err)
			case tc.code != "":
				wantCode(t, err, tc.code, tc.status)
			case err != nil:
				t.Fatalf("unexpected %v", err)
			default:
				if !a.Presigned {
					t.Error("Presigned is false")
				}
				if _, err := readBody(t, a); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestBodyFailureReplacesEOF checks the body contract: a failed check is
// reported in place of io.EOF, io.EOF is never returned first, and the
// failure comes before the whole body has been released (so that a
// consumer streaming the body into an upload never has all of it), for
// every payload mode and whatever the caller's read sizes.
func TestBodyFailureReplacesEOF(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 1000)
	md5sum := md5.Sum(body)
	raw := func(headers map[string]string, payload string) func(t *testing.T) (*http.Request, []byte) {
		return func(t *testing.T) (*http.Request, []byte) {
			return sdkSign(t, signSpec{body: body, headers: headers, payload: payload}), body
		}
	}
	type bodyCase struct {
		name string
		// req returns the request for body and the bytes it sends (framed
		// for the streaming modes).
		req      func(t *testing.T) (*http.Request, []byte)
		code     string
		checksum string // Checksum() of the verified body
	}
	cases := []bodyCase{
		{name: "sha256", req: raw(nil, ""), code: "XAmzContentSHA256Mismatch"},
		{name: "content-md5", req: raw(map[string]string{"Content-Md5": base64.StdEncoding.EncodeToString(md5sum[:])}, unsignedPayload), code: "BadDigest"},
		{name: "crc32", req: raw(map[string]string{"X-Amz-Checksum-Crc32": crcB64(checksumCRC32, body)}, unsignedPayload), code: "BadDigest", checksum: crcB64(checksumCRC32, body)},
		{name: "crc32c", req: raw(map[string]string{"X-Amz-Checksum-Crc32c": crcB64(checksumCRC32C, body)}, unsignedPayload), code: "BadDigest", checksum: crcB64(checksumCRC32C, body)},
		{name: "crc64nvme", req: raw(map[string]string{"X-Amz-Checksum-Crc64nvme": crcB64(checksumCRC64NVME, body)}, unsignedPayload), code: "BadDigest", checksum: crcB64(checksumCRC64NVME, body)},
		{name: "sha1", req: raw(map[string]string{"X-Amz-Checksum-Sha1": crcB64(checksumSHA1, body)}, unsignedPayload), code: "BadDigest", checksum: crcB64(checksumSHA1, body)},
		{name: "sha256 checksum", req: raw(map[string]string{"X-Amz-Checksum-Sha256": crcB64(checksumSHA256, body)}, hexSHA256(body)), code: "XAmzContentSHA256Mismatch", checksum: crcB64(checksumSHA256, body)},
		{name: "signed chunked", code: "SignatureDoesNotMatch", req: func(t *testing.T) (*http.Request, []byte) {
			return signedChunkedRequest(t, body, 8192, checksumNone)
		}},
		{name: "signed chunked with trailer", code: "SignatureDoesNotMatch", checksum: crcB64(checksumCRC32C, body), req: func(t *testing.T) (*http.Request, []byte) {
			return signedChunkedRequest(t, body, 8192, checksumCRC32C)
		}},
		{name: "unsigned trailer", code: "BadDigest", checksum: crcB64(checksumCRC32, body), req: func(t *testing.T) (*http.Request, []byte) {
			framed := unsignedChunked(body, 8192, "x-amz-checksum-crc32:"+crcB64(checksumCRC32, body)+"\r\n\r\n")
			return unsignedTrailerRequest(t, framed, len(body), map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"}), framed
		}},
	}
	// The algorithms S3 added later, as a header and as a signed trailer.
	for _, a := range []checksumAlg{checksum.SHA512, checksum.MD5, checksum.XXHASH64, checksum.XXHASH3, checksum.XXHASH128} {
		cases = append(cases,
			bodyCase{name: a.String(), req: raw(map[string]string{a.CanonicalHeader(): crcB64(a, body)}, unsignedPayload), code: "BadDigest", checksum: crcB64(a, body)},
			bodyCase{name: a.String() + " signed trailer", code: "SignatureDoesNotMatch", checksum: crcB64(a, body), req: func(t *testing.T) (*http.Request, []byte) {
				return signedChunkedRequest(t, body, 8192, a)
			}},
			bodyCase{name: a.String() + " unsigned trailer", code: "BadDigest", checksum: crcB64(a, body), req: func(t *testing.T) (*http.Request, []byte) {
				framed := unsignedChunked(body, 8192, a.Header()+":"+crcB64(a, body)+"\r\n\r\n")
				return unsignedTrailerRequest(t, framed, len(body), map[string]string{"X-Amz-Trailer": a.Header()}), framed
			}},
		)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, good := range []bool{true, false} {
				for _, chunk := range []int{1, 7, 4096, 1 << 20} {
					r, sent := tc.req(t)
					if !good {
						r.Body = io.NopCloser(bytes.NewReader(corruptLastDataByte(t, sent, len(body))))
					}
					a, err := testVerifier(testTime).Verify(r, VerifyOptions{AllowStreaming: true})
					if err != nil {
						t.Fatal(err)
					}
					var got []byte
					buf := make([]byte, chunk)
					for {
						n, err := a.Body.Read(buf)
						got = append(got, buf[:n]...)
						if err == io.EOF {
							if !good {
								t.Fatalf("read size %d: io.EOF for a corrupted body", chunk)
							}
							break
						}
						if err != nil {
							if good {
								t.Fatalf("read size %d: %v", chunk, err)
							}
							wantCode(t, err, tc.code, 0)
							// The failure is sticky.
							if n, again := a.Body.Read(buf); n != 0 || again != err {
								t.Fatalf("second read: %d bytes, %v, want %v", n, again, err)
							}
							break
						}
					}
					switch {
					case good && !bytes.Equal(got, body):
						t.Fatalf("read size %d: read %d bytes of a good body, want all %d", chunk, len(got), len(body))
					case !good && len(got) >= len(body):
						t.Fatalf("read size %d: %d bytes of a corrupted %d-byte body released before the failure", chunk, len(got), len(body))
					}
					if good && a.Checksum() != tc.checksum {
						t.Fatalf("Checksum() = %q, want %q", a.Checksum(), tc.checksum)
					}
					if !good && a.Checksum() != "" {
						t.Fatalf("Checksum() of a failed body = %q", a.Checksum())
					}
				}
			}
		})
	}
}

// corruptLastDataByte returns a copy of sent with the last byte of the
// payload flipped: the last byte of sent itself, or, when sent is
// aws-chunked framing around a payload of n bytes, the byte before the
// final chunk.
func corruptLastDataByte(t *testing.T, sent []byte, n int) []byte {
	t.Helper()
	bad := append([]byte(nil), sent...)
	i := len(bad) - 1
	if len(sent) != n {
		i = bytes.LastIndex(bad, []byte("\r\n0\r\n"))
		if j := bytes.LastIndex(bad, []byte("\r\n0;chunk-signature=")); j > i {
			i = j
		}
		if i < 1 {
			t.Fatal("no final chunk in the framed body")
		}
		i--
	}
	bad[i] ^= 1
	return bad
}

// signedChunkedRequest signs (with the SDK) a PUT of data as aws-chunked
// in chunks of chunk bytes: STREAMING-AWS4-HMAC-SHA256-PAYLOAD or, when
// trailer is an algorithm, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER with
// that checksum of data as a signed trailer. It returns the request and its
// framed body. The chunk signatures come from the SDK's stream signer; the
// trailer signature, which that signer does not make, is computed here as
// the S3 documentation describes it.
func signedChunkedRequest(t *testing.T, data []byte, chunk int, trailer checksumAlg) (*http.Request, []byte) {
	t.Helper()
	h := map[string]string{"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": strconv.Itoa(len(data))}
	payload := streamingSigned
	var trailerLine string
	if trailer != checksumNone {
		payload = streamingSignedTrailer
		h["X-Amz-Trailer"] = trailer.Header()
		trailerLine = trailer.Header() + ":" + crcB64(trailer, data)
	}
	frame := func(chunkSig func([]byte) string, trailerSig func() string) []byte {
		var b bytes.Buffer
		for rest := data; len(rest) > 0; {
			n := min(chunk, len(rest))
			b.WriteString(strconv.FormatInt(int64(n), 16) + chunkSignaturePrefix + chunkSig(rest[:n]) + "\r\n")
			b.Write(rest[:n])
			b.WriteString("\r\n")
			rest = rest[n:]
		}
		b.WriteString("0" + chunkSignaturePrefix + chunkSig(nil) + "\r\n")
		if trailer == checksumNone {
			b.WriteString("\r\n")
		} else {
			b.WriteString(trailerLine + "\r\nx-amz-trailer-signature:" + trailerSig() + "\r\n\r\n")
		}
		return b.Bytes()
	}
	// The seed signature covers Content-Length, so sign a body of the final
	// length first (signatures are always 64 hex digits), then frame the
	// data with the chain that seed starts.
	zero := func() string { return strings.Repeat("0", 64) }
	r := sdkSign(t, signSpec{body: frame(func([]byte) string { return zero() }, zero), headers: h, payload: payload})
	seed, err := seedSignature(r.Header.Get("Authorization"))
	if err != nil {
		t.Fatal(err)
	}
	ss := v4.NewStreamSigner(aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSK}, "s3", testRegion, seed[:])
	prev := hex.EncodeToString(seed[:])
	body := frame(func(d []byte) string {
		sig, err := ss.GetSignature(context.Background(), nil, d, testTime)
		if err != nil {
			t.Fatal(err)
		}
		prev = hex.EncodeToString(sig)
		return prev
	}, func() string {
		amzDate := testTime.Format(amzDateLayout)
		key := deriveKey(testSK, amzDate[:8], testRegion, "s3")
		m := hmac.New(sha256.New, key[:])
		io.WriteString(m, "AWS4-HMAC-SHA256-TRAILER\n"+amzDate+"\n"+amzDate[:8]+"/"+testRegion+"/s3/aws4_request\n"+prev+"\n"+hexSHA256([]byte(trailerLine+"\n")))
		return hex.EncodeToString(m.Sum(nil))
	})
	if int64(len(body)) != r.ContentLength {
		t.Fatalf("framed body is %d bytes, signed for %d", len(body), r.ContentLength)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return r, body
}

func TestBodyIncomplete(t *testing.T) {
	body := []byte("hello, world")
	r := sdkSign(t, signSpec{body: body})
	r.Body = io.NopCloser(&errReader{data: body[:5], err: io.ErrUnexpectedEOF})
	a, err := testVerifier(testTime).Verify(r, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = readBody(t, a)
	wantCode(t, err, "IncompleteBody", 400)

	// A body that claims more than it has, without an error from below.
	r = sdkSign(t, signSpec{body: body, payload: unsignedPayload})
	r.Body = io.NopCloser(bytes.NewReader(body[:5]))
	a, err = testVerifier(testTime).Verify(r, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = readBody(t, a)
	wantCode(t, err, "IncompleteBody", 400)
}

func TestChecksumAlgorithmOnly(t *testing.T) {
	// x-amz-sdk-checksum-algorithm with no value: S3 refuses it, before
	// the body.
	body := []byte("hello")
	r := sdkSign(t, signSpec{body: body, headers: map[string]string{"X-Amz-Sdk-Checksum-Algorithm": "crc64nvme"}})
	_, err := testVerifier(testTime).Verify(r, VerifyOptions{})
	if got, want := wantCode(t, err, "InvalidRequest", 400).Message, "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found."; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
}
