package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// lostCase is an overwrite of an existing object that fails midway.
type lostCase struct {
	name string
	// attempt tries to overwrite path with body; it returns the answer
	// the client got (status 0 when the client had gone).
	attempt func(e *env, ctx context.Context, path string, body []byte) reply
	status  int
	code    string
}

// TestNothingIsLost overwrites an object with uploads that fail midway,
// each with a 1 MiB body (16 segments, so the proxy has streamed
// ciphertext to the backend before the failure shows): every attempt gets
// S3's error (when the client is still there to hear it), the backend is
// unchanged, and the old object reads back byte for byte.
func TestNothingIsLost(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		old := randBytes(200 << 10)
		e.put(b, "k", old)

		cut := func(n func(size int) int, mode cutMode) func(e *env, ctx context.Context, path string, body []byte) reply {
			return func(e *env, ctx context.Context, path string, body []byte) reply {
				req := e.newReq(ctx, http.MethodPut, path, body)
				signReq(e.t, req, clientCreds, unsignedPayload, time.Now())
				mark := e.obs.mark()
				status, answer := e.cutUpload(req, body, n(len(body)), mode)
				// The client may be gone: wait for the proxy to finish.
				e.obs.waitFor(e.t, mark, "PutObject")
				return reply{status: status, code: errorCode([]byte(answer))}
			}
		}
		withHeader := func(h http.Header, ph func(body []byte) string) func(e *env, ctx context.Context, path string, body []byte) reply {
			return func(e *env, ctx context.Context, path string, body []byte) reply {
				req := e.newReq(ctx, http.MethodPut, path, body)
				for k, v := range h {
					req.Header[k] = v
				}
				signReq(e.t, req, clientCreds, ph(body), time.Now())
				return e.send(req)
			}
		}
		sha := func(body []byte) string { s := sha256.Sum256(body); return hex.EncodeToString(s[:]) }
		unsigned := func([]byte) string { return unsignedPayload }
		chunkedAttempt := func(c chunked) func(e *env, ctx context.Context, path string, body []byte) reply {
			return func(e *env, ctx context.Context, path string, body []byte) reply {
				c.data = body
				req, _ := e.signChunked(ctx, path, c)
				return e.send(req)
			}
		}
		zeroMD5 := base64.StdEncoding.EncodeToString(make([]byte, 16))

		cases := []lostCase{
			{name: "client disconnects halfway", attempt: cut(func(n int) int { return n / 2 }, cutClose)},
			{name: "client disconnects one byte short", attempt: cut(func(n int) int { return n - 1 }, cutClose)},
			{name: "body shorter than Content-Length", attempt: cut(func(n int) int { return n - 1000 }, cutHalf), status: 400, code: "IncompleteBody"},
			{name: "body longer than its signed hash says", attempt: func(e *env, ctx context.Context, path string, body []byte) reply {
				// The hash covers 100 more bytes than Content-Length: the
				// proxy reads Content-Length bytes and finds the hash wrong.
				longer := append(bytes.Clone(body), randBytes(100)...)
				req := e.newReq(ctx, http.MethodPut, path, body)
				signReq(e.t, req, clientCreds, sha(longer), time.Now())
				return e.send(req)
			}, status: 400, code: "XAmzContentSHA256Mismatch"},
			{name: "bad x-amz-content-sha256", attempt: withHeader(nil, func(b []byte) string { return sha(b[1:]) }), status: 400, code: "XAmzContentSHA256Mismatch"},
			{name: "bad Content-MD5", attempt: withHeader(http.Header{"Content-Md5": {zeroMD5}}, sha), status: 400, code: "BadDigest"},
			{name: "bad Content-MD5, unsigned payload", attempt: withHeader(http.Header{"Content-Md5": {zeroMD5}}, unsigned), status: 400, code: "BadDigest"},
			{name: "malformed Content-MD5", attempt: withHeader(http.Header{"Content-Md5": {"not base64!"}}, unsigned), status: 400, code: "InvalidDigest"},
			{name: "bad x-amz-checksum-sha256", attempt: withHeader(http.Header{"X-Amz-Checksum-Sha256": {base64.StdEncoding.EncodeToString(make([]byte, 32))}}, unsigned), status: 400, code: "BadDigest"},
			{name: "bad x-amz-checksum-crc32c", attempt: withHeader(http.Header{"X-Amz-Checksum-Crc32c": {"AAAAAA=="}}, sha), status: 400, code: "BadDigest"},
			{name: "bad trailing checksum, unsigned trailer", attempt: chunkedAttempt(chunked{mode: streamingUnsignedTrailer, trailerValue: "AAAAAA=="}), status: 400, code: "BadDigest"},
			{name: "bad trailing crc64nvme, unsigned trailer", attempt: chunkedAttempt(chunked{mode: streamingUnsignedTrailer, trailerName: "x-amz-checksum-crc64nvme", trailerValue: "AAAAAAAAAAA="}), status: 400, code: "BadDigest"},
			{name: "bad trailing checksum, signed trailer", attempt: chunkedAttempt(chunked{mode: streamingSignedTrailer, trailerValue: "AAAAAA=="}), status: 400, code: "BadDigest"},
			{name: "aws-chunked body shorter than its decoded length", attempt: chunkedAttempt(chunked{mode: streamingSigned, decodedDelta: 100}), status: 400, code: "IncompleteBody"},
			{name: "aws-chunked body longer than its decoded length", attempt: chunkedAttempt(chunked{mode: streamingSigned, decodedDelta: -100}), status: 400, code: "IncompleteBody"},
			{name: "aws-chunked chunk 9 with a bad signature", attempt: chunkedAttempt(chunked{mode: streamingSigned, tamper: func(i int, data, sig []byte) {
				if i == 9 {
					data[0] ^= 1
				}
			}}), status: 403, code: "SignatureDoesNotMatch"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.t = t
				defer func() { e.t = nil }()
				before := e.snapshot(b)
				ctx := ctxFor(t, 30*time.Second)
				r := c.attempt(e, ctx, "/"+b+"/k", randBytes(1<<20))
				if r.status != c.status || r.code != c.code {
					t.Errorf("got %s, want %d %s", r, c.status, c.code)
				}
				e.sameState(c.name, before, b)
				mustEqual(t, "the old object", e.get(b, "k"), old)
			})
		}
	})
}

// TestFailedPartLosesNothing: a part upload the client abandons midway,
// or whose body fails its checks, leaves the upload's other parts and the
// existing object as they were; completing with the failed part is
// refused.
func TestFailedPartLosesNothing(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		old := randBytes(200 << 10)
		e.put(b, "k", old)
		ctx := ctxFor(t, time.Minute)
		cr, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("k")})
		if err != nil {
			t.Fatal(err)
		}
		part1 := randBytes(5 << 20)
		up1, err := e.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &b, Key: aws.String("k"), UploadId: cr.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(part1)})
		if err != nil {
			t.Fatal(err)
		}
		path := "/" + b + "/k?partNumber=2&uploadId=" + escapeQuery(aws.ToString(cr.UploadId))
		before := e.snapshot(b)

		// The client goes away halfway through part 2.
		body := randBytes(1 << 20)
		req := e.newReq(ctx, http.MethodPut, path, body)
		signReq(t, req, clientCreds, unsignedPayload, time.Now())
		mark := e.obs.mark()
		e.cutUpload(req, body, len(body)/2, cutClose)
		e.obs.waitFor(t, mark, "UploadPart")

		// Part 2 with a bad Content-MD5.
		req = e.newReq(ctx, http.MethodPut, path, body)
		req.Header.Set("Content-Md5", base64.StdEncoding.EncodeToString(make([]byte, 16)))
		signReq(t, req, clientCreds, unsignedPayload, time.Now())
		if r := e.send(req); r.status != 400 || r.code != "BadDigest" {
			t.Errorf("part with a bad Content-MD5: %s, want 400 BadDigest", r)
		}
		// Part 2 with a chunk whose signature fails.
		req, _ = e.signChunked(ctx, path, chunked{mode: streamingSigned, data: body, tamper: func(i int, _, sig []byte) {
			if i == 3 {
				sig[0] ^= 1
			}
		}})
		if r := e.send(req); r.status != 403 || r.code != "SignatureDoesNotMatch" {
			t.Errorf("part with a bad chunk signature: %s, want 403 SignatureDoesNotMatch", r)
		}

		lp, err := e.client.ListParts(ctx, &s3.ListPartsInput{Bucket: &b, Key: aws.String("k"), UploadId: cr.UploadId})
		if err != nil {
			t.Fatal(err)
		}
		if len(lp.Parts) != 1 || aws.ToInt32(lp.Parts[0].PartNumber) != 1 || aws.ToInt64(lp.Parts[0].Size) != int64(len(part1)) {
			t.Errorf("parts after the failures: %+v, want part 1 only", lp.Parts)
		}
		_, err = e.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: &b, Key: aws.String("k"), UploadId: cr.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
				{PartNumber: aws.Int32(1), ETag: up1.ETag},
				{PartNumber: aws.Int32(2), ETag: aws.String(`"00000000000000000000000000000000"`)},
			}},
		})
		if code := apiCode(err); code != "InvalidPart" {
			t.Errorf("completing with the failed part: %v, want InvalidPart", err)
		}
		e.sameState("failed part uploads", before, b)
		mustEqual(t, "the old object", e.get(b, "k"), old)
		if _, err := e.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b, Key: aws.String("k"), UploadId: cr.UploadId}); err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "the old object after abort", e.get(b, "k"), old)
	})
}

// TestBackendDropsUpload: the backend's connection breaks in the middle
// of a PUT (toxiproxy cuts it after 300 KB, or resets it): the client
// gets 503, and the old object is intact.
func TestBackendDropsUpload(t *testing.T) {
	e := newEnv(t, envOptions{s3Faults: true})
	b := e.newBucket()
	old := randBytes(200 << 10)
	e.put(b, "k", old)
	for _, c := range []struct {
		name, toxic string
		attrs       map[string]any
	}{
		{"connection closed after 300 KB", "limit_data", map[string]any{"bytes": 300 << 10}},
		{"connection reset after 100 ms", "reset_peer", map[string]any{"timeout": 100}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			defer func() { e.t = nil }()
			before := e.snapshot(b)
			if _, err := e.s3Toxi.AddToxic("fault", c.toxic, "upstream", 1, c.attrs); err != nil {
				t.Fatal(err)
			}
			ctx := ctxFor(t, 30*time.Second)
			body := randBytes(4 << 20)
			_, err := e.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("k"), Body: bytes.NewReader(body)})
			if code := apiCode(err); code != "ServiceUnavailable" {
				t.Errorf("PUT while the backend drops the connection: %v, want 503 ServiceUnavailable", err)
			}
			if err := e.s3Toxi.RemoveToxic("fault"); err != nil {
				t.Fatal(err)
			}
			e.sameState(c.name, before, b)
			mustEqual(t, "the old object", e.get(b, "k"), old)
		})
	}
}

// escapeQuery escapes a query value as S3 clients do.
func escapeQuery(s string) string {
	return strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D", " ", "%20").Replace(s)
}
