package s3err_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bucketkey/bucketkey/s3err"
)

// errorDoc is S3's error document as a client parses it; Extra collects
// every element that is not one of the four standard ones, in order.
type errorDoc struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId"`
	Extra     []struct {
		XMLName xml.Name
		Value   string `xml:",chardata"`
	} `xml:",any"`
}

func (d errorDoc) extras() [][2]string {
	var out [][2]string
	for _, e := range d.Extra {
		out = append(out, [2]string{e.XMLName.Local, e.Value})
	}
	return out
}

func TestWrite(t *testing.T) {
	skewed := s3err.RequestTimeTooSkewed.
		WithExtra("RequestTime", "20240102T030405Z").
		WithExtra("ServerTime", "2024-01-02T04:04:05Z")
	for _, tc := range []struct {
		name       string
		err        error
		method     string // "" for no request
		target     string
		status     int
		code       string
		message    string
		resource   string
		extra      [][2]string
		retryAfter string
	}{
		{
			name: "plain code", err: s3err.NoSuchKey, method: "GET", target: "/bucket/key",
			status: 404, code: "NoSuchKey", message: "The specified key does not exist.", resource: "/bucket/key",
		},
		{
			name: "custom message, escaped", err: s3err.InvalidRequest.With(`a <tag> & "quote"`), method: "PUT", target: "/bucket/a%20b",
			status: 400, code: "InvalidRequest", message: `a <tag> & "quote"`, resource: "/bucket/a%20b",
		},
		{
			name: "extra elements in order", err: skewed, method: "GET", target: "/bucket",
			status: 403, code: "RequestTimeTooSkewed", message: s3err.RequestTimeTooSkewed.Message, resource: "/bucket",
			extra: [][2]string{{"RequestTime", "20240102T030405Z"}, {"ServerTime", "2024-01-02T04:04:05Z"}},
		},
		{
			name: "region extra", err: s3err.AuthorizationHeaderMalformed.With("the region 'x' is wrong").WithExtra("Region", "eu-west-1"), method: "GET", target: "/",
			status: 400, code: "AuthorizationHeaderMalformed", message: "the region 'x' is wrong", resource: "/",
			extra: [][2]string{{"Region", "eu-west-1"}},
		},
		{
			name: "wrapped in another error", err: fmt.Errorf("verifying: %w", s3err.SignatureDoesNotMatch.Wrap(errors.New("cause"))), method: "GET", target: "/b/k",
			status: 403, code: "SignatureDoesNotMatch", message: s3err.SignatureDoesNotMatch.Message, resource: "/b/k",
		},
		{
			// An internal error's text (a path, a key name) never reaches
			// the client.
			name: "not an S3 error", err: errors.New("open /var/lib/secret-key-name: denied"), method: "GET", target: "/b/k",
			status: 500, code: "InternalError", message: s3err.InternalError.Message, resource: "/b/k",
		},
		{
			name: "retry after, rounded up", err: &s3err.Error{Code: "SlowDown", Status: 503, Message: "Please reduce your request rate.", RetryAfter: 1500 * time.Millisecond},
			method: "PUT", target: "/b/k", status: 503, code: "SlowDown", message: "Please reduce your request rate.", resource: "/b/k", retryAfter: "2",
		},
		{
			name: "no request", err: s3err.ServiceUnavailable,
			status: 503, code: "ServiceUnavailable", message: s3err.ServiceUnavailable.Message,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r *http.Request
			if tc.method != "" {
				r = httptest.NewRequest(tc.method, "http://s3.test"+tc.target, nil)
			}
			w := httptest.NewRecorder()
			s3err.Write(w, r, tc.err, "REQ123")
			if w.Code != tc.status {
				t.Errorf("status %d, want %d", w.Code, tc.status)
			}
			if got := w.Header().Get("x-amz-request-id"); got != "REQ123" {
				t.Errorf("x-amz-request-id %q", got)
			}
			if got := w.Header().Get("x-amz-id-2"); got != s3err.HostID("REQ123") {
				t.Errorf("x-amz-id-2 %q", got)
			}
			if got := w.Header().Get("Content-Type"); got != "application/xml" {
				t.Errorf("Content-Type %q", got)
			}
			if got := w.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			body := w.Body.Bytes()
			if got := w.Header().Get("Content-Length"); got != strconv.Itoa(len(body)) {
				t.Errorf("Content-Length %q for %d bytes", got, len(body))
			}
			if !bytes.HasPrefix(body, []byte(xml.Header)) {
				t.Errorf("no XML declaration: %q", body)
			}
			var doc errorDoc
			if err := xml.Unmarshal(body, &doc); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if doc.Code != tc.code || doc.Message != tc.message || doc.Resource != "" || doc.RequestID != "REQ123" || doc.HostID != s3err.HostID("REQ123") {
				t.Errorf("document %+v", doc)
			}
			if got := doc.extras(); fmt.Sprint(got) != fmt.Sprint(tc.extra) {
				t.Errorf("extra elements %v, want %v", got, tc.extra)
			}
			if tc.code == "InternalError" && bytes.Contains(body, []byte("secret")) {
				t.Errorf("internal detail in the body: %s", body)
			}
		})
	}
}

// TestWriteHead: a HEAD response has S3's status and headers but no body
// (net/http would otherwise announce one the client never gets).
func TestWriteHead(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
	}{
		{s3err.NoSuchKey, 404},
		{s3err.AccessDenied, 403},
		{s3err.PreconditionFailed, 412},
		{errors.New("internal"), 500},
	} {
		w := httptest.NewRecorder()
		s3err.Write(w, httptest.NewRequest(http.MethodHead, "http://s3.test/b/k", nil), tc.err, "REQ")
		if w.Code != tc.status || w.Body.Len() != 0 {
			t.Errorf("%v: status %d with %d body bytes, want %d and none", tc.err, w.Code, w.Body.Len(), tc.status)
		}
		if w.Header().Get("Content-Type") != "" || w.Header().Get("Content-Length") != "" {
			t.Errorf("%v: body headers %v", tc.err, w.Header())
		}
		if w.Header().Get("x-amz-request-id") != "REQ" {
			t.Errorf("%v: no request id", tc.err)
		}
	}
}

// TestStatuses: each code has the HTTP status S3 documents for it.
func TestStatuses(t *testing.T) {
	for _, tc := range []struct {
		err    *s3err.Error
		code   string
		status int
	}{
		{s3err.AccessDenied, "AccessDenied", 403},
		{s3err.AuthorizationHeaderMalformed, "AuthorizationHeaderMalformed", 400},
		{s3err.AuthorizationQueryParametersError, "AuthorizationQueryParametersError", 400},
		{s3err.BadDigest, "BadDigest", 400},
		{s3err.BucketAlreadyOwnedByYou, "BucketAlreadyOwnedByYou", 409},
		{s3err.EntityTooLarge, "EntityTooLarge", 400},
		{s3err.EntityTooSmall, "EntityTooSmall", 400},
		{s3err.ExpiredToken, "ExpiredToken", 400},
		{s3err.IncompleteBody, "IncompleteBody", 400},
		{s3err.InternalError, "InternalError", 500},
		{s3err.InvalidAccessKeyID, "InvalidAccessKeyId", 403},
		{s3err.InvalidArgument, "InvalidArgument", 400},
		{s3err.InvalidBucketName, "InvalidBucketName", 400},
		{s3err.InvalidDigest, "InvalidDigest", 400},
		{s3err.InvalidEncryptionAlgorithmError, "InvalidEncryptionAlgorithmError", 400},
		{s3err.InvalidObjectState, "InvalidObjectState", 403},
		{s3err.InvalidPart, "InvalidPart", 400},
		{s3err.InvalidPartNumber, "InvalidPartNumber", 416},
		{s3err.InvalidPartOrder, "InvalidPartOrder", 400},
		{s3err.InvalidRange, "InvalidRange", 416},
		{s3err.InvalidRequest, "InvalidRequest", 400},
		{s3err.InvalidToken, "InvalidToken", 400},
		{s3err.KeyTooLongError, "KeyTooLongError", 400},
		{s3err.KMSDisabled, "KMS.DisabledException", 400},
		{s3err.MalformedTrailerError, "MalformedTrailerError", 400},
		{s3err.MalformedXML, "MalformedXML", 400},
		{s3err.MetadataTooLarge, "MetadataTooLarge", 400},
		{s3err.MethodNotAllowed, "MethodNotAllowed", 405},
		{s3err.MissingContentLength, "MissingContentLength", 411},
		{s3err.MissingSecurityHeader, "MissingSecurityHeader", 400},
		{s3err.NoSuchBucket, "NoSuchBucket", 404},
		{s3err.NoSuchKey, "NoSuchKey", 404},
		{s3err.NoSuchUpload, "NoSuchUpload", 404},
		{s3err.NotImplemented, "NotImplemented", 501},
		{s3err.ObjectTampered, "InternalError", 500},
		{s3err.PreconditionFailed, "PreconditionFailed", 412},
		{s3err.RequestHeaderSectionTooLarge, "RequestHeaderSectionTooLarge", 400},
		{s3err.RequestTimeTooSkewed, "RequestTimeTooSkewed", 403},
		{s3err.ServiceUnavailable, "ServiceUnavailable", 503},
		{s3err.SignatureDoesNotMatch, "SignatureDoesNotMatch", 403},
		{s3err.SlowDown, "SlowDown", 503},
		{s3err.XAmzContentSHA256Mismatch, "XAmzContentSHA256Mismatch", 400},
	} {
		if tc.err.Code != tc.code || tc.err.Status != tc.status || tc.err.Message == "" {
			t.Errorf("%s: code %q status %d message %q, want %s %d", tc.code, tc.err.Code, tc.err.Status, tc.err.Message, tc.code, tc.status)
		}
		w := httptest.NewRecorder()
		s3err.Write(w, httptest.NewRequest("GET", "http://s3.test/b", nil), tc.err, "R")
		if w.Code != tc.status {
			t.Errorf("%s written with status %d", tc.code, w.Code)
		}
	}
}

// TestDerivedErrors: With, Wrap and WithExtra make copies that keep the
// code and status, leave the original alone, and work with errors.Is/As.
func TestDerivedErrors(t *testing.T) {
	cause := errors.New("disk on fire")
	base := s3err.BadDigest
	orig := *base
	for _, tc := range []struct {
		name    string
		err     *s3err.Error
		message string
		extra   [][2]string
		cause   error
	}{
		{"With", base.With("other message"), "other message", nil, nil},
		{"Wrap", base.Wrap(cause), base.Message, nil, cause},
		{"WithExtra", base.WithExtra("ServerTime", "now"), base.Message, [][2]string{{"ServerTime", "now"}}, nil},
		{"chained", base.With("m").WithExtra("A", "1").Wrap(cause).WithExtra("B", "2"), "m", [][2]string{{"A", "1"}, {"B", "2"}}, cause},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.err
			if e == base {
				t.Fatal("not a copy")
			}
			if e.Code != "BadDigest" || e.Status != 400 || e.Message != tc.message || fmt.Sprint(e.Extra) != fmt.Sprint(tc.extra) {
				t.Fatalf("%+v", e)
			}
			outer := fmt.Errorf("context: %w", e)
			if !errors.Is(outer, s3err.BadDigest) || errors.Is(outer, s3err.InvalidDigest) {
				t.Error("errors.Is does not match on the code")
			}
			if got := s3err.As(outer); got != e {
				t.Errorf("As = %v, want the error itself", got)
			}
			var target *s3err.Error
			if !errors.As(outer, &target) || target != e {
				t.Error("errors.As does not find it")
			}
			if want := tc.cause != nil; errors.Is(outer, cause) != want {
				t.Errorf("errors.Is(cause) = %v, want %v", !want, want)
			}
			if tc.cause != nil && (!strings.Contains(e.Error(), cause.Error()) || errors.Unwrap(e) != cause) {
				t.Errorf("Error() %q / Unwrap hide the cause", e.Error())
			}
		})
	}
	if fmt.Sprint(*base) != fmt.Sprint(orig) {
		t.Fatalf("the shared value changed: %+v", *base)
	}

	// Appending to a derived error's extras never writes into another's.
	one := base.WithExtra("A", "1")
	two := one.WithExtra("B", "2")
	three := one.WithExtra("C", "3")
	if fmt.Sprint(two.Extra) != "[[A 1] [B 2]]" || fmt.Sprint(three.Extra) != "[[A 1] [C 3]]" || len(one.Extra) != 1 {
		t.Fatalf("extras share storage: %v %v %v", one.Extra, two.Extra, three.Extra)
	}

	if s3err.As(nil) != nil || s3err.As(cause) != nil {
		t.Error("As found an S3 error where there is none")
	}
}

// TestBodies compares whole error documents with S3's: the code's extra
// elements come between Message and RequestId, in S3's order, and the
// HostId follows the RequestId.
func TestBodies(t *testing.T) {
	const decl = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
	for _, tc := range []struct {
		err  *s3err.Error
		want string
	}{
		{s3err.NoSuchUpload,
			`<Error><Code>NoSuchUpload</Code><Message>The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.</Message><RequestId>R1</RequestId><HostId>HOST</HostId></Error>`},
		{s3err.MethodNotAllowedOn("POST", s3err.ResourceService),
			`<Error><Code>MethodNotAllowed</Code><Message>The specified method is not allowed against this resource.</Message><Method>POST</Method><ResourceType>SERVICE</ResourceType><RequestId>R1</RequestId><HostId>HOST</HostId></Error>`},
		{s3err.InvalidArgumentFor("Invalid copy source encoding", "x-amz-copy-source", "b/%zz"),
			`<Error><Code>InvalidArgument</Code><Message>Invalid copy source encoding</Message><ArgumentName>x-amz-copy-source</ArgumentName><ArgumentValue>b/%zz</ArgumentValue><RequestId>R1</RequestId><HostId>HOST</HostId></Error>`},
		// S3 writes quotes literally (clients match a POST policy's failed
		// condition by its text); \r is kept as a character reference and
		// what XML cannot carry becomes U+FFFD.
		{s3err.AccessDenied.With(`Invalid according to Policy: Policy Condition failed: ["eq", "$key", "it's"]` + "\r\x01\xff"),
			`<Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy Condition failed: ["eq", "$key", "it's"]&#xD;` + "\uFFFD\uFFFD" + `</Message><RequestId>R1</RequestId><HostId>HOST</HostId></Error>`},
		{s3err.SignatureDoesNotMatch.WithExtra("AWSAccessKeyId", "AK").WithExtra("StringToSign", "AWS4-HMAC-SHA256\n<x>&"),
			`<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message><AWSAccessKeyId>AK</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256
&lt;x&gt;&amp;</StringToSign><RequestId>R1</RequestId><HostId>HOST</HostId></Error>`},
	} {
		want := decl + strings.Replace(tc.want, "HOST", s3err.HostID("R1"), 1)
		if got := string(tc.err.Body("R1")); got != want {
			t.Errorf("%s:\n got %s\nwant %s", tc.err.Code, got, want)
		}
	}
	// The host id is opaque base64, the same for the same request id.
	if h := s3err.HostID("R1"); h != s3err.HostID("R1") || h == s3err.HostID("R2") || len(h) != 44 {
		t.Errorf("HostID %q", h)
	}
}

// TestHostIDFormula holds HostID to its definition, base64(SHA-256("bucketkey
// host id " + id)), for the proxy's 16-character ids and for longer ones
// (relayed backend ids) than its stack buffer holds.
func TestHostIDFormula(t *testing.T) {
	for _, id := range []string{"", "REQ123", "0123456789ABCDEF", strings.Repeat("backend-request-id-", 8)} {
		sum := sha256.Sum256([]byte("bucketkey host id " + id))
		if got, want := s3err.HostID(id), base64.StdEncoding.EncodeToString(sum[:]); got != want {
			t.Errorf("HostID(%q) = %q, want %q", id, got, want)
		}
	}
}

// FuzzBody: whatever a message or an extra element carries (keys, header
// values and policy conditions come from clients), the body is well-formed
// XML, and text XML can carry reads back unchanged.
func FuzzBody(f *testing.F) {
	for _, s := range []string{"", `["eq", "$key", "a"]`, "a\r\nb\tc", "<&>", "\x00\xff", "\U0001F600", "]]>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		body := s3err.InvalidRequest.With(msg).WithExtra("Key", msg).Body("R")
		var got struct{ Message, Key string }
		if err := xml.Unmarshal(body, &got); err != nil {
			t.Fatalf("%q: body is not XML: %v\n%s", msg, err, body)
		}
		carried := utf8.ValidString(msg)
		for _, r := range msg {
			carried = carried && (r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000)
		}
		if carried && (got.Message != msg || got.Key != msg) {
			t.Fatalf("%q read back as %q, %q", msg, got.Message, got.Key)
		}
	})
}
