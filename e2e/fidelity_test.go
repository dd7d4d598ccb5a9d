package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// This file holds S3 fidelity tests for the answers the proxy gives on its
// own (issue 10, groups 2 to 5): each runs through the proxy and directly
// against versitygw, so that a difference of the backend's is told from
// one of ours, and most through the proxy in front of MinIO too
// (fidelityTargetsOn). Where versitygw answers otherwise than S3, the
// case says so and checks the proxy alone on that point.

// fidelityTarget is one endpoint a case runs against.
type fidelityTarget struct {
	name   string
	url    string
	creds  aws.Credentials
	client *s3.Client
	direct bool // versitygw itself
}

func fidelityTargets(e *env) []fidelityTarget {
	return []fidelityTarget{
		{name: "proxy", url: e.url, creds: clientCreds, client: e.client},
		{name: "versitygw", url: e.s3.URL, creds: aws.Credentials{AccessKeyID: testenv.S3AccessKey, SecretAccessKey: testenv.S3SecretKey}, client: e.backend, direct: true},
	}
}

// fidelityTargetsOn is fidelityTargets for a test run per backend
// (forEachBackend): on MinIO only the proxy's answers are compared with
// S3's (MinIO words many answers its own way; what is the proxy's own
// answer does not depend on the backend).
func fidelityTargetsOn(e *env, o envOptions) []fidelityTarget {
	all := fidelityTargets(e)
	if o.backend == testenv.MinIO {
		return all[:1]
	}
	return all
}

// errDoc is an S3 error document, every element by name.
type errDoc struct {
	Code, Message, RequestID string
	Extra                    map[string]string
}

func parseErrDoc(t *testing.T, b []byte) errDoc {
	t.Helper()
	var raw struct {
		XMLName xml.Name
		Fields  []struct {
			XMLName xml.Name
			Value   string `xml:",chardata"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal(b, &raw); err != nil || raw.XMLName.Local != "Error" {
		t.Fatalf("not an S3 error document (%v): %q", err, b)
	}
	d := errDoc{Extra: map[string]string{}}
	for _, f := range raw.Fields {
		switch f.XMLName.Local {
		case "Code":
			d.Code = f.Value
		case "Message":
			d.Message = f.Value
		case "RequestId":
			d.RequestID = f.Value
		default:
			d.Extra[f.XMLName.Local] = f.Value
		}
	}
	return d
}

// wantS3Error checks an answer: status, code, message (unless ""), the
// extra elements given (value "*" means present and non-empty), a HostId,
// and on the proxy a RequestId equal to x-amz-request-id and a HostId
// equal to x-amz-id-2.
func wantS3Error(t *testing.T, tg fidelityTarget, r reply, status int, code, message string, extra ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: %s, want %d %s", tg.name, r, status, code)
	}
	d := parseErrDoc(t, r.body)
	if d.Code != code || message != "" && d.Message != message {
		t.Errorf("%s: %s %q, want %s %q", tg.name, d.Code, d.Message, code, message)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		got, ok := d.Extra[extra[i]]
		if !ok || extra[i+1] == "*" && got == "" || extra[i+1] != "*" && got != extra[i+1] {
			t.Errorf("%s: <%s> %q (present %v), want %q", tg.name, extra[i], got, ok, extra[i+1])
		}
	}
	if !tg.direct && d.RequestID != r.header.Get("X-Amz-Request-Id") {
		t.Errorf("%s: RequestId %q, x-amz-request-id %q", tg.name, d.RequestID, r.header.Get("X-Amz-Request-Id"))
	}
	if h := r.header.Get("X-Amz-Id-2"); d.Extra["HostId"] == "" || !tg.direct && d.Extra["HostId"] != h {
		t.Errorf("%s: HostId %q, x-amz-id-2 %q", tg.name, d.Extra["HostId"], h)
	}
}

func (tg fidelityTarget) req(t *testing.T, method, path string, body []byte) *http.Request {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	var req *http.Request
	var err error
	if rd != nil {
		req, err = http.NewRequestWithContext(ctxFor(t, time.Minute), method, tg.url+path, rd)
	} else {
		req, err = http.NewRequestWithContext(ctxFor(t, time.Minute), method, tg.url+path, http.NoBody)
	}
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestFidelityRouting: request shapes no S3 operation serves get S3's
// answer before authentication (group 4).
func TestFidelityRouting(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) { testRouting(t, o) })
}

func testRouting(t *testing.T, o envOptions) {
	e := newEnv(t, o)
	bucket := e.newBucket()
	const copyOnly = "You can only specify a copy source header for copy requests."
	for _, tg := range fidelityTargetsOn(e, o) {
		for _, tc := range []struct {
			method, path, copySource string
			status                   int
			code, message            string
			extra                    []string
		}{
			{"POST", "/", "", 405, "MethodNotAllowed", "The specified method is not allowed against this resource.", []string{"Method", "POST", "ResourceType", "SERVICE"}},
			{"PUT", "/", "", 405, "MethodNotAllowed", "The specified method is not allowed against this resource.", []string{"Method", "PUT", "ResourceType", "SERVICE"}},
			{"DELETE", "/", "", 405, "MethodNotAllowed", "The specified method is not allowed against this resource.", []string{"Method", "DELETE", "ResourceType", "SERVICE"}},
			{"POST", "/" + bucket + "/object", "", 405, "MethodNotAllowed", "The specified method is not allowed against this resource.", []string{"Method", "POST", "ResourceType", "SERVICE"}},
			{"PUT", "/" + bucket + "/object?uploadId=my-upload-id", "", 405, "MethodNotAllowed", "The specified method is not allowed against this resource.", []string{"Method", "PUT", "ResourceType", "UPLOAD"}},
			{"PUT", "/" + bucket + "/object?partNumber=1", "", 400, "InvalidArgument", "This operation does not accept partNumber without uploadId", []string{"ArgumentName", "partNumber"}},
			{"GET", "/" + bucket + "/object?uploads", "", 400, "InvalidRequest", "Key is not expected for the GET method ?uploads subresource", nil},
			{"GET", "/" + bucket + "/object?versions", "", 400, "InvalidRequest", "There is no such thing as the ?versions sub-resource for a key", nil},
			{"DELETE", "/" + bucket + "/object", "bucket/object", 400, "InvalidArgument", copyOnly, []string{"ArgumentName", "x-amz-copy-source", "ArgumentValue", "bucket/object"}},
			{"GET", "/" + bucket, "bucket/object", 400, "InvalidArgument", copyOnly, []string{"ArgumentName", "x-amz-copy-source", "ArgumentValue", "bucket/object"}},
		} {
			req := tg.req(t, tc.method, tc.path, nil)
			if tc.copySource != "" {
				req.Header.Set("X-Amz-Copy-Source", tc.copySource)
			}
			wantS3Error(t, tg, e.send(req), tc.status, tc.code, tc.message, tc.extra...)
		}
	}
}

// TestFidelityAuthErrors: authentication failures carry S3's code,
// message and extra elements (group 3).
func TestFidelityAuthErrors(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) { testAuthErrors(t, o) })
}

func testAuthErrors(t *testing.T, o envOptions) {
	e := newEnv(t, o)
	bucket := e.newBucket()
	now := time.Now()
	for _, tg := range fidelityTargetsOn(e, o) {
		t.Run(tg.name, func(t *testing.T) {
			// A credential scoped to another region, on ListBuckets too.
			// S3 quotes the regions with single quotes; versitygw with
			// double quotes, so its message is not compared.
			for _, path := range []string{"/", "/" + bucket} {
				req := tg.req(t, "GET", path, nil)
				req.Header.Set("X-Amz-Content-Sha256", emptySHA256Hex)
				if err := signer().SignHTTP(context.Background(), tg.creds, req, emptySHA256Hex, "s3", "us-west-1", now); err != nil {
					t.Fatal(err)
				}
				msg := "The authorization header is malformed; the region 'us-west-1' is wrong; expecting 'us-east-1'"
				if tg.direct {
					msg = ""
				}
				wantS3Error(t, tg, e.send(req), 400, "AuthorizationHeaderMalformed", msg, "Region", testenv.Region)
			}

			// An algorithm S3 does not know.
			req := tg.req(t, "GET", "/"+bucket, nil)
			signReq(t, req, tg.creds, emptySHA256Hex, now)
			req.Header.Set("Authorization", strings.Replace(req.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS2-HMAC-SHA1", 1))
			wantS3Error(t, tg, e.send(req), 400, "InvalidArgument", "Unsupported Authorization Type", "ArgumentName", "Authorization", "ArgumentValue", "AWS2-HMAC-SHA1")

			// An Authorization header without components.
			req = tg.req(t, "GET", "/"+bucket, nil)
			signReq(t, req, tg.creds, emptySHA256Hex, now)
			req.Header.Set("Authorization", "invalid_header")
			wantS3Error(t, tg, e.send(req), 400, "InvalidArgument", "Authorization header is invalid -- one and only one ' ' (space) required.", "ArgumentName", "Authorization", "ArgumentValue", "invalid_header")

			// A credential with the wrong terminator and service.
			req = tg.req(t, "GET", "/"+bucket, nil)
			signReq(t, req, tg.creds, emptySHA256Hex, now)
			req.Header.Set("Authorization", strings.Replace(req.Header.Get("Authorization"), "/s3/aws4_request", "/ec2/aws4_request", 1))
			wantS3Error(t, tg, e.send(req), 400, "AuthorizationHeaderMalformed", `The authorization header is malformed; incorrect service "ec2". This endpoint belongs to "s3".`)

			// A wrong secret: what the server signed, for the client to compare.
			req = tg.req(t, "GET", "/"+bucket, nil)
			signReq(t, req, aws.Credentials{AccessKeyID: tg.creds.AccessKeyID, SecretAccessKey: "wrong"}, emptySHA256Hex, now)
			wantS3Error(t, tg, e.send(req), 403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
				"AWSAccessKeyId", tg.creds.AccessKeyID, "StringToSign", "*", "SignatureProvided", "*", "StringToSignBytes", "*", "CanonicalRequest", "*", "CanonicalRequestBytes", "*")

			// A payload hash that is not the body's.
			const claimed = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b854"
			req = tg.req(t, "PUT", "/"+bucket+"/object?tagging", nil)
			signReq(t, req, tg.creds, claimed, now)
			wantS3Error(t, tg, e.send(req), 400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.",
				"ClientComputedContentSHA256", claimed, "S3ComputedContentSHA256", emptySHA256Hex)

			// x-amz-* headers the signature does not cover, all named.
			req = tg.req(t, "PUT", "/"+bucket+"/obj", nil)
			signReq(t, req, tg.creds, emptySHA256Hex, now)
			req.Header.Set("X-Amz-Tagging", "a=b")
			req.Header.Set("X-Amz-Copy-Source", "source-bucket/source-key")
			wantS3Error(t, tg, e.send(req), 403, "AccessDenied", "There were headers present in the request which were not signed", "HeadersNotSigned", "x-amz-copy-source, x-amz-tagging")

			// A payload hash that is neither a hash nor a mode.
			req = tg.req(t, "GET", "/"+bucket, nil)
			signReq(t, req, tg.creds, "invalid_sha256", now)
			wantS3Error(t, tg, e.send(req), 400, "InvalidArgument", "", "ArgumentName", "x-amz-content-sha256", "ArgumentValue", "invalid_sha256")
		})
	}
}

// TestFidelityUnknownAccessKey: S3's InvalidAccessKeyId names the key.
// versitygw answers an unknown key with a 404 of its own, so this case
// runs through the proxy only.
func TestFidelityUnknownAccessKey(t *testing.T) {
	e := newEnv(t, envOptions{})
	bucket := e.newBucket()
	tg := fidelityTargets(e)[0]
	req := tg.req(t, "GET", "/"+bucket, nil)
	signReq(t, req, aws.Credentials{AccessKeyID: "AKIDNOSUCHKEY", SecretAccessKey: "x"}, emptySHA256Hex, time.Now())
	wantS3Error(t, tg, e.send(req), 403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", "AWSAccessKeyId", "AKIDNOSUCHKEY")
}

// TestFidelityRanges: Range headers S3 ignores give the whole object with
// 200, on GET and HEAD; an empty object (group 5).
func TestFidelityRanges(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) { testRanges(t, o) })
}

func testRanges(t *testing.T, o envOptions) {
	e := newEnv(t, o)
	bucket := e.newBucket()
	data := randBytes(100)
	for _, tg := range fidelityTargetsOn(e, o) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := ctxFor(t, time.Minute)
			for key, body := range map[string][]byte{"obj": data, "empty": nil} {
				if _, err := tg.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct {
				key, rng string
				status   int
				want     []byte
			}{
				{"obj", "bytes= -1", 200, data},
				{"obj", "bytes=0 -1", 200, data},
				{"obj", "bytes=--1", 200, data},
				{"obj", "bytes=10-5", 200, data},
				{"obj", "bytes=0-0,1-2", 200, data},
				{"obj", "foo=0-1", 200, data},
				{"obj", "bytes=00-01", 206, data[:2]},
				{"obj", "bytes=-101", 206, data},
				{"obj", "bytes=-0", 416, nil},
				{"obj", "bytes=100-110", 416, nil},
				{"empty", "bytes=-1", 200, []byte{}},
				{"empty", "bytes=0-", 416, nil},
				{"empty", "bytes=0-0", 416, nil},
			} {
				for _, method := range []string{"GET", "HEAD"} {
					req := tg.req(t, method, "/"+bucket+"/"+tc.key, nil)
					req.Header.Set("Range", tc.rng)
					signReq(t, req, tg.creds, emptySHA256Hex, time.Now())
					r := e.send(req)
					if r.status != tc.status {
						t.Errorf("%s %s %q: %s, want %d", method, tc.key, tc.rng, r, tc.status)
						continue
					}
					if method == "GET" && tc.want != nil && !bytes.Equal(r.body, tc.want) {
						t.Errorf("GET %s %q: %d bytes, want %d", tc.key, tc.rng, len(r.body), len(tc.want))
					}
					if tc.status == 200 && r.header.Get("Content-Range") != "" {
						t.Errorf("%s %s %q: Content-Range %q on a 200", method, tc.key, tc.rng, r.header.Get("Content-Range"))
					}
				}
			}
		})
	}
}

// TestFidelitySDKErrors: errors the proxy finds itself, as aws-sdk-go-v2
// sees them, through the proxy and directly (groups 3 and 5).
func TestFidelitySDKErrors(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) { testSDKErrors(t, o) })
}

func testSDKErrors(t *testing.T, o envOptions) {
	e := newEnv(t, o)
	bucket := e.newBucket()
	missing := bucketName()
	for _, tg := range fidelityTargetsOn(e, o) {
		t.Run(tg.name, func(t *testing.T) {
			c, ctx := tg.client, ctxFor(t, 2*time.Minute)
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("src"), Body: bytes.NewReader(randBytes(1000))}); err != nil {
				t.Fatal(err)
			}
			mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("dst")})
			if err != nil {
				t.Fatal(err)
			}
			wantAPI := func(what string, err error, code, message string) {
				t.Helper()
				got, msg := apiCode(err), apiMessage(err)
				if got != code || message != "" && msg != message {
					t.Errorf("%s: %s %q (%v), want %s %q", what, got, msg, err, code, message)
				}
			}
			_, err = c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: &bucket, Key: aws.String("dst"), UploadId: mp.UploadId, PartNumber: aws.Int32(1),
				CopySource: aws.String(bucket + "/src"), CopySourceRange: aws.String("bytes=200-100")})
			wantAPI("range with last before first", err, "InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
			_, err = c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: &bucket, Key: aws.String("dst"), UploadId: mp.UploadId, PartNumber: aws.Int32(1),
				CopySource: aws.String(bucket + "/src"), CopySourceRange: aws.String("bytes=100-1005")})
			wantAPI("range past the end", err, "InvalidArgument", "Range specified is not valid for source object of size: 1000")
			_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: aws.String("dst"), UploadId: mp.UploadId, PartNumber: aws.Int32(10001), Body: bytes.NewReader([]byte("x"))})
			wantAPI("part number out of range", err, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive.")
			_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &missing, Key: aws.String("dst"), UploadId: aws.String("uploadId"), PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("x"))})
			wantAPI("upload to a bucket that does not exist", err, "NoSuchBucket", "The specified bucket does not exist.")
			_, err = c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: &missing, Key: aws.String("dst"), UploadId: aws.String("uploadId"), PartNumber: aws.Int32(1), CopySource: aws.String("Copy-Source")})
			wantAPI("copy to a bucket that does not exist", err, "NoSuchBucket", "The specified bucket does not exist.")
			_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String("obj"), CopySource: aws.String("bucket/%ZZ")})
			wantAPI("copy source encoding", err, "InvalidArgument", "Invalid copy source encoding")
			_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String("obj"), CopySource: aws.String("192.168.1.1/foo")})
			wantAPI("copy source bucket", err, "InvalidArgument", "Invalid copy source bucket name")
			_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("dst"), UploadId: mp.UploadId,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1)}}}})
			wantAPI("part without ETag", err, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
			_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("dst"), UploadId: mp.UploadId,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(-4), ETag: aws.String(`"e"`)}}}})
			if !tg.direct {
				// versitygw looks for a part with that ETag first
				// (InvalidPart); S3 and the proxy check the number.
				wantAPI("negative part number", err, "InvalidArgument", "PartNumber must be >= 1")
			}
			_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("md5"), Body: bytes.NewReader([]byte("x")), ContentMD5: aws.String("invalid_md5")})
			if tg.direct {
				// versitygw words it its own way.
				wantAPI("malformed Content-MD5", err, "InvalidDigest", "The Content-Md5 you specified is not valid.")
			} else {
				wantAPI("malformed Content-MD5", err, "InvalidDigest", "The Content-MD5 you specified was invalid.")
			}

			// An upload ID that names no upload: S3 names it back.
			req := tg.req(t, "PUT", "/"+bucket+"/dst?partNumber=1&uploadId=bogus", []byte("x"))
			signReq(t, req, tg.creds, hexSHA256([]byte("x")), time.Now())
			extra := []string{"UploadId", "bogus"}
			if tg.direct {
				extra = nil // versitygw does not name it
			}
			wantS3Error(t, tg, e.send(req), 404, "NoSuchUpload", "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", extra...)

			// A part that was never uploaded.
			doc := []byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"0123456789abcdef0123456789abcdef"</ETag></Part></CompleteMultipartUpload>`)
			req = tg.req(t, "POST", "/"+bucket+"/dst?uploadId="+url.QueryEscape(aws.ToString(mp.UploadId)), doc)
			signReq(t, req, tg.creds, hexSHA256(doc), time.Now())
			extra = []string{"UploadId", aws.ToString(mp.UploadId), "PartNumber", "1", "ETag", `"0123456789abcdef0123456789abcdef"`}
			if tg.direct {
				extra = nil
			}
			wantS3Error(t, tg, e.send(req), 400, "InvalidPart", "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.", extra...)

			// The Content-MD5 of other data: S3 names both digests, the
			// one it computed in base64 and the one given in hex.
			req = tg.req(t, "PUT", "/"+bucket+"/md5", []byte("hello"))
			req.Header.Set("Content-Md5", "XrY7u+Ae7tCTyyK7j1rNww==")
			signReq(t, req, tg.creds, hexSHA256([]byte("hello")), time.Now())
			wantS3Error(t, tg, e.send(req), 400, "BadDigest", "The Content-MD5 you specified did not match what we received.",
				"CalculatedDigest", "XUFAKrxLKna5cZ2REBfFkg==", "ExpectedDigest", "5eb63bbbe01eeed093cb22bb8f5acdc3")
		})
	}
}

// emptySHA256Hex is the payload hash of an empty body.
const emptySHA256Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// apiMessage returns the message of an SDK error, or "".
func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}

// TestFidelityCompleteLocation: CompleteMultipartUpload's Location is the
// object's URL on the endpoint the client used, never the backend's.
func TestFidelityCompleteLocation(t *testing.T) {
	e := newEnv(t, envOptions{})
	bucket := e.newBucket()
	for _, tg := range fidelityTargets(e) {
		c, ctx := tg.client, ctxFor(t, time.Minute)
		mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("mp")})
		if err != nil {
			t.Fatal(err)
		}
		up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: aws.String("mp"), UploadId: mp.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(randBytes(100))})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("mp"), UploadId: mp.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag}}}})
		if err != nil {
			t.Fatal(err)
		}
		if want := tg.url + "/" + bucket + "/mp"; aws.ToString(out.Location) != want {
			t.Errorf("%s: Location %q, want %q", tg.name, aws.ToString(out.Location), want)
		}
	}
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestFidelityChecksumHeaders: an upload's checksum headers that S3
// refuses before storing anything, with S3's code and message, through
// the proxy and directly (group 2). Where versitygw words or orders its
// checks otherwise than S3, its own answer is recorded instead.
func TestFidelityChecksumHeaders(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) { testChecksumHeaders(t, o) })
}

func testChecksumHeaders(t *testing.T, o envOptions) {
	e := newEnv(t, o)
	bucket := e.newBucket()
	body := []byte("checksum headers")
	sum := crc32.ChecksumIEEE(body)
	crc := base64.StdEncoding.EncodeToString([]byte{byte(sum >> 24), byte(sum >> 16), byte(sum >> 8), byte(sum)})
	const multiple = "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
	for _, tg := range fidelityTargetsOn(e, o) {
		t.Run(tg.name, func(t *testing.T) {
			for i, tc := range []struct {
				name          string
				headers       []string // name, value, ...
				code, message string
				vgwMessage    string // versitygw's, where it differs ("-": not compared)
			}{
				{"sdk algorithm alone", []string{"X-Amz-Sdk-Checksum-Algorithm", "CRC32"}, "InvalidRequest", "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.", ""},
				{"sdk algorithm of another", []string{"X-Amz-Sdk-Checksum-Algorithm", "CRC32C", "X-Amz-Checksum-Crc32", crc}, "InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid.", ""},
				{"unknown algorithm", []string{"X-Amz-Checksum-Bad", crc}, "InvalidRequest", "The algorithm type you specified in x-amz-checksum- header is invalid.", ""},
				{"two algorithms", []string{"X-Amz-Checksum-Crc32", crc, "X-Amz-Checksum-Crc32c", crc}, "InvalidRequest", multiple, ""},
				{"header and trailer", []string{"X-Amz-Checksum-Crc32", crc, "X-Amz-Trailer", "x-amz-checksum-crc32c"}, "InvalidRequest", "Expecting a single x-amz-checksum- header", multiple},
				{"trailer without a trailer payload", []string{"X-Amz-Trailer", "x-amz-checksum-crc32"}, "MalformedTrailerError", "The request contained trailing data that was not well-formed or did not conform to our published schema.", "-"},
				{"malformed Content-MD5", []string{"Content-Md5", "invalid"}, "InvalidDigest", "The Content-MD5 you specified was invalid.", "The Content-Md5 you specified is not valid."},
			} {
				if tg.direct && tc.vgwMessage == "-" {
					continue // versitygw stores the object
				}
				key := fmt.Sprintf("ck-%d", i)
				req := tg.req(t, "PUT", "/"+bucket+"/"+key, body)
				for j := 0; j+1 < len(tc.headers); j += 2 {
					req.Header.Set(tc.headers[j], tc.headers[j+1])
				}
				signReq(t, req, tg.creds, hexSHA256(body), time.Now())
				msg := tc.message
				if tg.direct && tc.vgwMessage != "" {
					msg = tc.vgwMessage
				}
				t.Run(tc.name, func(t *testing.T) { wantS3Error(t, tg, e.send(req), 400, tc.code, msg) })
				head := tg.req(t, "HEAD", "/"+bucket+"/"+key, nil)
				signReq(t, head, tg.creds, emptySHA256Hex, time.Now())
				if r := e.send(head); r.status != 404 {
					t.Errorf("%s: HEAD after the refusal: %s", tc.name, r)
				}
			}
		})
	}
}

// TestFidelityCompleteObjectSize: CompleteMultipartUpload holds the
// object's size to x-amz-mp-object-size, through the proxy the
// plaintext's, as S3 does (group 2).
func TestFidelityCompleteObjectSize(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) { testCompleteObjectSize(t, o) })
}

func testCompleteObjectSize(t *testing.T, o envOptions) {
	e := newEnv(t, o)
	bucket := e.newBucket()
	for _, tg := range fidelityTargetsOn(e, o) {
		t.Run(tg.name, func(t *testing.T) {
			c, ctx := tg.client, ctxFor(t, time.Minute)
			mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("sized")})
			if err != nil {
				t.Fatal(err)
			}
			up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: aws.String("sized"), UploadId: mp.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(randBytes(100))})
			if err != nil {
				t.Fatal(err)
			}
			complete := func(size int64) error {
				_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("sized"), UploadId: mp.UploadId, MpuObjectSize: aws.Int64(size),
					MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag}}}})
				return err
			}
			for _, size := range []int64{101, 99, -1} {
				err := complete(size)
				msg := "The provided 'x-amz-mp-object-size' header value " + strconv.FormatInt(size, 10) + " does not match what was computed: 100"
				switch {
				case size < 0:
					msg = "Value for x-amz-mp-object-size header is less than zero: '-1'"
				case tg.direct:
					msg = apiMessage(err) // versitygw swaps the two numbers
				}
				if got := apiCode(err); got != "InvalidRequest" || apiMessage(err) != msg || msg == "" {
					t.Errorf("size %d: %s %q (%v), want InvalidRequest %q", size, got, apiMessage(err), err, msg)
				}
			}
			if err := complete(100); err != nil {
				t.Fatalf("the right size: %v", err)
			}
			head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("sized")})
			if err != nil || aws.ToInt64(head.ContentLength) != 100 {
				t.Fatalf("HEAD: %v %v", head, err)
			}
		})
	}
}

// put stores a one-byte object with user metadata meta at tg.
func (tg fidelityTarget) put(t *testing.T, bucket, key string, meta map[string]string) {
	t.Helper()
	in := &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader([]byte("x")), Metadata: meta}
	if _, err := tg.client.PutObject(ctxFor(t, time.Minute), in); err != nil {
		t.Fatal(err)
	}
}

// TestFidelityMetadataNames: user metadata comes back named in lower case
// on the wire, as S3 sends it (boto3 and other clients make the header's
// name the metadata key), empty values included, on GET and HEAD.
func TestFidelityMetadataNames(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) { testMetadataNames(t, o) })
}

func testMetadataNames(t *testing.T, o envOptions) {
	e := newEnv(t, o)
	bucket := e.newBucket()
	for _, tg := range fidelityTargets(e) {
		t.Run(tg.name, func(t *testing.T) {
			tg.put(t, bucket, "meta", map[string]string{"meta1": "mymeta", "empty": ""})
			for _, method := range []string{"GET", "HEAD"} {
				req := tg.req(t, method, "/"+bucket+"/meta", nil)
				signReq(t, req, tg.creds, emptySHA256Hex, time.Now())
				names := wireHeaderNames(t, req)
				for _, want := range []string{"x-amz-meta-meta1: mymeta", "x-amz-meta-empty:"} {
					if !slices.Contains(names, want) {
						t.Errorf("%s: no %q in %q", method, want, names)
					}
				}
			}
			// The backend's error documents name the proxy's ids.
			for _, path := range []string{"/" + bucket + "/missing", "/" + bucket + "?tagging", "/" + bucket + "/meta?acl=x&uploadId=nosuch"} {
				req := tg.req(t, "GET", path, nil)
				signReq(t, req, tg.creds, emptySHA256Hex, time.Now())
				r := e.send(req)
				wantS3Error(t, tg, r, r.status, parseErrDoc(t, r.body).Code, "")
			}
		})
	}
}

// wireHeaderNames sends req on a connection of its own and returns the
// answer's header lines as sent ("name: value", value trimmed), names in
// the case the server wrote them.
func wireHeaderNames(t *testing.T, req *http.Request) []string {
	t.Helper()
	conn, err := net.Dial("tcp", req.URL.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req.Header.Set("Connection", "close")
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	if _, err := br.ReadString('\n'); err != nil { // status line
		t.Fatal(err)
	}
	var lines []string
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			return lines
		}
		name, value, _ := strings.Cut(l, ":")
		lines = append(lines, strings.TrimRight(name+": "+strings.TrimSpace(value), " "))
	}
}

// TestFidelityCompleteErrors: CompleteMultipartUpload's refusals name
// what S3 names: EntityTooSmall the part, its size and ETag; InvalidPart
// the upload, the part and the ETag given (group 3).
func TestFidelityCompleteErrors(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) { testCompleteErrors(t, o) })
}

func testCompleteErrors(t *testing.T, o envOptions) {
	e := newEnv(t, o)
	bucket := e.newBucket()
	for _, tg := range fidelityTargetsOn(e, o) {
		t.Run(tg.name, func(t *testing.T) {
			c, ctx := tg.client, ctxFor(t, time.Minute)
			mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("small")})
			if err != nil {
				t.Fatal(err)
			}
			var etags []string
			for n := int32(1); n <= 2; n++ {
				up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: aws.String("small"), UploadId: mp.UploadId, PartNumber: aws.Int32(n), Body: bytes.NewReader(randBytes(100))})
				if err != nil {
					t.Fatal(err)
				}
				etags = append(etags, aws.ToString(up.ETag))
			}
			complete := func(parts ...string) reply {
				doc := "<CompleteMultipartUpload>"
				for i := 0; i+1 < len(parts); i += 2 {
					doc += "<Part><PartNumber>" + parts[i] + "</PartNumber><ETag>" + parts[i+1] + "</ETag></Part>"
				}
				body := []byte(doc + "</CompleteMultipartUpload>")
				req := tg.req(t, "POST", "/"+bucket+"/small?uploadId="+url.QueryEscape(aws.ToString(mp.UploadId)), body)
				signReq(t, req, tg.creds, hexSHA256(body), time.Now())
				return e.send(req)
			}
			small := []string{"ProposedSize", "100", "MinSizeAllowed", "5242880", "PartNumber", "1", "ETag", strings.Trim(etags[0], `"`)}
			if tg.direct {
				small = small[:4] // versitygw names neither the part nor its ETag
			}
			wantS3Error(t, tg, complete("1", etags[0], "2", etags[1]), 400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size", small...)
			wantS3Error(t, tg, complete("3", etags[1]), 400, "InvalidPart",
				"One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
				"UploadId", aws.ToString(mp.UploadId), "PartNumber", "3", "ETag", etags[1])
		})
	}
}

// TestFidelityRequiredHeaders: headers S3 requires of an operation are
// required through the proxy too, though the proxy could do without them
// (it sends DeleteObjects a Content-MD5 of its own, and adds ETag to the
// attributes it asks for): DeleteObjects without a checksum,
// GetObjectAttributes without attributes or with one S3 does not know.
func TestFidelityRequiredHeaders(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) { testRequiredHeaders(t, o) })
}

func testRequiredHeaders(t *testing.T, o envOptions) {
	e := newEnv(t, o)
	bucket := e.newBucket()
	for _, tg := range fidelityTargets(e) {
		t.Run(tg.name, func(t *testing.T) {
			tg.put(t, bucket, "attrs", nil)
			del := []byte("<Delete><Object><Key>gone</Key></Object></Delete>")
			// MinIO words both refusals its own way (MissingContentMD5;
			// InvalidArgument for no attributes): only the proxy's
			// answers are compared there.
			refusals := !tg.direct || o.backend != testenv.MinIO
			for attrs, want := range map[string][]string{
				"":             {"400", "InvalidRequest", "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty"},
				"ObjectSize,X": {"400", "InvalidArgument", "Invalid attribute name specified.", "ArgumentName", "x-amz-object-attributes", "ArgumentValue", "ObjectSize,X"},
			} {
				if !refusals {
					break
				}
				req := tg.req(t, "GET", "/"+bucket+"/attrs?attributes", nil)
				if attrs != "" {
					req.Header.Set("X-Amz-Object-Attributes", attrs)
				}
				signReq(t, req, tg.creds, emptySHA256Hex, time.Now())
				status, _ := strconv.Atoi(want[0])
				wantS3Error(t, tg, e.send(req), status, want[1], want[2], want[3:]...)
			}
			if refusals {
				req := tg.req(t, "POST", "/"+bucket+"?delete", del)
				signReq(t, req, tg.creds, hexSHA256(del), time.Now())
				wantS3Error(t, tg, e.send(req), 400, "InvalidRequest", "Missing required header for this request: Content-MD5 OR x-amz-checksum-*")
			}
			// With a checksum, or an attribute S3 knows, they pass.
			sum := md5.Sum(del)
			req := tg.req(t, "POST", "/"+bucket+"?delete", del)
			req.Header.Set("Content-Md5", base64.StdEncoding.EncodeToString(sum[:]))
			signReq(t, req, tg.creds, hexSHA256(del), time.Now())
			if r := e.send(req); r.status != 200 {
				t.Errorf("DeleteObjects with Content-MD5: %s", r)
			}
			req = tg.req(t, "GET", "/"+bucket+"/attrs?attributes", nil)
			req.Header.Set("X-Amz-Object-Attributes", "ObjectSize,ObjectParts")
			signReq(t, req, tg.creds, emptySHA256Hex, time.Now())
			// MinIO lists a single-part object as one part: of its
			// plaintext size too.
			if r := e.send(req); r.status != 200 || !bytes.Contains(r.body, []byte("<ObjectSize>1</ObjectSize>")) ||
				bytes.Contains(r.body, []byte("<Part>")) && !bytes.Contains(r.body, []byte("<Size>1</Size>")) {
				t.Errorf("GetObjectAttributes ObjectSize, ObjectParts: %s", r)
			}
		})
	}
}
