package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bucketkey/bucketkey/s3err"
)

// errorDoc is S3's error document for code and message with the extra
// elements in order, and the RequestId written as "ID".
func errorDoc(code, message string, extra ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<Error><Code>" + code + "</Code><Message>" + message + "</Message>")
	for i := 0; i+1 < len(extra); i += 2 {
		b.WriteString("<" + extra[i] + ">" + extra[i+1] + "</" + extra[i] + ">")
	}
	b.WriteString("<RequestId>ID</RequestId><HostId>HOST</HostId></Error>")
	return b.String()
}

// withHostID fills in errorDoc's HostId for request id.
func withHostID(doc, id string) string {
	return strings.Replace(doc, "<HostId>HOST</HostId>", "<HostId>"+s3err.HostID(id)+"</HostId>", 1)
}

// wantErrorDoc checks a recorded answer against S3's whole error
// document: status, body byte for byte, a RequestId that is the
// x-amz-request-id header's and a HostId that is the x-amz-id-2 header's.
func wantErrorDoc(t *testing.T, w *httptest.ResponseRecorder, status int, doc string) {
	t.Helper()
	id := w.Header().Get("x-amz-request-id")
	if id == "" {
		t.Fatal("no x-amz-request-id")
	}
	if w.Code != status {
		t.Errorf("status %d, want %d", w.Code, status)
	}
	if w.Header().Get("x-amz-id-2") != s3err.HostID(id) {
		t.Errorf("x-amz-id-2 %q for request id %q", w.Header().Get("x-amz-id-2"), id)
	}
	want := strings.Replace(doc, "<RequestId>ID</RequestId>", "<RequestId>"+id+"</RequestId>", 1)
	if got, want := w.Body.String(), withHostID(want, id); got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
}

// TestUnitRefusedBeforeAuthentication: request shapes no S3 operation serves
// get S3's answer whether or not they are signed (these are not), as S3
// routes before it authenticates.
func TestUnitRefusedBeforeAuthentication(t *testing.T) {
	p := unitProxy(t)
	const copyOnly = "You can only specify a copy source header for copy requests."
	for _, tc := range []struct {
		method, target string
		hdr            map[string]string
		status         int
		doc            string
	}{
		{"POST", "/", nil, 405, errorDoc("MethodNotAllowed", s3err.MethodNotAllowed.Message, "Method", "POST", "ResourceType", "SERVICE")},
		{"PUT", "/", nil, 405, errorDoc("MethodNotAllowed", s3err.MethodNotAllowed.Message, "Method", "PUT", "ResourceType", "SERVICE")},
		{"DELETE", "/", nil, 405, errorDoc("MethodNotAllowed", s3err.MethodNotAllowed.Message, "Method", "DELETE", "ResourceType", "SERVICE")},
		{"POST", "/bucket/object", nil, 405, errorDoc("MethodNotAllowed", s3err.MethodNotAllowed.Message, "Method", "POST", "ResourceType", "SERVICE")},
		{"PUT", "/bucket/object?uploadId=my-upload-id", nil, 405, errorDoc("MethodNotAllowed", s3err.MethodNotAllowed.Message, "Method", "PUT", "ResourceType", "UPLOAD")},
		{"PUT", "/bucket/object?partNumber=1", nil, 400, errorDoc("InvalidArgument", "This operation does not accept partNumber without uploadId", "ArgumentName", "partNumber", "ArgumentValue", "partNumber")},
		{"GET", "/bucket/object?uploads", nil, 400, errorDoc("InvalidRequest", "Key is not expected for the GET method ?uploads subresource")},
		{"GET", "/bucket/object?versions", nil, 400, errorDoc("InvalidRequest", "There is no such thing as the ?versions sub-resource for a key")},
		{"GET", "/bucket/object", map[string]string{"X-Amz-Copy-Source": "bucket/object"}, 400, errorDoc("InvalidArgument", copyOnly, "ArgumentName", "x-amz-copy-source", "ArgumentValue", "bucket/object")},
		{"DELETE", "/bucket", map[string]string{"X-Amz-Copy-Source": "bucket/object"}, 400, errorDoc("InvalidArgument", copyOnly, "ArgumentName", "x-amz-copy-source", "ArgumentValue", "bucket/object")},
		{"POST", "/bucket/object?uploadId=x", map[string]string{"X-Amz-Copy-Source": "b/o"}, 400, errorDoc("InvalidArgument", copyOnly, "ArgumentName", "x-amz-copy-source", "ArgumentValue", "b/o")},
		// Shapes an operation serves are authenticated first.
		{"GET", "/bucket/object", nil, 403, errorDoc("AccessDenied", s3err.AccessDenied.Message)},
		{"POST", "/bucket/object?uploads", nil, 403, errorDoc("AccessDenied", s3err.AccessDenied.Message)},
		{"PUT", "/bucket/object", map[string]string{"X-Amz-Copy-Source": "b/o"}, 403, errorDoc("AccessDenied", s3err.AccessDenied.Message)},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://s3.test"+tc.target, nil)
			for k, v := range tc.hdr {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			p.ServeHTTP(w, r)
			wantErrorDoc(t, w, tc.status, tc.doc)
		})
	}
	// HEAD: the status alone, as S3 answers HEAD.
	r := httptest.NewRequest("HEAD", "http://s3.test/bucket/object", nil)
	r.Header.Set("X-Amz-Copy-Source", "bucket/object")
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest || w.Body.Len() != 0 {
		t.Errorf("HEAD with a copy source: %d, %q", w.Code, w.Body)
	}
	// HEAD of the service: S3 serves only GET there.
	w = httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest("HEAD", "http://s3.test/", nil))
	if w.Code != http.StatusMethodNotAllowed || w.Body.Len() != 0 {
		t.Errorf("HEAD /: %d, %q", w.Code, w.Body)
	}
}

// TestUnitCopySourceErrors: S3's InvalidArgument for each way a copy source
// can be wrong, whole documents.
func TestUnitCopySourceErrors(t *testing.T) {
	arg := func(msg, value string) string {
		return errorDoc("InvalidArgument", msg, "ArgumentName", "x-amz-copy-source", "ArgumentValue", value)
	}
	for _, tc := range []struct{ in, doc string }{
		{"bucket/%ZZ", arg("Invalid copy source encoding", "bucket/%ZZ")},
		{"100%/foo/bar/baz", arg("Invalid copy source encoding", "100%/foo/bar/baz")},
		{"%", arg("Invalid copy source encoding", "%")},
		{"my-buc@k&()t/obj", arg("Invalid copy source bucket name", "my-buc@k&amp;()t/obj")},
		{"bucket", arg("Invalid copy source object key", "")},
		{"bucket/", arg("Invalid copy source object key", "")},
		{"bucket/..", arg("Invalid copy source object key", "..")},
		{"bucket/foo/ba/../../../r/baz", arg("Invalid copy source object key", "foo/ba/../../../r/baz")},
	} {
		_, err := parseCopySource(tc.in)
		e := s3err.As(err)
		if e == nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got, want := string(e.Body("ID")), withHostID(tc.doc, "ID"); got != want {
			t.Errorf("%q:\n got %s\nwant %s", tc.in, got, want)
		}
	}
}

// TestUnitCompletePartsErrors: the document checks of CompleteMultipartUpload,
// whole S3 error documents.
func TestUnitCompletePartsErrors(t *testing.T) {
	part := func(num, etag string) string {
		s := "<Part>"
		if num != "" {
			s += "<PartNumber>" + num + "</PartNumber>"
		}
		if etag != "" {
			s += "<ETag>" + etag + "</ETag>"
		}
		return s + "</Part>"
	}
	doc := func(parts ...string) []byte {
		return []byte("<CompleteMultipartUpload>" + strings.Join(parts, "") + "</CompleteMultipartUpload>")
	}
	malformed := errorDoc("MalformedXML", s3err.MalformedXML.Message)
	invalidPart := errorDoc("InvalidPart", "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
		"UploadId", "u", "PartNumber", "3", "ETag", `"e"`)
	for _, tc := range []struct {
		name string
		doc  []byte
		want string
	}{
		{"no parts", doc(), malformed},
		{"no ETag", doc(part("1", "")), malformed},
		{"no part number", doc(part("", `"e"`)), malformed},
		{"negative part number", doc(part("-4", `"e"`)), errorDoc("InvalidArgument", "PartNumber must be &gt;= 1", "ArgumentName", "PartNumber", "ArgumentValue", "-4")},
		{"part number too large", doc(part("10001", `"e"`)), errorDoc("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive.", "ArgumentName", "partNumber", "ArgumentValue", "10001")},
		{"descending", doc(part("2", `"e"`), part("1", `"e"`)), errorDoc("InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered by part number.")},
		{"gap", doc(part("1", `"e"`), part("3", `"e"`)), invalidPart},
	} {
		e := s3err.As(checkCompleteParts(tc.doc, "u"))
		if e == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if got, want := string(e.Body("ID")), withHostID(tc.want, "ID"); got != want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, want)
		}
	}
}

// TestUnitBackendErrorRequestID: an error document relayed from the backend
// names the request id the client was given, not the backend's.
func TestUnitBackendErrorRequestID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>m</Message><RequestId>BACKEND</RequestId><HostId>h</HostId></Error>`,
			`<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>m</Message><RequestId>PROXY</RequestId><HostId>` + s3err.HostID("PROXY") + `</HostId></Error>`},
		{`<Error><Code>X</Code><RequestId></RequestId></Error>`, `<Error><Code>X</Code><RequestId>PROXY</RequestId><HostId>` + s3err.HostID("PROXY") + `</HostId></Error>`},
		// Not an error document, or none to rewrite: unchanged.
		{`<ListBucketResult><RequestId>B</RequestId></ListBucketResult>`, `<ListBucketResult><RequestId>B</RequestId></ListBucketResult>`},
		{`<Error><Code>X</Code></Error>`, `<Error><Code>X</Code></Error>`},
		{`<Error><RequestId>unterminated`, `<Error><RequestId>unterminated`},
	} {
		if got := string(withRequestID([]byte(tc.in), "PROXY")); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}
