package sigv4

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// The worked examples of the S3 API reference ("Signature Calculations for
// the Authorization Header: Transferring Payload in a Single Chunk",
// "... Query String Parameters", "... Multiple Chunks", "... Including
// Trailing Headers"), verified end to end through Verifier.Verify.

func exampleAuth(signedHeaders, signature string) string {
	return "AWS4-HMAC-SHA256 Credential=" + exampleAK + "/20130524/us-east-1/s3/aws4_request,SignedHeaders=" + signedHeaders + ",Signature=" + signature
}

func TestS3ExamplesHeaderAuth(t *testing.T) {
	for _, tc := range []struct {
		name, method, target string
		headers              map[string]string
		body                 []byte
	}{
		{
			name: "GET Object with Range", method: "GET", target: "/test.txt",
			headers: map[string]string{
				"Range":                "bytes=0-9",
				"X-Amz-Content-Sha256": emptySHA256Hex,
				"X-Amz-Date":           "20130524T000000Z",
				"Authorization":        exampleAuth("host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
			},
		},
		{
			name: "PUT Object", method: "PUT", target: "/test%24file.text",
			headers: map[string]string{
				"Date":                 "Fri, 24 May 2013 00:00:00 GMT",
				"X-Amz-Storage-Class":  "REDUCED_REDUNDANCY",
				"X-Amz-Content-Sha256": "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
				"X-Amz-Date":           "20130524T000000Z",
				"Authorization":        exampleAuth("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class", "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
			},
			body: []byte("Welcome to Amazon S3."),
		},
		{
			name: "GET Bucket Lifecycle", method: "GET", target: "/?lifecycle",
			headers: map[string]string{
				"X-Amz-Content-Sha256": emptySHA256Hex,
				"X-Amz-Date":           "20130524T000000Z",
				"Authorization":        exampleAuth("host;x-amz-content-sha256;x-amz-date", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
			},
		},
		{
			name: "GET Bucket (List Objects)", method: "GET", target: "/?max-keys=2&prefix=J",
			headers: map[string]string{
				"X-Amz-Content-Sha256": emptySHA256Hex,
				"X-Amz-Date":           "20130524T000000Z",
				"Authorization":        exampleAuth("host;x-amz-content-sha256;x-amz-date", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := serverRequest(tc.method, tc.target, exampleHost, tc.headers, tc.body)
			a, err := exampleVerifier().Verify(r, VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if a.AccessKey != exampleAK || a.Presigned {
				t.Errorf("got access key %q presigned %v", a.AccessKey, a.Presigned)
			}
			data, err := readBody(t, a)
			if err != nil || !bytes.Equal(data, tc.body) {
				t.Fatalf("body %q, %v; want %q", data, err, tc.body)
			}
			if a.ContentLength != int64(len(tc.body)) {
				t.Errorf("ContentLength %d, want %d", a.ContentLength, len(tc.body))
			}

			// The same request with one signed byte changed fails.
			r = serverRequest(tc.method, tc.target, exampleHost, tc.headers, tc.body)
			r.Header.Set("X-Amz-Date", "20130524T000001Z")
			_, err = exampleVerifier().Verify(r, VerifyOptions{})
			wantCode(t, err, "SignatureDoesNotMatch", 403)
		})
	}
}

func TestS3ExamplePresignedGET(t *testing.T) {
	const target = "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
	r := serverRequest("GET", target, exampleHost, nil, nil)
	a, err := exampleVerifier().Verify(r, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Presigned || a.AccessKey != exampleAK {
		t.Fatalf("got %+v", a)
	}
	if _, err := readBody(t, a); err != nil {
		t.Fatal(err)
	}
	// Parameter order does not matter; their values do.
	reordered := "/test.txt?X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404&X-Amz-SignedHeaders=host&X-Amz-Expires=86400&X-Amz-Date=20130524T000000Z&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Algorithm=AWS4-HMAC-SHA256"
	if _, err := exampleVerifier().Verify(serverRequest("GET", reordered, exampleHost, nil, nil), VerifyOptions{}); err != nil {
		t.Fatalf("reordered parameters: %v", err)
	}
	tampered := strings.Replace(target, "test.txt", "test.txu", 1)
	_, err = exampleVerifier().Verify(serverRequest("GET", tampered, exampleHost, nil, nil), VerifyOptions{})
	wantCode(t, err, "SignatureDoesNotMatch", 403)
}

// The chunked-upload example: 66560 bytes of 'a' as a 65536-byte chunk, a
// 1024-byte chunk and the final empty chunk.
const (
	chunkedSeed   = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
	chunkedSig1   = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
	chunkedSig2   = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
	chunkedSigEnd = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"

	trailerSeed   = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
	trailerSig1   = "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2"
	trailerSig2   = "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7"
	trailerSigEnd = "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992"
	trailerSigTrl = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
	exampleCRC32C = "sOO8/Q=="
)

func chunkedExampleBody(sigs [3]string, trailer string) []byte {
	var b bytes.Buffer
	for i, n := range []int{65536, 1024} {
		fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n", n, sigs[i])
		b.Write(bytes.Repeat([]byte("a"), n))
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "0;chunk-signature=%s\r\n", sigs[2])
	if trailer == "" {
		b.WriteString("\r\n")
	} else {
		b.WriteString(trailer)
	}
	return b.Bytes()
}

func chunkedExampleRequest(body []byte) map[string]string {
	return map[string]string{
		"X-Amz-Date":                   "20130524T000000Z",
		"X-Amz-Storage-Class":          "REDUCED_REDUNDANCY",
		"X-Amz-Content-Sha256":         streamingSigned,
		"Content-Encoding":             "aws-chunked",
		"X-Amz-Decoded-Content-Length": "66560",
		"Content-Length":               strconv.Itoa(len(body)),
		"Authorization":                exampleAuth("content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class", chunkedSeed),
	}
}

func TestS3ExampleChunkedUpload(t *testing.T) {
	body := chunkedExampleBody([3]string{chunkedSig1, chunkedSig2, chunkedSigEnd}, "")
	if len(body) != 66824 {
		t.Fatalf("example body is %d bytes, the reference says 66824", len(body))
	}
	want := bytes.Repeat([]byte("a"), 66560)
	for _, oneByte := range []bool{false, true} {
		r := serverRequest("PUT", "/examplebucket/chunkObject.txt", "s3.amazonaws.com", chunkedExampleRequest(body), body)
		if oneByte {
			r.Body = struct {
				oneByteReader
				closer
			}{oneByteReader{r.Body}, closer{}}
		}
		a, err := exampleVerifier().Verify(r, VerifyOptions{AllowStreaming: true})
		if err != nil {
			t.Fatal(err)
		}
		if a.ContentLength != 66560 {
			t.Errorf("ContentLength %d, want the decoded 66560", a.ContentLength)
		}
		got, err := readBody(t, a)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("decoded %d bytes, %v", len(got), err)
		}
	}

	// Every way of breaking the chain fails with the right code.
	for _, tc := range []struct {
		name string
		body []byte
		code string
	}{
		{"data byte changed", bytes.Replace(body, []byte("aaaa\r\n400;"), []byte("aaab\r\n400;"), 1), "SignatureDoesNotMatch"},
		{"chunk signatures swapped", chunkedExampleBody([3]string{chunkedSig2, chunkedSig1, chunkedSigEnd}, ""), "SignatureDoesNotMatch"},
		{"final signature wrong", chunkedExampleBody([3]string{chunkedSig1, chunkedSig2, chunkedSig1}, ""), "SignatureDoesNotMatch"},
		{"truncated before the final chunk", body[:len(body)-90], "IncompleteBody"},
		{"truncated in data", body[:1000], "IncompleteBody"},
		{"garbage after the final chunk", append(append([]byte(nil), body...), "junk"...), "IncompleteBody"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := chunkedExampleRequest(body) // the signed Content-Length
			r := serverRequest("PUT", "/examplebucket/chunkObject.txt", "s3.amazonaws.com", h, tc.body)
			a, err := exampleVerifier().Verify(r, VerifyOptions{AllowStreaming: true})
			if err != nil {
				t.Fatal(err)
			}
			_, err = readBody(t, a)
			wantCode(t, err, tc.code, 0)
		})
	}
}

type closer struct{}

func (closer) Close() error { return nil }

// The trailer example: the same 66560 bytes, signed with
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER and an x-amz-checksum-crc32c
// trailer, whose trailer signature chains on the final chunk's.
func TestS3ExampleChunkedTrailer(t *testing.T) {
	// The chunk and trailer signatures, from the seed.
	key := deriveKey(exampleSK, "20130524", "us-east-1", "s3")
	var seed, want [32]byte
	parseSignature(trailerSeed, &seed)
	c := newChainSigner(&key, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request", &seed)
	for _, step := range []struct {
		data []byte
		sig  string
	}{
		{bytes.Repeat([]byte("a"), 65536), trailerSig1},
		{bytes.Repeat([]byte("a"), 1024), trailerSig2},
		{nil, trailerSigEnd},
	} {
		parseSignature(step.sig, &want)
		sum := sha256Sum(step.data)
		if !c.next(chunkPayloadAlgorithm, &sum, &want) {
			t.Fatalf("chunk signature %s does not verify", step.sig)
		}
	}
	parseSignature(trailerSigTrl, &want)
	sum := sha256Sum([]byte("x-amz-checksum-crc32c:" + exampleCRC32C + "\n"))
	if !c.next(trailerAlgorithm, &sum, &want) {
		t.Fatal("the trailer signature does not verify")
	}

	// And the whole request through Verify, in the trailer framings real
	// clients use.
	sigs := [3]string{trailerSig1, trailerSig2, trailerSigEnd}
	for name, trailer := range map[string]string{
		"AWS SDK framing":  "x-amz-checksum-crc32c:" + exampleCRC32C + "\r\nx-amz-trailer-signature:" + trailerSigTrl + "\r\n\r\n",
		"minio-go framing": "x-amz-checksum-crc32c:" + exampleCRC32C + "\n\r\nx-amz-trailer-signature:" + trailerSigTrl + "\r\n\r\n",
		"CRLF after final": "\r\nx-amz-checksum-crc32c:" + exampleCRC32C + "\r\nx-amz-trailer-signature:" + trailerSigTrl + "\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			body := chunkedExampleBody(sigs, trailer)
			a, err := trailerExampleVerify(t, body)
			if err != nil {
				t.Fatal(err)
			}
			if a.ChecksumAlgorithm != "CRC32C" {
				t.Errorf("ChecksumAlgorithm %q", a.ChecksumAlgorithm)
			}
			got, err := readBody(t, a)
			if err != nil || len(got) != 66560 {
				t.Fatalf("decoded %d bytes, %v", len(got), err)
			}
			if a.Checksum() != exampleCRC32C {
				t.Errorf("Checksum() = %q, want %q", a.Checksum(), exampleCRC32C)
			}
		})
	}
	for _, tc := range []struct {
		name, trailer, code string
	}{
		{"trailer value changed", "x-amz-checksum-crc32c:sOO8/A==\r\nx-amz-trailer-signature:" + trailerSigTrl + "\r\n\r\n", "SignatureDoesNotMatch"},
		// A signed section that does not end with its signature (none, or
		// a mangled name where it stands) is a body that ended early.
		{"trailer signature missing", "x-amz-checksum-crc32c:" + exampleCRC32C + "\r\n\r\n", "IncompleteBody"},
		{"trailer signature name mangled", "x-amz-checksum-crc32c:" + exampleCRC32C + "\r\nx-aminvalidrailer-signature:" + trailerSigTrl + "\r\n\r\n", "IncompleteBody"},
		{"trailer signature too long", "x-amz-checksum-crc32c:" + exampleCRC32C + "\r\nx-amz-trailer-signature:" + trailerSigTrl + "a\r\n\r\n", "IncompleteBody"},
		{"trailer signature name cut", "x-amz-checksum-crc32c:" + exampleCRC32C + "\r\nx-amz-trailer-abcdture:" + trailerSigTrl + "\r\n\r\n", "IncompleteBody"},
		{"trailer missing", "x-amz-trailer-signature:" + trailerSigTrl + "\r\n\r\n", "MalformedTrailerError"},
		{"undeclared trailer", "x-amz-checksum-crc32:" + exampleCRC32C + "\r\nx-amz-trailer-signature:" + trailerSigTrl + "\r\n\r\n", "MalformedTrailerError"},
		{"signature before trailer", "x-amz-trailer-signature:" + trailerSigTrl + "\r\nx-amz-checksum-crc32c:" + exampleCRC32C + "\r\n\r\n", "MalformedTrailerError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := trailerExampleVerify(t, chunkedExampleBody(sigs, tc.trailer))
			if err != nil {
				t.Fatal(err)
			}
			_, err = readBody(t, a)
			wantCode(t, err, tc.code, 0)
		})
	}
}

// trailerExampleVerify verifies the trailer example request with body. The
// reference's seed signature covers these headers, without Content-Length
// (whose value depends on the trailer framing).
func trailerExampleVerify(t *testing.T, body []byte) (*Authenticated, error) {
	t.Helper()
	h := map[string]string{
		"X-Amz-Date":                   "20130524T000000Z",
		"X-Amz-Storage-Class":          "REDUCED_REDUNDANCY",
		"X-Amz-Content-Sha256":         streamingSignedTrailer,
		"Content-Encoding":             "aws-chunked",
		"X-Amz-Decoded-Content-Length": "66560",
		"X-Amz-Trailer":                "x-amz-checksum-crc32c",
		"Authorization":                exampleAuth("content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer", trailerSeed),
	}
	r := serverRequest("PUT", "/examplebucket/chunkObject.txt", "s3.amazonaws.com", h, body)
	return exampleVerifier().Verify(r, VerifyOptions{AllowStreaming: true})
}
