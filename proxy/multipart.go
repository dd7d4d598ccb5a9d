package proxy

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/bucketkey/bucketkey/checksum"
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
	ckAlg, ckType, err := uploadChecksum(rq.r.Header)
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
	if err := setMetadata(h, md); err != nil {
		return err
	}
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
	id, err := encodeUploadID(result.UploadID, md, dk, ckAlg, ckType)
	if err != nil {
		return err
	}
	if failed, err := p.recordUpload(rq, result.UploadID, id); err != nil || failed != nil {
		return relayFailed(rq, failed, err)
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
	if ckAlg != checksum.None {
		h.Set("X-Amz-Checksum-Algorithm", ckAlg.String())
		h.Set("X-Amz-Checksum-Type", ckType)
	}
	h.Set("Content-Type", "application/xml")
	return rq.relayBodyHeaders(resp.StatusCode, out)
}

// recordUpload creates the record of the new backend upload backend
// (uploadrecord.go); if that fails the upload, and the record in case it
// was made though its answer was lost, are aborted, so that nothing is
// left half made, and the client gets the record's error (a backend
// refusal to relay as failed).
func (p *Proxy) recordUpload(rq *request, backend, id string) (failed *http.Response, _ error) {
	failed, err := p.createCompanion(rq, backend, id)
	if err == nil && failed == nil {
		return nil, nil
	}
	if err == nil && failed.StatusCode == http.StatusForbidden {
		// The client's backend identity may write its own keys only (a
		// bucket policy on a prefix): the upload goes on without a
		// record, as one made before records, and lists under its
		// backend ID; the client's own ID works everywhere.
		drain(failed)
		p.cfg.Logger.Warn("proxy: upload record refused by the backend; the upload lists under its backend ID", "request_id", rq.id, "upload", backend)
		return nil, nil
	}
	if aerr := p.abortBackendUpload(rq, rq.key, backend); aerr != nil {
		p.cfg.Logger.Warn("proxy: upload without its record not aborted", "request_id", rq.id, "upload", backend, "err", aerr)
	}
	if u, perr := parseUploadID(id); perr == nil {
		p.dropCompanions(rq, u)
	}
	return failed, err
}

// relayFailed returns err, or relays the backend's refusal failed.
func relayFailed(rq *request, failed *http.Response, err error) error {
	if err != nil {
		if failed != nil {
			drain(failed)
		}
		return err
	}
	defer failed.Body.Close()
	return rq.relay(failed)
}

// uploadKey opens the data key of the upload the client's upload ID names,
// for writing part data into it.
func (p *Proxy) uploadKey(rq *request) (uploadID, *envelope.DataKey, error) {
	u, err := parseUploadID(query(rq.r).Get("uploadId"))
	if err != nil {
		return uploadID{}, nil, err
	}
	u = p.withRecord(rq, u)
	if u.md == nil {
		// Not started through the proxy (or its upload ID was shortened):
		// its parts cannot be encrypted.
		return uploadID{}, nil, s3err.NoSuchUpload.Wrap(errors.New("proxy: upload id without envelope fields"))
	}
	if u.md.KeyBucket != rq.bucket {
		return uploadID{}, nil, s3err.NoSuchUpload.Wrap(errors.New("proxy: upload id of another bucket"))
	}
	dk, err := p.openDataKey(rq.r.Context(), rq, u.md, rq.bucket, rq.key, false)
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
	if err := checkUploadSize(n); err != nil {
		return err
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
	body, ckAlg, sum, err := partChecksummer(u, checksum.ByName(rq.auth.ChecksumAlgorithm), rq.body(), rq.auth.Checksum)
	if err != nil {
		return err
	}
	q := forwardQuery(query(rq.r))
	q.Set("uploadId", u.backend)
	resp, err := p.putEncrypted(rq.r.Context(), encryptedPut{
		bucket: rq.bucket, key: rq.key, query: q,
		header: forwardHeader(rq.r.Header), dk: dk, part: part,
		plaintext: body, size: n, fromClient: true,
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := withPartChecksum(rq.w.Header(), resp, dk, part, n, ckAlg, sum); err != nil {
		return err
	}
	return rq.answerWrite(resp, u.md, sseRequest{})
}

// completeMultipartUpload checks that the parts are 1..N without gaps (so
// that part i of the object is upload part i, which is what it was
// encrypted as), gives the parts their backend ETags back (etag.go,
// partchecksum.go), checks them against the stored parts and, for an
// upload with a declared checksum, the parts' checksums (completeChecksum),
// makes sure the object will end with its end tag (endObject), sends the
// backend a fresh document without the client's (plaintext) checksums,
// and answers the object's checksum as S3 does.
func (p *Proxy) completeMultipartUpload(rq *request) error {
	body, err := rq.readBody(maxXMLDoc)
	if err != nil {
		return err
	}
	hc, err := parseCompleteHeaders(rq.r.Header)
	if err != nil {
		return err
	}
	if err := checkCompleteParts(body, query(rq.r).Get("uploadId")); err != nil {
		return err
	}
	parts, err := parseCompleteParts(rq, body)
	if err != nil {
		return err
	}
	u, dk, err := p.uploadKey(rq)
	if err != nil {
		return err
	}
	defer dk.Wipe()
	if err := hc.checkType(u); err != nil {
		return err
	}
	stored, failed, err := p.storedParts(rq, u.backend, len(parts))
	if err != nil {
		return err
	}
	if failed != nil {
		defer failed.Body.Close()
		return p.completeOrRelay(rq, u, failed)
	}
	sizes, err := checkStoredParts(rq, u, parts, stored)
	if err != nil {
		return err
	}
	if err := hc.checkSize(sizes); err != nil {
		return err
	}
	ck, err := completeChecksum(rq, u, dk, parts, sizes)
	if err != nil {
		return err
	}
	if err := hc.checkObject(u, ck); err != nil {
		return err
	}
	body, failed, err = p.endObject(rq, u, dk, parts, sizes[len(sizes)-1])
	if err != nil {
		return err
	}
	if failed != nil {
		defer failed.Body.Close()
		return p.completeOrRelay(rq, u, failed)
	}
	return p.completeAtBackend(rq, u, body, ck)
}

// completeAtBackend sends the backend the Complete document body and
// answers the client from the backend's answer: the client's ETag and
// Location, and the object's checksum ck (nil when the upload has none).
func (p *Proxy) completeAtBackend(rq *request, u uploadID, body []byte, ck *storedChecksum) error {
	q := forwardQuery(query(rq.r))
	q.Set("uploadId", u.backend)
	resp, err := p.forward(rq, http.MethodPost, q, forwardHeader(rq.r.Header), body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return p.completeOrRelay(rq, u, resp)
	}
	doc, err := readXML(resp.Body)
	if err != nil {
		return err
	}
	// S3 may answer 200 with an <Error> document; that passes unchanged.
	out, err := rewriteXML(doc, append(dropChecksums("CompleteMultipartUploadResult"),
		clientETagRule("CompleteMultipartUploadResult", ""), clientLocationRule(rq.r))...)
	if err != nil {
		return fmt.Errorf("proxy: CompleteMultipartUpload: backend answer: %w", err)
	}
	if ck != nil {
		if out, err = withCompleteChecksum(out, *ck); err != nil {
			return err
		}
	}
	if !bytes.Contains(out, []byte("<Error>")) {
		p.dropCompanions(rq, u)
	}
	h := rq.w.Header()
	copyResponseHeader(h, resp.Header, true)
	p.setSSEHeaders(h, u.md.KeyID)
	return rq.relayBodyHeaders(resp.StatusCode, out)
}

// clientLocationRule sets CompleteMultipartUploadResult's Location to the
// object's URL as the client addressed it: the backend's would name the
// backend, which clients neither reach nor should learn.
func clientLocationRule(r *http.Request) xmlRule {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	loc := scheme + "://" + r.Host + r.URL.EscapedPath()
	return xmlRule{
		path:    []string{"CompleteMultipartUploadResult", "Location"},
		replace: func(string) (string, bool) { return loc, true },
	}
}

// invalidPart is S3's InvalidPart for a listed part that was not found,
// naming the upload, the part number and the ETag given, as S3 does.
func invalidPart(rq *request, part completePart) *s3err.Error {
	return s3err.InvalidPart.
		WithExtra("UploadId", query(rq.r).Get("uploadId")).
		WithExtra("PartNumber", strconv.Itoa(part.PartNumber)).
		WithExtra("ETag", part.ETag)
}

// completePart is a part of a CompleteMultipartUpload document.
type completePart struct {
	PartNumber int    `xml:"PartNumber"`
	ETag       string `xml:"ETag"`
}

// checkStoredParts checks the listed parts (1..N, backend ETags) against
// the upload's stored parts and returns their plaintext sizes: each
// listed part must be the one stored (same ETag), and every part but the
// last must hold at least 5 MiB of plaintext (S3's rule, which the proxy
// checks on the plaintext itself: a smaller part carries an end tag, and
// must not be followed).
func checkStoredParts(rq *request, u uploadID, parts []listedPart, stored map[int]storedPart) ([]int64, error) {
	n := len(parts)
	sizes := make([]int64, n)
	for i, lp := range parts {
		part := lp.completePart
		sp, ok := stored[part.PartNumber]
		if !ok || part.ETag == "" || !sameETag(part.ETag, sp.ETag) {
			return nil, invalidPart(rq, lp.client).Wrap(fmt.Errorf("proxy: part %d not found, or its ETag is not the one given", part.PartNumber))
		}
		size, err := storedPartPlaintext(u.md, sp.Size)
		if err != nil {
			return nil, invalidPart(rq, lp.client).Wrap(fmt.Errorf("proxy: part %d was not written through the proxy: %w", part.PartNumber, err))
		}
		if i < n-1 && size < minPartSize {
			return nil, s3err.EntityTooSmall.
				WithExtra("ProposedSize", strconv.FormatInt(size, 10)).
				WithExtra("MinSizeAllowed", strconv.Itoa(minPartSize)).
				WithExtra("PartNumber", strconv.Itoa(part.PartNumber)).
				WithExtra("ETag", strings.Trim(lp.client.ETag, `"`))
		}
		sizes[i] = size
	}
	return sizes, nil
}

// endObject makes the completed object end with its end tag
// (docs/FORMAT.md, "Multipart objects"), given the checked parts (1..N,
// backend ETags) and the last one's plaintext size, and returns the
// document to send: if the last part does not carry the tag, the proxy
// stores it as part N+1, the marker part, and completes with it. A
// backend error to relay comes back as failed.
func (p *Proxy) endObject(rq *request, u uploadID, dk *envelope.DataKey, parts []listedPart, last int64) (out []byte, failed *http.Response, err error) {
	n := len(parts)
	list := make([]completePart, 0, n+1)
	for _, lp := range parts {
		list = append(list, lp.completePart)
	}
	marker, err := envelope.Marker(dk, n, last)
	if err != nil {
		return nil, nil, err
	}
	if marker != nil {
		etag, failed, err := p.putMarker(rq, u.backend, n+1, marker)
		if err != nil || failed != nil {
			return nil, failed, err
		}
		list = append(list, completePart{PartNumber: n + 1, ETag: etag})
	}
	// A fresh document: the client's checksums describe plaintext, and
	// nothing else a CompleteMultipartUpload may hold matters to the
	// backend.
	fresh := struct {
		XMLName xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUpload"`
		Parts   []completePart `xml:"Part"`
	}{Parts: list}
	b, err := xml.Marshal(fresh)
	if err != nil {
		return nil, nil, err
	}
	return append([]byte(xml.Header), b...), nil, nil
}

// storedPart is a part as the backend's ListParts reports it.
type storedPart struct {
	PartNumber int    `xml:"PartNumber"`
	ETag       string `xml:"ETag"`
	Size       int64  `xml:"Size"`
}

// storedParts lists the backend upload's parts 1..n (ListParts, by pages);
// a backend error to relay comes back as failed.
func (p *Proxy) storedParts(rq *request, backendID string, n int) (_ map[int]storedPart, failed *http.Response, _ error) {
	parts := make(map[int]storedPart, n)
	marker := 0
	for page := 0; marker < n; page++ {
		if page > maxParts {
			return nil, nil, errors.New("proxy: ListParts does not end")
		}
		q := url.Values{"uploadId": {backendID}, "max-parts": {"1000"}}
		if marker > 0 {
			q.Set("part-number-marker", strconv.Itoa(marker))
		}
		resp, err := p.forward(rq, http.MethodGet, q, backendHeader(rq.r.Header), nil)
		if err != nil {
			return nil, nil, err
		}
		var lp struct {
			IsTruncated          bool         `xml:"IsTruncated"`
			NextPartNumberMarker int          `xml:"NextPartNumberMarker"`
			Parts                []storedPart `xml:"Part"`
		}
		if failed, err := decodeOK(resp, "ListParts", &lp); failed != nil || err != nil {
			return nil, failed, err
		}
		for _, sp := range lp.Parts {
			parts[sp.PartNumber] = sp
		}
		if !lp.IsTruncated || lp.NextPartNumberMarker <= marker {
			break
		}
		marker = lp.NextPartNumberMarker
	}
	return parts, nil, nil
}

// putMarker stores the marker part (envelope.Marker) as part number part
// and returns its ETag; a backend error to relay comes back as failed.
func (p *Proxy) putMarker(rq *request, backendID string, part int, marker []byte) (_ string, failed *http.Response, _ error) {
	q := url.Values{"uploadId": {backendID}, "partNumber": {strconv.Itoa(part)}}
	resp, err := p.forward(rq, http.MethodPut, q, backendHeader(rq.r.Header), marker)
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", resp, nil
	}
	drain(resp)
	etag := resp.Header.Get("ETag")
	if etag == "" {
		return "", nil, errors.New("proxy: the backend stored the end marker part without an ETag")
	}
	return etag, nil, nil
}

// backendHeader is what the proxy's own requests of a client's operation
// carry from it: the expected bucket owner.
func backendHeader(client http.Header) http.Header {
	h := make(http.Header)
	if v := client.Get("X-Amz-Expected-Bucket-Owner"); v != "" {
		h.Set("X-Amz-Expected-Bucket-Owner", v)
	}
	return h
}

// checkCompleteParts checks a CompleteMultipartUpload document as S3
// does (every part has a number and an ETag, numbers in range and
// ascending), then enforces the proxy's 1..N rule: a gap is a part that
// cannot be found, InvalidPart naming uploadID, the part and its ETag,
// as S3 names a part it does not have.
func checkCompleteParts(doc []byte, uploadID string) error {
	var c struct {
		Parts []struct {
			PartNumber *string `xml:"PartNumber"`
			ETag       *string `xml:"ETag"`
		} `xml:"Part"`
	}
	if err := xml.NewDecoder(bytes.NewReader(doc)).Decode(&c); err != nil {
		return s3err.MalformedXML.Wrap(err)
	}
	if len(c.Parts) == 0 {
		return s3err.MalformedXML.Wrap(errors.New("proxy: no parts"))
	}
	nums := make([]int, len(c.Parts))
	for i, part := range c.Parts {
		if part.PartNumber == nil || part.ETag == nil {
			return s3err.MalformedXML.Wrap(fmt.Errorf("proxy: part %d has no number or ETag", i+1))
		}
		v := strings.TrimSpace(*part.PartNumber)
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			return s3err.MalformedXML.Wrap(err)
		case n < 1:
			return s3err.InvalidArgumentFor("PartNumber must be >= 1", "PartNumber", v)
		case n > maxPartNumber:
			return errPartNumber(v)
		case i > 0 && n <= nums[i-1]:
			return s3err.InvalidPartOrder
		}
		nums[i] = n
	}
	for i, n := range nums {
		if n != i+1 {
			return s3err.InvalidPart.WithExtra("UploadId", uploadID).WithExtra("PartNumber", strconv.Itoa(n)).WithExtra("ETag", strings.TrimSpace(*c.Parts[i].ETag)).
				Wrap(fmt.Errorf("proxy: parts must be numbered 1 to N without gaps; part %d is missing", i+1))
		}
	}
	return nil
}

// abortMultipartUpload accepts the proxy's upload IDs and bare backend IDs
// (which ListMultipartUploads lists for uploads without a record), and
// aborts the upload's record with it.
func (p *Proxy) abortMultipartUpload(rq *request) error {
	u, err := parseUploadID(query(rq.r).Get("uploadId"))
	if err != nil {
		return err
	}
	u = p.withRecord(rq, u)
	failed, err := p.checkInitiatedTime(rq, u.backend)
	if err != nil {
		return err
	}
	if failed != nil {
		defer failed.Body.Close()
		return rq.relay(failed)
	}
	q := forwardQuery(query(rq.r))
	q.Set("uploadId", u.backend)
	resp, err := p.forward(rq, http.MethodDelete, q, forwardHeader(rq.r.Header, "X-Amz-If-Match-Initiated-Time"), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if ok2xx(resp.StatusCode) {
		p.dropCompanions(rq, u)
	}
	return rq.relay(resp)
}

// storedPartPlaintext is the plaintext size of a stored part of c bytes of
// the upload whose metadata is md, in md's format version (a listing's
// envelope.PlaintextSize knows no version).
func storedPartPlaintext(md *envelope.Metadata, c int64) (int64, error) {
	l, err := envelope.NewLayout(md, c)
	if err != nil {
		return 0, err
	}
	r, err := l.PartRange(1)
	return r.Length, err
}
