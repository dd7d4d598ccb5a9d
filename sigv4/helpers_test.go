package sigv4

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bucketkey/bucketkey/s3err"
)

// The credentials and time of the S3 API reference's signing examples.
const (
	exampleAK     = "AKIAIOSFODNN7EXAMPLE"
	exampleSK     = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	exampleHost   = "examplebucket.s3.amazonaws.com"
	exampleRegion = "us-east-1"
)

var exampleTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

// exampleVerifier verifies the S3 reference examples, at their time.
func exampleVerifier() *Verifier {
	return &Verifier{
		Region:      exampleRegion,
		Credentials: StaticCredentials{exampleAK: exampleSK, "OTHERKEY": "other-secret"},
		Now:         func() time.Time { return exampleTime },
	}
}

// serverRequest builds a request as a server receives it: RequestURI is the
// raw target, Host the Host header.
func serverRequest(method, target, host string, headers map[string]string, body []byte) *http.Request {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	r := httptest.NewRequest(method, "http://"+host+"/", rd)
	r.RequestURI = target
	r.Host = host
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	if body == nil {
		r.ContentLength = 0
		r.Body = http.NoBody
	}
	return r
}

// readBody reads an authenticated body to its end and returns the bytes and
// the final error (nil for a verified body).
func readBody(t testing.TB, a *Authenticated) ([]byte, error) {
	t.Helper()
	data, err := io.ReadAll(a.Body)
	if cerr := a.Body.Close(); cerr != nil {
		t.Errorf("closing the body: %v", cerr)
	}
	return data, err
}

// wantCode asserts err is a *s3err.Error with the code (and, if status is
// non-zero, the HTTP status).
func wantCode(t testing.TB, err error, code string, status int) *s3err.Error {
	t.Helper()
	e := s3err.As(err)
	if e == nil {
		t.Fatalf("got error %v, want S3 error %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("got %s (%s), want %s", e.Code, e.Message, code)
	}
	if status != 0 && e.Status != status {
		t.Fatalf("%s has status %d, want %d", code, e.Status, status)
	}
	// s3cmd falls back to SigV2 on InvalidArgument: S3 (and so the
	// verifier) answers it only for an Authorization header or payload
	// hash that no SigV4 signer sends, never for a signature that fails.
	if n := extra(e, "ArgumentName"); e.Code == "InvalidArgument" && n != "Authorization" && n != "x-amz-content-sha256" {
		t.Fatalf("signature failures must never be InvalidArgument")
	}
	return e
}

func extra(e *s3err.Error, name string) string {
	for _, kv := range e.Extra {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

// errReader fails with err after yielding data, at most seg bytes per
// Read if seg is not 0 (as the proxy's encrypting pipe gives one sealed
// segment per write).
type errReader struct {
	data []byte
	err  error
	seg  int
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	if r.seg > 0 && len(p) > r.seg {
		p = p[:r.seg]
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

var errInjected = errors.New("injected failure")

// oneByteReader yields one byte per Read, to exercise every buffer edge.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

// crlf turns the "\n" line ends of test fixtures into "\r\n".
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
