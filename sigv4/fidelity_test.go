package sigv4

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bucketkey/bucketkey/s3err"
)

// TestChunkSizeRule: S3 refuses an aws-chunked body whose data chunks but
// the last are under 8 KiB (InvalidChunkSizeError, naming the chunk),
// whatever the payload mode.
func TestChunkSizeRule(t *testing.T) {
	data := bytes.Repeat([]byte("a"), 20000)
	for _, tc := range []struct {
		name  string
		chunk int
		data  []byte
		code  string
	}{
		{"8 KiB chunks", 8192, data, ""},
		{"one small chunk", 1000, data[:200], ""},
		{"small chunk then more", 1000, data[:1500], "InvalidChunkSizeError"},
		{"64 KiB chunks", 65536, data, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := testVerifier(testTime)
			v.minChunk = 0 // S3's rule
			r := unsignedTrailerRequest(t, unsignedChunked(tc.data, tc.chunk, "\r\n"), len(tc.data), nil)
			a, err := v.Verify(r, VerifyOptions{AllowStreaming: true})
			if err != nil {
				t.Fatal(err)
			}
			got, err := readBody(t, a)
			if tc.code == "" {
				if err != nil || !bytes.Equal(got, tc.data) {
					t.Fatalf("%d bytes, %v", len(got), err)
				}
				return
			}
			e := wantCode(t, err, tc.code, 400)
			if extra(e, "Chunk") != "1" || extra(e, "BadChunkSize") != "1000" {
				t.Errorf("extras %v", e.Extra)
			}
			if string(e.Body("ID")) != `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Error><Code>InvalidChunkSizeError</Code><Message>Only the last chunk is allowed to have a size less than 8192 bytes</Message><Chunk>1</Chunk><BadChunkSize>1000</BadChunkSize><RequestId>ID</RequestId><HostId>`+s3err.HostID("ID")+`</HostId></Error>` {
				t.Errorf("body %s", e.Body("ID"))
			}
		})
	}
}

// TestSignatureMismatchDetails: SignatureDoesNotMatch shows what the
// verifier signed, as S3 does, so that a client can find its mistake.
func TestSignatureMismatchDetails(t *testing.T) {
	r := sdkSign(t, signSpec{method: "GET", target: "/bucket/key?x=1", sk: "wrong", ak: testAK})
	_, err := testVerifier(testTime).Verify(r, VerifyOptions{})
	e := wantCode(t, err, "SignatureDoesNotMatch", 403)
	sts, cr := extra(e, "StringToSign"), extra(e, "CanonicalRequest")
	if extra(e, "AWSAccessKeyId") != testAK || !strings.HasPrefix(sts, "AWS4-HMAC-SHA256\n") || !strings.HasPrefix(cr, "GET\n/bucket/key\nx=1\n") {
		t.Fatalf("extras %q", e.Extra)
	}
	if extra(e, "StringToSignBytes") != spacedHex([]byte(sts)) || extra(e, "CanonicalRequestBytes") != spacedHex([]byte(cr)) {
		t.Error("the *Bytes elements are not the strings' bytes")
	}
	if p := extra(e, "SignatureProvided"); len(p) != 64 || !strings.Contains(r.Header.Get("Authorization"), "Signature="+p) {
		t.Errorf("SignatureProvided %q", p)
	}
	if spacedHex([]byte{0x41, 0x0a, 0xff}) != "41 0a ff" {
		t.Error("spacedHex")
	}
}

// TestAuthorizationMessages: S3's whole messages for a malformed
// Authorization header.
func TestAuthorizationMessages(t *testing.T) {
	good := "AWS4-HMAC-SHA256 Credential=" + testAK + "/20240102/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + strings.Repeat("a", 64)
	const pre = "The authorization header is malformed; "
	for _, tc := range []struct{ name, value, code, message string }{
		{"no space", "invalid_header", "InvalidArgument", "Authorization header is invalid -- one and only one ' ' (space) required."},
		{"unknown algorithm", strings.Replace(good, "AWS4-HMAC-SHA256", "AWS2-HMAC-SHA1", 1), "InvalidArgument", "Unsupported Authorization Type"},
		{"SigV2", "AWS AK:sig", "InvalidRequest", "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."},
		{"two components", strings.Replace(good, ", SignedHeaders=host;x-amz-content-sha256;x-amz-date", "", 1), "AuthorizationHeaderMalformed", pre + "the authorization header requires three components: Credential, SignedHeaders, and Signature."},
		{"no equals", strings.Replace(good, "SignedHeaders=", "SignedHeaders-", 1), "AuthorizationHeaderMalformed", pre + `the authorization component "SignedHeaders-host;x-amz-content-sha256;x-amz-date" is malformed.`},
		{"no Credential", strings.Replace(good, "Credential=", "Creds=", 1), "AuthorizationHeaderMalformed", pre + "missing Credential."},
		{"no SignedHeaders", strings.Replace(good, "SignedHeaders=", "Signed=", 1), "AuthorizationHeaderMalformed", pre + "missing SignedHeaders."},
		{"no Signature", strings.Replace(good, "Signature=", "Sig=", 1), "AuthorizationHeaderMalformed", pre + "missing Signature."},
		{"six credential parts", strings.Replace(good, "aws4_request", "extra/aws4_request", 1), "AuthorizationHeaderMalformed", pre + `the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`},
		{"terminal before date", strings.Replace(strings.Replace(good, "aws4_request", "aws_request", 1), "20240102", "32234", 1), "AuthorizationHeaderMalformed", pre + `incorrect terminal "aws_request". This endpoint uses "aws4_request".`},
		{"service before date", strings.Replace(strings.Replace(good, "/s3/", "/ec2/", 1), "20240102", "32234", 1), "AuthorizationHeaderMalformed", pre + `incorrect service "ec2". This endpoint belongs to "s3".`},
		{"date", strings.Replace(good, "20240102", "3223423234", 1), "AuthorizationHeaderMalformed", pre + `incorrect date format "3223423234". This date in the credential must be in the format "yyyyMMdd".`},
		{"region", strings.Replace(good, "us-east-1", "us-west-1", 1), "AuthorizationHeaderMalformed", pre + "the region 'us-west-1' is wrong; expecting 'us-east-1'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sdkSign(t, signSpec{method: "GET"})
			r.Header.Set("Authorization", tc.value)
			_, err := testVerifier(testTime).Verify(r, VerifyOptions{})
			if e := wantCode(t, err, tc.code, 400); e.Message != tc.message {
				t.Errorf("message %q\nwant %q", e.Message, tc.message)
			}
		})
	}
}
