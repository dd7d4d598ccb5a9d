package proxy

import (
	"net/http"

	"github.com/bucketkey/bucketkey/s3err"
)

// bucketFirstOps are the operations for which S3 checks that the bucket
// exists before it looks at the upload ID, part list, copy source or
// attributes asked for: a
// request naming a bucket that does not exist is NoSuchBucket, whatever
// else is wrong with it.
var bucketFirstOps = map[string]bool{
	"UploadPart": true, "UploadPartCopy": true, "CopyObject": true, "ListParts": true,
	"CompleteMultipartUpload": true, "AbortMultipartUpload": true,
	"GetObjectAttributes": true, // before its x-amz-object-attributes
}

// bucketFirst returns err, or S3's NoSuchBucket in its place when err is
// one the proxy found on its own (before asking the backend) and the
// bucket does not exist. It costs one HEAD of the bucket, on failed
// requests only. A NoSuchUpload gets S3's UploadId element on the way.
func (p *Proxy) bucketFirst(rq *request, err error) error {
	e := s3err.As(err)
	if e != nil && e.Code == "NoSuchUpload" && extraOf(e, "UploadId") == "" {
		// S3 names the upload it did not find.
		err = e.WithExtra("UploadId", query(rq.r).Get("uploadId"))
	}
	if e == nil || !bucketFirstOps[rq.op] || e.Status >= 500 || rq.w.wroteHeader {
		return err
	}
	req, rerr := p.newUpstream(rq.r.Context(), http.MethodHead, rq.bucket, "", nil, backendHeader(rq.r.Header))
	if rerr != nil {
		return err
	}
	resp, rerr := p.do(req, nil)
	if rerr != nil {
		return err
	}
	drain(resp)
	if resp.StatusCode == http.StatusNotFound {
		return s3err.NoSuchBucket.WithExtra("BucketName", rq.bucket)
	}
	return err
}
