package proxy

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/url"

	"github.com/bucketkey/bucketkey/envelope"
)

// A CompleteMultipartUpload sent again after it succeeded (an SDK retries
// it when the first answer is lost) is answered by S3 with success and the
// object's ETag, not NoSuchUpload. The backend may have forgotten the
// upload by then, so the proxy looks at the object itself: the upload ID
// carries the upload's envelope metadata, and an object under the same key
// with the same salt and sealed data key is the one this upload completed
// (both are random per upload, and the seal binds them to the name).

// completeOrRelay answers a backend failure of a CompleteMultipartUpload
// (its ListParts or the Complete itself): a NoSuchUpload for an upload
// that completed is answered as the completion, anything else is relayed.
func (p *Proxy) completeOrRelay(rq *request, u uploadID, resp *http.Response) error {
	if resp.StatusCode != http.StatusNotFound {
		return rq.relay(resp)
	}
	doc, err := readXML(resp.Body)
	if err != nil {
		return err
	}
	if backendErrorCode(doc) == "NoSuchUpload" {
		if done, err := p.answerCompleted(rq, u); done || err != nil {
			return err
		}
	}
	return rq.relayBody(resp, doc)
}

// answerCompleted answers the CompleteMultipartUpload result of the object
// upload u completed, if the object under the request's key is that one;
// it reports false (nothing sent) otherwise.
func (p *Proxy) answerCompleted(rq *request, u uploadID) (bool, error) {
	resp, err := p.forward(rq, http.MethodHead, url.Values{}, backendHeader(rq.r.Header), nil)
	if err != nil {
		return false, err
	}
	drain(resp)
	if resp.StatusCode != http.StatusOK {
		return false, nil
	}
	md, err := envelope.ParseMetadata(resp.Header)
	if err != nil || !sameUpload(md, u.md) {
		return false, nil
	}
	doc := struct {
		XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUploadResult"`
		Location string   `xml:"Location"`
		Bucket   string   `xml:"Bucket"`
		Key      string   `xml:"Key"`
		ETag     string   `xml:"ETag"`
	}{
		Location: rq.objectLocation(),
		Bucket:   rq.bucket,
		Key:      rq.key,
		ETag:     clientETag(resp.Header.Get("ETag")),
	}
	out, err := xml.Marshal(doc)
	if err != nil {
		return false, err
	}
	h := rq.w.Header()
	if v := resp.Header.Get("X-Amz-Version-Id"); v != "" {
		h.Set("X-Amz-Version-Id", v)
	}
	p.setSSEHeaders(h, u.md.KeyID)
	h.Set("Content-Type", "application/xml")
	// The Complete that did it may have lost its answer before removing
	// the upload's record (its client gave up): remove it now.
	p.dropCompanions(rq, u)
	return true, rq.relayBodyHeaders(http.StatusOK, append([]byte(xml.Header), out...))
}

// sameUpload reports whether object metadata md is what the upload whose
// ID carries up was created with.
func sameUpload(md, up *envelope.Metadata) bool {
	return md.Multipart && up.Multipart && md.KeyBucket == up.KeyBucket &&
		bytes.Equal(md.Salt, up.Salt) && bytes.Equal(md.SealedKey, up.SealedKey)
}

// objectLocation is the URL of the request's object as the client
// addressed the proxy (path style).
func (rq *request) objectLocation() string {
	scheme := "http"
	if rq.r.TLS != nil {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: rq.r.Host, Path: "/" + rq.bucket + "/" + rq.key}
	return u.String()
}

// backendErrorCode returns the Code of an S3 error document, or "".
func backendErrorCode(doc []byte) string {
	var e struct {
		XMLName xml.Name `xml:"Error"`
		Code    string   `xml:"Code"`
	}
	if xml.Unmarshal(doc, &e) != nil {
		return ""
	}
	return e.Code
}
