package sigv4

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/bucketkey/bucketkey/s3err"
)

func FuzzParseAuthorization(f *testing.F) {
	f.Add(exampleAuth("host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"))
	f.Add("AWS4-HMAC-SHA256 Credential=AK/with/slash/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + strings.Repeat("0", 64))
	f.Add("AWS4-ECDSA-P256-SHA256 Credential=x")
	f.Add("AWS AKID:sig")
	f.Add("AWS4-HMAC-SHA256 Credential=,SignedHeaders=,Signature=")
	f.Fuzz(func(t *testing.T, h string) {
		p, err := parseAuthorization(h, "s3")
		if err != nil {
			if err.Code == "InvalidArgument" {
				t.Fatal("InvalidArgument for an Authorization header")
			}
			return
		}
		if checkSignedHeaders(p.signedHeaders) != "" || !strings.HasPrefix(p.cred.scope, p.cred.date+"/"+p.cred.region+"/s3/") {
			t.Fatalf("accepted inconsistent %+v", p)
		}
		// Re-serialised, it parses to the same thing.
		again := "AWS4-HMAC-SHA256 Credential=" + p.cred.accessKey + "/" + p.cred.scope + ", SignedHeaders=" + p.signedHeaders + ", Signature=" + hexString(p.signature[:])
		q, err := parseAuthorization(again, "s3")
		if err != nil || !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip: %+v, %v; want %+v", q, err, p)
		}
	})
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	s := make([]byte, 0, 2*len(b))
	for _, c := range b {
		s = append(s, digits[c>>4], digits[c&15])
	}
	return string(s)
}

func FuzzParsePresigned(f *testing.F) {
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=0&X-Amz-Expires=1&a=%zz&b=+%2B")
	f.Add("prefix=a+b&X-Amz-Credential=%2F%2F%2F%2F&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD")
	f.Fuzz(func(t *testing.T, raw string) {
		q := parseQuery(raw, nil)
		if out, ok := canonicalQuery(nil, q, qSignature); ok {
			for _, kv := range strings.Split(string(out), "&") {
				if strings.HasPrefix(kv, qSignature+"=") {
					t.Fatalf("X-Amz-Signature in the canonical query %q", out)
				}
				if !isCanonicalEncoding(strings.Replace(kv, "=", "", 1)) {
					t.Fatalf("non-canonical component %q", kv)
				}
			}
		}
		p, err := parsePresigned(q, "s3")
		if err != nil {
			if err.Code == "InvalidArgument" {
				t.Fatal("InvalidArgument for a presigned URL")
			}
			return
		}
		if p.expires < time.Second || p.expires > maxPresignExpires*time.Second {
			t.Fatalf("accepted X-Amz-Expires %v", p.expires)
		}
		if _, ok := parseAmzDate(p.amzDate); !ok || checkSignedHeaders(p.signedHeaders) != "" {
			t.Fatalf("accepted inconsistent %+v", p)
		}
	})
}

// fuzzKey and fuzzSeed sign the chunked bodies of the fuzz targets.
var (
	fuzzKey  = deriveKey(exampleSK, "20130524", "us-east-1", "s3")
	fuzzSeed = [32]byte{1, 2, 3}
)

const fuzzScope = "20130524/us-east-1/s3/aws4_request"

// signedChunkedBody encodes data as a signed aws-chunked body chained from
// fuzzSeed, with the SDK's stream signer (not ours).
func signedChunkedBody(data []byte, chunk int) []byte {
	return sdkChunkedBody(aws.Credentials{AccessKeyID: exampleAK, SecretAccessKey: exampleSK}, "us-east-1", fuzzSeed[:], exampleTime, data, chunk)
}

// sdkChunkedBody frames data as a signed aws-chunked body in chunks of
// chunk bytes, chained from seed, with the SDK's stream signer and framing
// written out here: the reference Signer's own encoder is held to.
func sdkChunkedBody(creds aws.Credentials, region string, seed []byte, t time.Time, data []byte, chunk int) []byte {
	ss := v4.NewStreamSigner(creds, "s3", region, seed)
	var out bytes.Buffer
	for {
		n := min(chunk, len(data))
		sig, err := ss.GetSignature(context.Background(), nil, data[:n], t)
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(&out, "%x;chunk-signature=%x\r\n", n, sig)
		if n == 0 {
			out.WriteString("\r\n")
			return out.Bytes()
		}
		out.Write(data[:n])
		out.WriteString("\r\n")
		data = data[n:]
	}
}

// decode runs the decoder over body, reading through a buffer of size n.
func decode(body []byte, declared int64, mode byte, n int) ([]byte, string) {
	var chain *chainSigner
	if mode&1 == 1 {
		chain = newChainSigner(&fuzzKey, "20130524T000000Z", fuzzScope, &fuzzSeed)
	}
	ck := checksumNone
	if mode&2 == 2 {
		ck = checksumCRC32C
	}
	d := newChunkDecoder(bytes.NewReader(body), declared, chain, mode&2 == 2, ck)
	var out []byte
	buf := make([]byte, n)
	for {
		k, err := d.Read(buf)
		out = append(out, buf[:k]...)
		if err == io.EOF {
			return out, ""
		}
		if err != nil {
			e := s3err.As(err)
			if e == nil {
				panic("decoder error is not an S3 error: " + err.Error())
			}
			return out, e.Code + ": " + e.Message
		}
		if k == 0 {
			panic("decoder made no progress")
		}
	}
}

func FuzzChunkedDecoder(f *testing.F) {
	data := []byte("The quick brown fox jumps over the lazy dog")
	f.Add(signedChunkedBody(data, 8192), int64(len(data)), byte(1))
	f.Add(signedChunkedBody(bytes.Repeat(data, 400), 8192), int64(400*len(data)), byte(1))
	f.Add(unsignedChunked(data, 10, "x-amz-checksum-crc32c:"+crcB64(checksumCRC32C, data)+"\r\n\r\n"), int64(len(data)), byte(2))
	f.Add(unsignedChunked(data, 10, "\r\n"), int64(len(data)), byte(0))
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), int64(5), byte(0))
	f.Add([]byte("ffffffffffffffff\r\n"), int64(5), byte(0))
	f.Fuzz(func(t *testing.T, body []byte, declared int64, mode byte) {
		if declared < 0 {
			declared = -declared
		}
		big, bigErr := decode(body, declared, mode, 4096)
		small, smallErr := decode(body, declared, mode, 1)
		if !bytes.Equal(big, small) || bigErr != smallErr {
			t.Fatalf("read sizes disagree: %q %s / %q %s", big, bigErr, small, smallErr)
		}
		if bigErr == "" && int64(len(big)) != declared {
			t.Fatalf("verified %d bytes, declared %d", len(big), declared)
		}
		if bigErr == "" && mode&1 == 1 && len(big) <= 8192 &&
			!bytes.Equal(bytes.TrimSuffix(signedChunkedBody(big, 8192), []byte("\r\n")), bytes.TrimSuffix(canonicalSizes(body), []byte("\r\n"))) {
			// A verified signed body of one chunk can only be the one our
			// (and the SDK's) encoder produces, give or take the optional
			// final CRLF and the spelling of the chunk sizes (hex digits in
			// either case, leading zeros: HTTP's chunked rules, and the
			// sizes are implied by the signed data): the signatures pin it.
			t.Fatalf("verified a signed body that is not the signed encoding of its data: %q", body)
		}
	})
}

func FuzzTrailer(f *testing.F) {
	f.Add([]byte("x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:" + trailerSigTrl + "\r\n\r\n"))
	f.Add([]byte("x-amz-checksum-crc32c:sOO8/Q==\n\r\nx-amz-trailer-signature:" + trailerSigTrl + "\r\n\r\n"))
	f.Add([]byte("x-amz-checksum-sha256:AAAA\r\n\r\n"))
	f.Add([]byte("\r\n"))
	f.Add([]byte(":\r\nA:B:C\r\n\r\n"))
	f.Fuzz(func(t *testing.T, block []byte) {
		fields, sig, err := parseTrailerBlock(block)
		if err != nil {
			// IncompleteBody: the block ends inside a line.
			if err.Code != "MalformedTrailerError" && err.Code != "IncompleteBody" {
				t.Fatalf("code %s", err.Code)
			}
			return
		}
		if len(fields) > maxTrailerFields {
			t.Fatalf("%d fields", len(fields))
		}
		seen := map[string]bool{}
		for _, fl := range fields {
			if fl.name != strings.ToLower(fl.name) || seen[fl.name] || fl.name == trailerSignatureName {
				t.Fatalf("field %q", fl.name)
			}
			seen[fl.name] = true
		}
		// The canonical form, followed by the signature line and an empty
		// line, parses back to the same trailer.
		canon := appendCanonicalTrailer(nil, fields)
		if sig != "" {
			canon = append(canon, trailerSignatureName+":"+sig+"\r\n"...)
		}
		canon = append(canon, "\r\n"...)
		f2, sig2, err := parseTrailerBlock(canon)
		if err != nil || sig2 != sig || !reflect.DeepEqual(f2, fields) {
			t.Fatalf("round trip of %q: %v %q %v", canon, f2, sig2, err)
		}
	})
}

// TestFuzzSeedsDecode keeps the fuzz seeds honest: the valid ones decode.
func TestFuzzSeedsDecode(t *testing.T) {
	data := bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog"), 400)
	for _, chunk := range []int{8192, 65536} {
		body := signedChunkedBody(data, chunk)
		if out, err := decode(body, int64(len(data)), 1, 1000); err != "" || !bytes.Equal(out, data) {
			t.Fatalf("signed seed: %d bytes, %s", len(out), err)
		}
		body[len(body)/2] ^= 1
		if _, err := decode(body, int64(len(data)), 1, 1000); err == "" {
			t.Fatal("a corrupted signed body decoded")
		}
	}
}

// canonicalSizes respells the chunk sizes of a well-formed aws-chunked body
// as the encoders write them (lower-case hex, no leading zeros).
func canonicalSizes(body []byte) []byte {
	var out []byte
	for len(body) > 0 {
		line, rest, ok := bytes.Cut(body, []byte("\r\n"))
		if !ok {
			return append(out, body...)
		}
		size, ext, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(size), 16, 64)
		if err != nil || n < 0 || int64(len(rest)) < n {
			return append(out, body...)
		}
		out = strconv.AppendInt(out, n, 16)
		if len(ext) > 0 || bytes.Contains(line, []byte(";")) {
			out = append(out, ';')
			out = append(out, ext...)
		}
		out = append(out, "\r\n"...)
		out = append(out, rest[:n]...)
		body = rest[n:]
		if n == 0 {
			return append(out, body...)
		}
		if !bytes.HasPrefix(body, []byte("\r\n")) {
			return append(out, body...)
		}
		out = append(out, "\r\n"...)
		body = body[2:]
	}
	return out
}

// TestChunkSignatureSpelling: a chunk signature has one spelling, lower-case
// hex, as S3 compares it; chunk sizes follow HTTP's chunked rules.
func TestChunkSignatureSpelling(t *testing.T) {
	data := []byte("The quick brown fox jumps over the lazy dog")
	good := signedChunkedBody(data, 8192)
	if got, code := decode(good, int64(len(data)), 1, 4096); code != "" || !bytes.Equal(got, data) {
		t.Fatalf("canonical body: %q %s", got, code)
	}
	i := bytes.Index(good, []byte(chunkSignaturePrefix)) + len(chunkSignaturePrefix)
	upper := bytes.Clone(good)
	copy(upper[i:i+64], bytes.ToUpper(good[i:i+64]))
	if bytes.Equal(upper, good) {
		t.Fatal("test signature has no letters")
	}
	if _, code := decode(upper, int64(len(data)), 1, 4096); !strings.HasPrefix(code, "SignatureDoesNotMatch:") {
		t.Errorf("upper-case chunk signature: %q, want SignatureDoesNotMatch", code)
	}
	sized := append([]byte("002B"), good[bytes.IndexByte(good, ';'):]...)
	if got, code := decode(sized, int64(len(data)), 1, 4096); code != "" || !bytes.Equal(got, data) {
		t.Errorf("chunk size spelled 002B: %q %s", got, code)
	}
}

// FuzzParsePostPolicy: any policy text either parses or is an S3 error,
// and a parsed policy's checks never panic.
func FuzzParsePostPolicy(f *testing.F) {
	f.Add(`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 1, 10], {"key": "a"}, ["starts-with", "$Content-Type", "image/"]]}`)
	f.Add(`{"expiration": "2030-01-01T00:00:00.000Z", "conditions": [{"bucket": "b"}, ["eq", "$x-amz-meta-a", ""]]}`)
	f.Add(`{"conditions": [[]]}`)
	f.Fuzz(func(t *testing.T, policy string) {
		p, err := ParsePostPolicy(base64.StdEncoding.EncodeToString([]byte(policy)))
		if err != nil {
			if err.Status != 400 {
				t.Fatalf("status %d", err.Status)
			}
			return
		}
		p.LengthRange()
		_ = p.Check(map[string]string{"key": "a", "content-type": "image/png,x"}, "b", 5, time.Unix(0, 0))
	})
}
