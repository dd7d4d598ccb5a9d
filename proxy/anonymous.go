package proxy

import (
	"errors"
	"io"
	"net/http"

	"github.com/bucketkey/bucketkey/s3err"
	"github.com/bucketkey/bucketkey/sigv4"
)

// Anonymous requests (Config.AnonymousBuckets): an unsigned request for a
// bucket opened to them goes to the backend unsigned, so that the
// backend's bucket policy and ACLs decide, exactly as S3 decides for an
// anonymous caller. Reads ask the backend before any key is unwrapped, so
// a bucket the backend refuses costs no KMS call. Writes that would need a
// bucket key (new object data) are refused: the key would be fetched
// before the backend could refuse the write.

// anonymousWrites are the operations an anonymous caller may not make
// through the proxy: each starts by sealing a data key under a bucket key.
var anonymousWrites = map[string]bool{
	"PutObject":               true,
	"PostObject":              true,
	"UploadPart":              true,
	"UploadPartCopy":          true,
	"CreateMultipartUpload":   true,
	"CompleteMultipartUpload": true,
	"CopyObject":              true,
}

var errAnonymousDenied = s3err.AccessDenied

const msgAnonymousSignedStreaming = "Anonymous requests don't support this x-amz-content-sha256 value. Please use UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER."

// anonymous admits an unsigned request if its bucket is open to anonymous
// callers and the operation needs no new key, and marks its context so
// that its backend requests go out unsigned. Otherwise it answers as S3
// does to an anonymous caller it refuses: 403 AccessDenied, "Access
// Denied".
func (p *Proxy) anonymous(rq *request) (*sigv4.Authenticated, error) {
	switch {
	case rq.bucket == "" || !(p.cfg.AnonymousAll || p.anonymousBuckets[rq.bucket]):
		return nil, errAnonymousDenied.Wrap(errors.New("proxy: anonymous request for a bucket not opened to them"))
	case sigv4.SignedStreaming(rq.r.Header.Get("X-Amz-Content-Sha256")):
		// S3's answer before any access decision on the request itself.
		return nil, s3err.InvalidRequest.With(msgAnonymousSignedStreaming)
	case anonymousWrites[rq.op]:
		return nil, errAnonymousDenied.Wrap(errors.New("proxy: anonymous writes of object data are not supported"))
	}
	rq.anonymous = true
	rq.r = rq.r.WithContext(sigv4.WithAnonymous(rq.r.Context()))
	var body io.ReadCloser = http.NoBody
	if rq.r.Body != nil {
		body = rq.r.Body
	}
	return &sigv4.Authenticated{Body: body, ContentLength: rq.r.ContentLength, Checksum: func() string { return "" }}, nil
}
