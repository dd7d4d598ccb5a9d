package proxy

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/s3err"
)

// createMultipartUpload seals a data key for the upload, sets the envelope
// metadata on it (the completed object carries it), and answers an upload
// ID that carries the key material (see uploadid.go).
func (p *Proxy) createMultipartUpload(rq *request) error {
	sse, err := parseSSE(rq.r.Header, rq.bucket)
	if err != nil {
		return err
	}
	if _, err := rq.readBody(maxPassthroughBody); err != nil {
		return err
	}
	ctx := rq.r.Context()
	md, dk, err := p.sealNew(ctx, rq, rq.bucket, rq.key, sse, true, -1)
	if err != nil {
		return err
	}
	defer dk.Wipe()
	h := forwardHeader(rq.r.Header)
	setMetadata(h, md)
	resp, err := p.forward(rq, http.MethodPost, forwardQuery(query(rq.r)), h, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return rq.relay(resp)
	}
	doc, err := readXML(resp.Body)
	if err != nil {
		return err
	}
	var result struct {
		UploadID string `xml:"UploadId"`
	}
	if err := xml.Unmarshal(doc, &result); err != nil || result.UploadID == "" {
		return fmt.Errorf("proxy: CreateMultipartUpload: backend answer has no UploadId: %v", err)
	}
	id, err := encodeUploadID(result.UploadID, md, dk)
	if err != nil {
		return err
	}
	out, err := rewriteXML(doc, xmlRule{
		path:    []string{"InitiateMultipartUploadResult", "UploadId"},
		replace: func(string) (string, bool) { return id, true },
	})
	if err != nil {
		return fmt.Errorf("proxy: CreateMultipartUpload: backend answer: %w", err)
	}
	h = rq.w.Header()
	copyResponseHeader(h, resp.Header, true)
	p.setSSEHeaders(h, md.KeyID)
	if sse.rawContext != "" {
		h.Set("X-Amz-Server-Side-Encryption-Context", sse.rawContext)
	}
	h.Set("Content-Type", "application/xml")
	return rq.relayBodyHeaders(resp.StatusCode, out)
}

// uploadKey opens the data key of the upload the client's upload ID names,
// for writing part data into it.
func (p *Proxy) uploadKey(rq *request) (uploadID, *envelope.DataKey, error) {
	u, err := parseUploadID(query(rq.r).Get("uploadId"))
	if err != nil {
		return uploadID{}, nil, err
	}
	if u.md == nil {
		return uploadID{}, nil, s3err.NoSuchUpload.With("This upload was not started through the encrypting proxy (or its upload ID was shortened); its parts cannot be encrypted.")
	}
	if u.md.KeyBucket != rq.bucket {
		return uploadID{}, nil, s3err.NoSuchUpload.Wrap(errors.New("proxy: upload id of another bucket"))
	}
	dk, err := p.openDataKey(rq.r.Context(), rq, u.md, rq.bucket, rq.key)
	if err != nil {
		if errors.Is(err, envelope.ErrAuth) {
			// The key material was sealed for another object name.
			return uploadID{}, nil, s3err.NoSuchUpload.Wrap(err)
		}
		return uploadID{}, nil, err
	}
	if err := u.verify(dk); err != nil {
		dk.Wipe()
		return uploadID{}, nil, err
	}
	return u, dk, nil
}

// uploadPart encrypts the part's body as stream number partNumber.
func (p *Proxy) uploadPart(rq *request) error {
	n := rq.auth.ContentLength
	if n < 0 {
		return s3err.MissingContentLength
	}
	part, err := parsePartNumber(query(rq.r).Get("partNumber"))
	if err != nil {
		return err
	}
	u, dk, err := p.uploadKey(rq)
	if err != nil {
		return err
	}
	defer dk.Wipe()
	q := forwardQuery(query(rq.r))
	q.Set("uploadId", u.backend)
	resp, err := p.putEncrypted(rq.r.Context(), encryptedPut{
		bucket: rq.bucket, key: rq.key, query: q,
		header: forwardHeader(rq.r.Header), dk: dk, part: part,
		plaintext: rq.body(), size: n, fromClient: true,
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return rq.answerWrite(resp, u.md.KeyID, sseRequest{})
}

// completeMultipartUpload checks that the parts are 1..N without gaps (so
// that part i of the object is upload part i, which is what it was
// encrypted as), removes the client's part checksums (of plaintext; the
// backend has none for the ciphertext parts) and forwards the rest.
func (p *Proxy) completeMultipartUpload(rq *request) error {
	body, err := rq.readBody(maxXMLDoc)
	if err != nil {
		return err
	}
	if err := checkCompleteParts(body); err != nil {
		return err
	}
	body, err = rewriteXML(body, dropChecksums("Part")...)
	if err != nil {
		return s3err.MalformedXML.Wrap(err)
	}
	u, err := parseUploadID(query(rq.r).Get("uploadId"))
	if err != nil {
		return err
	}
	q := forwardQuery(query(rq.r))
	q.Set("uploadId", u.backend)
	resp, err := p.forward(rq, http.MethodPost, q, forwardHeader(rq.r.Header), body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return rq.relay(resp)
	}
	doc, err := readXML(resp.Body)
	if err != nil {
		return err
	}
	// S3 may answer 200 with an <Error> document; that passes unchanged.
	out, err := rewriteXML(doc, dropChecksums("CompleteMultipartUploadResult")...)
	if err != nil {
		return fmt.Errorf("proxy: CompleteMultipartUpload: backend answer: %w", err)
	}
	h := rq.w.Header()
	copyResponseHeader(h, resp.Header, true)
	if u.md != nil {
		p.setSSEHeaders(h, u.md.KeyID)
	}
	return rq.relayBodyHeaders(resp.StatusCode, out)
}

// checkCompleteParts enforces the 1..N rule on a CompleteMultipartUpload
// document.
func checkCompleteParts(doc []byte) error {
	var c struct {
		Parts []struct {
			PartNumber string `xml:"PartNumber"`
		} `xml:"Part"`
	}
	if err := xml.NewDecoder(bytes.NewReader(doc)).Decode(&c); err != nil {
		return s3err.MalformedXML.Wrap(err)
	}
	if len(c.Parts) == 0 {
		return s3err.MalformedXML.With("The XML you provided was not well-formed or did not validate against our published schema: no parts.")
	}
	nums := make([]int, len(c.Parts))
	for i, part := range c.Parts {
		n, err := strconv.Atoi(part.PartNumber)
		if err != nil || n < 1 || n > 10000 {
			return s3err.InvalidPart.Wrap(fmt.Errorf("proxy: part number %q", part.PartNumber))
		}
		if i > 0 && n <= nums[i-1] {
			return s3err.InvalidPartOrder
		}
		nums[i] = n
	}
	for i, n := range nums {
		if n != i+1 {
			return s3err.InvalidPart.With(fmt.Sprintf("The encrypting proxy requires parts numbered 1 to N without gaps; part %d is missing.", i+1))
		}
	}
	return nil
}

// abortMultipartUpload accepts the proxy's upload IDs and bare backend IDs
// (which ListMultipartUploads returns).
func (p *Proxy) abortMultipartUpload(rq *request) error {
	u, err := parseUploadID(query(rq.r).Get("uploadId"))
	if err != nil {
		return err
	}
	q := forwardQuery(query(rq.r))
	q.Set("uploadId", u.backend)
	resp, err := p.forward(rq, http.MethodDelete, q, forwardHeader(rq.r.Header), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return rq.relay(resp)
}
