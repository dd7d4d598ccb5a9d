package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// authCase is one request that must not get in.
type authCase struct {
	name string
	// build makes the request against bucket b, which holds "existing".
	build  func(e *env, ctx context.Context, b string) *http.Request
	status int
	code   string
	// late: the failure can only be known once the body has streamed
	// (a body hash, a chunk signature), so the request reaches the backend
	// and is abandoned there; the backend must still not change.
	late bool
}

// TestNobodyGetsIn sends requests that fail authentication, each the way
// an attacker or a broken client would, and checks S3's status and code,
// that the proxy sent nothing to the backend nor to KMS (unless the
// failure is in the body, which streams), and that the backend did not
// change.
func TestNobodyGetsIn(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.newBucket()
	old := randBytes(100 << 10)
	e.put(b, "existing", old)
	body := randBytes(200 << 10)
	now := time.Now().UTC()

	wrong := func(creds aws.Credentials) func(e *env, ctx context.Context, b string) *http.Request {
		return func(e *env, ctx context.Context, b string) *http.Request {
			req := e.newReq(ctx, http.MethodPut, "/"+b+"/existing", []byte("x"))
			signReq(t, req, creds, unsignedPayload, time.Now())
			return req
		}
	}
	// afterSigning signs a request, then lets change alter it.
	afterSigning := func(method, path string, payload []byte, change func(r *http.Request)) func(e *env, ctx context.Context, b string) *http.Request {
		return func(e *env, ctx context.Context, b string) *http.Request {
			req := e.signedPut(ctx, strings.ReplaceAll(path, "B", b), payload, http.Header{"X-Amz-Meta-A": {"1"}, "Content-Type": {"text/plain"}})
			req.Method = method
			change(req)
			return req
		}
	}
	setPath := func(p string) func(r *http.Request) {
		return func(r *http.Request) {
			r.URL.Path, r.URL.RawPath = strings.ReplaceAll(p, "B", b), ""
		}
	}
	presigned := func(method, signFor, path string, at time.Time, exp time.Duration, edit func(q url.Values)) func(e *env, ctx context.Context, b string) *http.Request {
		return func(e *env, ctx context.Context, b string) *http.Request {
			u, err := url.Parse(e.presign(signFor, "/"+b+"/existing", at, exp))
			if err != nil {
				t.Fatal(err)
			}
			if path != "" {
				u.Path = "/" + b + path
			}
			if edit != nil {
				q := u.Query()
				edit(q)
				u.RawQuery = q.Encode()
			}
			req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
			if err != nil {
				t.Fatal(err)
			}
			return req
		}
	}
	skewed := func(d time.Duration) func(e *env, ctx context.Context, b string) *http.Request {
		return func(e *env, ctx context.Context, b string) *http.Request {
			req := e.newReq(ctx, http.MethodGet, "/"+b+"/existing", nil)
			signReq(t, req, clientCreds, emptySHA256, time.Now().Add(d))
			return req
		}
	}
	rawAuth := func(method, authz string, payload string) func(e *env, ctx context.Context, b string) *http.Request {
		return func(e *env, ctx context.Context, b string) *http.Request {
			req := e.newReq(ctx, method, "/"+b+"/existing", nil)
			req.Header.Set("X-Amz-Date", now.Format("20060102T150405Z"))
			req.Header.Set("X-Amz-Content-Sha256", payload)
			req.Header.Set("Authorization", strings.ReplaceAll(authz, "DATE", now.Format("20060102")))
			return req
		}
	}
	chunkedPut := func(c chunked) func(e *env, ctx context.Context, b string) *http.Request {
		return func(e *env, ctx context.Context, b string) *http.Request {
			req, _ := e.signChunked(ctx, "/"+b+"/existing", c)
			return req
		}
	}
	flipSig := func(k int) func(i int, data, sig []byte) {
		return func(i int, _, sig []byte) {
			if i == k {
				if sig[7] == '0' {
					sig[7] = '1'
				} else {
					sig[7] = '0'
				}
			}
		}
	}
	flipData := func(k int) func(i int, data, sig []byte) {
		return func(i int, data, _ []byte) {
			if i == k {
				data[len(data)/2] ^= 0x40
			}
		}
	}
	sigv4a := "AWS4-ECDSA-P256-SHA256 Credential=" + clientAccessKey + "/DATE/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-region-set, Signature=3045022100" + strings.Repeat("ab", 32)

	cases := []authCase{
		// Who.
		{name: "unsigned GET", build: func(e *env, ctx context.Context, b string) *http.Request {
			return e.newReq(ctx, http.MethodGet, "/"+b+"/existing", nil)
		}, status: 403, code: "AccessDenied"},
		{name: "unsigned PUT", build: func(e *env, ctx context.Context, b string) *http.Request {
			return e.newReq(ctx, http.MethodPut, "/"+b+"/existing", body)
		}, status: 403, code: "AccessDenied"},
		{name: "unsigned DELETE", build: func(e *env, ctx context.Context, b string) *http.Request {
			return e.newReq(ctx, http.MethodDelete, "/"+b+"/existing", nil)
		}, status: 403, code: "AccessDenied"},
		{name: "unsigned CreateBucket", build: func(e *env, ctx context.Context, b string) *http.Request {
			return e.newReq(ctx, http.MethodPut, "/"+b+"-new", nil)
		}, status: 403, code: "AccessDenied"},
		{name: "unsigned ListBuckets", build: func(e *env, ctx context.Context, b string) *http.Request {
			return e.newReq(ctx, http.MethodGet, "/", nil)
		}, status: 403, code: "AccessDenied"},
		{name: "unsigned request to an unroutable path", build: func(e *env, ctx context.Context, b string) *http.Request {
			return e.newReq(ctx, http.MethodGet, "//x", nil)
		}, status: 403, code: "AccessDenied"},
		{name: "wrong secret", build: wrong(aws.Credentials{AccessKeyID: clientAccessKey, SecretAccessKey: "not-the-secret"}), status: 403, code: "SignatureDoesNotMatch"},
		{name: "unknown access key", build: wrong(aws.Credentials{AccessKeyID: "AKIDUNKNOWN0000000", SecretAccessKey: clientSecretKey}), status: 403, code: "InvalidAccessKeyId"},
		{name: "backend's own credentials", build: wrong(aws.Credentials{AccessKeyID: testenv.S3AccessKey, SecretAccessKey: testenv.S3SecretKey}), status: 403, code: "InvalidAccessKeyId"},
		{name: "session token", build: wrong(aws.Credentials{AccessKeyID: clientAccessKey, SecretAccessKey: clientSecretKey, SessionToken: "token"}), status: 400, code: "InvalidToken"},
		{name: "SigV2", build: rawAuth(http.MethodGet, "AWS "+clientAccessKey+":c2lnbmF0dXJl", emptySHA256), status: 400, code: "InvalidRequest"},
		{name: "SigV4a header", build: rawAuth(http.MethodGet, sigv4a, emptySHA256), status: 501, code: "NotImplemented"},
		{name: "SigV4a streaming payload", build: func(e *env, ctx context.Context, b string) *http.Request {
			req := e.newReq(ctx, http.MethodPut, "/"+b+"/existing", []byte("x"))
			req.Header.Set("Content-Encoding", "aws-chunked")
			req.Header.Set("X-Amz-Decoded-Content-Length", "1")
			signReq(t, req, clientCreds, "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", time.Now())
			return req
		}, status: 501, code: "NotImplemented"},
		{name: "malformed Authorization", build: rawAuth(http.MethodGet, "AWS4-HMAC-SHA256 Credential=garbage", emptySHA256), status: 400, code: "AuthorizationHeaderMalformed"},
		{name: "Authorization and presigned query", build: func(e *env, ctx context.Context, b string) *http.Request {
			req := presigned(http.MethodGet, http.MethodGet, "", time.Now(), time.Hour, nil)(e, ctx, b)
			signReq(t, req, clientCreds, emptySHA256, time.Now())
			return req
		}, status: 400, code: "InvalidRequest"},
		{name: "signed for another region", build: func(e *env, ctx context.Context, b string) *http.Request {
			req := e.newReq(ctx, http.MethodGet, "/"+b+"/existing", nil)
			req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
			if err := signer().SignHTTP(ctx, clientCreds, req, emptySHA256, "s3", "eu-west-3", time.Now()); err != nil {
				t.Fatal(err)
			}
			return req
		}, status: 400, code: "AuthorizationHeaderMalformed"},
		{name: "signed for another service", build: func(e *env, ctx context.Context, b string) *http.Request {
			req := e.newReq(ctx, http.MethodGet, "/"+b+"/existing", nil)
			req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
			if err := signer().SignHTTP(ctx, clientCreds, req, emptySHA256, "kms", testenv.Region, time.Now()); err != nil {
				t.Fatal(err)
			}
			return req
		}, status: 400, code: "AuthorizationHeaderMalformed"},

		// A signed request replayed with something changed.
		{name: "changed signed header", build: afterSigning(http.MethodPut, "/B/existing", body, func(r *http.Request) { r.Header.Set("X-Amz-Meta-A", "2") }), status: 403, code: "SignatureDoesNotMatch"},
		{name: "changed Content-Type", build: afterSigning(http.MethodPut, "/B/existing", body, func(r *http.Request) { r.Header.Set("Content-Type", "text/html") }), status: 403, code: "SignatureDoesNotMatch"},
		{name: "changed path", build: afterSigning(http.MethodPut, "/B/other", body, setPath("/B/existing")), status: 403, code: "SignatureDoesNotMatch"},
		{name: "changed path case", build: afterSigning(http.MethodPut, "/B/Existing", body, setPath("/B/existing")), status: 403, code: "SignatureDoesNotMatch"},
		{name: "changed bucket", build: afterSigning(http.MethodPut, "/B-other/existing", body, setPath("/B/existing")), status: 403, code: "SignatureDoesNotMatch"},
		{name: "changed method", build: afterSigning(http.MethodDelete, "/B/existing", nil, func(*http.Request) {}), status: 403, code: "SignatureDoesNotMatch"},
		{name: "added query", build: afterSigning(http.MethodPut, "/B/existing", body, func(r *http.Request) { r.URL.RawQuery = "tagging" }), status: 403, code: "SignatureDoesNotMatch"},
		{name: "changed query", build: func(e *env, ctx context.Context, b string) *http.Request {
			req := e.newReq(ctx, http.MethodGet, "/"+b+"?list-type=2&prefix=a", nil)
			signReq(t, req, clientCreds, emptySHA256, time.Now())
			req.URL.RawQuery = "list-type=2&prefix=e"
			return req
		}, status: 403, code: "SignatureDoesNotMatch"},
		{name: "changed payload mode", build: afterSigning(http.MethodPut, "/B/existing", body, func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", unsignedPayload) }), status: 403, code: "SignatureDoesNotMatch"},
		{name: "changed date", build: afterSigning(http.MethodPut, "/B/existing", body, func(r *http.Request) {
			d, _ := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
			r.Header.Set("X-Amz-Date", d.Add(time.Second).Format("20060102T150405Z"))
		}), status: 403, code: "SignatureDoesNotMatch"},
		{name: "changed body", build: afterSigning(http.MethodPut, "/B/existing", body, func(r *http.Request) {
			other := randBytes(len(body))
			r.Body = io.NopCloser(bytes.NewReader(other))
		}), status: 400, code: "XAmzContentSHA256Mismatch", late: true},

		// Headers that must be signed and are not.
		{name: "unsigned x-amz-meta header", build: afterSigning(http.MethodPut, "/B/existing", body, func(r *http.Request) { r.Header.Set("X-Amz-Meta-Evil", "1") }), status: 403, code: "AccessDenied"},
		{name: "unsigned x-amz-copy-source", build: afterSigning(http.MethodPut, "/B/existing", nil, func(r *http.Request) { r.Header.Set("X-Amz-Copy-Source", "/"+b+"/existing") }), status: 403, code: "AccessDenied"},
		{name: "unsigned x-amz-server-side-encryption", build: afterSigning(http.MethodPut, "/B/existing", body, func(r *http.Request) { r.Header.Set("X-Amz-Server-Side-Encryption", "AES256") }), status: 403, code: "AccessDenied"},
		{name: "host not signed", build: func(e *env, ctx context.Context, b string) *http.Request {
			req := e.signed(ctx, http.MethodGet, "/"+b+"/existing")
			req.Header.Set("Authorization", strings.Replace(req.Header.Get("Authorization"), "SignedHeaders=host;", "SignedHeaders=", 1))
			return req
		}, status: 403, code: "AccessDenied"},

		// Presigned URLs out of their terms.
		{name: "presigned URL expired", build: presigned(http.MethodGet, http.MethodGet, "", now.Add(-2*time.Hour), time.Hour, nil), status: 403, code: "AccessDenied"},
		{name: "presigned URL not yet valid", build: presigned(http.MethodGet, http.MethodGet, "", now.Add(time.Hour), time.Hour, nil), status: 403, code: "AccessDenied"},
		{name: "presigned URL for another method", build: presigned(http.MethodDelete, http.MethodGet, "", now, time.Hour, nil), status: 403, code: "SignatureDoesNotMatch"},
		{name: "presigned URL for another key", build: presigned(http.MethodGet, http.MethodGet, "/other", now, time.Hour, nil), status: 403, code: "SignatureDoesNotMatch"},
		{name: "presigned URL with its expiry extended", build: presigned(http.MethodGet, http.MethodGet, "", now.Add(-2*time.Hour), time.Hour, func(q url.Values) { q.Set("X-Amz-Expires", "604800") }), status: 403, code: "SignatureDoesNotMatch"},
		{name: "presigned URL with a query added", build: presigned(http.MethodGet, http.MethodGet, "", now, time.Hour, func(q url.Values) { q.Set("response-content-type", "text/html") }), status: 403, code: "SignatureDoesNotMatch"},
		{name: "presigned URL valid beyond a week", build: presigned(http.MethodGet, http.MethodGet, "", now, 8*24*time.Hour, nil), status: 400, code: "AuthorizationQueryParametersError"},

		// Clocks.
		{name: "clock 20 minutes slow", build: skewed(-20 * time.Minute), status: 403, code: "RequestTimeTooSkewed"},
		{name: "clock 20 minutes fast", build: skewed(20 * time.Minute), status: 403, code: "RequestTimeTooSkewed"},

		// aws-chunked bodies whose chunk k fails.
		{name: "chunk 2 of 4 with a bad signature", build: chunkedPut(chunked{mode: streamingSigned, data: body, tamper: flipSig(2)}), status: 403, code: "SignatureDoesNotMatch", late: true},
		{name: "chunk 0 with a bad signature", build: chunkedPut(chunked{mode: streamingSigned, data: body, tamper: flipSig(0)}), status: 403, code: "SignatureDoesNotMatch", late: true},
		{name: "final empty chunk with a bad signature", build: chunkedPut(chunked{mode: streamingSigned, data: body, tamper: flipSig(4)}), status: 403, code: "SignatureDoesNotMatch", late: true},
		{name: "chunk 3 data changed", build: chunkedPut(chunked{mode: streamingSigned, data: body, tamper: flipData(3)}), status: 403, code: "SignatureDoesNotMatch", late: true},
		{name: "chunks 1 and 2 swapped", build: chunkedPut(chunked{mode: streamingSigned, data: body[:192<<10], order: []int{0, 2, 1}}), status: 403, code: "SignatureDoesNotMatch", late: true},
		{name: "signed trailer with a bad signature", build: chunkedPut(chunked{mode: streamingSignedTrailer, data: body, badTrailerSig: true}), status: 403, code: "SignatureDoesNotMatch", late: true},
		{name: "chunk signed with another secret", build: chunkedPut(chunked{mode: streamingSigned, data: body, creds: aws.Credentials{AccessKeyID: clientAccessKey, SecretAccessKey: "not-the-secret"}}), status: 403, code: "SignatureDoesNotMatch"},
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			defer func() { e.t = nil }()
			before := e.snapshot(b)
			up, kms := e.upstream.n.Load(), e.keys.Stats().Total.Actual
			ctx := ctxFor(t, 30*time.Second)
			r := e.send(c.build(e, ctx, b))
			if r.status != c.status || r.code != c.code {
				t.Errorf("got %s, want %d %s", r, c.status, c.code)
			}
			if !c.late {
				if n := e.upstream.n.Load() - up; n != 0 {
					t.Errorf("%d requests reached the backend", n)
				}
			}
			if n := e.keys.Stats().Total.Actual - kms; n != 0 && !c.late {
				t.Errorf("%d requests reached KMS", n)
			}
			e.sameState(c.name, before, b)
		})
	}
	e.t = t
	mustEqual(t, "the object after all attempts", e.get(b, "existing"), old)
}
