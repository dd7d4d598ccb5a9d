package e2e

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// TestPathTricks sends correctly signed requests whose paths try to
// escape their bucket or their name: dot segments (plain and encoded),
// empty segments, encoded slashes in the key and in the bucket, and keys
// longer than S3 allows. Each gets one exact answer. Every refusal comes
// from the proxy itself, before any request reaches the backend; another
// bucket never changes; and no plaintext is ever stored: every object the
// backend holds afterwards carries the envelope.
//
// A key whose "." and ".." segments climb out of the bucket ("../V/k",
// ".") gets S3's own answer, 400 Bad Request. S3 would store any other key
// with a "." or ".." segment as it is; the proxy refuses one (400
// InvalidArgument, proxy/address.go checkKey), because it forwards keys in
// the path and the backend resolves dot segments: versitygw stores "a/./k"
// as "a/k", and "B/../V/k" is bucket V's "k" to any backend that resolves
// them as RFC 3986 says.
func TestPathTricks(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b, victim := e.newBucket(), e.newBucket()
		e.put(victim, "k", []byte("victim's object"))
		e.put(b, "existing", []byte("old"))
		data := []byte("secret data, never stored in the clear")
		// A key of exactly 1024 bytes in segments versitygw can name as files.
		limitKey := strings.Repeat("abcdefghi/", 102) + "abcd"

		cases := []struct {
			name, path string // B and V stand for the two buckets
			method     string // [PUT of data]
			status     int
			code       string // "" for a success, and for HEAD (no body)
			key        string // where a 200 must have stored data, read back through the proxy at getPath
			getPath    string
		}{
			{name: "dot-dot segment", path: "/B/../V/k", status: 400, code: "400"},
			{name: "dot-dot segment, GET", method: http.MethodGet, path: "/B/../V/k", status: 400, code: "400"},
			{name: "dot-dot segment, HEAD", method: http.MethodHead, path: "/B/../V/k", status: 400},
			{name: "dot-dot segment, DELETE", method: http.MethodDelete, path: "/B/../V/k", status: 400, code: "400"},
			{name: "encoded dot-dot segment", path: "/B/%2e%2e/V/k", status: 400, code: "400"},
			{name: "encoded upper-case dot-dot segment", path: "/B/%2E%2E/V/k", status: 400, code: "400"},
			{name: "encoded dot-dot segment, GET", method: http.MethodGet, path: "/B/%2e%2e/V/k", status: 400, code: "400"},
			{name: "encoded dot-dot and slashes in one key segment", path: "/B/a%2F..%2F..%2FV%2Fk", status: 400, code: "400"},
			{name: "dot-dot key", path: "/B/..", status: 400, code: "400"},
			{name: "dot key", path: "/B/.", status: 400, code: "400"},
			{name: "encoded dot key", path: "/B/%2e", status: 400, code: "400"},
			// versitygw would store this as "a/k".
			{name: "dot segment inside the key", path: "/B/a/./k", status: 400, code: "InvalidArgument"},
			{name: "dot-dot segment inside the key", path: "/B/a/../k", status: 400, code: "InvalidArgument"},
			// Dots that are not a whole segment are ordinary key characters.
			{name: "dots inside segments", path: "/B/a..b/..c/d.", status: 200, key: "a..b/..c/d.", getPath: "/B/a..b/..c/d."},
			{name: "encoded dot-dot bucket", path: "/%2e%2e/V/k", status: 400, code: "InvalidBucketName"},
			{name: "encoded slash and dot-dot in the bucket", path: "/B%2F..%2FV", status: 400, code: "InvalidBucketName"},
			// S3 refuses a bucket name with a slash. The proxy must not
			// forward it as a path: "/B%2Fk" would be CreateBucket("B/k")
			// to the proxy and PutObject(B, k) to the backend, in the clear.
			{name: "encoded slash in the bucket", path: "/B%2Fk", status: 400, code: "InvalidBucketName"},
			// Read through the same confusion: GET "/B%2Fexisting" is
			// ListObjects("B/existing") to the proxy, GetObject to the backend.
			{name: "encoded slash in the bucket, GET", method: http.MethodGet, path: "/B%2Fexisting", status: 400, code: "InvalidBucketName"},
			{name: "encoded slash in the bucket, HEAD", method: http.MethodHead, path: "/B%2Fexisting", status: 400},
			// Forwarded as the key "/k" (which versitygw stores as "k"): an
			// empty segment cannot leave the bucket.
			{name: "empty segment", path: "/B//k", status: 200, getPath: "/B//k"},
			{name: "encoded slash in the key", path: "/B/a%2Fb", status: 200, key: "a/b", getPath: "/B/a/b"},
			// S3's limit is 1024 bytes of the key's UTF-8. The proxy enforces
			// it: versitygw refuses only a single segment its file system
			// cannot name, and stores longer keys in shorter segments.
			{name: "key of 1024 bytes in segments", path: "/B/" + limitKey, status: 200, key: limitKey, getPath: "/B/" + limitKey},
			{name: "key of 1025 bytes", path: "/B/" + strings.Repeat("a", 1025), status: 400, code: "KeyTooLongError"},
			{name: "key of 1025 bytes in segments", path: "/B/" + limitKey + "e", status: 400, code: "KeyTooLongError"},
			{name: "key of 1031 bytes in segments", path: "/B/" + strings.Repeat("abcdefghi/", 103) + "x", status: 400, code: "KeyTooLongError"},
			{name: "key of 1031 bytes in segments, GET", method: http.MethodGet, path: "/B/" + strings.Repeat("abcdefghi/", 103) + "x", status: 400, code: "KeyTooLongError"},
			// 342 characters, 1026 bytes.
			{name: "key of 342 three-byte characters", path: "/B/" + strings.Repeat("%E2%82%AC", 342), status: 400, code: "KeyTooLongError"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.t = t
				defer func() { e.t = nil }()
				sub := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "B", b), "V", victim) }
				beforeVictim := e.snapshot(victim)
				up := e.upstream.n.Load()
				ctx := ctxFor(t, 30*time.Second)
				method := c.method
				var r reply
				if method == "" {
					method = http.MethodPut
					r = e.send(e.signedPut(ctx, sub(c.path), data, nil))
				} else {
					r = e.send(e.signed(ctx, method, sub(c.path)))
				}
				if r.status != c.status || r.code != c.code {
					t.Errorf("%s: got %s, want %d %s", method, r, c.status, c.code)
				}
				if r.status >= 300 {
					if n := e.upstream.n.Load() - up; n != 0 {
						t.Errorf("%s: refused after %d requests to the backend", method, n)
					}
				}
				e.sameState(method+" "+c.name, beforeVictim, victim)
				if r.status == 200 && c.getPath != "" {
					got := e.send(e.signed(ctx, http.MethodGet, sub(c.getPath)))
					if got.status != 200 || !bytes.Equal(got.body, data) {
						t.Errorf("GET after PUT: %s", got)
					}
				}
				if c.key != "" {
					raw, md := e.stored(b, c.key)
					if md["bk-v"] != "1" || bytes.Contains(raw, data[:16]) {
						t.Errorf("%s stored as %q with metadata %v", c.key, raw, md)
					}
				}
				e.noPlaintext(data, b, victim)
			})
		}
		e.t = t
		mustEqual(t, "victim's object", e.get(victim, "k"), []byte("victim's object"))
	})
}

// noPlaintext fails the test if any object in the buckets lacks the
// envelope or holds the first 16 bytes of data.
func (e *env) noPlaintext(data []byte, buckets ...string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, b := range buckets {
		l, err := e.backend.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(b)})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, o := range l.Contents {
			raw, md := e.stored(b, aws.ToString(o.Key))
			if md["bk-v"] == "1" && !bytes.Contains(raw, data[:16]) {
				continue
			}
			e.t.Errorf("backend object %s/%s is stored in the clear (%d bytes, metadata %v)", b, aws.ToString(o.Key), len(raw), md)
			// Remove it, so that the next case starts clean.
			if _, err := e.backend.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b), Key: o.Key}); err != nil {
				e.t.Fatal(err)
			}
		}
	}
}

// TestOversizedRequests: metadata and headers beyond S3's limits are
// refused with S3's codes and store nothing.
func TestOversizedRequests(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		e.put(b, "existing", []byte("old"))
		cases := []struct {
			name   string
			header http.Header
			status int
			code   string
		}{
			// S3 counts user metadata (names and values) against 2 KB.
			{name: "3 KB of user metadata", header: http.Header{"X-Amz-Meta-Big": {strings.Repeat("m", 3000)}}, status: 400, code: "MetadataTooLarge"},
			// 1800 bytes fit alone, not with the envelope's ~600: the client
			// gets the error S3 would give for the sum.
			{name: "user metadata that fits only without the envelope", header: http.Header{"X-Amz-Meta-Big": {strings.Repeat("m", 1800)}}, status: 400, code: "MetadataTooLarge"},
			// S3 refuses request headers over 8 KB.
			{name: "16 KB header", header: http.Header{"X-Custom": {strings.Repeat("h", 16000)}}, status: 400, code: "RequestHeaderSectionTooLarge"},
			// Over 1 MiB, Go's http.Server answers 431 before the proxy sees
			// the request (S3 would say 400 RequestHeaderSectionTooLarge).
			{name: "2 MB header", header: http.Header{"X-Custom": {strings.Repeat("h", 2<<20)}}, status: 431},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.t = t
				defer func() { e.t = nil }()
				before := e.snapshot(b)
				ctx := ctxFor(t, 30*time.Second)
				r := e.send(e.signedPut(ctx, "/"+b+"/existing", randBytes(100<<10), c.header))
				if r.status != c.status || r.code != c.code {
					t.Errorf("got %s, want %d %s", r, c.status, c.code)
				}
				e.sameState(c.name, before, b)
			})
		}
		e.t = t
		mustEqual(t, "object after the attempts", e.get(b, "existing"), []byte("old"))

		// The limit is S3's to the byte, with the backend agreeing: what the
		// envelope of a same-sized object leaves is accepted, one byte more is
		// not (S3 counts each key without its x-amz-meta- prefix, and its value).
		// The probe is written as the writes below are (no checksum header,
		// over 64 KiB: no checksum recorded), so its envelope is theirs.
		body := randBytes(100 << 10)
		if r := e.send(e.signedPut(ctxFor(t, 30*time.Second), "/"+b+"/probe", body, nil)); r.status != 200 {
			t.Fatalf("probe: %s", r)
		}
		_, md := e.stored(b, "probe")
		md = testenv.PackEnvelope(md) // as stored
		room := 2048 - len("big")
		for k, v := range md {
			room -= len(k) + len(v)
		}
		if o.backend == testenv.MinIO {
			// MinIO counts each key with its x-amz-meta- prefix: its limit
			// is stricter than S3's, and it refuses (MetadataTooLarge) what
			// the proxy passes by S3's count. A backend quirk: fill to
			// MinIO's limit.
			room -= len("x-amz-meta-") * (len(md) + 1)
		}
		ctx := ctxFor(t, 30*time.Second)
		if r := e.send(e.signedPut(ctx, "/"+b+"/full", body, http.Header{"X-Amz-Meta-Big": {strings.Repeat("m", room+1)}})); r.status != 400 || r.code != "MetadataTooLarge" {
			t.Errorf("one byte over the limit: got %s, want 400 MetadataTooLarge", r)
		}
		if r := e.send(e.signedPut(ctx, "/"+b+"/full", body, http.Header{"X-Amz-Meta-Big": {strings.Repeat("m", room)}})); r.status != 200 {
			t.Fatalf("user metadata that just fits: got %s, want 200", r)
		}
		if _, md := e.stored(b, "full"); len(md["big"]) != room {
			t.Errorf("stored %d bytes of x-amz-meta-big, want %d", len(md["big"]), room)
		}
		mustEqual(t, "object with metadata at the limit", e.get(b, "full"), body)

		// The other writes that store metadata are held to the same limit, and
		// leave nothing behind when refused. (A multipart envelope is a few
		// bytes smaller: it records no size.)
		big := map[string]string{"big": strings.Repeat("m", room+1)}
		bigger := map[string]string{"big": strings.Repeat("m", room+64)}
		if _, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("mp"), Metadata: bigger}); apiCode(err) != "MetadataTooLarge" {
			t.Errorf("CreateMultipartUpload with too much metadata: %v, want MetadataTooLarge", err)
		}
		ups, err := e.backend.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b})
		if err != nil {
			t.Fatal(err)
		}
		if len(ups.Uploads) != 0 {
			t.Errorf("a refused CreateMultipartUpload left %d uploads at the backend", len(ups.Uploads))
		}
		_, err = e.client.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: &b, Key: aws.String("copy"), CopySource: aws.String(b + "/probe"),
			MetadataDirective: types.MetadataDirectiveReplace, Metadata: big,
		})
		if apiCode(err) != "MetadataTooLarge" {
			t.Errorf("CopyObject REPLACE with too much metadata: %v, want MetadataTooLarge", err)
		}
		if _, err := e.backend.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("copy")}); err == nil {
			t.Error("a refused CopyObject stored its destination")
		}
		// S3 limits the request's user metadata even when the directive
		// (COPY, the default) would not store it.
		_, err = e.client.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: &b, Key: aws.String("copy"), CopySource: aws.String(b + "/probe"),
			Metadata: map[string]string{strings.Repeat("s", 2048): "value"},
		})
		if apiCode(err) != "MetadataTooLarge" {
			t.Errorf("CopyObject COPY with too much metadata: %v, want MetadataTooLarge", err)
		}
		if _, err := e.backend.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("copy")}); err == nil {
			t.Error("a refused CopyObject COPY stored its destination")
		}
	})
}
