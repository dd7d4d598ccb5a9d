package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/internal/testenv"
	"github.com/bucketkey/bucketkey/s3err"
)

// TestRanges: random, suffix, open and first-last ranges of a single-part
// object; unsatisfiable ranges are 416 with the plaintext size; malformed
// ones return the whole object, as S3 does.
func TestRanges(t *testing.T) {
	tp := newTestProxy(t)
	bucket := tp.newBucket(t)
	n := 1<<20 + 1
	data := randBytes(n)
	tp.put(t, bucket, "r", data)
	rng := rand.New(rand.NewPCG(3, 4))
	ranges := []string{"bytes=0-0", "bytes=0-65535", "bytes=65535-65536", "bytes=-1", "bytes=-65537", "bytes=1048576-", "bytes=100-99999999", "bytes=-99999999"}
	for range 10 {
		a := rng.IntN(n)
		ranges = append(ranges, fmt.Sprintf("bytes=%d-%d", a, a+rng.IntN(n-a)))
	}
	tp.checkRanges(t, bucket, "r", data, ranges)

	for _, bad := range []string{fmt.Sprintf("bytes=%d-", n), "bytes=-0"} {
		resp := tp.rawRequest(t, "GET", "/"+bucket+"/r", http.Header{"Range": {bad}}, nil)
		body := readAllClose(t, resp.Body)
		if resp.StatusCode != 416 || !strings.Contains(string(body), "InvalidRange") {
			t.Errorf("Range %s: %d %s, want 416 InvalidRange", bad, resp.StatusCode, body)
		}
		if cr := resp.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes */%d", n) {
			t.Errorf("Range %s: Content-Range %q", bad, cr)
		}
	}
	for _, ignored := range []string{"bytes=5-1", "bytes=0-1,5-6", "items=0-1"} {
		resp := tp.rawRequest(t, "GET", "/"+bucket+"/r", http.Header{"Range": {ignored}}, nil)
		body := readAllClose(t, resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("Range %s: status %d, want 200 (ignored)", ignored, resp.StatusCode)
		}
		mustEqual(t, "ignored range "+ignored, body, data)
	}
	// HEAD with a range reports the range.
	resp := tp.rawRequest(t, "HEAD", "/"+bucket+"/r", http.Header{"Range": {"bytes=10-19"}}, nil)
	resp.Body.Close()
	if resp.StatusCode != 206 || resp.ContentLength != 10 || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 10-19/%d", n) {
		t.Errorf("HEAD range: %d len %d %q", resp.StatusCode, resp.ContentLength, resp.Header.Get("Content-Range"))
	}
	// partNumber=1 of a single-part object is the whole object.
	got, out := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("r"), PartNumber: aws.Int32(1)})
	mustEqual(t, "partNumber=1", got, data)
	if aws.ToString(out.ContentRange) != fmt.Sprintf("bytes 0-%d/%d", n-1, n) {
		t.Errorf("partNumber=1 Content-Range %q", aws.ToString(out.ContentRange))
	}
	resp = tp.rawRequest(t, "GET", "/"+bucket+"/r?partNumber=2", nil, nil)
	readAllClose(t, resp.Body)
	if resp.StatusCode != 416 {
		t.Errorf("partNumber=2 of a single-part object: status %d, want 416", resp.StatusCode)
	}
	resp = tp.rawRequest(t, "GET", "/"+bucket+"/r?partNumber=1", http.Header{"Range": {"bytes=0-1"}}, nil)
	readAllClose(t, resp.Body)
	if resp.StatusCode != 400 {
		t.Errorf("partNumber with Range: status %d, want 400", resp.StatusCode)
	}
}

// TestConditionalRequests: conditions are evaluated against the ETag and
// Last-Modified the proxy reports, for whole and ranged reads and HEAD.
func TestConditionalRequests(t *testing.T) {
	tp := newTestProxy(t)
	bucket := tp.newBucket(t)
	data := randBytes(100 << 10)
	put := tp.put(t, bucket, "c", data)
	etag := aws.ToString(put.ETag)
	head, err := tp.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("c")})
	if err != nil {
		t.Fatal(err)
	}
	// A date in the future is invalid and ignored (RFC 9110 13.1.3), so
	// "not modified since" is tested with the object's own Last-Modified.
	lastMod := aws.ToTime(head.LastModified).UTC().Format(http.TimeFormat)
	past := time.Now().Add(-24 * time.Hour).UTC().Format(http.TimeFormat)
	cases := []struct {
		name   string
		h      http.Header
		status int // 0: whatever the backend answers the same request directly
	}{
		{"if-match ok", http.Header{"If-Match": {etag}}, 200},
		{"if-match fail", http.Header{"If-Match": {`"0123"`}}, 412},
		{"if-none-match hit", http.Header{"If-None-Match": {etag}}, 304},
		{"if-none-match miss", http.Header{"If-None-Match": {`"0123"`}}, 200},
		{"if-modified-since past", http.Header{"If-Modified-Since": {past}}, 200},
		{"if-unmodified-since past", http.Header{"If-Unmodified-Since": {past}}, 412},
		// Equal to Last-Modified: the backend's sub-second clock decides;
		// the proxy must agree with it.
		{"if-modified-since last-modified", http.Header{"If-Modified-Since": {lastMod}}, 0},
		{"if-unmodified-since last-modified", http.Header{"If-Unmodified-Since": {lastMod}}, 0},
	}
	for i, c := range cases {
		if c.status == 0 {
			resp := signedRequest(t, backendS3.URL, testenv.S3AccessKey, testenv.S3SecretKey, "GET", "/"+bucket+"/c", c.h, nil)
			resp.Body.Close()
			cases[i].status = resp.StatusCode
		}
	}
	for _, c := range cases {
		for _, method := range []string{"GET", "HEAD"} {
			for _, ranged := range []bool{false, true} {
				h := c.h.Clone()
				want := c.status
				if ranged {
					h.Set("Range", "bytes=70000-70009")
					if want == 200 {
						want = 206
					}
				}
				resp := tp.rawRequest(t, method, "/"+bucket+"/c", h, nil)
				body := readAllClose(t, resp.Body)
				if resp.StatusCode != want {
					t.Errorf("%s %s ranged=%v: status %d, want %d (%d-byte body)", method, c.name, ranged, resp.StatusCode, want, len(body))
					continue
				}
				if method == "GET" && want == 200 {
					mustEqual(t, c.name, body, data)
				}
				if method == "GET" && want == 206 {
					mustEqual(t, c.name, body, data[70000:70010])
				}
				if method == "GET" && want == 412 && !bytes.Contains(body, []byte("PreconditionFailed")) {
					t.Errorf("%s: 412 without PreconditionFailed document: %s", c.name, body)
				}
				if want == 304 && resp.Header.Get("ETag") != etag {
					t.Errorf("%s: 304 ETag %q, want %q", c.name, resp.Header.Get("ETag"), etag)
				}
			}
		}
	}
}

// TestNoSuchKey: errors of reads come from the backend with their
// documents, for whole, ranged and HEAD reads.
func TestNoSuchKey(t *testing.T) {
	tp := newTestProxy(t)
	bucket := tp.newBucket(t)
	for _, h := range []http.Header{nil, {"Range": {"bytes=0-1"}}} {
		resp := tp.rawRequest(t, "GET", "/"+bucket+"/missing", h, nil)
		body := readAllClose(t, resp.Body)
		if resp.StatusCode != 404 || !bytes.Contains(body, []byte("NoSuchKey")) {
			t.Errorf("GET missing (%v): %d %s", h, resp.StatusCode, body)
		}
		if resp.Header.Get("X-Amz-Request-Id") == "" {
			t.Error("no request id")
		}
	}
	resp := tp.rawRequest(t, "HEAD", "/"+bucket+"/missing", nil, nil)
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("HEAD missing: %d", resp.StatusCode)
	}
	_, err := tp.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("no-such-bucket-here"), Key: aws.String("k")})
	wantCode(t, "GET in a missing bucket", err, "NoSuchBucket")
}

// TestLegacyObjects: objects written to the backend before the proxy come
// back unchanged (whole, ranged, HEAD, listed), and can be overwritten
// through the proxy.
func TestLegacyObjects(t *testing.T) {
	tp, bucket := newMixedProxy(t)
	ctx := context.Background()
	// 65560 bytes: a size no ciphertext can have (CiphertextSize skips
	// 65553..65568), so listings leave it alone. (A legacy object whose
	// size happens to be a ciphertext size is listed wrong unless its
	// bucket is declared mixed: TestMixedBucketListing.)
	data := randBytes(65560)
	if _, err := backend().PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("old"), Body: bytes.NewReader(data), Metadata: map[string]string{"color": "blue"}}); err != nil {
		t.Fatal(err)
	}
	got, out := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("old")})
	mustEqual(t, "legacy GET", got, data)
	if out.Metadata["color"] != "blue" {
		t.Errorf("legacy metadata %v", out.Metadata)
	}
	if out.ServerSideEncryption == "aws:kms" {
		t.Error("legacy object reported as SSE-KMS")
	}
	tp.checkRanges(t, bucket, "old", data, []string{"bytes=5-70000", "bytes=-10", "bytes=65000-"})
	head, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("old")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(head.ContentLength) != int64(len(data)) {
		t.Errorf("legacy HEAD %d", aws.ToInt64(head.ContentLength))
	}
	l, err := tp.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Contents) != 1 || aws.ToInt64(l.Contents[0].Size) != int64(len(data)) {
		t.Errorf("legacy listed size %v", l.Contents)
	}
	// Overwrite through the proxy: now encrypted.
	tp.put(t, bucket, "old", []byte("new"))
	raw, _ := stored(t, bucket, "old")
	if bytes.Contains(raw, []byte("new")) || len(raw) != 3+16 {
		t.Errorf("overwrite not encrypted: %d bytes", len(raw))
	}
	_ = io.EOF
}

// TestUnitRetryChanged: an operation is tried while its object keeps changing,
// at most changedAttempts times, then answered 503; nested retries (a copy
// around the read of its source) do not multiply the attempts.
func TestUnitRetryChanged(t *testing.T) {
	changedTimes := func(n int, calls *int) func() error {
		return func() error {
			*calls++
			if *calls <= n {
				return errObjectChanged
			}
			return nil
		}
	}
	var calls int
	if err := retryChanged("m", changedTimes(1, &calls)); err != nil || calls != 2 {
		t.Errorf("changed once: err %v after %d calls, want nil after 2", err, calls)
	}
	calls = 0
	err := retryChanged("m", changedTimes(100, &calls))
	if e := s3err.As(err); e == nil || e.Status != 503 || e.RetryAfter <= 0 || calls != changedAttempts {
		t.Errorf("always changed: %v after %d calls, want 503 with Retry-After after %d", err, calls, changedAttempts)
	}
	if errors.Is(err, errObjectChanged) {
		t.Error("the final answer still matches errObjectChanged")
	}
	calls = 0
	outer := 0
	_ = retryChanged("outer", func() error { outer++; return retryChanged("inner", changedTimes(100, &calls)) })
	if outer != 1 || calls != changedAttempts {
		t.Errorf("nested: %d outer and %d inner attempts, want 1 and %d", outer, calls, changedAttempts)
	}
}
