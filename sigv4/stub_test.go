package sigv4

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bucketkey/bucketkey/s3err"
)

// stubS3 is a test HTTP server in front of Verifier: it authenticates every
// request, reads the body to its end (which is where the body is verified),
// keeps PUT objects in memory and answers the few S3 operations the real
// clients in these tests make. It is not a fake of anything under test: the
// verification is the real one; only the storage behind it is a map.
type stubS3 struct {
	v *Verifier

	mu      sync.Mutex
	objects map[string][]byte
	recs    chan stubRecord
}

// stubRecord is what the stub saw of one request.
type stubRecord struct {
	method, uri   string
	payload       string // x-amz-content-sha256 as sent
	presigned     bool
	body          []byte
	err           error // from Verify or from reading the body
	ckAlg, ck     string
	contentLength int64
}

func (r stubRecord) String() string {
	return fmt.Sprintf("%s %s payload=%s presigned=%v len=%d ck=%s:%s err=%v", r.method, r.uri, r.payload, r.presigned, len(r.body), r.ckAlg, r.ck, r.err)
}

func newStub(t *testing.T, tls bool, now func() time.Time) (*stubS3, *httptest.Server) {
	s := &stubS3{
		v: &Verifier{
			Region:      testRegion,
			Credentials: StaticCredentials{testAK: testSK},
			Now:         now,
		},
		objects: map[string][]byte{},
		recs:    make(chan stubRecord, 1000),
	}
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(s)
	} else {
		srv = httptest.NewServer(s)
	}
	t.Cleanup(srv.Close)
	return s, srv
}

// next returns the record of the next request the stub finished.
func (s *stubS3) next(t *testing.T) stubRecord {
	t.Helper()
	select {
	case r := <-s.recs:
		return r
	case <-time.After(30 * time.Second): // a guard against a hung test, not synchronisation
		t.Fatal("no request reached the stub")
		return stubRecord{}
	}
}

// drain returns every record so far.
func (s *stubS3) drain() []stubRecord {
	var out []stubRecord
	for {
		select {
		case r := <-s.recs:
			out = append(out, r)
		default:
			return out
		}
	}
}

func (s *stubS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The record is published before the response is written, so a client
	// holding its response can rely on finding it.
	rec := stubRecord{method: r.Method, uri: r.RequestURI, payload: r.Header.Get("X-Amz-Content-Sha256")}
	q := r.URL.Query()
	// ListBuckets and GetBucketLocation accept any region, as S3 does;
	// object uploads (PutObject, UploadPart) may stream.
	opts := VerifyOptions{
		AnyRegion:      r.URL.Path == "/" || q.Has("location"),
		AllowStreaming: r.Method == http.MethodPut && strings.Count(r.URL.Path, "/") > 1 && !q.Has("tagging") && !q.Has("acl"),
	}
	a, err := s.v.Verify(r, opts)
	if err != nil {
		rec.err = err
		s.recs <- rec
		s3err.Write(w, r, err, "stub")
		return
	}
	rec.presigned = a.Presigned
	rec.contentLength = a.ContentLength
	rec.ckAlg = a.ChecksumAlgorithm
	rec.body, err = io.ReadAll(a.Body)
	a.Body.Close()
	rec.ck = a.Checksum()
	if err != nil {
		rec.err = err
		s.recs <- rec
		s3err.Write(w, r, err, "stub")
		return
	}
	if r.Method == http.MethodPut {
		s.mu.Lock()
		s.objects[r.URL.Path] = rec.body
		s.mu.Unlock()
	}
	s.recs <- rec
	key := r.URL.Path
	switch {
	case r.Method == http.MethodPut:
		sum := md5.Sum(rec.body)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	case r.Method == http.MethodGet && q.Has("location"):
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>`)
	case r.Method == http.MethodGet && q.Get("list-type") == "2":
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bucket</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`)
	case r.Method == http.MethodPost && q.Has("delete"):
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>`)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		s.mu.Lock()
		obj, ok := s.objects[key]
		s.mu.Unlock()
		if !ok {
			s3err.Write(w, r, s3err.NoSuchKey, "stub")
			return
		}
		status := http.StatusOK
		if rg := r.Header.Get("Range"); strings.HasPrefix(rg, "bytes=") {
			var from, to int
			if _, err := fmt.Sscanf(rg, "bytes=%d-%d", &from, &to); err == nil && from <= to && to < len(obj) {
				w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, to, len(obj)))
				obj = obj[from : to+1]
				status = http.StatusPartialContent
			}
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(obj)))
		w.Header().Set("Last-Modified", time.Unix(0, 0).UTC().Format(http.TimeFormat))
		w.WriteHeader(status)
		if r.Method == http.MethodGet {
			w.Write(obj)
		}
	case r.Method == http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *stubS3) object(key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[key]
	return b, ok
}
