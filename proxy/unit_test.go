package proxy

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/keycache"
	"github.com/bucketkey/bucketkey/s3err"
)

func TestEncodeQuery(t *testing.T) {
	q := url.Values{"uploads": {""}, "prefix": {"a b+c/é"}, "max-keys": {"2"}, "x": {"1", "2"}}
	if got, want := encodeQuery(q), "max-keys=2&prefix=a%20b%2Bc%2F%C3%A9&uploads&x=1&x=2"; got != want {
		t.Errorf("encodeQuery = %q, want %q", got, want)
	}
	fq := forwardQuery(url.Values{"X-Amz-Signature": {"s"}, "x-amz-credential": {"c"}, "X-Amz-Expires": {"9"}, "versionId": {"v"}, "x-amz-checksum-crc32": {"z"}}, "versionId")
	if len(fq) != 0 {
		t.Errorf("forwardQuery kept %v", fq)
	}
}

func TestUpstreamURL(t *testing.T) {
	p := unitProxy(t, func(c *Config) { c.Upstream, _ = url.Parse("https://s3.example.com:9000/base/") })
	cases := []struct{ bucket, key, want string }{
		{"", "", "https://s3.example.com:9000/base/"},
		{"b", "", "https://s3.example.com:9000/base/b"},
		{"b", "a b/c+d", "https://s3.example.com:9000/base/b/a%20b/c%2Bd"},
		{"b", "a//./../x", "https://s3.example.com:9000/base/b/a//./../x"},
		{"b", "€;=?#", "https://s3.example.com:9000/base/b/%E2%82%AC%3B%3D%3F%23"},
	}
	for _, c := range cases {
		u := p.upstreamURL(c.bucket, c.key, nil)
		if got := u.String(); got != c.want {
			t.Errorf("upstreamURL(%q, %q) = %q, want %q", c.bucket, c.key, got, c.want)
		}
		if c.key != "" && u.Path != "/base/"+c.bucket+"/"+c.key {
			t.Errorf("decoded path %q", u.Path)
		}
	}
}

func TestForwardHeader(t *testing.T) {
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
	if v, ok := dst["Content-Type"]; !ok || v != nil {
		t.Errorf("Content-Type not pinned against sniffing: %v", dst)
	}
	if len(dst) != 4 || dst.Get("Etag") == "" || dst.Get("X-Amz-Meta-Color") != "red" || dst.Get("Last-Modified") == "" {
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

func TestParseSSE(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		h       http.Header
		keyID   string
		ctx     map[string]string
		errCode string
	}{
		{http.Header{}, "", nil, ""},
		{http.Header{"X-Amz-Server-Side-Encryption": {"aws:kms"}}, "", nil, ""},
		{http.Header{"X-Amz-Server-Side-Encryption": {"AES256"}}, "", nil, ""},
		{http.Header{"X-Amz-Server-Side-Encryption": {"aws:kms"}, "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": {"alias/x"}}, "alias/x", nil, ""},
		{http.Header{"X-Amz-Server-Side-Encryption": {"aws:kms"}, "X-Amz-Server-Side-Encryption-Context": {b64(`{"a":"b"}`)}}, "", map[string]string{"a": "b"}, ""},
		{http.Header{"X-Amz-Server-Side-Encryption": {"aws:kms"}, "X-Amz-Server-Side-Encryption-Context": {b64(`{"aws:s3:arn":"arn:aws:s3:::bkt"}`)}}, "", nil, ""},
		{http.Header{"X-Amz-Server-Side-Encryption": {"aws:kms"}, "X-Amz-Server-Side-Encryption-Context": {b64(`{"aws:s3:arn":"arn:aws:s3:::other"}`)}}, "", nil, "InvalidArgument"},
		{http.Header{"X-Amz-Server-Side-Encryption": {"aws:kms"}, "X-Amz-Server-Side-Encryption-Context": {b64(`{"a":1}`)}}, "", nil, "InvalidArgument"},
		{http.Header{"X-Amz-Server-Side-Encryption": {"aws:kms"}, "X-Amz-Server-Side-Encryption-Context": {"%%%"}}, "", nil, "InvalidArgument"},
		{http.Header{"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": {"k"}}, "", nil, "InvalidArgument"},
		{http.Header{"X-Amz-Server-Side-Encryption": {"AES256"}, "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": {"k"}}, "", nil, "InvalidArgument"},
		{http.Header{"X-Amz-Server-Side-Encryption": {"aws:kms:dsse"}}, "", nil, "InvalidArgument"},
	}
	for i, c := range cases {
		s, err := parseSSE(c.h, "bkt")
		if c.errCode != "" {
			if e := s3err.As(err); e == nil || e.Code != c.errCode {
				t.Errorf("case %d: err %v, want %s", i, err, c.errCode)
			}
			continue
		}
		if err != nil || s.keyID != c.keyID || fmt.Sprint(s.context) != fmt.Sprint(c.ctx) {
			t.Errorf("case %d: %+v %v", i, s, err)
		}
	}
}

func TestParseCopySource(t *testing.T) {
	cases := []struct {
		in   string
		want copySource
		ok   bool
	}{
		{"b/k", copySource{bucket: "b", key: "k"}, true},
		{"/b/dir/a%20b%3Fc", copySource{bucket: "b", key: "dir/a b?c"}, true},
		{"b/k?versionId=v%2B1", copySource{bucket: "b", key: "k", versionID: "v+1"}, true},
		{"b/a//b", copySource{bucket: "b", key: "a//b"}, true},
		{"b", copySource{}, false},
		{"b/", copySource{}, false},
		{"/", copySource{}, false},
		{"b/%zz", copySource{}, false},
		{"arn:aws:s3:us-east-1:1:accesspoint/ap/object/k", copySource{}, false},
		// What the backend would resolve to another path is refused, as in
		// the request's own address.
		{"b/x/../k", copySource{}, false},
		{"b/./k", copySource{}, false},
		{"..%2Fother/k", copySource{}, false},
		{"b%2F../k", copySource{}, false},
		{"b/" + strings.Repeat("k", 1025), copySource{}, false},
		{"b/" + strings.Repeat("k", 1024), copySource{bucket: "b", key: strings.Repeat("k", 1024)}, true},
		{"b/a..b", copySource{bucket: "b", key: "a..b"}, true},
	}
	for _, c := range cases {
		got, err := parseCopySource(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("parseCopySource(%q) = %+v, %v", c.in, got, err)
		}
		if c.ok {
			back, err := parseCopySource(got.header())
			if err != nil || back != got {
				t.Errorf("header() of %+v does not parse back: %+v %v", got, back, err)
			}
		}
	}
}

func FuzzParseCopySource(f *testing.F) {
	f.Add("b/k?versionId=1")
	f.Add("/b/a%20b")
	f.Fuzz(func(t *testing.T, v string) {
		c, err := parseCopySource(v)
		if err != nil {
			return
		}
		back, err := parseCopySource(c.header())
		if err != nil || back != c {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", v, c, c.header(), back, err)
		}
	})
}

func TestCheckCompleteParts(t *testing.T) {
	doc := func(nums ...int) []byte {
		s := "<CompleteMultipartUpload>"
		for _, n := range nums {
			s += fmt.Sprintf("<Part><ETag>\"e\"</ETag><PartNumber>%d</PartNumber></Part>", n)
		}
		return []byte(s + "</CompleteMultipartUpload>")
	}
	cases := []struct {
		doc  []byte
		code string
	}{
		{doc(1), ""},
		{doc(1, 2, 3), ""},
		{doc(), "MalformedXML"},
		{doc(2), "InvalidPart"},
		{doc(1, 3), "InvalidPart"},
		{doc(1, 2, 2), "InvalidPartOrder"},
		{doc(2, 1), "InvalidPartOrder"},
		{[]byte("<nope"), "MalformedXML"},
	}
	for i, c := range cases {
		err := checkCompleteParts(c.doc)
		if c.code == "" && err != nil || c.code != "" && (s3err.As(err) == nil || s3err.As(err).Code != c.code) {
			t.Errorf("case %d: %v, want %q", i, err, c.code)
		}
	}
}

func TestToS3(t *testing.T) {
	cases := []struct {
		err    error
		code   string
		status int
	}{
		{s3err.NoSuchKey, "NoSuchKey", 404},
		{&keycache.Error{Kind: keycache.KindThrottled, Op: "Decrypt", Err: errors.New("x"), RetryAfter: 3 * time.Second}, "SlowDown", 503},
		{&keycache.Error{Kind: keycache.KindUnavailable, Op: "Decrypt", Err: errors.New("x")}, "ServiceUnavailable", 503},
		{fmt.Errorf("wrapped: %w", &keycache.Error{Kind: keycache.KindDenied, Op: "GenerateDataKey", Err: errors.New("x")}), "AccessDenied", 403},
		{&keycache.Error{Kind: keycache.KindInvalid, Op: "Decrypt", Err: errors.New("x")}, "AccessDenied", 403},
		{&upstreamError{err: errors.New("refused")}, "ServiceUnavailable", 503},
		{fmt.Errorf("x: %w", envelope.ErrAuth), "InternalError", 500},
		{errors.New("anything"), "InternalError", 500},
	}
	for _, c := range cases {
		e := toS3(c.err)
		if e.Code != c.code || e.Status != c.status {
			t.Errorf("toS3(%v) = %s %d, want %s %d", c.err, e.Code, e.Status, c.code, c.status)
		}
	}
	if e := toS3(&keycache.Error{Kind: keycache.KindThrottled, Err: errors.New("x"), RetryAfter: 3 * time.Second}); e.RetryAfter != 3*time.Second {
		t.Errorf("throttle Retry-After %v", e.RetryAfter)
	}
}
