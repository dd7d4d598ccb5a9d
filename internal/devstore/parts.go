package devstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bucketkey/bucketkey/s3err"
)

// layout is the part layout of a completed multipart object, kept beside the
// object because gofakes3 concatenates the parts and forgets where they
// began. It is valid while the object's stored ETag (the MD5 of its bytes)
// is ETag; an object overwritten behind the store's back simply stops
// matching.
type layout struct {
	ETag          string  `json:"etag"`           // gofakes3's ETag of the whole body
	MultipartETag string  `json:"multipart_etag"` // S3's "<md5 of md5s>-N", as Complete returned it
	Parts         []int64 `json:"parts"`          // part sizes, in order
}

// errInvalidPartNumber is S3's answer to a part number past the last part.
var errInvalidPartNumber = &s3err.Error{Code: "InvalidPartNumber", Status: http.StatusRequestedRangeNotSatisfiable, Message: "The requested partnumber is not satisfiable"}

const maxCompleteBody = 4 << 20 // 10,000 parts of XML fit comfortably

func (s *Store) layoutPath(bucket, key string) string {
	sum := sha256.Sum256([]byte(bucket + "\x00" + key))
	return filepath.Join(s.dir, "parts", hex.EncodeToString(sum[:])+".json")
}

func (s *Store) loadLayout(bucket, key string) *layout {
	b, err := os.ReadFile(s.layoutPath(bucket, key))
	if err != nil {
		return nil
	}
	var l layout
	if json.Unmarshal(b, &l) != nil || len(l.Parts) == 0 || l.ETag == "" {
		return nil
	}
	return &l
}

func (s *Store) saveLayout(bucket, key string, l *layout) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	path := s.layoutPath(bucket, key)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".layout-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

func (s *Store) removeLayout(bucket, key string) {
	if err := os.Remove(s.layoutPath(bucket, key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("devstore: remove part layout", "err", err)
	}
}

func (s *Store) forgetUpload(uploadID string) {
	s.mu.Lock()
	delete(s.uploads, uploadID)
	s.mu.Unlock()
}

// uploadPart passes an UploadPart through and remembers the part's size.
func (s *Store) uploadPart(w http.ResponseWriter, r *http.Request, uploadID, partNumber string) {
	cr := &countingReader{r: r.Body}
	r.Body = cr
	rw := newResponse(w, nil)
	s.handler.ServeHTTP(rw, r)
	rw.finish()
	n, err := strconv.Atoi(partNumber)
	if rw.status != http.StatusOK || err != nil {
		return
	}
	s.mu.Lock()
	parts := s.uploads[uploadID]
	if parts == nil {
		parts = make(map[int]int64)
		s.uploads[uploadID] = parts
	}
	parts[n] = cr.n
	s.mu.Unlock()
}

type countingReader struct {
	r io.ReadCloser
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

type completeRequest struct {
	Parts []struct {
		PartNumber int `xml:"PartNumber"`
	} `xml:"Part"`
}

type completeResult struct {
	ETag string `xml:"ETag"`
}

// complete passes CompleteMultipartUpload through and, when it succeeds,
// records the object's part layout.
func (s *Store) complete(w http.ResponseWriter, r *http.Request, bucket, key, uploadID, id string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCompleteBody+1))
	if err != nil {
		s.fail(w, r, s3err.IncompleteBody.Wrap(err), id)
		return
	}
	if len(body) > maxCompleteBody {
		s.fail(w, r, s3err.MalformedXML.With("devstore: CompleteMultipartUpload document too large"), id)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))

	rec := newRecorder()
	s.handler.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	rec.copyTo(w)
	if rec.status != http.StatusOK {
		return
	}
	var req completeRequest
	var res completeResult
	if xml.Unmarshal(body, &req) != nil || xml.Unmarshal(rec.body.Bytes(), &res) != nil || res.ETag == "" {
		return
	}
	s.mu.Lock()
	sizes := s.uploads[uploadID]
	delete(s.uploads, uploadID)
	s.mu.Unlock()
	l := &layout{MultipartETag: res.ETag}
	for _, p := range req.Parts {
		size, ok := sizes[p.PartNumber]
		if !ok {
			s.log.Warn("devstore: part size unknown; object will read as single-part", "bucket", bucket, "part", p.PartNumber)
			return
		}
		l.Parts = append(l.Parts, size)
	}
	head := s.innerHead(r, bucket, key)
	if head.status != http.StatusOK {
		return
	}
	l.ETag = head.header.Get("ETag")
	if err := s.saveLayout(bucket, key, l); err != nil {
		s.log.Warn("devstore: save part layout", "err", err)
	}
}

// innerHead asks gofakes3 for an object's headers.
func (s *Store) innerHead(r *http.Request, bucket, key string) *recorder {
	u := *r.URL
	u.RawQuery = ""
	u.Path = "/" + bucket + "/" + key
	u.RawPath = ""
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodHead, u.String(), nil)
	req.URL = &u
	rec := newRecorder()
	s.handler.ServeHTTP(rec, req)
	if rec.status == 0 { // gofakes3 answers a successful HEAD by writing nothing
		rec.status = http.StatusOK
	}
	return rec
}

// read serves GET and HEAD of an object: ?partNumber=k from the recorded
// layout, conditional requests and ETags in S3's multipart form.
func (s *Store) read(w http.ResponseWriter, r *http.Request, bucket, key, id string) {
	l := s.loadLayout(bucket, key)
	if l != nil { // the client knows the multipart ETag; gofakes3 compares the MD5
		for _, h := range []string{"If-Match", "If-None-Match"} {
			if v := r.Header.Get(h); v != "" {
				r.Header.Set(h, strings.ReplaceAll(v, l.MultipartETag, l.ETag))
			}
		}
	}
	q := r.URL.Query()
	if pn, ok := q["partNumber"]; ok {
		k, err := strconv.Atoi(pn[0])
		if err != nil || k < 1 || k > 10000 {
			s.fail(w, r, s3err.InvalidArgument.With("Part number must be an integer between 1 and 10000, inclusive"), id)
			return
		}
		if r.Header.Get("Range") != "" {
			s.fail(w, r, s3err.InvalidRequest.With("Cannot specify both Range header and partNumber query parameter"), id)
			return
		}
		q.Del("partNumber")
		r.URL.RawQuery = q.Encode()
		if l != nil && s.innerHead(r, bucket, key).header.Get("ETag") != l.ETag {
			l = nil // overwritten since: no longer this layout
		}
		n := 1
		if l != nil {
			n = len(l.Parts)
		}
		if k > n {
			s.fail(w, r, errInvalidPartNumber.WithExtra("ActualPartCount", strconv.Itoa(n)).WithExtra("PartNumberRequested", strconv.Itoa(k)), id)
			return
		}
		if l != nil {
			var start int64
			for _, size := range l.Parts[:k-1] {
				start += size
			}
			end := start + l.Parts[k-1] - 1
			if end >= start { // an empty part has no satisfiable range
				r.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, end))
			}
			w.Header().Set("x-amz-mp-parts-count", strconv.Itoa(n))
		}
	}
	rw := newResponse(w, l)
	s.handler.ServeHTTP(rw, r)
	rw.finish()
}

// recorder is a minimal in-memory ResponseWriter for the store's own calls
// into gofakes3 (small XML answers and HEADs only).
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: make(http.Header)} }

func (rec *recorder) Header() http.Header { return rec.header }

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.body.Write(p)
}

// copyTo replays the recorded answer to w, through the response filter.
func (rec *recorder) copyTo(w http.ResponseWriter) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	rw := newResponse(w, nil)
	rw.WriteHeader(rec.status)
	_, _ = rw.Write(rec.body.Bytes())
}
