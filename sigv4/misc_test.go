package sigv4

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc64"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"testing"

	"github.com/bucketkey/bucketkey/checksum"
)

func TestChecksumVectors(t *testing.T) {
	for _, tc := range []struct {
		alg  checksumAlg
		in   string
		want string // base64 of the big-endian checksum
	}{
		// Check values of the CRC catalogue, and aws-sdk-go-v2's test vectors.
		{checksumCRC32, "123456789", b64u32(0xCBF43926)},
		{checksumCRC32C, "123456789", b64u32(0xE3069283)},
		{checksumCRC64NVME, "123456789", b64u64(0xAE8B14860A799888)},
		{checksumCRC64NVME, "hello world", "jSnVw/bqjr4="},
		{checksumCRC32, "hello world", "DUoRhQ=="},
		{checksumCRC32C, "hello world", "yZRlqg=="},
		{checksumSHA1, "hello world", "Kq5sNclPz7QV2+lfQIuc6R7oRu0="},
		{checksumSHA256, "hello world", "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="},
	} {
		if got := crcB64(tc.alg, []byte(tc.in)); got != tc.want {
			t.Errorf("%v(%q) = %s, want %s", tc.alg, tc.in, got, tc.want)
		}
	}
	// CRC64NVME against hash/crc64 with the reflected NVMe polynomial, at
	// lengths around the SIMD block sizes.
	table := crc64.MakeTable(0x9a6c9329ac4bc9b5)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 7, 15, 16, 17, 63, 64, 65, 127, 128, 255, 256, 1000, 4096, 65536 + 3} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		h := checksumCRC64NVME.New()
		// in two writes, to check state carries over
		h.Write(b[:n/3])
		h.Write(b[n/3:])
		if got, want := binary.BigEndian.Uint64(h.Sum(nil)), crc64.Checksum(b, table); got != want {
			t.Fatalf("length %d: %x, hash/crc64 says %x", n, got, want)
		}
	}
	if checksum.ByName("crc64NVME") != checksumCRC64NVME || checksum.ByName("md5") != checksum.MD5 || checksum.ByName("blake3") != checksumNone {
		t.Error("checksumByName")
	}
	if checksum.ByHeader("X-Amz-Checksum-Sha1") != checksumSHA1 || checksum.ByHeader("x-amz-checksum-type") != checksumNone {
		t.Error("checksumByHeader")
	}
}

func b64u32(v uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return base64.StdEncoding.EncodeToString(b[:])
}

func b64u64(v uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return base64.StdEncoding.EncodeToString(b[:])
}

func TestEscapePath(t *testing.T) {
	for in, want := range map[string]string{
		"/bucket/key":           "/bucket/key",
		"/b/a b+c":              "/b/a%20b%2Bc",
		"/b/a//b/./c":           "/b/a//b/./c",
		"/b/%2F":                "/b/%252F",
		"/b/ü":                  "/b/%C3%BC",
		"/b/-_.~":               "/b/-_.~",
		"/b/!$&'()*,;=:@[]?#":   "/b/%21%24%26%27%28%29%2A%2C%3B%3D%3A%40%5B%5D%3F%23",
		"/test$file.text":       "/test%24file.text",
		"":                      "",
		"/b/\x00\x7f\xff":       "/b/%00%7F%FF",
		"/b/tab\tand\nnewline":  "/b/tab%09and%0Anewline",
		"/b/already%20escaped?": "/b/already%2520escaped%3F",
	} {
		if got := EscapePath(in); got != want {
			t.Errorf("EscapePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStripForUpstream(t *testing.T) {
	h := http.Header{
		"Authorization":                {"AWS4-HMAC-SHA256 ..."},
		"X-Amz-Content-Sha256":         {"UNSIGNED-PAYLOAD"},
		"X-Amz-Date":                   {"20240102T030405Z"},
		"X-Amz-Security-Token":         {"t"},
		"X-Amz-Decoded-Content-Length": {"5"},
		"X-Amz-Trailer":                {"x-amz-checksum-crc32"},
		"X-Amz-Sdk-Checksum-Algorithm": {"CRC32"},
		"X-Amz-Checksum-Crc32":         {"AAAAAA=="},
		"X-Amz-Checksum-Type":          {"FULL_OBJECT"},
		"X-Amz-Checksum-Mode":          {"ENABLED"},
		"Content-Md5":                  {"x"},
		"content-md5":                  {"x"}, // a map not built by net/http
		"Content-Encoding":             {"aws-chunked, gzip"},
		"Content-Type":                 {"text/plain"},
		"X-Amz-Meta-Color":             {"blue"},
		"X-Amz-Storage-Class":          {"STANDARD"},
		"Range":                        {"bytes=0-1"},
	}
	StripForUpstream(h)
	want := http.Header{
		"Content-Encoding":    {"gzip"},
		"Content-Type":        {"text/plain"},
		"X-Amz-Meta-Color":    {"blue"},
		"X-Amz-Storage-Class": {"STANDARD"},
		"Range":               {"bytes=0-1"},
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got %v\nwant %v", h, want)
	}
	h = http.Header{"Content-Encoding": {"aws-chunked"}}
	StripForUpstream(h)
	if len(h) != 0 {
		t.Fatalf("aws-chunked alone should leave no Content-Encoding: %v", h)
	}
}

func TestParseAmzDate(t *testing.T) {
	for in, ok := range map[string]bool{
		"20130524T000000Z": true,
		"20240229T235959Z": true,
		"20230229T000000Z": false,
		"20131324T000000Z": false,
		"20130524T240000Z": false,
		"20130524T000000":  false,
		"2013-05-24T00:00": false,
		"2013052AT000000Z": false,
		"20130524X000000Z": false,
	} {
		if _, got := parseAmzDate(in); got != ok {
			t.Errorf("parseAmzDate(%q) ok = %v", in, got)
		}
	}
}

func TestCanonicalQuery(t *testing.T) {
	for raw, want := range map[string]string{
		"":                                "",
		"acl":                             "acl=",
		"b=2&a=1&a=0":                     "a=0&a=1&b=2",
		"prefix=a+b":                      "prefix=a%20b", // form encoding, as minio-go sends it
		"prefix=a%2bb":                    "prefix=a%2Bb",
		"prefix=%7e%41":                   "prefix=~A",
		"k=a/b&k=a-b":                     "k=a%2Fb&k=a-b", // sorted after encoding
		"%E1%88%B4=bar&Param=x":           "%E1%88%B4=bar&Param=x",
		"X-Amz-Credential=AK%2F2013%2Fus": "X-Amz-Credential=AK%2F2013%2Fus",
		"a=&&b":                           "a=&b=",
	} {
		got, ok := canonicalQuery(nil, parseQuery(raw, nil), "")
		if !ok || string(got) != want {
			t.Errorf("canonicalQuery(%q) = %q, %v; want %q", raw, got, ok, want)
		}
	}
	if _, ok := canonicalQuery(nil, parseQuery("a=%zz", nil), ""); ok {
		t.Error("a bad escape was canonicalised")
	}
}

func TestSplitRequestURI(t *testing.T) {
	for in, want := range map[string][2]string{
		"/b/k?x=1":                   {"/b/k", "x=1"},
		"/b/a//b/./c%2F":             {"/b/a//b/./c%2F", ""},
		"http://host:9000/b/k?x":     {"/b/k", "x"},
		"http://host:9000?x":         {"/", "x"},
		"http://host:9000":           {"/", ""},
		"":                           {"/", ""},
		"/?":                         {"/", ""},
		"https://h/p?q=http://x/y?z": {"/p", "q=http://x/y?z"},
	} {
		p, q := splitRequestURI(in)
		if p != want[0] || q != want[1] {
			t.Errorf("splitRequestURI(%q) = %q, %q; want %q", in, p, q, want)
		}
	}
}

func TestKeyCacheBounded(t *testing.T) {
	var c keyCache
	for i := 0; i < 3*maxCachedKeys; i++ {
		region := "r" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		if k := c.get("secret", "20240102", region, "s3"); k.key != deriveKey("secret", "20240102", region, "s3") {
			t.Fatal("cached key differs from the derived one")
		}
		if len(c.m) > maxCachedKeys {
			t.Fatalf("cache grew to %d", len(c.m))
		}
	}
}

// TestCanonicalHeaderSources covers the signed headers net/http keeps out
// of the header map, and header maps with non-canonical keys.
func TestCanonicalHeaderSources(t *testing.T) {
	// Content-Length signed (the SDK signs it) but only in r.ContentLength,
	// as for a request built in-process.
	r := sdkSign(t, signSpec{body: []byte("hello")})
	r.Header.Del("Content-Length")
	if _, err := testVerifier(testTime).Verify(r, VerifyOptions{}); err != nil {
		t.Fatalf("content-length from r.ContentLength: %v", err)
	}
	// A signed header stored under a non-canonical key.
	r = sdkSign(t, signSpec{body: []byte("hello"), headers: map[string]string{"X-Amz-Meta-Odd": "v"}})
	r.Header["x-amz-meta-odd"] = r.Header["X-Amz-Meta-Odd"]
	delete(r.Header, "X-Amz-Meta-Odd")
	if _, err := testVerifier(testTime).Verify(r, VerifyOptions{}); err != nil {
		t.Fatalf("non-canonical header key: %v", err)
	}
	// Transfer-Encoding and Host as net/http presents them.
	r = serverRequest("PUT", "/b/k", "", nil, nil)
	r.Host = ""
	r.URL.Host = "from-url.test"
	r.TransferEncoding = []string{"chunked"}
	in := canonicalInput{method: "PUT", path: "/b/k", signedHeaders: "host;transfer-encoding", payload: "UNSIGNED-PAYLOAD"}
	got, _ := appendCanonicalRequest(nil, r, &in)
	if want := "PUT\n/b/k\n\nhost:from-url.test\ntransfer-encoding:chunked\n\nhost;transfer-encoding\nUNSIGNED-PAYLOAD"; string(got) != want {
		t.Fatalf("canonical request:\n%s\nwant:\n%s", got, want)
	}
}

// TestChunkedSourceError: a transport error under an aws-chunked body is
// IncompleteBody, wrapping the cause.
func TestChunkedSourceError(t *testing.T) {
	data := []byte("hello, world")
	body := unsignedChunked(data, 5, "x-amz-checksum-crc32:"+crcB64(checksumCRC32, data)+"\r\n\r\n")
	for _, cut := range []int{3, 10, len(body) - 3} {
		r := unsignedTrailerRequest(t, body, len(data), map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"})
		r.Body = io.NopCloser(&errReader{data: body[:cut], err: errInjected})
		a, err := testVerifier(testTime).Verify(r, VerifyOptions{AllowStreaming: true})
		if err != nil {
			t.Fatal(err)
		}
		_, err = readBody(t, a)
		wantCode(t, err, "IncompleteBody", 400)
		if !errors.Is(err, errInjected) {
			t.Fatalf("cut at %d: %v does not wrap the cause", cut, err)
		}
	}
}
