package proxy

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/s3err"
	"github.com/bucketkey/bucketkey/sigv4"
)

// copySource is a parsed x-amz-copy-source.
type copySource struct {
	bucket, key, versionID string
}

// S3's messages for a copy source it cannot use.
const (
	msgCopySourceEncoding = "Invalid copy source encoding"
	msgCopySourceBucket   = "Invalid copy source bucket name"
	msgCopySourceKey      = "Invalid copy source object key"
)

// parseCopySource reads "bucket/key[?versionId=v]", URL-encoded, with or
// without a leading slash. Its errors are S3's InvalidArgument, naming
// what is wrong (encoding, bucket, key) as S3 does.
func parseCopySource(v string) (copySource, error) {
	bad := func(msg, value string) *s3err.Error {
		return s3err.InvalidArgumentFor(msg, "x-amz-copy-source", value)
	}
	raw, rawQuery, _ := strings.Cut(strings.TrimSpace(v), "?")
	dec, err := url.PathUnescape(raw)
	if err != nil {
		return copySource{}, bad(msgCopySourceEncoding, v).Wrap(err)
	}
	dec = strings.TrimPrefix(dec, "/")
	bucket, key, _ := strings.Cut(dec, "/")
	if strings.HasPrefix(bucket, "arn:") {
		return copySource{}, s3err.NotImplemented.With("Copy sources named by access point ARN are not supported by the encrypting proxy.")
	}
	// The same rules as for the request's own bucket and key: a source the
	// backend would resolve to another path ("b/x/../k", "b%2F..") must not
	// be read under the name the client gave.
	if err := checkBucketName(bucket); err != nil {
		return copySource{}, bad(msgCopySourceBucket, v).Wrap(err)
	}
	if net.ParseIP(bucket) != nil {
		// S3 bucket names are never formatted as IP addresses.
		return copySource{}, bad(msgCopySourceBucket, v)
	}
	if key == "" {
		return copySource{}, bad(msgCopySourceKey, key)
	}
	if err := checkKey(key); err != nil {
		if e := s3err.As(err); e != nil && e.Code == "KeyTooLongError" {
			return copySource{}, err
		}
		return copySource{}, bad(msgCopySourceKey, key).Wrap(err)
	}
	src := copySource{bucket: bucket, key: key}
	if rawQuery != "" {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return copySource{}, bad(msgCopySourceEncoding, v).Wrap(err)
		}
		src.versionID = q.Get("versionId")
	}
	return src, nil
}

// header is the x-amz-copy-source the proxy sends the backend.
func (c copySource) header() string {
	v := sigv4.EscapePath(c.bucket) + "/" + sigv4.EscapePath(c.key)
	if c.versionID != "" {
		v += "?versionId=" + queryEscape(c.versionID)
	}
	return v
}

// query is the source read's query.
func (c copySource) query() url.Values {
	q := url.Values{}
	if c.versionID != "" {
		q.Set("versionId", c.versionID)
	}
	return q
}

// copyConditions maps x-amz-copy-source-if-* to the If-* headers of the
// proxy's reads of the source, with backend ETags (etag.go).
func copyConditions(h http.Header) http.Header {
	c := make(http.Header)
	for _, k := range conditionHeaders {
		if v := h.Values("X-Amz-Copy-Source-" + k); len(v) > 0 {
			c[k] = append([]string(nil), v...)
		}
	}
	backendETagHeaders(c)
	return c
}

// sourceReadHeader is the header of the proxy's own reads of a copy
// source: the client's x-amz-source-expected-bucket-owner becomes
// x-amz-expected-bucket-owner, so the backend checks the source bucket's
// owner on the reads as it would on a copy it did itself.
func sourceReadHeader(client http.Header) http.Header {
	h := make(http.Header)
	if v := client.Get("X-Amz-Source-Expected-Bucket-Owner"); v != "" {
		h.Set("X-Amz-Expected-Bucket-Owner", v)
	}
	return h
}

// sourceError turns a failed read of a copy source into the copy's answer:
// S3 answers a copy whose source condition failed with 412, even for the
// conditions a GET would answer with 304.
func (rq *request) sourceError(resp *http.Response) error {
	if resp.StatusCode == http.StatusNotModified {
		drain(resp)
		return s3err.PreconditionFailed
	}
	return rq.relay(resp)
}

// contentHeaders are the object headers a copy with directive COPY takes
// from the source (with its user metadata). Not the website redirect
// location: S3 never copies it, whatever the directive (a copy has one only
// if the copy request sets it).
var contentHeaders = []string{
	"Content-Type", "Content-Encoding", "Content-Disposition", "Content-Language",
	"Cache-Control", "Expires",
}

// parseTaggingDirective reads x-amz-tagging-directive: COPY (the default:
// the copy gets the source's tags) or REPLACE (the copy gets the request's
// x-amz-tagging, or none). S3 spells both in upper case only.
func parseTaggingDirective(h http.Header) (replace bool, err error) {
	vv := h.Values("X-Amz-Tagging-Directive")
	if len(vv) == 0 {
		return false, nil
	}
	switch d := strings.TrimSpace(vv[0]); {
	case len(vv) == 1 && d == "COPY":
		return false, nil
	case len(vv) == 1 && d == "REPLACE":
		return true, nil
	default:
		return false, s3err.InvalidArgument.With("Unknown tagging directive.").
			WithExtra("ArgumentName", "x-amz-tagging-directive").WithExtra("ArgumentValue", strings.Join(vv, ","))
	}
}

// copyHeaders builds the destination's headers: the client's (storage
// class, ACL, tagging, lock settings, ...), and the object's metadata from
// the client (REPLACE) or from the source (COPY).
func copyHeaders(client, source http.Header, replace bool) http.Header {
	h := forwardHeader(client)
	for k := range h {
		if isCopySourceHeader(k) || strings.EqualFold(k, "X-Amz-Metadata-Directive") {
			delete(h, k)
		}
	}
	if replace {
		return h
	}
	for k := range h {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-meta-") {
			delete(h, k)
		}
	}
	for _, k := range contentHeaders {
		h.Del(k)
		if v := source.Values(k); len(v) > 0 {
			h[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
		}
	}
	for k, v := range source {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-meta-") && !isEnvelopeHeader(k) {
			h[k] = append([]string(nil), v...)
		}
	}
	stripAWSChunked(h)
	return h
}

// copyObject serves CopyObject. An encrypted single-part source is copied
// by the backend: the proxy re-seals its data key for the destination
// (docs/ARCHITECTURE.md, "Copy") and asks for a server-side copy with
// x-amz-metadata-directive: REPLACE and the new metadata. A source without
// envelope metadata (to be encrypted now) or a multipart-encrypted one
// (whose part boundaries a server-side copy does not keep: S3 and
// versitygw both store a copy as one part) is streamed through the proxy
// and stored as a new single-part object.
func (p *Proxy) copyObject(rq *request) error {
	src, err := parseCopySource(rq.r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return err
	}
	ckAlg, err := requestedAlgorithm(rq.r.Header)
	if err != nil {
		return err
	}
	sse, err := parseSSE(rq.r.Header, rq.bucket)
	if err != nil {
		return err
	}
	var replace bool
	switch d := strings.ToUpper(strings.TrimSpace(rq.r.Header.Get("X-Amz-Metadata-Directive"))); d {
	case "", "COPY":
	case "REPLACE":
		replace = true
	default:
		return s3err.InvalidArgument.With("Unknown metadata directive.").WithExtra("ArgumentName", "x-amz-metadata-directive").WithExtra("ArgumentValue", d)
	}
	if _, err := parseTaggingDirective(rq.r.Header); err != nil {
		return err
	}
	// S3 limits the user metadata a request carries, whatever the
	// directive (with COPY it would not be stored). Refused before the
	// source is read; setMetadata counts the envelope's entries too once
	// they exist.
	if err := checkMetadataSize(rq.r.Header, 0); err != nil {
		return err
	}
	if src.bucket == rq.bucket && src.key == rq.key && src.versionID == "" && !replace &&
		rq.r.Header.Get("X-Amz-Server-Side-Encryption") == "" && rq.r.Header.Get("X-Amz-Storage-Class") == "" &&
		rq.r.Header.Get("X-Amz-Website-Redirect-Location") == "" {
		return s3err.InvalidRequest.With("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	if _, err := rq.readBody(maxPassthroughBody); err != nil {
		return err
	}
	ctx := rq.r.Context()
	return retryChanged("The source object changed repeatedly during the copy. Please retry.", func() error {
		return p.copyOnce(ctx, rq, src, sse, replace, ckAlg)
	})
}

func (p *Proxy) copyOnce(ctx context.Context, rq *request, src copySource, sse sseRequest, replace bool, ckAlg checksum.Algorithm) error {
	spec := readSpec{
		bucket: src.bucket, key: src.key, query: src.query(),
		cond: copyConditions(rq.r.Header), header: sourceReadHeader(rq.r.Header),
		head: true, wantKey: true, errorDoc: true,
	}
	res, err := p.readObject(ctx, rq, spec)
	if err != nil {
		return err
	}
	defer res.close()
	if res.passthrough != nil && !ok2xx(res.passthrough.StatusCode) {
		return rq.sourceError(res.passthrough)
	}
	if res.passthrough != nil || res.md.Multipart {
		var etag string
		var srcHeader http.Header
		size := res.size
		if res.passthrough != nil {
			etag, srcHeader, size = res.passthrough.Header.Get("ETag"), res.passthrough.Header, res.passthrough.ContentLength
		} else {
			etag, srcHeader = res.etag, res.resp.Header
		}
		if err := checkCopySourceSize(size); err != nil {
			return err
		}
		return p.copyByStream(ctx, rq, src, sse, replace, etag, srcHeader)
	}

	md, err := p.reseal(ctx, rq, res.md, res.dk, rq.bucket, rq.key, sse)
	if err != nil {
		return err
	}
	if relayed, err := p.copyChecksum(ctx, rq, src, res, md, ckAlg); relayed || err != nil {
		return err
	}
	h := copyHeaders(rq.r.Header, res.resp.Header, replace)
	if err := setMetadata(h, md); err != nil {
		return err
	}
	h.Set("X-Amz-Copy-Source", src.header())
	// Pin the copy to the object whose key was just re-sealed.
	h.Set("X-Amz-Copy-Source-If-Match", res.etag)
	h.Set("X-Amz-Metadata-Directive", "REPLACE")
	resp, err := p.forward(rq, http.MethodPut, forwardQuery(query(rq.r)), h, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusPreconditionFailed {
		return errObjectChanged
	}
	if resp.StatusCode != http.StatusOK {
		return rq.relay(resp)
	}
	doc, err := readXML(resp.Body)
	if err != nil {
		return err
	}
	out, err := copyResult(doc, md, res.dk)
	if err != nil {
		return err
	}
	rh := rq.w.Header()
	copyResponseHeader(rh, resp.Header, true)
	p.setSSEHeaders(rh, md.KeyID)
	if sse.rawContext != "" {
		rh.Set("X-Amz-Server-Side-Encryption-Context", sse.rawContext)
	}
	return rq.relayBodyHeaders(resp.StatusCode, out)
}

// copyResult is the client's CopyObjectResult for the backend's doc: the
// client's ETag, and the copy's recorded checksum (the plaintext's, with
// its type, as S3 answers it) in place of the backend's (the ciphertext's).
func copyResult(doc []byte, md *envelope.Metadata, dk *envelope.DataKey) ([]byte, error) {
	out, err := rewriteXML(doc, append(dropChecksums("CopyObjectResult"), clientETagRule("CopyObjectResult", ""))...)
	if err != nil {
		return nil, fmt.Errorf("proxy: CopyObject: backend answer: %w", err)
	}
	c, ok, err := openStoredChecksum(md, dk)
	if err != nil || !ok {
		return out, err
	}
	return insertChecksumXML(out, "CopyObjectResult", "", c)
}

// copyChecksum records in md (the copy's metadata) the checksum S3
// computes for a CopyObject whose x-amz-checksum-algorithm is alg: the
// source's, when it is of that algorithm over the whole object, else one
// computed over the source's plaintext, read pinned to the version res
// found. With alg checksum.None the copy keeps the source's. relayed
// says the source's failure was relayed to the client.
func (p *Proxy) copyChecksum(ctx context.Context, rq *request, src copySource, res *readResult, md *envelope.Metadata, alg checksum.Algorithm) (relayed bool, _ error) {
	if alg == checksum.None {
		return false, nil
	}
	if c, ok, err := openStoredChecksum(res.md, res.dk); err != nil || (ok && c.alg == alg && c.typ == checksumFullObject) {
		return false, err
	}
	r, plain, _, err := p.readSource(ctx, rq, src, res.etag)
	if err != nil || plain == nil {
		return err == nil, err
	}
	defer r.close()
	sum := alg.New()
	if _, err := io.Copy(sum, plain); err != nil {
		return false, err
	}
	return false, md.SetChecksum(res.dk, storedChecksum{alg: alg, typ: checksumFullObject, value: checksum.Encode(sum.Sum(nil))}.String())
}

// copyByStream copies by reading the source through the proxy (decrypting
// it if it is encrypted) and writing it as a new encrypted object. The
// read is pinned to the ETag the first look at the source saw.
func (p *Proxy) copyByStream(ctx context.Context, rq *request, src copySource, sse sseRequest, replace bool, etag string, srcHeader http.Header) error {
	res, plain, size, err := p.readSource(ctx, rq, src, etag)
	if err != nil || plain == nil {
		return err
	}
	defer res.close()
	h := copyHeaders(rq.r.Header, srcHeader, replace)
	h.Del("X-Amz-Source-Expected-Bucket-Owner") // checked on the reads; this is a PUT
	if replaceTags, _ := parseTaggingDirective(rq.r.Header); !replaceTags {
		// COPY: the source's tags, whatever x-amz-tagging says.
		h.Del("X-Amz-Tagging")
		tags, err := p.sourceTagging(ctx, src, sourceReadHeader(rq.r.Header))
		if err != nil {
			return err
		}
		if tags != "" {
			h.Set("X-Amz-Tagging", tags)
		}
	}
	h.Del("X-Amz-Tagging-Directive")
	md, dk, err := p.sealNew(ctx, rq, rq.bucket, rq.key, sse, false, size)
	if err != nil {
		return err
	}
	defer dk.Wipe()
	if err := setMetadata(h, md); err != nil {
		return err
	}
	resp, relayed, err := p.putStored(ctx, rq, encryptedPut{
		bucket: rq.bucket, key: rq.key, query: url.Values{},
		header: h, dk: dk, plaintext: plain, size: size,
	})
	if relayed || err != nil {
		return err
	}
	rh := rq.w.Header()
	if v := resp.Header.Get("X-Amz-Version-Id"); v != "" {
		rh.Set("X-Amz-Version-Id", v)
	}
	if v := srcHeader.Get("X-Amz-Version-Id"); v != "" {
		rh.Set("X-Amz-Copy-Source-Version-Id", v)
	}
	p.setSSEHeaders(rh, md.KeyID)
	if sse.rawContext != "" {
		rh.Set("X-Amz-Server-Side-Encryption-Context", sse.rawContext)
	}
	return rq.answerCopyXML("CopyObjectResult", resp.Header.Get("ETag"), p.cfg.Now(), nil)
}

// readSource reads a copy's source pinned to the ETag etag (the one the
// first look at it saw) and returns the read, to close, with the bytes it
// yields and their number. The source's failure is the copy's
// (errObjectChanged when it changed since): a nil reader with a nil error
// says it was relayed to the client.
func (p *Proxy) readSource(ctx context.Context, rq *request, src copySource, etag string) (*readResult, io.Reader, int64, error) {
	cond := make(http.Header)
	cond.Set("If-Match", etag)
	res, err := p.readObject(ctx, rq, readSpec{
		bucket: src.bucket, key: src.key, query: src.query(),
		cond: cond, header: sourceReadHeader(rq.r.Header),
	})
	if err != nil {
		return nil, nil, 0, err
	}
	plain, size, err := res.plaintext()
	switch {
	case err != nil:
	case plain == nil && res.passthrough.StatusCode == http.StatusPreconditionFailed:
		err = errObjectChanged
	case plain == nil:
		err = rq.sourceError(res.passthrough) // relays the source's answer
	}
	if err != nil || plain == nil {
		res.close()
		return nil, nil, 0, err
	}
	return res, plain, size, nil
}

// plaintext returns the bytes a successful read yields and their number:
// decrypted for an encrypted object, as stored for one without envelope
// metadata. A failed read returns nil.
func (r *readResult) plaintext() (io.Reader, int64, error) {
	if r.passthrough == nil {
		return r.body, r.rng.Length, nil
	}
	if !ok2xx(r.passthrough.StatusCode) {
		return nil, 0, nil
	}
	if r.passthrough.ContentLength < 0 {
		return nil, 0, errors.New("proxy: copy source of unknown length")
	}
	return r.passthrough.Body, r.passthrough.ContentLength, nil
}

// sourceTagging returns the source's tag set as an x-amz-tagging value,
// for a streamed copy that must copy tags as the backend would.
func (p *Proxy) sourceTagging(ctx context.Context, src copySource, h http.Header) (string, error) {
	q := src.query()
	q.Set("tagging", "")
	req, err := p.newUpstream(ctx, http.MethodGet, src.bucket, src.key, q, h)
	if err != nil {
		return "", err
	}
	resp, err := p.do(req, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", nil // no tags, or a backend without tagging: nothing to copy
	}
	doc, err := readXML(resp.Body)
	if err != nil {
		return "", err
	}
	var t struct {
		Tags []struct {
			Key   string `xml:"Key"`
			Value string `xml:"Value"`
		} `xml:"TagSet>Tag"`
	}
	if err := xml.Unmarshal(doc, &t); err != nil {
		return "", fmt.Errorf("proxy: source tagging: %w", err)
	}
	v := url.Values{}
	for _, tag := range t.Tags {
		v.Add(tag.Key, tag.Value)
	}
	return encodeQuery(v), nil
}

// answerCopyXML sends S3's copy result document (CopyObjectResult or
// CopyPartResult) for a copy the proxy did itself; etag is the backend's
// for what it wrote.
//
// ck, if not nil, is the checksum element S3 adds (a part's, for an
// upload with a declared checksum), e.g. <ChecksumCRC32>...</ChecksumCRC32>.
func (rq *request) answerCopyXML(root, etag string, at time.Time, ck *xmlText) error {
	doc := struct {
		XMLName      xml.Name
		ETag         string   `xml:"ETag"`
		LastModified string   `xml:"LastModified"`
		Checksum     *xmlText `xml:",omitempty"`
	}{
		XMLName:      xml.Name{Space: "http://s3.amazonaws.com/doc/2006-03-01/", Local: root},
		ETag:         clientETag(etag),
		LastModified: at.UTC().Format("2006-01-02T15:04:05.000Z"),
		Checksum:     ck,
	}
	out, err := xml.Marshal(doc)
	if err != nil {
		return err
	}
	rq.w.Header().Set("Content-Type", "application/xml")
	return rq.relayBodyHeaders(http.StatusOK, append([]byte(xml.Header), out...))
}

// xmlText is an element of a name chosen at run time with text content.
type xmlText struct {
	XMLName xml.Name
	Text    string `xml:",chardata"`
}

// copyRangeRE is the only x-amz-copy-source-range form S3 accepts.
var copyRangeRE = regexp.MustCompile(`^bytes=([0-9]+)-([0-9]+)$`)

// copyRange reads x-amz-copy-source-range: none ("", -1), or S3's only
// form, bytes=first-last with first <= last, and the last byte it names.
func copyRange(h http.Header) (string, int64, error) {
	v := strings.TrimSpace(h.Get("X-Amz-Copy-Source-Range"))
	if v == "" {
		return "", -1, nil
	}
	if m := copyRangeRE.FindStringSubmatch(v); m != nil {
		first, err1 := strconv.ParseInt(m[1], 10, 64)
		last, err2 := strconv.ParseInt(m[2], 10, 64)
		if err1 == nil && err2 == nil && first <= last {
			return v, last, nil
		}
	}
	return "", 0, s3err.InvalidArgumentFor("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy", "x-amz-copy-source-range", v)
}

// errCopyRangeSize is S3's answer to a copy range that does not lie
// within the source object; it names the object's size.
func errCopyRangeSize(size string) error {
	return s3err.InvalidArgumentFor("Range specified is not valid for source object of size: "+size, "x-amz-copy-source-range", size)
}

// extraOf returns the value of an S3 error's extra element, or "".
func extraOf(e *s3err.Error, name string) string {
	for _, kv := range e.Extra {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

// uploadPartCopy copies a source object, or a range of it, into part N of
// an upload by streaming it through the proxy: the source is decrypted (if
// encrypted) and encrypted again as part N of the destination, whose
// stream key differs from any source stream's.
func (p *Proxy) uploadPartCopy(rq *request) error {
	part, err := parsePartNumber(query(rq.r).Get("partNumber"))
	if err != nil {
		return err
	}
	src, err := parseCopySource(rq.r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return err
	}
	rangeHeader, last, err := copyRange(rq.r.Header)
	if err != nil {
		return err
	}
	if _, err := rq.readBody(maxPassthroughBody); err != nil {
		return err
	}
	u, dk, err := p.uploadKey(rq)
	if err != nil {
		return err
	}
	defer dk.Wipe()
	return retryChanged("The source object changed repeatedly during the copy. Please retry.", func() error {
		return p.uploadPartCopyOnce(rq, src, rangeHeader, last, u, dk, part)
	})
}

// uploadPartCopyOnce is one attempt of uploadPartCopy: read the source (or
// its range) through the proxy and upload it as the part.
func (p *Proxy) uploadPartCopyOnce(rq *request, src copySource, rangeHeader string, last int64, u uploadID, dk *envelope.DataKey, part int) error {
	ctx := rq.r.Context()
	res, err := p.readObject(ctx, rq, readSpec{
		bucket: src.bucket, key: src.key, query: src.query(),
		rangeHeader: rangeHeader, cond: copyConditions(rq.r.Header), header: sourceReadHeader(rq.r.Header),
		errorDoc: true,
	})
	if err != nil {
		if e := s3err.As(err); e != nil && e.Code == "InvalidRange" {
			return errCopyRangeSize(extraOf(e, "ActualObjectSize"))
		}
		return err
	}
	defer res.close()
	if last >= 0 && res.passthrough == nil && last >= res.size {
		return errCopyRangeSize(strconv.FormatInt(res.size, 10))
	}
	plain, size, err := res.plaintext()
	if err != nil {
		return err
	}
	if plain == nil {
		return rq.sourceError(res.passthrough)
	}
	q := forwardQuery(query(rq.r))
	q.Set("uploadId", u.backend)
	h := forwardHeader(rq.r.Header)
	for k := range h {
		if isCopySourceHeader(k) {
			delete(h, k)
		}
	}
	h.Del("X-Amz-Source-Expected-Bucket-Owner") // checked on the reads; this is an UploadPart
	// S3 computes a copied part's checksum of the upload's algorithm,
	// whatever the source's.
	plain, ckAlg, sum, err := partChecksummer(u, u.ckAlg, plain, nil)
	if err != nil {
		return err
	}
	resp, relayed, err := p.putStored(ctx, rq, encryptedPut{
		bucket: rq.bucket, key: rq.key, query: q,
		header: h, dk: dk, part: part, plaintext: plain, size: size,
	})
	if relayed || err != nil {
		return err
	}
	var ck *xmlText
	if sum != nil {
		if err := withPartChecksum(make(http.Header), resp, dk, part, size, ckAlg, sum); err != nil {
			return err
		}
		ck = &xmlText{XMLName: xml.Name{Local: ckAlg.XMLElement()}, Text: checksum.Encode(sum())}
	}
	rh := rq.w.Header()
	var srcHeader http.Header
	if res.passthrough != nil {
		srcHeader = res.passthrough.Header
	} else {
		srcHeader = res.resp.Header
	}
	if v := srcHeader.Get("X-Amz-Version-Id"); v != "" {
		rh.Set("X-Amz-Copy-Source-Version-Id", v)
	}
	p.setSSEHeaders(rh, u.md.KeyID)
	return rq.answerCopyXML("CopyPartResult", resp.Header.Get("ETag"), p.cfg.Now(), ck)
}
