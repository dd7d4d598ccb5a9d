package sigv4

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/bucketkey/bucketkey/checksum"
)

// lowerKeys returns h with every key in lower case, as a header map built
// in-process (not by net/http) may have them.
func lowerKeys(h http.Header) http.Header {
	l := make(http.Header, len(h))
	for k, v := range h {
		l[strings.ToLower(k)] = v
	}
	return l
}

// TestHeaderKeyCase: the digest headers are found whatever the case of the
// header map's keys, so a map built with "content-md5" cannot skip the
// check, and keys differing only in case count as a repeated header.
func TestHeaderKeyCase(t *testing.T) {
	body := []byte("the body the client sent")
	other := []byte("some other body")
	md5Of := func(b []byte) string { s := md5.Sum(b); return base64.StdEncoding.EncodeToString(s[:]) }
	for _, tc := range []struct {
		name     string
		headers  map[string]string
		mutate   func(h http.Header) // applied to the signed request's header
		code     string              // from Verify
		bodyCode string              // from reading the body
		checksum string              // Checksum() of a verified body
	}{
		{name: "content-md5 of other data", headers: map[string]string{"Content-Md5": md5Of(other)}, mutate: func(h http.Header) {}, bodyCode: "BadDigest"},
		{name: "lower-case content-md5 of other data", headers: map[string]string{"Content-Md5": md5Of(other)}, bodyCode: "BadDigest"},
		{name: "every key lower-case, content-md5 of other data", headers: map[string]string{"Content-Md5": md5Of(other)}, mutate: func(h http.Header) {
			for k, v := range lowerKeys(h) {
				delete(h, http.CanonicalHeaderKey(k))
				h[k] = v
			}
		}, bodyCode: "BadDigest"},
		{name: "lower-case x-amz-checksum-crc32 of other data", headers: map[string]string{"X-Amz-Checksum-Crc32": crcB64(checksumCRC32, other)}, bodyCode: "BadDigest"},
		{name: "lower-case x-amz-checksum-sha256 of other data", headers: map[string]string{"X-Amz-Checksum-Sha256": crcB64(checksumSHA256, other)}, bodyCode: "BadDigest"},
		{name: "lower-case content-md5 of the body", headers: map[string]string{"Content-Md5": md5Of(body)}},
		{name: "lower-case x-amz-checksum-crc32c of the body", headers: map[string]string{"X-Amz-Checksum-Crc32c": crcB64(checksumCRC32C, body)}, checksum: crcB64(checksumCRC32C, body)},
		{
			name: "content-md5 under two cases", headers: map[string]string{"Content-Md5": md5Of(body)}, code: "InvalidDigest",
			mutate: func(h http.Header) { h["content-md5"] = []string{md5Of(other)} },
		},
		{
			name: "x-amz-date under two cases", code: "AccessDenied",
			mutate: func(h http.Header) { h["x-amz-date"] = h["X-Amz-Date"] },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sdkSign(t, signSpec{body: body, headers: tc.headers})
			if tc.mutate != nil {
				tc.mutate(r.Header)
			} else {
				// Only the digest headers' keys: the rest of the request
				// is found under canonical keys either way.
				for k := range tc.headers {
					r.Header[strings.ToLower(k)] = r.Header[k]
					delete(r.Header, k)
				}
			}
			a, err := testVerifier(testTime).Verify(r, VerifyOptions{})
			if tc.code != "" {
				wantCode(t, err, tc.code, 0)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := readBody(t, a)
			if tc.bodyCode != "" {
				wantCode(t, err, tc.bodyCode, 400)
				return
			}
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("%q, %v", got, err)
			}
			if a.Checksum() != tc.checksum {
				t.Fatalf("Checksum() = %q, want %q", a.Checksum(), tc.checksum)
			}
		})
	}
}

// TestStreamingOnlyWhereAllowed: streaming payloads are for the operations
// that upload object data (PutObject, UploadPart), which the caller marks
// with AllowStreaming; everywhere else they are refused.
func TestStreamingOnlyWhereAllowed(t *testing.T) {
	data := []byte("<Tagging><TagSet/></Tagging>")
	framed := unsignedChunked(data, 8192, "x-amz-checksum-crc32:"+crcB64(checksumCRC32, data)+"\r\n\r\n")
	streaming := func(target string) func(t *testing.T) *http.Request {
		return func(t *testing.T) *http.Request {
			return sdkSign(t, signSpec{target: target, body: framed, payload: streamingUnsignedTrailer, headers: map[string]string{
				"Content-Encoding":             "aws-chunked",
				"X-Amz-Decoded-Content-Length": strconv.Itoa(len(data)),
				"X-Amz-Trailer":                "x-amz-checksum-crc32",
			}})
		}
	}
	for _, tc := range []struct {
		name string
		req  func(t *testing.T) *http.Request
		opts VerifyOptions
		code string
	}{
		{name: "PutObjectTagging, aws-chunked", req: streaming("/bucket/key?tagging"), code: "InvalidRequest"},
		{name: "PutObject without AllowStreaming", req: streaming("/bucket/key"), code: "InvalidRequest"},
		{name: "PutObject", req: streaming("/bucket/key"), opts: VerifyOptions{AllowStreaming: true}},
		{name: "UploadPart", req: streaming("/bucket/key?partNumber=1&uploadId=abc"), opts: VerifyOptions{AllowStreaming: true}},
		{name: "PutObject, signed aws-chunked", opts: VerifyOptions{AllowStreaming: true}, req: func(t *testing.T) *http.Request {
			r, _ := signedChunkedRequest(t, data, 8192, checksumNone)
			return r
		}},
		{name: "PutObject, signed aws-chunked, without AllowStreaming", code: "InvalidRequest", req: func(t *testing.T) *http.Request {
			r, _ := signedChunkedRequest(t, data, 8192, checksumNone)
			return r
		}},
		{name: "PutObjectTagging, hashed body", req: func(t *testing.T) *http.Request {
			return sdkSign(t, signSpec{target: "/bucket/key?tagging", body: data})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := testVerifier(testTime).Verify(tc.req(t), tc.opts)
			if tc.code != "" {
				wantCode(t, err, tc.code, 400)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, err := readBody(t, a); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%q, %v", got, err)
			}
		})
	}
}

// The bits of FuzzPayloadHeaders' present argument: which headers to send.
const (
	fuzzMD5 = 1 << iota
	fuzzChecksum
	fuzzTrailer
	fuzzSDK
	fuzzDecoded
)

// FuzzPayloadHeaders parses x-amz-content-sha256 and the digest and length
// headers (Content-MD5, x-amz-checksum-*, x-amz-trailer,
// x-amz-sdk-checksum-algorithm, x-amz-decoded-content-length): no panic,
// only S3 request errors, what is accepted is self-consistent, and the
// case of the header keys changes nothing.
func FuzzPayloadHeaders(f *testing.F) {
	data := []byte("hello")
	md5sum := md5.Sum(data)
	goodMD5 := base64.StdEncoding.EncodeToString(md5sum[:])
	all := uint8(fuzzMD5 | fuzzChecksum | fuzzTrailer | fuzzSDK | fuzzDecoded)
	f.Add(hexSHA256(data), goodMD5, uint8(checksumCRC32), crcB64(checksumCRC32, data), "", "CRC32", "", uint8(fuzzMD5|fuzzChecksum|fuzzSDK))
	f.Add(strings.ToUpper(hexSHA256(data)), "AAAA", uint8(0), "", "", "", "", uint8(fuzzMD5))
	f.Add(unsignedPayload, "", uint8(checksumSHA256), crcB64(checksumSHA256, data), "", "sha256", "", uint8(fuzzChecksum|fuzzSDK))
	f.Add(streamingSigned, "", uint8(0), "", "", "", "5", uint8(fuzzDecoded))
	f.Add(streamingSigned, "", uint8(0), "", "", "", "+5", uint8(fuzzDecoded))
	f.Add(streamingSigned, "", uint8(0), "", "", "", "-1", uint8(fuzzDecoded))
	f.Add(streamingSigned, "", uint8(0), "", "", "", "9223372036854775808", uint8(fuzzDecoded))
	f.Add(streamingSignedTrailer, goodMD5, uint8(0), "", "x-amz-checksum-crc32c", "CRC32C", "0005", all&^fuzzChecksum)
	f.Add(streamingUnsignedTrailer, "", uint8(0), "", "x-amz-checksum-crc32, x-amz-checksum-sha1", "", "5", uint8(fuzzTrailer|fuzzDecoded))
	f.Add(streamingUnsignedTrailer, "", uint8(checksumCRC64NVME), crcB64(checksumCRC64NVME, data), "x-amz-checksum-crc64nvme", "CRC64NVME", "5", all)
	f.Add(unsignedPayload, "", uint8(0), "", "x-amz-checksum-crc32", "", "", uint8(fuzzTrailer))
	f.Add(streamingECDSA, "", uint8(0), "", "", "", "5", uint8(fuzzDecoded))
	f.Add("STREAMING-UNSIGNED-PAYLOAD", "", uint8(0), "", "", "", "", uint8(0))
	f.Fuzz(func(t *testing.T, payload, contentMD5 string, ckIdx uint8, ckValue, trailer, sdk, decoded string, present uint8) {
		var sum [32]byte
		mode, err := parsePayload(payload, &sum)
		if err != nil {
			if err.Code != "InvalidArgument" && err.Code != "NotImplemented" {
				t.Fatalf("x-amz-content-sha256 %q: %s", payload, err.Code)
			}
			return
		}
		if mode == payloadSHA256 && hex.EncodeToString(sum[:]) != strings.ToLower(payload) {
			t.Fatalf("x-amz-content-sha256 %q parsed as %x", payload, sum)
		}
		if mode.chunked() != strings.HasPrefix(payload, "STREAMING-") {
			t.Fatalf("x-amz-content-sha256 %q: chunked %v", payload, mode.chunked())
		}

		h := http.Header{}
		if present&fuzzMD5 != 0 {
			h.Set("Content-Md5", contentMD5)
		}
		ck := checksumAlg(int(ckIdx) % (len(checksum.All) + 1))
		if present&fuzzChecksum != 0 && ck != checksumNone {
			h.Set(ck.Header(), ckValue)
		}
		if present&fuzzTrailer != 0 {
			h.Set("X-Amz-Trailer", trailer)
		}
		if present&fuzzSDK != 0 {
			h.Set("X-Amz-Sdk-Checksum-Algorithm", sdk)
		}
		if present&fuzzDecoded != 0 {
			h.Set("X-Amz-Decoded-Content-Length", decoded)
		}
		d, err := parseBodyHeaders(h, mode)

		// The same headers under lower-case keys parse the same.
		d2, err2 := parseBodyHeaders(canonicalHeader(lowerKeys(h)), mode)
		if !reflect.DeepEqual(d, d2) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("lower-case keys: %+v %v, canonical: %+v %v", d2, err2, d, err)
		}

		if err != nil {
			switch err.Code {
			case "InvalidRequest", "InvalidDigest", "MissingContentLength", "MalformedTrailerError":
			default:
				t.Fatalf("%v: %s", h, err.Code)
			}
			if !reflect.DeepEqual(d, bodyHeaders{}) {
				t.Fatalf("%v: error %v with a result %+v", h, err, d)
			}
			return
		}
		if mode.chunked() {
			want := strings.TrimLeft(decoded, "0")
			if want == "" {
				want = "0"
			}
			if d.decoded < 0 || !allDigits(decoded) || strconv.FormatInt(d.decoded, 10) != want {
				t.Fatalf("x-amz-decoded-content-length %q accepted as %d", decoded, d.decoded)
			}
		} else if d.decoded != -1 {
			t.Fatalf("decoded length %d for a non-streaming payload", d.decoded)
		}
		if d.hasMD5 != (present&fuzzMD5 != 0) {
			t.Fatalf("Content-MD5 %q: hasMD5 %v", contentMD5, d.hasMD5)
		}
		if d.hasMD5 {
			if raw, _ := base64.StdEncoding.DecodeString(contentMD5); !bytes.Equal(raw, d.md5[:]) {
				t.Fatalf("Content-MD5 %q parsed as %x", contentMD5, d.md5)
			}
		}
		if d.ckWant != nil {
			raw, _ := base64.StdEncoding.DecodeString(ckValue)
			if d.ck != ck || d.inTrailer || len(d.ckWant) != d.ck.Size() || !bytes.Equal(raw, d.ckWant) {
				t.Fatalf("checksum %s %q accepted as %v %x (trailer %v)", ck, ckValue, d.ck, d.ckWant, d.inTrailer)
			}
		}
		if d.inTrailer && (!mode.trailer() || d.ck == checksumNone || d.ckWant != nil) {
			t.Fatalf("trailer %q accepted as %v for mode %d", trailer, d.ck, mode)
		}
		if present&fuzzSDK != 0 && checksum.ByName(strings.TrimSpace(sdk)) != d.ck {
			t.Fatalf("x-amz-sdk-checksum-algorithm %q but checksum %v", sdk, d.ck)
		}
		if d.ck == checksumNone && (d.ckWant != nil || d.inTrailer) {
			t.Fatalf("no algorithm but %+v", d)
		}
	})
}

// TestFuzzPayloadSeedsAccepted keeps FuzzPayloadHeaders honest: a valid
// set of headers gets through to the consistency checks.
func TestFuzzPayloadSeedsAccepted(t *testing.T) {
	h := http.Header{}
	h.Set("X-Amz-Trailer", "x-amz-checksum-crc64nvme")
	h.Set("X-Amz-Decoded-Content-Length", "0005")
	d, err := parseBodyHeaders(h, payloadChunkedUnsignedTrailer)
	if err != nil || d.decoded != 5 || d.ck != checksumCRC64NVME || !d.inTrailer {
		t.Fatalf("%+v, %v", d, err)
	}
	for _, bad := range []string{"+5", "-1", " 5", "0x5", "", "9223372036854775808"} {
		h.Set("X-Amz-Decoded-Content-Length", bad)
		if _, err := parseBodyHeaders(h, payloadChunkedUnsignedTrailer); err == nil || err.Code != "MissingContentLength" {
			t.Errorf("x-amz-decoded-content-length %q: %v", bad, err)
		}
	}
}

// TestRequestChecksumEveryAlgorithm: each algorithm S3 accepts is read from
// its header (and from x-amz-trailer), and refused when malformed or
// together with another.
func TestRequestChecksumEveryAlgorithm(t *testing.T) {
	for _, a := range checksum.All {
		value := crcB64(a, []byte("data"))
		for _, tc := range []struct {
			name string
			h    http.Header
			mode clientPayload
			code string
		}{
			{"header", http.Header{a.CanonicalHeader(): {value}}, payloadUnsigned, ""},
			{"trailer", http.Header{"X-Amz-Trailer": {a.Header()}}, payloadChunkedUnsignedTrailer, ""},
			{"sdk name", http.Header{"X-Amz-Sdk-Checksum-Algorithm": {strings.ToLower(a.String())}, a.CanonicalHeader(): {value}}, payloadUnsigned, ""},
			{"short", http.Header{a.CanonicalHeader(): {value[4:]}}, payloadUnsigned, "InvalidRequest"},
			{"unpadded", http.Header{a.CanonicalHeader(): {strings.TrimRight(value, "=") + "A"}}, payloadUnsigned, "InvalidRequest"},
			{"twice", http.Header{a.CanonicalHeader(): {value, value}}, payloadUnsigned, "InvalidRequest"},
			{"with another", http.Header{a.CanonicalHeader(): {value}, otherAlg(a).CanonicalHeader(): {crcB64(otherAlg(a), nil)}}, payloadUnsigned, "InvalidRequest"},
			{"header and trailer", http.Header{a.CanonicalHeader(): {value}, "X-Amz-Trailer": {otherAlg(a).Header()}}, payloadChunkedUnsignedTrailer, "InvalidRequest"},
			{"sdk name of another", http.Header{a.CanonicalHeader(): {value}, "X-Amz-Sdk-Checksum-Algorithm": {otherAlg(a).String()}}, payloadUnsigned, "InvalidRequest"},
		} {
			alg, want, inTrailer, err := requestChecksum(tc.h, tc.mode)
			if tc.code != "" {
				if err == nil || err.Code != tc.code {
					t.Errorf("%v %s: err %v, want %s", a, tc.name, err, tc.code)
				}
				continue
			}
			if err != nil || alg != a || inTrailer != (tc.name == "trailer") || (!inTrailer && checksum.Encode(want) != value) {
				t.Errorf("%v %s: %v %x %v %v", a, tc.name, alg, want, inTrailer, err)
			}
		}
	}
}

// TestRequestChecksumAsS3: the checksum headers of an upload, answered
// with S3's code and message, in the order S3 checks them (as the Swift
// s3api suite's input-error tests, run against S3, record them).
func TestRequestChecksumAsS3(t *testing.T) {
	crc := crcB64(checksum.CRC32, []byte("data"))
	multiple := "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
	unsupported := "The value specified in the x-amz-trailer header is not supported"
	trl := payloadChunkedUnsignedTrailer
	for _, tc := range []struct {
		name    string
		h       http.Header
		mode    clientPayload
		code    string // "" for accepted
		message string
		inTrl   bool
	}{
		{"sdk algorithm alone", http.Header{"X-Amz-Sdk-Checksum-Algorithm": {"CRC32"}}, payloadSHA256, "InvalidRequest", "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.", false},
		{"sdk algorithm of another", http.Header{"X-Amz-Sdk-Checksum-Algorithm": {"CRC32C"}, "X-Amz-Checksum-Crc32": {crc}}, payloadSHA256, "InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid.", false},
		{"sdk algorithm unknown", http.Header{"X-Amz-Sdk-Checksum-Algorithm": {"MD4"}, "X-Amz-Checksum-Crc32": {crc}}, payloadSHA256, "InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid.", false},
		{"sdk algorithm and trailer", http.Header{"X-Amz-Sdk-Checksum-Algorithm": {"crc32"}, "X-Amz-Trailer": {"x-amz-checksum-crc32"}}, trl, "", "", true},
		{"unknown algorithm header", http.Header{"X-Amz-Checksum-Bad": {crc}}, payloadSHA256, "InvalidRequest", "The algorithm type you specified in x-amz-checksum- header is invalid.", false},
		{"type, algorithm and mode headers are not checksums", http.Header{"X-Amz-Checksum-Type": {"COMPOSITE"}, "X-Amz-Checksum-Algorithm": {"crc32"}, "X-Amz-Checksum-Mode": {"ENABLED"}, "X-Amz-Checksum-Crc32": {crc}}, payloadSHA256, "", "", false},
		{"two headers", http.Header{"X-Amz-Checksum-Crc32": {crc}, "X-Amz-Checksum-Crc32c": {crc}}, payloadSHA256, "InvalidRequest", multiple, false},
		{"two headers trump the sdk algorithm", http.Header{"X-Amz-Sdk-Checksum-Algorithm": {"sha256"}, "X-Amz-Checksum-Crc32": {crc}, "X-Amz-Checksum-Crc32c": {crc}}, payloadSHA256, "InvalidRequest", multiple, false},
		{"trailer without a trailer payload", http.Header{"X-Amz-Trailer": {"x-amz-checksum-crc32"}}, payloadSHA256, "MalformedTrailerError", "The request contained trailing data that was not well-formed or did not conform to our published schema.", false},
		{"trailer without a trailer section", http.Header{"X-Amz-Trailer": {"x-amz-checksum-crc32"}}, payloadChunkedSigned, "MalformedTrailerError", "", false},
		{"trailer named twice", http.Header{"X-Amz-Checksum-Crc32": {crc}, "X-Amz-Trailer": {"x-amz-checksum-crc32, x-amz-checksum-crc32"}}, payloadSHA256, "InvalidRequest", multiple, false},
		{"two trailers", http.Header{"X-Amz-Trailer": {"x-amz-checksum-crc32, x-amz-checksum-sha256"}}, trl, "InvalidRequest", multiple, false},
		{"header and another trailer", http.Header{"X-Amz-Checksum-Crc32": {crc}, "X-Amz-Trailer": {"x-amz-checksum-crc32c"}}, payloadSHA256, "InvalidRequest", "Expecting a single x-amz-checksum- header", false},
		{"header and the same trailer", http.Header{"X-Amz-Checksum-Crc32": {crc}, "X-Amz-Trailer": {"x-amz-checksum-crc32"}}, trl, "InvalidRequest", "Expecting a single x-amz-checksum- header", false},
		{"two headers and a trailer", http.Header{"X-Amz-Checksum-Crc32": {crc}, "X-Amz-Checksum-Sha256": {crc}, "X-Amz-Trailer": {"x-amz-checksum-crc32"}}, trl, "InvalidRequest", multiple, false},
		{"trailer not a checksum", http.Header{"X-Amz-Trailer": {"x-amz-content-sha256"}}, trl, "InvalidRequest", unsupported, false},
		{"trailer of no algorithm", http.Header{"X-Amz-Trailer": {"x-amz-checksum-bad"}}, trl, "InvalidRequest", unsupported, false},
		{"trailer and another name", http.Header{"X-Amz-Trailer": {"x-amz-checksum-crc32, x-amz-foo"}}, trl, "InvalidRequest", unsupported, false},
		{"trailer, comma", http.Header{"X-Amz-Trailer": {"x-amz-checksum-crc32,"}}, trl, "", "", true},
		{"trailer, two commas", http.Header{"X-Amz-Trailer": {"x-amz-checksum-crc32,,"}}, trl, "", "", true},
		{"trailer, comma, space, comma", http.Header{"X-Amz-Trailer": {"x-amz-checksum-crc32, ,"}}, trl, "InvalidRequest", unsupported, false},
		{"comma, trailer", http.Header{"X-Amz-Trailer": {",x-amz-checksum-crc32"}}, trl, "InvalidRequest", unsupported, false},
		{"comma, space, trailer", http.Header{"X-Amz-Trailer": {", x-amz-checksum-crc32"}}, trl, "InvalidRequest", unsupported, false},
	} {
		alg, _, inTrailer, err := requestChecksum(tc.h, tc.mode)
		switch {
		case tc.code == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.code == "" && (alg != checksum.CRC32 || inTrailer != tc.inTrl):
			t.Errorf("%s: %v in trailer %v", tc.name, alg, inTrailer)
		case tc.code != "" && (err == nil || err.Code != tc.code || tc.message != "" && err.Message != tc.message):
			t.Errorf("%s: %v, want %s %q", tc.name, err, tc.code, tc.message)
		}
	}
}

func otherAlg(a checksumAlg) checksumAlg {
	if a == checksum.CRC32 {
		return checksum.XXHASH128
	}
	return checksum.CRC32
}

func TestUnitPayloadModeNames(t *testing.T) {
	for _, c := range []struct {
		name        string
		mode        PayloadMode
		http, https PayloadMode
	}{
		{"auto", PayloadAuto, PayloadChunked, PayloadUnsignedTrailer},
		{"signed", PayloadChunked, PayloadChunked, PayloadChunked},
		{"chunked", PayloadChunked, PayloadChunked, PayloadChunked},
		{"unsigned-trailer", PayloadUnsignedTrailer, PayloadUnsignedTrailer, PayloadUnsignedTrailer},
		{"unsigned", PayloadUnsigned, PayloadUnsigned, PayloadUnsigned},
	} {
		m, err := ParsePayloadMode(c.name)
		if err != nil || m != c.mode {
			t.Errorf("ParsePayloadMode(%q) = %v, %v; want %v", c.name, m, err, c.mode)
		}
		if got := m.For("http"); got != c.http {
			t.Errorf("%v over http = %v, want %v", m, got, c.http)
		}
		if got := m.For("HTTPS"); got != c.https {
			t.Errorf("%v over https = %v, want %v", m, got, c.https)
		}
	}
	if _, err := ParsePayloadMode("Signed"); err == nil {
		t.Error("ParsePayloadMode accepted \"Signed\"")
	}
}
