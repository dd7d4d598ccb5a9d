package proxy

import (
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/bucketkey/bucketkey/s3err"
)

func TestUnitReadPostForm(t *testing.T) {
	const ct = `multipart/form-data; boundary="XyZ"`
	tests := []struct {
		name   string
		ct     string
		body   string
		fields map[string]string
		file   string
		fname  string
		code   string // error code, "" for success
	}{
		{name: "plain", body: "--XyZ\r\nContent-Disposition: form-data; name=\"Key\"\r\n\r\na/b\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n",
			fields: map[string]string{"key": "a/b"}, file: "hello", fname: "f.txt"},
		{name: "preamble and padding", body: "ignored\r\n--XyZ  \r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\r\n--XyZ\r\nContent-Disposition: form-data; name=\"FILE\"\r\n\r\n\r\n--XyZ--\r\n",
			fields: map[string]string{"a": ""}, file: ""},
		{name: "delimiter-like bytes in file", body: "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n--XyZ\n\r\n--Xy\r\n--XyZ--\r\n", file: "--XyZ\n\r\n--Xy"},
		{name: "not a form", ct: "application/json", body: "{}", code: "PreconditionFailed"},
		{name: "no boundary", ct: "multipart/form-data", body: "x", code: "MalformedPOSTRequest"},
		{name: "no file", body: "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--\r\n", code: "InvalidArgument"},
		{name: "no disposition", body: "--XyZ\r\nContent-Type: text/plain\r\n\r\n1\r\n--XyZ--\r\n", code: "MalformedPOSTRequest"},
		{name: "attachment", body: "--XyZ\r\nContent-Disposition: file; name=\"file\"\r\n\r\n1\r\n--XyZ--\r\n", code: "MalformedPOSTRequest"},
		{name: "duplicate field", body: "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"A\"\r\n\r\n2\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--XyZ--\r\n", code: "InvalidArgument"},
		{name: "truncated", body: "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1", code: "MalformedPOSTRequest"},
		{name: "field too large", body: "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n" + strings.Repeat("v", maxPostPreData) + "\r\n--XyZ--\r\n", code: "MaxPostPreDataLengthExceeded"},
		// S3 ignores what follows the file: fields (a browser's submit
		// button) and an epilogue, in a form small enough to read whole.
		{name: "field after file", body: "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc\r\n--XyZ\r\nContent-Disposition: form-data; name=\"submit\"\r\n\r\nUpload\r\n--XyZ--\r\n", file: "abc"},
		{name: "epilogue", body: "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc\r\n--XyZ--\r\ntail data that is ignored", file: "abc"},
		{name: "no final CRLF", body: "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc\r\n--XyZ--", file: "abc"},
		{name: "file not closed", body: "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc", code: "MalformedPOSTRequest"},
		// A larger one streams its file, which must end the form.
		{name: "field after a large file", body: "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n" + strings.Repeat("f", maxBufferedPostFile) + "\r\n--XyZ\r\nContent-Disposition: form-data; name=\"submit\"\r\n\r\nUpload\r\n--XyZ--\r\n", code: "MalformedPOSTRequest"},
		{name: "large file", body: "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n" + strings.Repeat("f", maxBufferedPostFile) + "\r\n--XyZ--\r\n", file: strings.Repeat("f", maxBufferedPostFile)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.ct
			if c == "" {
				c = ct
			}
			form, err := readPostForm(strings.NewReader(tc.body), c, int64(len(tc.body)))
			var file []byte
			if err == nil {
				file, err = io.ReadAll(form.file)
			}
			if tc.code != "" {
				if e := s3err.As(err); e == nil || e.Code != tc.code {
					t.Fatalf("got %v, want %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(file) != tc.file || form.size != int64(len(tc.file)) || form.filename != tc.fname {
				t.Fatalf("file %q (size %d, name %q), want %q %q", file, form.size, form.filename, tc.file, tc.fname)
			}
			for k, v := range tc.fields {
				if form.fields[k] != v {
					t.Errorf("field %s = %q, want %q", k, form.fields[k], v)
				}
			}
		})
	}
	if _, err := readPostForm(strings.NewReader(""), ct, -1); !errors.Is(err, s3err.MissingContentLength) {
		t.Errorf("no length: %v", err)
	}
}

// TestUnitPostHeaders: a form's REST header fields become the headers of
// the object it stores, as a PutObject's would; the signature fields do not.
func TestUnitPostHeaders(t *testing.T) {
	h, err := postHeaders(map[string]string{
		"content-type": "image/png", "cache-control": "max-age=100", "expires": "Fri, 21 Mar 2026 00:00:00 GMT",
		"content-language": "en-US", "content-disposition": "inline", "content-encoding": "gzip",
		"x-amz-meta-foo": "bar", "x-amz-website-redirect-location": "/r", "x-amz-signature": "00", "policy": "e30=",
		// A copy's fields would make the backend's PUT a copy: never sent.
		"x-amz-copy-source": "/other/secret", "x-amz-copy-source-if-match": "e", "x-amz-metadata-directive": "COPY",
		"x-amz-tagging-directive": "COPY",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := http.Header{
		"Content-Type": {"image/png"}, "Cache-Control": {"max-age=100"}, "Expires": {"Fri, 21 Mar 2026 00:00:00 GMT"},
		"Content-Language": {"en-US"}, "Content-Disposition": {"inline"}, "Content-Encoding": {"gzip"},
		"X-Amz-Meta-Foo": {"bar"}, "X-Amz-Website-Redirect-Location": {"/r"},
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("headers %v, want %v", h, want)
	}
}

// stickyFailure fails every read with err, as a request body does once
// its connection broke mid-record.
type stickyFailure struct{ err error }

func (s stickyFailure) Read([]byte) (int, error) { return 0, s.err }

// TestUnitPostFileKeepsErrors: a streamed form's file whose body fails
// (not at its end) reports that failure, and again on every later read,
// never (0, nil): the sealing loop spun on those forever.
func TestUnitPostFileKeepsErrors(t *testing.T) {
	const head = "--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n"
	const fileLen = 1 << 20 // streamed, not buffered
	length := int64(len(head) + fileLen + len("\r\n--XyZ--\r\n"))
	body := io.MultiReader(strings.NewReader(head+strings.Repeat("a", 1000)), stickyFailure{io.ErrUnexpectedEOF})
	form, err := readPostForm(body, "multipart/form-data; boundary=XyZ", length)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	got := 0
	for i := 0; ; i++ {
		n, err := form.file.Read(buf)
		got += n
		if err != nil {
			if !errors.Is(err, io.ErrUnexpectedEOF) || got != 1000 {
				t.Fatalf("after %d bytes: %v, want the body's io.ErrUnexpectedEOF after 1000", got, err)
			}
			break
		}
		if i > 100 {
			t.Fatalf("%d reads without the body's error (%d bytes)", i, got)
		}
	}
	if _, err := form.file.Read(buf); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("the next read: %v", err)
	}
}

// readSizes records the largest read asked of r.
type readSizes struct {
	r   io.Reader
	max int
}

func (s *readSizes) Read(p []byte) (int, error) {
	s.max = max(s.max, len(p))
	return s.r.Read(p)
}

// TestUnitPostBufferGrows: a small form is buffered as its bytes arrive,
// not to its declared length at once (it is not authenticated yet): a
// form that declares 500 KiB and sends 110 bytes is IncompleteBody, and
// no read larger than the form reader's own buffer was asked for.
func TestUnitPostBufferGrows(t *testing.T) {
	const head = "--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n"
	src := &readSizes{r: strings.NewReader(head + strings.Repeat("a", 110))}
	_, err := readPostForm(src, "multipart/form-data; boundary=XyZ", int64(len(head))+500<<10)
	if e := s3err.As(err); e == nil || e.Code != "IncompleteBody" {
		t.Fatalf("err %v, want IncompleteBody", err)
	}
	if src.max > 64<<10 {
		t.Fatalf("a read of %d bytes was asked for a form that sent %d", src.max, len(head)+110)
	}
}
