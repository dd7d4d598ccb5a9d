package sigv4

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bucketkey/bucketkey/s3err"
)

// The example of S3's API reference, "Example: Browser-Based Upload using
// HTTP POST (Using AWS Signature Version 4)" (sigv4-post-example): the
// base64 policy as the page gives it (CRLF line ends) and its signature.
const (
	awsPostPolicy    = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9"
	awsPostSignature = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
	awsExampleAK     = "AKIAIOSFODNN7EXAMPLE"
	awsExampleSK     = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	// botocore's generate_presigned_post("sigv4examplebucket",
	// "user/user1/photo.jpg") with the clock at 2015-12-29T00:00:00Z.
	botoPostPolicy    = "eyJleHBpcmF0aW9uIjogIjIwMTUtMTItMjlUMDE6MDA6MDBaIiwgImNvbmRpdGlvbnMiOiBbeyJidWNrZXQiOiAic2lndjRleGFtcGxlYnVja2V0In0sIHsia2V5IjogInVzZXIvdXNlcjEvcGhvdG8uanBnIn0sIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwgeyJ4LWFtei1jcmVkZW50aWFsIjogIkFLSUFJT1NGT0ROTjdFWEFNUExFLzIwMTUxMjI5L3VzLWVhc3QtMS9zMy9hd3M0X3JlcXVlc3QifSwgeyJ4LWFtei1kYXRlIjogIjIwMTUxMjI5VDAwMDAwMFoifV19"
	botoPostSignature = "3364624b39010d9b06f5d9b8c9a18a6e478d261c048159c92f2fd6fa885f14e6"
)

func TestPostSignatureAWSExample(t *testing.T) {
	if got := PostSignature(awsExampleSK, "20151229", "us-east-1", awsPostPolicy); got != awsPostSignature {
		t.Fatalf("AWS example: got %s, want %s", got, awsPostSignature)
	}
	if got := PostSignature(awsExampleSK, "20151229", "us-east-1", botoPostPolicy); got != botoPostSignature {
		t.Fatalf("botocore vector: got %s, want %s", got, botoPostSignature)
	}
}

// awsExampleForm is the example page's form, file excluded.
func awsExampleForm() map[string]string {
	return map[string]string{
		"key":                          "user/user1/photo.jpg",
		"acl":                          "public-read",
		"success_action_redirect":      "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html",
		"content-type":                 "image/jpeg",
		"x-amz-meta-uuid":              "14365123651274",
		"x-amz-server-side-encryption": "AES256",
		"x-amz-credential":             awsExampleAK + "/20151229/us-east-1/s3/aws4_request",
		"x-amz-algorithm":              "AWS4-HMAC-SHA256",
		"x-amz-date":                   "20151229T000000Z",
		"x-amz-meta-tag":               "",
		"policy":                       awsPostPolicy,
		"x-amz-signature":              awsPostSignature,
	}
}

func postVerifier(now string) *Verifier {
	t, _ := time.Parse(time.RFC3339, now)
	return &Verifier{Region: "us-east-1", Credentials: StaticCredentials{awsExampleAK: awsExampleSK}, Now: func() time.Time { return t }}
}

func TestVerifyPostAWSExample(t *testing.T) {
	v := postVerifier("2015-12-29T00:10:00Z")
	file := []byte("jpeg bytes")
	a, err := v.VerifyPost(PostForm{Fields: awsExampleForm(), Size: int64(len(file))}, "sigv4examplebucket", bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(a.Body)
	if err != nil || !bytes.Equal(got, file) {
		t.Fatalf("body %q, %v", got, err)
	}
	if a.AccessKey != awsExampleAK {
		t.Fatalf("access key %q", a.AccessKey)
	}
}

func TestVerifyPostErrors(t *testing.T) {
	tests := []struct {
		name   string
		now    string
		bucket string
		edit   func(f map[string]string)
		size   int64
		code   string
		msg    string
	}{
		{name: "expired", now: "2015-12-30T12:00:01Z", code: "AccessDenied", msg: "Invalid according to Policy: Policy expired."},
		// S3 refuses a form signed (x-amz-date) over an hour ago as expired,
		// though the policy's expiration (2015-12-30T12:00) is a day away.
		{name: "signed over an hour ago", now: "2015-12-29T01:00:01Z", code: "AccessDenied", msg: "Invalid according to Policy: Policy expired."},
		{name: "signed an hour ago", now: "2015-12-29T01:00:00Z"},
		{name: "wrong bucket", bucket: "other", code: "AccessDenied", msg: `Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "sigv4examplebucket"]`},
		{name: "key prefix", edit: func(f map[string]string) { f["key"] = "user/user2/a" }, code: "AccessDenied", msg: `Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "user/user1/"]`},
		{name: "content type list", edit: func(f map[string]string) { f["content-type"] = "image/png,text/plain" }, code: "AccessDenied", msg: `Policy Condition failed: ["starts-with", "$Content-Type", "image/"]`},
		{name: "content type list ok", edit: func(f map[string]string) { f["content-type"] = "image/png, image/gif" }},
		{name: "exact meta", edit: func(f map[string]string) { f["x-amz-meta-uuid"] = "1" }, code: "AccessDenied", msg: `["eq", "$x-amz-meta-uuid", "14365123651274"]`},
		{name: "absent field", edit: func(f map[string]string) { delete(f, "x-amz-meta-tag") }, code: "AccessDenied", msg: `["starts-with", "$x-amz-meta-tag", ""]`},
		{name: "extra field", edit: func(f map[string]string) { f["x-amz-meta-other"] = "x" }, code: "AccessDenied", msg: "Invalid according to Policy: Extra input fields: x-amz-meta-other"},
		{name: "ignored field", edit: func(f map[string]string) { f["x-ignore-submit"] = "x" }},
		{name: "bad signature", edit: func(f map[string]string) { f["x-amz-signature"] = strings.Repeat("0", 64) }, code: "SignatureDoesNotMatch"},
		{name: "truncated policy", edit: func(f map[string]string) { f["policy"] = awsPostPolicy[:len(awsPostPolicy)-2] }, code: "SignatureDoesNotMatch"},
		{name: "unknown key", edit: func(f map[string]string) { f["x-amz-credential"] = "AKIDOTHER/20151229/us-east-1/s3/aws4_request" }, code: "InvalidAccessKeyId"},
		{name: "no signature", edit: func(f map[string]string) { delete(f, "x-amz-signature") }, code: "InvalidArgument", msg: "Bucket POST must contain a field named 'x-amz-signature'.  If it is specified, please check the order of the fields."},
		{name: "no policy", edit: func(f map[string]string) { delete(f, "policy") }, code: "InvalidArgument", msg: "'policy'"},
		{name: "no algorithm", edit: func(f map[string]string) { delete(f, "x-amz-algorithm"); delete(f, "x-amz-credential") }, code: "InvalidArgument", msg: "'x-amz-algorithm'"},
		{name: "anonymous", edit: func(f map[string]string) {
			for _, k := range []string{"x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"} {
				delete(f, k)
			}
		}, code: "AccessDenied", msg: "Access Denied"},
		{name: "region", edit: func(f map[string]string) {
			f["x-amz-credential"] = awsExampleAK + "/20151229/eu-west-1/s3/aws4_request"
		}, code: "InvalidArgument", msg: "the region 'eu-west-1' is wrong; expecting 'us-east-1'"},
		{name: "bad date", edit: func(f map[string]string) { f["x-amz-date"] = "2015-12-29" }, code: "InvalidArgument", msg: "X-Amz-Date must be formated via ISO8601 Long format"},
		{name: "session token", edit: func(f map[string]string) { f["x-amz-security-token"] = "t" }, code: "InvalidToken"},
		{name: "sigv2", edit: func(f map[string]string) { f["awsaccesskeyid"] = awsExampleAK }, code: "InvalidRequest"},
		{name: "md5 mismatch", edit: func(f map[string]string) { f["content-md5"] = "1B2M2Y8AsgTpgAmY7PhCfg==" }, code: "BadDigest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now == "" {
				now = "2015-12-29T00:10:00Z"
			}
			bucket := tc.bucket
			if bucket == "" {
				bucket = "sigv4examplebucket"
			}
			f := awsExampleForm()
			if tc.edit != nil {
				tc.edit(f)
			}
			if tc.name == "md5 mismatch" {
				// The policy must cover it: use an unsigned check of the body alone.
				a, err := postVerifier(now).postBody(f, strings.NewReader("abc"), 3, "ak")
				if err != nil {
					t.Fatal(err)
				}
				_, rerr := io.ReadAll(a.Body)
				if e := s3err.As(rerr); e == nil || e.Code != tc.code {
					t.Fatalf("got %v, want %s", rerr, tc.code)
				}
				return
			}
			file := "jpeg"
			a, err := postVerifier(now).VerifyPost(PostForm{Fields: f, Size: int64(len(file))}, bucket, strings.NewReader(file))
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.ReadAll(a.Body)
				return
			}
			e := s3err.As(err)
			if e == nil || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("got %v, want %s %q", err, tc.code, tc.msg)
			}
		})
	}
}

func policyB64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestParsePostPolicy(t *testing.T) {
	const exp = `"expiration": "2030-01-01T00:00:00Z"`
	tests := []struct {
		policy string
		msg    string // "" for success
	}{
		{`{` + exp + `, "conditions": [["content-length-range", 1, 10], {"key": "a"}]}`, ""},
		{`{` + exp + `, "conditions": [["content-length-range", "1", "10"]]}`, ""},
		{`{` + exp + `, "conditions": [["StArTs-WiTh", "$KeY", "foo"]]}`, ""},
		{`{"expiration": "2030-01-01T00:00:00.000Z", "conditions": []}`, ""},
		{`{"conditions": []}`, "Invalid Policy: Policy missing expiration."},
		{`{` + exp + `}`, "Invalid Policy: Policy missing conditions."},
		{`{` + exp + `, "conditions": {}}`, "Invalid Policy: Invalid 'conditions' value: must be a List."},
		{`{"EXPIRATION": "2030-01-01T00:00:00Z", "conditions": []}`, "Invalid Policy: Unexpected: 'expiration'"},
		{`{"expiration": "2030-01-01T00:00:00+02:00", "conditions": []}`, "Invalid Policy: Invalid 'expiration' value: '2030-01-01T00:00:00+02:00'"},
		{`{` + exp + `, "conditions": [{}]}`, "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one property specified."},
		{`{` + exp + `, "conditions": [{"a": "b", "c": "d"}]}`, "exactly one property"},
		{`{` + exp + `, "conditions": [{"Content-Length": 6199034}]}`, "Invalid Policy: Invalid Simple-Condition: value must be a string."},
		{`{` + exp + `, "conditions": [{"a": null}]}`, "Invalid Policy: Invalid JSON."},
		{`{` + exp + `, "conditions": [[]]}`, "Invalid Policy: Invalid Condition: missing operation identifier."},
		{`{` + exp + `, "conditions": [["gt", "$key", "a"]]}`, "Invalid Policy: Invalid Condition: unknown operation 'gt'."},
		{`{` + exp + `, "conditions": [["eq", "$key"]]}`, "Invalid Policy: Invalid eq: wrong number of arguments."},
		{`{` + exp + `, "conditions": [["content-length-range", 0, 512.0]]}`, "Invalid Policy: Invalid JSON."},
		{`{` + exp + `, "conditions": [["content-length-range", -1, 0]]}`, "Invalid Policy: Invalid JSON."},
		{`{` + exp + `, "conditions": [["content-length-range", 0]]}`, "wrong number of arguments"},
		{`{` + exp + `, "conditions": ["key"]}`, "Invalid Policy: Invalid condition test: must be a List or Object."},
		{`{` + exp + `, "conditions": [],}`, "Invalid Policy: Invalid JSON."},
		{`[]`, "Invalid Policy: Invalid JSON."},
		{``, "Invalid Policy: Expecting '{' but found End-of-Input"},
		{" \n", "Invalid Policy: Expecting '{' but found End-of-Input"},
	}
	for _, tc := range tests {
		_, err := ParsePostPolicy(policyB64(tc.policy))
		switch {
		case tc.msg == "" && err != nil:
			t.Errorf("%s: %v", tc.policy, err)
		case tc.msg != "" && (err == nil || err.Code != "InvalidPolicyDocument" || err.Status != 400 || !strings.Contains(err.Message, tc.msg)):
			t.Errorf("%s: got %v, want InvalidPolicyDocument %q", tc.policy, err, tc.msg)
		}
	}
	if _, err := ParsePostPolicy("%%%"); err == nil || err.Message != "Invalid Policy: invalid Base64 encoding." {
		t.Errorf("bad base64: %v", err)
	}
}

func TestPostPolicySize(t *testing.T) {
	p, err := ParsePostPolicy(policyB64(`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 5, 10], ["content-length-range", "test", "10"]]}`))
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi, ok := p.LengthRange(); !ok || lo != 5 || hi != 10 {
		t.Fatalf("LengthRange %d %d %v", lo, hi, ok)
	}
	now := time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		size int64
		code string
	}{{12, "EntityTooLarge"}, {1, "EntityTooSmall"}, {5, "AccessDenied"}} {
		e := p.Check(map[string]string{}, "b", tc.size, now)
		if e == nil || e.Code != tc.code {
			t.Errorf("size %d: %v, want %s", tc.size, e, tc.code)
		}
	}
	var e *s3err.Error = p.Check(map[string]string{}, "b", 12, now)
	if !errors.Is(e, s3err.EntityTooLarge) || e.Extra[0] != [2]string{"ProposedSize", "12"} || e.Extra[1] != [2]string{"MaxSizeAllowed", "10"} {
		t.Fatalf("extras %v", e.Extra)
	}
}

// TestVerifyPostArgumentErrorsXML: the InvalidArgument documents S3
// answers for the signature fields, whole, with the fields named as S3's
// POST documentation names them (lower case) and S3's message for an
// algorithm other than AWS4-HMAC-SHA256.
func TestVerifyPostArgumentErrorsXML(t *testing.T) {
	doc := func(msg, name, value string) string {
		esc := strings.NewReplacer("<", "&lt;", ">", "&gt;") // as S3 escapes: quotes stay literal
		return `<?xml version="1.0" encoding="UTF-8"?>` + "\n<Error><Code>InvalidArgument</Code><Message>" + esc.Replace(msg) +
			"</Message><ArgumentName>" + name + "</ArgumentName><ArgumentValue>" + value +
			"</ArgumentValue><RequestId>ID</RequestId><HostId>" + s3err.HostID("ID") + "</HostId></Error>"
	}
	const order = ".  If it is specified, please check the order of the fields."
	for _, tc := range []struct {
		name string
		edit func(f map[string]string)
		want string
	}{
		{"no policy", func(f map[string]string) { delete(f, "policy") }, doc("Bucket POST must contain a field named 'policy'"+order, "policy", "")},
		{"no signature", func(f map[string]string) { delete(f, "x-amz-signature") }, doc("Bucket POST must contain a field named 'x-amz-signature'"+order, "x-amz-signature", "")},
		{"no credential", func(f map[string]string) { delete(f, "x-amz-credential") }, doc("Bucket POST must contain a field named 'x-amz-credential'"+order, "x-amz-credential", "")},
		{"no date", func(f map[string]string) { delete(f, "x-amz-date") }, doc("Bucket POST must contain a field named 'x-amz-date'"+order, "x-amz-date", "")},
		{"algorithm", func(f map[string]string) { f["x-amz-algorithm"] = "invalid" }, doc("Only AWS4-HMAC-SHA256 is supported", "X-Amz-Algorithm", "invalid")},
		{"credential", func(f map[string]string) { f["x-amz-credential"] = "malformed-no-slashes" },
			doc(`the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`, "x-amz-credential", "malformed-no-slashes")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := awsExampleForm()
			tc.edit(f)
			_, err := postVerifier("2015-12-29T00:10:00Z").VerifyPost(PostForm{Fields: f, Size: 4}, "sigv4examplebucket", strings.NewReader("jpeg"))
			e := s3err.As(err)
			if e == nil || e.Status != 400 {
				t.Fatalf("got %v, want a 400", err)
			}
			if got := string(e.Body("ID")); got != tc.want {
				t.Errorf("body\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}
