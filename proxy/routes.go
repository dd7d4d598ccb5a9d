package proxy

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/s3err"
	"github.com/bucketkey/bucketkey/sigv4"
)

// opFunc serves one S3 operation for an authenticated request. An error it
// returns is answered as S3 error XML (or aborts a started response).
type opFunc func(rq *request) error

// Sub-resources that turn a bucket request into a configuration request
// the proxy passes through unchanged, by query key and operation-name stem.
var bucketSubresources = []struct{ query, name string }{
	{"accelerate", "Accelerate"},
	{"acl", "Acl"},
	{"analytics", "Analytics"},
	{"cors", "Cors"},
	{"encryption", "Encryption"},
	{"intelligent-tiering", "IntelligentTiering"},
	{"inventory", "Inventory"},
	{"lifecycle", "Lifecycle"},
	{"logging", "Logging"},
	{"metrics", "Metrics"},
	{"notification", "Notification"},
	{"object-lock", "ObjectLock"},
	{"ownershipControls", "OwnershipControls"},
	{"policy", "Policy"},
	{"policyStatus", "PolicyStatus"},
	{"publicAccessBlock", "PublicAccessBlock"},
	{"replication", "Replication"},
	{"requestPayment", "RequestPayment"},
	{"tagging", "Tagging"},
	{"versioning", "Versioning"},
	{"website", "Website"},
}

// Object sub-resources that only touch metadata the backend keeps (not the
// body), passed through unchanged.
var objectSubresources = []struct{ query, name string }{
	{"acl", "Acl"},
	{"tagging", "Tagging"},
	{"retention", "Retention"},
	{"legal-hold", "LegalHold"},
}

// routes builds the operation table. Addressing (path or virtual-hosted
// style) is resolved before routing, so every route matches on what a
// request addresses (service, bucket, object), its method, query keys and
// headers, the way S3 itself tells operations apart. Order matters: the
// first match wins, so specific shapes come before general ones.
func (p *Proxy) routes() *mux.Router {
	r := mux.NewRouter().SkipClean(true).UseEncodedPath()
	add := func(op string, lv level, method string, opts sigv4.VerifyOptions, fn opFunc, ms ...mux.MatcherFunc) {
		rt := r.NewRoute().Name(op).MatcherFunc(atLevel(lv))
		if method != "" {
			rt.MatcherFunc(isMethod(method))
		}
		for _, m := range ms {
			rt.MatcherFunc(m)
		}
		rt.Handler(p.handle(op, opts, fn))
	}
	none := sigv4.VerifyOptions{}
	anyRegion := sigv4.VerifyOptions{AnyRegion: true}
	// Only the operations that upload object data may stream their body
	// (aws-chunked), as in S3; every other body comes hashed.
	streaming := sigv4.VerifyOptions{AllowStreaming: true}

	// Service.
	add("ListBuckets", levelService, http.MethodGet, none, p.passthrough)

	// Bucket.
	add("ListObjectsV2", levelBucket, http.MethodGet, none, p.listObjects, queryIs("list-type", "2"))
	add("ListObjectVersions", levelBucket, http.MethodGet, none, p.listObjects, hasQuery("versions"))
	add("ListMultipartUploads", levelBucket, http.MethodGet, none, p.listMultipartUploads, hasQuery("uploads"))
	add("GetBucketLocation", levelBucket, http.MethodGet, anyRegion, p.passthrough, hasQuery("location"))
	for _, s := range bucketSubresources {
		add("GetBucket"+s.name, levelBucket, http.MethodGet, none, p.passthrough, hasQuery(s.query))
		add("PutBucket"+s.name, levelBucket, http.MethodPut, none, p.passthrough, hasQuery(s.query))
		add("DeleteBucket"+s.name, levelBucket, http.MethodDelete, none, p.passthrough, hasQuery(s.query))
	}
	add("ListObjects", levelBucket, http.MethodGet, none, p.listObjects)
	add("CreateBucket", levelBucket, http.MethodPut, anyRegion, p.passthrough)
	add("DeleteBucket", levelBucket, http.MethodDelete, none, p.passthrough)
	add("HeadBucket", levelBucket, http.MethodHead, none, p.passthrough)
	add("DeleteObjects", levelBucket, http.MethodPost, none, checksumRequired(p.passthrough), hasQuery("delete"))
	// POST Object authenticates its form, not the request (post.go).
	r.NewRoute().Name("PostObject").MatcherFunc(atLevel(levelBucket)).MatcherFunc(isMethod(http.MethodPost)).Handler(p.handlePost())

	// Object.
	add("UploadPartCopy", levelObject, http.MethodPut, none, p.uploadPartCopy, hasQuery("partNumber"), hasQuery("uploadId"), hasHeader("X-Amz-Copy-Source"))
	add("UploadPart", levelObject, http.MethodPut, streaming, p.uploadPart, hasQuery("partNumber"), hasQuery("uploadId"))
	for _, s := range objectSubresources {
		add("GetObject"+s.name, levelObject, http.MethodGet, none, p.passthrough, hasQuery(s.query))
		add("PutObject"+s.name, levelObject, http.MethodPut, none, p.passthrough, hasQuery(s.query))
	}
	add("DeleteObjectTagging", levelObject, http.MethodDelete, none, p.passthrough, hasQuery("tagging"))
	add("CopyObject", levelObject, http.MethodPut, none, p.copyObject, hasHeader("X-Amz-Copy-Source"))
	add("PutObject", levelObject, http.MethodPut, streaming, p.putObject)
	add("ListParts", levelObject, http.MethodGet, none, p.listParts, hasQuery("uploadId"))
	add("GetObjectAttributes", levelObject, http.MethodGet, none, p.getObjectAttributes, hasQuery("attributes"))
	// A torrent of ciphertext is of no use to anyone.
	add("GetObjectTorrent", levelObject, http.MethodGet, none, p.unsupported, hasQuery("torrent"))
	add("GetObject", levelObject, http.MethodGet, none, p.getObject)
	add("HeadObject", levelObject, http.MethodHead, none, p.getObject)
	add("CreateMultipartUpload", levelObject, http.MethodPost, none, p.createMultipartUpload, hasQuery("uploads"))
	add("CompleteMultipartUpload", levelObject, http.MethodPost, sigv4.VerifyOptions{ObjectChecksum: true}, p.completeMultipartUpload, hasQuery("uploadId"))
	add("RestoreObject", levelObject, http.MethodPost, none, p.passthrough, hasQuery("restore"))
	// S3 Select would run the query over ciphertext.
	add("SelectObjectContent", levelObject, http.MethodPost, none, p.unsupported, hasQuery("select"))
	add("AbortMultipartUpload", levelObject, http.MethodDelete, none, p.abortMultipartUpload, hasQuery("uploadId"))
	add("DeleteObject", levelObject, http.MethodDelete, none, p.passthrough)

	// CORS preflights are never signed (cors.go).
	for _, lv := range []level{levelBucket, levelObject} {
		r.NewRoute().Name("PreflightCORS").MatcherFunc(atLevel(lv)).MatcherFunc(isMethod(http.MethodOptions)).Handler(p.handlePreflight())
	}

	// Anything else (unknown methods) is refused once the caller is
	// authenticated.
	for _, lv := range []level{levelService, levelBucket, levelObject} {
		add("Unsupported", lv, "", none, p.unsupported)
	}
	return r
}

// handle authenticates a request, then runs the operation.
func (p *Proxy) handle(op string, opts sigv4.VerifyOptions, fn opFunc) http.Handler {
	return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		rq := r.Context().Value(requestKey{}).(*request)
		rq.op, rq.r = op, r
		auth, err := p.verifier.Verify(r, opts)
		if err != nil && sigv4.Unsigned(r) {
			auth, err = p.anonymous(rq)
		}
		if err != nil {
			rq.fail(err)
			return
		}
		rq.auth = auth
		rq.in.r = auth.Body
		defer auth.Body.Close()
		if err := p.withIdentity(rq); err != nil {
			rq.fail(err)
			return
		}
		if err := fn(rq); err != nil {
			rq.fail(p.bucketFirst(rq, err))
		}
	})
}

// checksumRequired refuses a request without Content-MD5 or an
// x-amz-checksum-* (header or trailer) before fn, as S3 refuses one for
// the operations whose body must carry a checksum (DeleteObjects). The
// proxy adds a Content-MD5 of the verified body for the backend itself
// (forward), so the backend cannot tell.
func checksumRequired(fn opFunc) opFunc {
	return func(rq *request) error {
		h := rq.r.Header
		if h.Get("Content-Md5") == "" && h.Get("X-Amz-Trailer") == "" && !hasChecksumHeader(h) {
			return s3err.InvalidRequest.With("Missing required header for this request: Content-MD5 OR x-amz-checksum-*")
		}
		return fn(rq)
	}
}

// hasChecksumHeader reports whether h has an x-amz-checksum-<algorithm>.
func hasChecksumHeader(h http.Header) bool {
	for _, a := range checksum.All {
		if h.Get(a.CanonicalHeader()) != "" {
			return true
		}
	}
	return false
}

// unsupported refuses an operation the proxy cannot perform correctly over
// encrypted objects, or does not know.
func (p *Proxy) unsupported(rq *request) error {
	switch rq.r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete:
		return s3err.NotImplemented.With("This operation is not supported by the encrypting proxy.")
	}
	return s3err.MethodNotAllowed
}

func requestOf(r *http.Request) *request {
	rq, _ := r.Context().Value(requestKey{}).(*request)
	return rq
}

func atLevel(lv level) mux.MatcherFunc {
	return func(r *http.Request, _ *mux.RouteMatch) bool {
		rq := requestOf(r)
		return rq != nil && rq.level == lv
	}
}

func isMethod(m string) mux.MatcherFunc {
	return func(r *http.Request, _ *mux.RouteMatch) bool { return r.Method == m }
}

// hasQuery matches a query key present with any value, or none ("?uploads").
func hasQuery(key string) mux.MatcherFunc {
	return func(r *http.Request, _ *mux.RouteMatch) bool {
		_, ok := query(r)[key]
		return ok
	}
}

func queryIs(key, value string) mux.MatcherFunc {
	return func(r *http.Request, _ *mux.RouteMatch) bool {
		v, ok := query(r)[key]
		return ok && len(v) > 0 && v[0] == value
	}
}

func hasHeader(name string) mux.MatcherFunc {
	return func(r *http.Request, _ *mux.RouteMatch) bool {
		return strings.TrimSpace(r.Header.Get(name)) != ""
	}
}

// query returns the request's parsed query, parsed once per request.
func query(r *http.Request) url.Values {
	rq := requestOf(r)
	if rq == nil {
		return r.URL.Query()
	}
	if rq.query == nil {
		rq.query = r.URL.Query()
	}
	return rq.query
}
