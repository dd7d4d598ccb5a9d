package proxy

import (
	"net/http"

	"github.com/bucketkey/bucketkey/s3err"
)

// S3's messages for request shapes no operation serves.
const (
	msgPartNumberWithoutUploadID = "This operation does not accept partNumber without uploadId"
	msgUploadsWithKey            = "Key is not expected for the GET method ?uploads subresource"
	msgVersionsWithKey           = "There is no such thing as the ?versions sub-resource for a key"
	msgCopySourceNotAllowed      = "You can only specify a copy source header for copy requests."
)

// refuseUnrouted answers, before authentication as S3 does, a request whose
// method, resource and query no S3 operation serves: S3 routes a request
// first and authenticates it only for an operation it knows. It returns
// nil for every request some operation may serve.
func refuseUnrouted(r *http.Request, lv level) *s3err.Error {
	q := r.URL.Query()
	has := func(k string) bool { _, ok := q[k]; return ok }
	if src := r.Header.Values("X-Amz-Copy-Source"); len(src) > 0 && lv != levelService {
		switch {
		case r.Method == http.MethodGet, r.Method == http.MethodHead, r.Method == http.MethodDelete,
			r.Method == http.MethodPost && has("uploadId"):
			return s3err.InvalidArgumentFor(msgCopySourceNotAllowed, "x-amz-copy-source", src[0])
		}
	}
	switch {
	case lv == levelService && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodDelete || r.Method == http.MethodHead):
		// The service answers GET (ListBuckets) alone.
		return s3err.MethodNotAllowedOn(r.Method, s3err.ResourceService)
	case lv != levelObject:
		return nil
	case r.Method == http.MethodPost && !has("uploads") && !has("uploadId") && !has("restore") && !has("select"):
		// S3 names the service as the resource here.
		return s3err.MethodNotAllowedOn(http.MethodPost, s3err.ResourceService)
	case r.Method == http.MethodPut && has("uploadId") && !has("partNumber"):
		return s3err.MethodNotAllowedOn(http.MethodPut, s3err.ResourceUpload)
	case r.Method == http.MethodPut && has("partNumber") && !has("uploadId"):
		// S3 names the parameter as the value, too.
		return s3err.InvalidArgumentFor(msgPartNumberWithoutUploadID, "partNumber", "partNumber")
	case r.Method == http.MethodGet && has("uploads"):
		return s3err.InvalidRequest.With(msgUploadsWithKey)
	case r.Method == http.MethodGet && has("versions"):
		return s3err.InvalidRequest.With(msgVersionsWithKey)
	}
	return nil
}
