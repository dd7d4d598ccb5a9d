package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bucketkey/bucketkey/s3err"
)

// listedUpload is an upload as the backend's ListMultipartUploads lists it.
type listedUpload struct {
	Key       string `xml:"Key"`
	UploadID  string `xml:"UploadId"`
	Initiated string `xml:"Initiated"`
}

// findUpload looks for the backend upload backendID of the request's key
// in the backend's ListMultipartUploads (by pages, prefix the key); a
// backend error to relay comes back as failed.
func (p *Proxy) findUpload(rq *request, backendID string) (_ *listedUpload, failed *http.Response, _ error) {
	q := url.Values{"uploads": {""}, "prefix": {rq.key}}
	for page := 0; page < 1000; page++ {
		req, err := p.newUpstream(rq.r.Context(), http.MethodGet, rq.bucket, "", q, backendHeader(rq.r.Header))
		if err != nil {
			return nil, nil, err
		}
		resp, err := p.do(req, nil)
		if err != nil {
			return nil, nil, err
		}
		var l struct {
			IsTruncated        bool           `xml:"IsTruncated"`
			NextKeyMarker      string         `xml:"NextKeyMarker"`
			NextUploadIDMarker string         `xml:"NextUploadIdMarker"`
			Uploads            []listedUpload `xml:"Upload"`
		}
		if failed, err := decodeOK(resp, "ListMultipartUploads", &l); failed != nil || err != nil {
			return nil, failed, err
		}
		for i, u := range l.Uploads {
			if u.Key == rq.key && u.UploadID == backendID {
				return &l.Uploads[i], nil, nil
			}
			if u.Key > rq.key {
				return nil, nil, nil // listed in key order: past it
			}
		}
		if !l.IsTruncated || l.NextKeyMarker == "" {
			return nil, nil, nil
		}
		q.Set("key-marker", l.NextKeyMarker)
		q.Set("upload-id-marker", l.NextUploadIDMarker)
	}
	return nil, nil, errors.New("proxy: ListMultipartUploads does not end")
}

// checkInitiatedTime applies x-amz-if-match-initiated-time of an
// AbortMultipartUpload itself, the same on every backend (S3 documents it
// for directory buckets; of the tested backends only versitygw knows it):
// an upload initiated at another time (to the second, as the header says
// it) is 412 PreconditionFailed; one that does not exist goes on to the
// backend's answer.
func (p *Proxy) checkInitiatedTime(rq *request, backendID string) (failed *http.Response, _ error) {
	v := strings.TrimSpace(rq.r.Header.Get("X-Amz-If-Match-Initiated-Time"))
	if v == "" {
		return nil, nil
	}
	want, err := http.ParseTime(v)
	if err != nil {
		return nil, nil // S3 ignores a condition date it cannot read
	}
	u, failed, err := p.findUpload(rq, backendID)
	if err != nil || failed != nil || u == nil {
		return failed, err
	}
	at, err := time.Parse(time.RFC3339Nano, u.Initiated)
	if err != nil {
		return nil, fmt.Errorf("proxy: ListMultipartUploads: Initiated %q: %w", u.Initiated, err)
	}
	if !at.Truncate(time.Second).Equal(want.Truncate(time.Second)) {
		return nil, s3err.PreconditionFailed.WithExtra("Condition", "If-Match-Initiated-Time")
	}
	return nil, nil
}

// listMultipartUploads serves ListMultipartUploads from the backend's
// listing. An upload-id-marker that is a proxy upload ID (a client may
// hold one as the place to resume from) is reduced to the backend ID it
// wraps, which is where the backend's listing resumes, and is echoed back
// as the client sent it. The listed IDs are the backend's; every operation
// accepts them where it needs no key material (AbortMultipartUpload,
// ListParts, and as markers), see docs/ARCHITECTURE.md.
func (p *Proxy) listMultipartUploads(rq *request) error {
	q := forwardQuery(query(rq.r))
	marker := q.Get("upload-id-marker")
	u, err := parseUploadID(marker)
	if marker == "" || err != nil || u.md == nil {
		return p.rewritten(rq, q)
	}
	q.Set("upload-id-marker", u.backend)
	return p.rewritten(rq, q, xmlRule{
		path:    []string{"ListMultipartUploadsResult", "UploadIdMarker"},
		replace: func(string) (string, bool) { return marker, true },
	})
}
