package sigv4

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/bucketkey/bucketkey/checksum"
)

// unsignedChunked frames data as STREAMING-UNSIGNED-PAYLOAD-TRAILER does:
// chunks of chunk bytes, the final "0" chunk, then trailer (already framed).
func unsignedChunked(data []byte, chunk int, trailer string) []byte {
	var b bytes.Buffer
	for len(data) > 0 {
		n := min(chunk, len(data))
		fmt.Fprintf(&b, "%x\r\n", n)
		b.Write(data[:n])
		b.WriteString("\r\n")
		data = data[n:]
	}
	b.WriteString("0\r\n")
	b.WriteString(trailer)
	return b.Bytes()
}

// unsignedTrailerRequest signs (with the SDK) a PUT whose body is framed.
func unsignedTrailerRequest(t *testing.T, framed []byte, decoded int, headers map[string]string) *http.Request {
	t.Helper()
	h := map[string]string{
		"Content-Encoding":             "aws-chunked",
		"X-Amz-Decoded-Content-Length": strconv.Itoa(decoded),
	}
	for k, v := range headers {
		h[k] = v
	}
	return sdkSign(t, signSpec{body: framed, headers: h, payload: streamingUnsignedTrailer})
}

func TestUnsignedTrailer(t *testing.T) {
	data := bytes.Repeat([]byte("bucketkey "), 10000) // 100000 bytes
	for _, a := range checksum.All {
		t.Run(a.String(), func(t *testing.T) {
			value := crcB64(a, data)
			for name, framing := range map[string]string{
				"sdk":      a.Header() + ":" + value + "\r\n\r\n",
				"minio-go": a.Header() + ":" + value + "\n\r\n\r\n",
			} {
				body := unsignedChunked(data, 65536, framing)
				r := unsignedTrailerRequest(t, body, len(data), map[string]string{"X-Amz-Trailer": a.Header(), "X-Amz-Sdk-Checksum-Algorithm": a.String()})
				au, err := testVerifier(testTime).Verify(r, VerifyOptions{AllowStreaming: true})
				if err != nil {
					t.Fatal(err)
				}
				got, err := readBody(t, au)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s: %d bytes, %v", name, len(got), err)
				}
				if au.Checksum() != value || au.ChecksumAlgorithm != a.String() {
					t.Fatalf("%s: checksum %s %q, want %q", name, au.ChecksumAlgorithm, au.Checksum(), value)
				}
			}
			// The trailer of other data.
			body := unsignedChunked(data, 65536, a.Header()+":"+crcB64(a, data[1:])+"\r\n\r\n")
			r := unsignedTrailerRequest(t, body, len(data), map[string]string{"X-Amz-Trailer": a.Header()})
			au, err := testVerifier(testTime).Verify(r, VerifyOptions{AllowStreaming: true})
			if err != nil {
				t.Fatal(err)
			}
			_, err = readBody(t, au)
			wantCode(t, err, "BadDigest", 400)
		})
	}
}

func TestUnsignedChunkedRejects(t *testing.T) {
	data := []byte("hello, aws-chunked world")
	good := crcB64(checksumCRC32C, data)
	trailer := "x-amz-checksum-crc32c:" + good + "\r\n\r\n"
	declare := map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32c"}
	for _, tc := range []struct {
		name    string
		body    []byte
		decoded int
		headers map[string]string
		code    string
	}{
		{"control", unsignedChunked(data, 5, trailer), len(data), declare, ""},
		{"no trailer declared or sent", unsignedChunked(data, 5, "\r\n"), len(data), nil, ""},
		{"declared length too small", unsignedChunked(data, 5, trailer), len(data) - 1, declare, "IncompleteBody"},
		{"declared length too large", unsignedChunked(data, 5, trailer), len(data) + 1, declare, "IncompleteBody"},
		{"truncated in data", unsignedChunked(data, 5, trailer)[:20], len(data), declare, "IncompleteBody"},
		{"truncated in trailer", unsignedChunked(data, 5, trailer)[:len(unsignedChunked(data, 5, trailer))-12], len(data), declare, "IncompleteBody"},
		{"ends after the final chunk", unsignedChunked(data, 5, ""), len(data), declare, "IncompleteBody"},
		{"ends after the trailer line", unsignedChunked(data, 5, "x-amz-checksum-crc32c:"+good+"\r\n"), len(data), declare, "IncompleteBody"},
		{"ends inside the final CRLF", unsignedChunked(data, 5, "\r"), len(data), nil, "IncompleteBody"},
		{"ends inside the blank line after the trailer", unsignedChunked(data, 5, "x-amz-checksum-crc32c:"+good+"\r\n\r"), len(data), declare, "IncompleteBody"},
		{"bare CR in the trailer", unsignedChunked(data, 5, "x-amz-checksum-crc32c:"+good+"\rbcd\r\n\r\n"), len(data), declare, "IncompleteBody"},
		{"no final chunk", bytes.TrimSuffix(unsignedChunked(data, 5, ""), []byte("0\r\n")), len(data), declare, "IncompleteBody"},
		{"bad size", append([]byte("zz\r\n"), unsignedChunked(data, 5, trailer)...), len(data), declare, "IncompleteBody"},
		{"size too long", append([]byte("0000000000000001\r\nx\r\n"), unsignedChunked(data, 5, trailer)...), len(data), declare, "IncompleteBody"},
		{"chunk extension", bytes.Replace(unsignedChunked(data, 5, trailer), []byte("5\r\n"), []byte("5;chunk-signature=00\r\n"), 1), len(data), declare, "IncompleteBody"},
		{"LF only", bytes.Replace(unsignedChunked(data, 5, trailer), []byte("5\r\n"), []byte("5\n"), 1), len(data), declare, "IncompleteBody"},
		{"data not followed by CRLF", bytes.Replace(unsignedChunked(data, 5, trailer), []byte("hello\r\n"), []byte("hello\n\n"), 1), len(data), declare, "IncompleteBody"},
		{"undeclared trailer", unsignedChunked(data, 5, trailer), len(data), nil, "MalformedTrailerError"},
		{"missing trailer", unsignedChunked(data, 5, "\r\n"), len(data), declare, "MalformedTrailerError"},
		{"trailer signature when unsigned", unsignedChunked(data, 5, "x-amz-checksum-crc32c:"+good+"\r\nx-amz-trailer-signature:"+emptySHA256Hex+"\r\n\r\n"), len(data), declare, "MalformedTrailerError"},
		{"malformed trailer value", unsignedChunked(data, 5, "x-amz-checksum-crc32c:AAAA\r\n\r\n"), len(data), declare, "InvalidRequest"},
		{"trailer twice", unsignedChunked(data, 5, "x-amz-checksum-crc32c:"+good+"\r\nx-amz-checksum-crc32c:"+good+"\r\n\r\n"), len(data), declare, "MalformedTrailerError"},
		{"trailer line without colon", unsignedChunked(data, 5, "x-amz-checksum-crc32c\r\n\r\n"), len(data), declare, "MalformedTrailerError"},
		{"trailer section too long", unsignedChunked(data, 5, trailer+string(bytes.Repeat([]byte("\r\n"), 3000))), len(data), declare, "MalformedTrailerError"},
		{"content-md5 of the decoded data", unsignedChunked(data, 5, trailer), len(data), map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32c", "Content-Md5": md5B64(data)}, ""},
		{"content-md5 mismatch", unsignedChunked(data, 5, trailer), len(data), map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32c", "Content-Md5": md5B64(data[1:])}, "BadDigest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				r := unsignedTrailerRequest(t, tc.body, tc.decoded, tc.headers)
				if oneByte {
					r.Body = io.NopCloser(oneByteReader{r.Body})
				}
				a, err := testVerifier(testTime).Verify(r, VerifyOptions{AllowStreaming: true})
				if err != nil {
					t.Fatal(err)
				}
				got, err := readBody(t, a)
				if tc.code == "" {
					if err != nil || !bytes.Equal(got, data) {
						t.Fatalf("got %q, %v", got, err)
					}
					continue
				}
				wantCode(t, err, tc.code, 0)
			}
		})
	}
}

func md5B64(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

// TestChunkedWithoutContentLength: an aws-chunked upload sent with HTTP
// chunked transfer encoding has no Content-Length; the decoded length is
// x-amz-decoded-content-length.
func TestChunkedWithoutContentLength(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 70000)
	body := unsignedChunked(data, 65536, "x-amz-checksum-crc32:"+crcB64(checksumCRC32, data)+"\r\n\r\n")
	h := map[string]string{
		"Content-Encoding":             "aws-chunked",
		"X-Amz-Decoded-Content-Length": strconv.Itoa(len(data)),
		"X-Amz-Trailer":                "x-amz-checksum-crc32",
	}
	r := sdkSign(t, signSpec{body: body, headers: h, payload: streamingUnsignedTrailer, noLength: true})
	a, err := testVerifier(testTime).Verify(r, VerifyOptions{AllowStreaming: true})
	if err != nil {
		t.Fatal(err)
	}
	if a.ContentLength != int64(len(data)) {
		t.Fatalf("ContentLength %d", a.ContentLength)
	}
	got, err := readBody(t, a)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
}
