package sigv4

import (
	"errors"
	"io"
	"testing"
)

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
