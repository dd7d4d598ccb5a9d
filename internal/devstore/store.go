// Package devstore is the S3 server `bucketkey dev` puts behind the proxy so
// that the proxy can be tried on a fresh machine with no AWS account.
//
// It is not an S3 server of its own: the S3 protocol is gofakes3's
// (github.com/johannesboyne/gofakes3) over its afero directory backend. This
// package only adds what the proxy needs from a backend and gofakes3 lacks:
//
//   - SigV4 authentication of every request (sigv4.Verifier), so only the
//     proxy, which holds the store's credentials, can read the ciphertext,
//     and decoding of aws-chunked bodies on every operation (gofakes3
//     decodes them on PutObject only, not on UploadPart);
//   - `GET`/`HEAD ?partNumber=k` on completed multipart objects, with
//     Content-Range and x-amz-mp-parts-count, which the proxy uses to learn a
//     multipart object's part layout (gofakes3 concatenates the parts and
//     forgets the layout); the layout is recorded at CompleteMultipartUpload
//     in a small JSON file per object;
//   - S3's multipart ETag ("<md5 of part md5s>-N") on HEAD and GET, where
//     gofakes3 would answer the MD5 of the whole body;
//   - a clean NotImplemented for the sub-resources gofakes3 does not route
//     (tagging, acl, ...), which it would otherwise treat as object writes;
//   - response hygiene: gofakes3 stores every x-amz-* request header as
//     metadata and echoes it back; only S3's own response headers pass.
//
// Limits, all fine for trying the proxy and all documented in the README:
// gofakes3 holds in-progress multipart parts in memory, serialises writes,
// does not support UploadPartCopy, versioning through the proxy or object
// tagging.
package devstore

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"

	"github.com/bucketkey/bucketkey/s3err"
	"github.com/bucketkey/bucketkey/sigv4"
)

// Options configure a Store.
type Options struct {
	// Credentials, when set, are the only access keys the store accepts:
	// every request must carry a valid SigV4 signature, and aws-chunked
	// bodies are verified and decoded. Nil accepts anonymous requests
	// (tests) and refuses aws-chunked bodies except on PutObject.
	Credentials sigv4.Credentials
	// Region is the region signatures are checked against [us-east-1].
	Region string
	// Logger receives one line per failed request [discarded].
	Logger *slog.Logger
}

// Store is an S3 endpoint over a local directory. It is an http.Handler.
type Store struct {
	dir      string
	fake     *gofakes3.GoFakeS3
	backend  *s3afero.MultiBucketBackend
	handler  http.Handler
	verifier *sigv4.Verifier
	log      *slog.Logger
	reqID    atomic.Uint64

	mu      sync.Mutex
	uploads map[string]map[int]int64 // upload id -> part number -> stored size

	replaceCopies *sync.Map // shared with the backend (replacingBackend)
}

// New opens (creating it if needed, mode 0700) a store in dir. Objects live
// in dir/buckets, gofakes3's metadata in dir/metadata and multipart layouts
// in dir/parts.
func New(dir string, o Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("devstore: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("devstore: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(abs, "parts"), 0o700); err != nil {
		return nil, fmt.Errorf("devstore: %w", err)
	}
	fs := afero.NewBasePathFs(afero.NewOsFs(), abs)
	backend, err := s3afero.MultiBucket(fs)
	if err != nil {
		return nil, fmt.Errorf("devstore: %w", err)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	replaceCopies := &sync.Map{}
	fake := gofakes3.New(replacingBackend{backend, afero.NewBasePathFs(fs, "metadata"), replaceCopies},
		gofakes3.WithoutVersioning(),
		gofakes3.WithLogger(gofakes3.DiscardLog()),
		gofakes3.WithTimeSkewLimit(0), // the verifier checks the clock
	)
	s := &Store{
		dir:     abs,
		fake:    fake,
		backend: backend,
		handler: fake.Server(),
		log:     logger,
		uploads: make(map[string]map[int]int64),

		replaceCopies: replaceCopies,
	}
	if o.Credentials != nil {
		region := o.Region
		if region == "" {
			region = "us-east-1"
		}
		s.verifier = &sigv4.Verifier{Region: region, Credentials: o.Credentials}
	}
	return s, nil
}

// Dir is the store's directory, absolute.
func (s *Store) Dir() string { return s.dir }

// CreateBucket creates bucket unless it exists.
func (s *Store) CreateBucket(bucket string) error {
	ok, err := s.backend.BucketExists(bucket)
	if err != nil {
		return fmt.Errorf("devstore: %w", err)
	}
	if ok {
		return nil
	}
	if err := s.backend.CreateBucket(bucket); err != nil {
		return fmt.Errorf("devstore: create bucket %q: %w", bucket, err)
	}
	return nil
}

// ServeHTTP implements http.Handler.
func (s *Store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := strconv.FormatUint(s.reqID.Add(1), 16)
	if err := s.prepare(r); err != nil {
		s.fail(w, r, err, id)
		return
	}
	bucket, key := splitPath(r.URL.Path)
	q := r.URL.Query()
	if sub := unsupportedSubresource(q); sub != "" {
		s.fail(w, r, s3err.NotImplemented.With("devstore does not support ?"+sub), id)
		return
	}
	uploadID := q.Get("uploadId")
	if key != "" && bucket != "" {
		switch r.Method {
		case http.MethodPut, http.MethodPost:
			if err := s.writableKey(bucket, key); err != nil {
				s.fail(w, r, err, id)
				return
			}
		case http.MethodGet, http.MethodHead:
			if !s.readableKey(bucket, key) { // gofakes3 would answer another key, or fail
				s.fail(w, r, s3err.NoSuchKey, id)
				return
			}
		case http.MethodDelete:
			if storableKey(key) != nil && uploadID == "" { // never stored; gofakes3 would delete another key
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
	}
	switch {
	case uploadID != "" && r.Method == http.MethodPut:
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			s.fail(w, r, s3err.NotImplemented.With("devstore does not support UploadPartCopy"), id)
			return
		}
		s.uploadPart(w, r, uploadID, q.Get("partNumber"))
	case uploadID != "" && r.Method == http.MethodPost:
		s.complete(w, r, bucket, key, uploadID, id)
	case uploadID != "" && r.Method == http.MethodDelete:
		rw := newResponse(w, nil)
		s.handler.ServeHTTP(rw, r)
		rw.finish()
		if rw.status == http.StatusNoContent {
			s.forgetUpload(uploadID)
		}
	case key != "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.read(w, r, bucket, key, id)
	case key == "" && bucket != "" && r.Method == http.MethodGet:
		s.list(w, r, bucket)
	case key != "" && (r.Method == http.MethodPut || r.Method == http.MethodDelete):
		if r.Header.Get("X-Amz-Copy-Source") != "" && strings.EqualFold(r.Header.Get("X-Amz-Metadata-Directive"), "REPLACE") {
			s.replaceCopies.Store(bucket+"/"+key, copyReplaceNames(r.Header))
			defer s.replaceCopies.Delete(bucket + "/" + key)
		}
		rw := newResponse(w, nil)
		s.handler.ServeHTTP(rw, r)
		rw.finish()
		if rw.status/100 == 2 { // overwritten or deleted: no longer multipart
			s.removeLayout(bucket, key)
		}
	default:
		rw := newResponse(w, nil)
		s.handler.ServeHTTP(rw, r)
		rw.finish()
	}
}

// prepare authenticates r (when the store has credentials) and rewrites it
// into the plain request gofakes3 understands: decoded body, no signature
// headers (gofakes3 would store them as metadata), no aws-chunked encoding.
func (s *Store) prepare(r *http.Request) error {
	if s.verifier != nil {
		// As S3 does, accept streamed bodies for object uploads
		// (PutObject, UploadPart) only.
		_, key := splitPath(r.URL.Path)
		upload := r.Method == http.MethodPut && key != "" &&
			r.Header.Get("X-Amz-Copy-Source") == "" && unsupportedSubresource(r.URL.Query()) == ""
		auth, err := s.verifier.Verify(r, sigv4.VerifyOptions{AnyRegion: true, AllowStreaming: upload})
		if err != nil {
			return err
		}
		r.Body = auth.Body
		if auth.ContentLength >= 0 {
			r.ContentLength = auth.ContentLength
			r.Header.Set("Content-Length", strconv.FormatInt(auth.ContentLength, 10))
		}
	} else if sha := r.Header.Get("X-Amz-Content-Sha256"); strings.HasPrefix(sha, "STREAMING-") {
		_, upload := r.URL.Query()["uploadId"]
		if upload || sha != "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" {
			return s3err.NotImplemented.With("devstore without credentials decodes only signed aws-chunked PutObject bodies")
		}
		return nil // gofakes3 decodes this one itself
	}
	stripRequestHeaders(r.Header)
	return nil
}

func (s *Store) fail(w http.ResponseWriter, r *http.Request, err error, id string) {
	var e *s3err.Error
	if !errors.As(err, &e) {
		s.log.Warn("devstore: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	s3err.Write(w, r, err, id)
}

// splitPath splits a path-style request path into bucket and key.
func splitPath(p string) (bucket, key string) {
	p = strings.TrimPrefix(p, "/")
	bucket, key, _ = strings.Cut(p, "/")
	return bucket, key
}
