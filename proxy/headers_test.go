package proxy

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestObjectHeadersKept: the object's own headers (content type and
// encoding, cache control, user metadata) survive encryption.
func TestObjectHeadersKept(t *testing.T) {
	tp := newTestProxy(t)
	ctx := context.Background()
	b := tp.newBucket(t)
	data := randBytes(3000)
	if _, err := tp.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &b, Key: aws.String("h"), Body: bytes.NewReader(data),
		ContentType: aws.String("application/x-test"), ContentEncoding: aws.String("gzip"),
		CacheControl: aws.String("max-age=60"), ContentDisposition: aws.String(`attachment; filename="x"`),
		Metadata: map[string]string{"owner": "me"},
	}); err != nil {
		t.Fatal(err)
	}
	got, out := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &b, Key: aws.String("h")})
	mustEqual(t, "GET", got, data)
	if aws.ToString(out.ContentType) != "application/x-test" || aws.ToString(out.ContentEncoding) != "gzip" ||
		aws.ToString(out.CacheControl) != "max-age=60" || aws.ToString(out.ContentDisposition) != `attachment; filename="x"` || out.Metadata["owner"] != "me" {
		t.Errorf("headers: type %q encoding %q cache %q disposition %q meta %v", aws.ToString(out.ContentType), aws.ToString(out.ContentEncoding),
			aws.ToString(out.CacheControl), aws.ToString(out.ContentDisposition), out.Metadata)
	}
	// response-* overrides apply to decrypted reads.
	_, out = getAll(t, tp.client, &s3.GetObjectInput{Bucket: &b, Key: aws.String("h"), ResponseContentType: aws.String("text/x-override"), Range: aws.String("bytes=0-9")})
	if aws.ToString(out.ContentType) != "text/x-override" {
		t.Errorf("response-content-type override: %q", aws.ToString(out.ContentType))
	}
}

func TestUnitForwardHeader(t *testing.T) {
	in := http.Header{
		"Connection":                   {"keep-alive, X-Hop"},
		"X-Hop":                        {"1"},
		"Keep-Alive":                   {"timeout=5"},
		"Transfer-Encoding":            {"chunked"},
		"Authorization":                {"AWS4-HMAC-SHA256 ..."},
		"X-Amz-Content-Sha256":         {"UNSIGNED-PAYLOAD"},
		"X-Amz-Date":                   {"20260101T000000Z"},
		"X-Amz-Checksum-Crc32":         {"AAAAAA=="},
		"Content-Md5":                  {"x"},
		"Content-Encoding":             {"aws-chunked,gzip"},
		"X-Amz-Meta-Bk-Kb":             {"evil"},
		"X-Amz-Meta-Color":             {"blue"},
		"X-Amz-Server-Side-Encryption": {"aws:kms"},
		"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id":     {"k"},
		"X-Amz-Server-Side-Encryption-Customer-Algorithm": {"AES256"},
		"Content-Type":        {"text/plain"},
		"X-Amz-Storage-Class": {"STANDARD_IA"},
		"Range":               {"bytes=0-1"},
		"Expect":              {"100-continue"},
	}
	h := forwardHeader(in, "Range")
	for _, gone := range []string{"Connection", "X-Hop", "Keep-Alive", "Transfer-Encoding", "Authorization", "X-Amz-Content-Sha256", "X-Amz-Date", "X-Amz-Checksum-Crc32", "Content-Md5", "X-Amz-Meta-Bk-Kb", "X-Amz-Server-Side-Encryption", "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", "Range", "Expect"} {
		if _, ok := h[gone]; ok {
			t.Errorf("%s forwarded", gone)
		}
	}
	for k, v := range map[string]string{"X-Amz-Meta-Color": "blue", "Content-Type": "text/plain", "X-Amz-Storage-Class": "STANDARD_IA", "X-Amz-Server-Side-Encryption-Customer-Algorithm": "AES256", "Content-Encoding": "gzip"} {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
	if in.Get("X-Hop") != "1" {
		t.Error("forwardHeader modified its input")
	}

	resp := http.Header{"Content-Length": {"99"}, "Etag": {`"e"`}, "X-Amz-Checksum-Crc64nvme": {"x"}, "X-Amz-Meta-Bk-V": {"1"}, "X-Amz-Meta-Color": {"red"},
		"X-Amz-Server-Side-Encryption": {"AES256"}, "X-Amz-Request-Id": {"backend"}, "Content-Range": {"bytes 0-1/2"}, "Last-Modified": {"x"}}
	dst := http.Header{}
	copyResponseHeader(dst, resp, true)
	color := strings.ToLower("X-Amz-Meta-Color") // S3's name for it
	if v, ok := dst["Content-Type"]; !ok || v != nil {
		t.Errorf("Content-Type not pinned against sniffing: %v", dst)
	}
	if len(dst) != 4 || dst.Get("Etag") == "" || strings.Join(dst[color], ",") != "red" || dst.Get("Last-Modified") == "" {
		t.Errorf("object response headers %v", dst)
	}
	for in, want := range map[string]string{"aws-chunked,gzip": "gzip", "aws-chunked": "", "gzip, AWS-CHUNKED , br": "gzip,br"} {
		dst = http.Header{}
		copyResponseHeader(dst, http.Header{"Content-Encoding": {in}}, false)
		if dst.Get("Content-Encoding") != want {
			t.Errorf("Content-Encoding %q answered as %q, want %q", in, dst.Get("Content-Encoding"), want)
		}
	}
	dst = http.Header{}
	copyResponseHeader(dst, resp, false)
	if dst.Get("Content-Length") != "99" || dst.Get("X-Amz-Meta-Bk-V") != "" || dst.Get("X-Amz-Request-Id") != "" {
		t.Errorf("passthrough response headers %v", dst)
	}
}

// TestUnitUserMetadataNamesLowerCase: user metadata reaches the client
// named in lower case, as S3 names it, however the backend's answer was
// parsed; other headers keep their names.
func TestUnitUserMetadataNamesLowerCase(t *testing.T) {
	src := http.Header{"X-Amz-Meta-Meta1": {"v"}, "X-Amz-Meta-Empty": {""}, "Content-Type": {"text/plain"}, "x-amz-meta-already": {"a"}}
	for _, object := range []bool{false, true} {
		dst := http.Header{}
		copyResponseHeader(dst, src, object)
		for _, k := range []string{"x-amz-meta-meta1", "x-amz-meta-empty", "x-amz-meta-already", "Content-Type"} {
			if _, ok := dst[k]; !ok {
				t.Errorf("object %v: no %q in %v", object, k, dst)
			}
		}
		if _, ok := dst["X-Amz-Meta-Meta1"]; ok {
			t.Errorf("object %v: canonical name kept: %v", object, dst)
		}
	}
}
