package devstore

import (
	"net/http"
	"net/url"
	"strings"
)

// unsupported lists the sub-resources gofakes3 does not route. It would
// treat a PUT to one of them as an object write (PUT /b/k?tagging would
// replace the object with the tagging document), so they are refused.
var unsupported = []string{
	"tagging", "acl", "policy", "policyStatus", "cors", "lifecycle", "encryption",
	"object-lock", "retention", "legal-hold", "website", "notification",
	"replication", "ownershipControls", "publicAccessBlock", "logging",
	"accelerate", "requestPayment", "analytics", "inventory", "metrics",
	"intelligent-tiering", "attributes", "restore", "select", "torrent",
}

// unsupportedSubresource names the first sub-resource in q the store
// refuses, or "".
func unsupportedSubresource(q url.Values) string {
	for _, s := range unsupported {
		if _, ok := q[s]; ok {
			return s
		}
	}
	return ""
}

// stripRequestHeaders removes what describes the request rather than the
// object: gofakes3 stores every x-amz-* request header as object metadata.
// Body framing has been decoded by then.
func stripRequestHeaders(h http.Header) {
	for k := range h {
		lk := strings.ToLower(k)
		switch {
		case lk == "authorization",
			lk == "x-amz-date",
			lk == "x-amz-content-sha256",
			lk == "x-amz-decoded-content-length",
			lk == "x-amz-security-token",
			lk == "x-amz-trailer",
			lk == "x-amz-sdk-checksum-algorithm",
			lk == "x-amz-user-agent",
			strings.HasPrefix(lk, "x-amz-checksum-"):
			delete(h, k)
		}
	}
	if ce := h.Get("Content-Encoding"); ce != "" {
		var keep []string
		for _, v := range strings.Split(ce, ",") {
			if v = strings.TrimSpace(v); v != "" && !strings.EqualFold(v, "aws-chunked") {
				keep = append(keep, v)
			}
		}
		if len(keep) == 0 {
			h.Del("Content-Encoding")
		} else {
			h.Set("Content-Encoding", strings.Join(keep, ","))
		}
	}
}

// responseAmzHeaders are the x-amz-* response headers S3 itself sends that
// gofakes3 produces; any other x-amz-* header on a response is a stored
// request header echoed back, and is dropped.
var responseAmzHeaders = map[string]bool{
	"x-amz-request-id":                true,
	"x-amz-id-2":                      true,
	"x-amz-version-id":                true,
	"x-amz-delete-marker":             true,
	"x-amz-mp-parts-count":            true,
	"x-amz-copy-source-version-id":    true,
	"x-amz-storage-class":             true,
	"x-amz-website-redirect-location": true,
}

// response filters headers on their way out and records the status. When
// etagFrom is set, an ETag equal to it is replaced by etagTo.
type response struct {
	http.ResponseWriter
	status           int
	etagFrom, etagTo string
}

func newResponse(w http.ResponseWriter, l *layout) *response {
	rw := &response{ResponseWriter: w}
	if l != nil {
		rw.etagFrom, rw.etagTo = l.ETag, l.MultipartETag
	}
	return rw
}

func (rw *response) WriteHeader(code int) {
	if rw.status != 0 {
		return
	}
	rw.status = code
	h := rw.ResponseWriter.Header()
	for k := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-amz-") && !strings.HasPrefix(lk, "x-amz-meta-") && !responseAmzHeaders[lk] {
			delete(h, k)
		}
	}
	if rw.etagFrom != "" && h.Get("ETag") == rw.etagFrom {
		h.Set("ETag", rw.etagTo)
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *response) Write(p []byte) (int, error) {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	return rw.ResponseWriter.Write(p)
}

// finish sends the implicit 200 of a handler that wrote nothing, through
// the filter, so that status is known after ServeHTTP returns.
func (rw *response) finish() {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
}

// Flush lets streamed bodies through.
func (rw *response) Flush() {
	if f, ok := rw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
