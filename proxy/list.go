package proxy

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/s3err"
)

// listObjects serves ListObjects (v1), ListObjectsV2 and
// ListObjectVersions: the backend's listing with every object size
// rewritten to the plaintext size from the size algebra
// (docs/ARCHITECTURE.md, "Listing sizes"), and its ETag to the client's
// (etag.go), without a request per object. In a mixed bucket
// (Config.MixedBuckets) the entries written before the proxy keep theirs,
// at the price of a HEAD per entry (listmixed.go).
func (p *Proxy) listObjects(rq *request) error {
	q := forwardQuery(query(rq.r))
	if p.mixed[rq.bucket] {
		return p.edited(rq, q, func(doc []byte) ([]byte, error) { return p.rewriteMixedListing(rq, doc) })
	}
	return p.rewritten(rq, q, listEntryRules()...)
}

// listEntryRules are the edits of a listing's object entries (Contents,
// Version): plaintext size and client ETag. Delete markers and common
// prefixes, which describe no stored bytes, are left alone.
func listEntryRules() []xmlRule {
	return []xmlRule{
		objectSizeRule("Contents", "Size"), objectSizeRule("Version", "Size"),
		clientETagRule("Contents", "Size"), clientETagRule("Version", "Size"),
	}
}

// listParts serves ListParts with plaintext part sizes (each part is its
// own stream and end field, so they are exact), no ciphertext checksums,
// and the client's upload ID in place of the backend's.
func (p *Proxy) listParts(rq *request) error {
	clientID := query(rq.r).Get("uploadId")
	u, err := parseUploadID(clientID)
	if err != nil {
		return err
	}
	u = p.withRecord(rq, u)
	q := forwardQuery(query(rq.r))
	q.Set("uploadId", u.backend)
	rules := append([]xmlRule{
		storedPartSizeRule, storedPartETagRule,
		{path: []string{"ListPartsResult", "UploadId"}, replace: func(string) (string, bool) { return clientID, true }},
	}, dropChecksums("Part")...)
	if u.ckAlg == checksum.None {
		// The backend's upload has no algorithm either: its answer is
		// the one for an upload without.
		return p.rewritten(rq, q, rules...)
	}
	rules = append(rules,
		xmlRule{path: []string{"ListPartsResult", "ChecksumAlgorithm"}, drop: true},
		xmlRule{path: []string{"ListPartsResult", "ChecksumType"}, drop: true})
	return p.edited(rq, q, func(doc []byte) ([]byte, error) {
		out, err := rewriteXML(doc, rules...)
		if err != nil {
			return nil, err
		}
		return withUploadChecksum(out, u), nil
	})
}

// withUploadChecksum names the upload's checksum algorithm and type in a
// ListPartsResult, after its UploadId, as S3 does (the backend's upload
// has none: the parts it stores are ciphertext).
func withUploadChecksum(doc []byte, u uploadID) []byte {
	const after = "</UploadId>"
	i := bytes.Index(doc, []byte(after))
	if i < 0 || !bytes.Contains(doc, []byte("</ListPartsResult>")) {
		return doc // an <Error> document: as it is
	}
	i += len(after)
	ins := "<ChecksumAlgorithm>" + u.ckAlg.String() + "</ChecksumAlgorithm><ChecksumType>" + u.ckType + "</ChecksumType>"
	return append(append(append([]byte(nil), doc[:i]...), ins...), doc[i:]...)
}

// getObjectAttributes serves GetObjectAttributes. Unlike a listing it is
// about one object, so the proxy need not guess from the size whether the
// object is encrypted (the size algebra takes a pre-proxy object of a
// ciphertext-shaped size for an encrypted one): it asks the backend, with
// the HEAD that HeadObject sends (readObject), pinned to the version the
// client named and to the ETag the attributes describe. An object without
// envelope metadata gets the backend's answer unchanged; an encrypted one
// gets what HeadObject reports (attributesRules). Envelope metadata that
// does not parse fails the request, as it fails HEAD and GET: such an
// object is not a pre-proxy one either.
func (p *Proxy) getObjectAttributes(rq *request) error {
	// The HEAD is pinned to the ETag the answer names: ask for the ETag
	// too, and drop it if the client did not.
	asked := rq.r.Header.Values("X-Amz-Object-Attributes")
	if err := checkAttributes(asked); err != nil {
		return err
	}
	wantETag := askedAttribute(asked, "ETag")
	wantChecksum := askedAttribute(asked, "Checksum")
	if !wantETag {
		rq.r.Header.Set("X-Amz-Object-Attributes", strings.Join(append(asked, "ETag"), ","))
	}
	q := forwardQuery(query(rq.r))
	return retryChanged("The object changed repeatedly while its attributes were read. Please retry.", func() error {
		return p.edited(rq, q, func(doc []byte) ([]byte, error) {
			return p.rewriteAttributes(rq, withRootName(doc, "GetObjectAttributesResponse"), wantETag, wantChecksum)
		})
	})
}

// withRootName gives doc's root element S3's name when the backend spelt
// it in another case (MinIO: getObjectAttributesResponse), so that the
// proxy's rules, which name S3's elements, apply, and clients get S3's
// document. Any other document is returned as it is.
func withRootName(doc []byte, name string) []byte {
	i := bytes.IndexByte(doc, '<')
	for i >= 0 && i+1 < len(doc) && doc[i+1] == '?' { // the XML declaration
		j := bytes.IndexByte(doc[i+1:], '<')
		if j < 0 {
			return doc
		}
		i += 1 + j
	}
	if i < 0 || len(doc) < i+1+len(name) {
		return doc
	}
	tag := doc[i+1 : i+1+len(name)]
	end := i + 1 + len(name)
	if string(tag) == name || !strings.EqualFold(string(tag), name) || end < len(doc) && doc[end] != '>' && doc[end] != ' ' {
		return doc
	}
	closing := []byte("</" + string(tag) + ">")
	k := bytes.LastIndex(doc, closing)
	if k < 0 {
		return doc
	}
	out := append([]byte(nil), doc...)
	copy(out[i+1:], name)
	copy(out[k+2:], name)
	return out
}

// objectAttributes are the names x-amz-object-attributes may list.
var objectAttributes = []string{"ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"}

// checkAttributes holds x-amz-object-attributes to S3's rules before the
// proxy adds the ETag it needs: at least one name, each one S3 knows.
func checkAttributes(asked []string) error {
	n := 0
	for _, v := range asked {
		for a := range strings.SplitSeq(v, ",") {
			a = strings.TrimSpace(a)
			switch {
			case a == "":
			case !equalFoldAny(a, objectAttributes...):
				// Named as the client wrote it (versitygw's
				// answer, which its suite compares with S3's).
				return s3err.InvalidArgumentFor("Invalid attribute name specified.", "x-amz-object-attributes", strings.Join(asked, ","))
			default:
				n++
			}
		}
	}
	if n == 0 {
		return s3err.InvalidRequest.With("The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty")
	}
	return nil
}

// askedAttribute reports whether x-amz-object-attributes names attr.
func askedAttribute(asked []string, attr string) bool {
	for _, v := range asked {
		for a := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(a), attr) {
				return true
			}
		}
	}
	return false
}

// attributesHeaders are the GetObjectAttributes request headers that do
// not belong on the HEAD of its object.
var attributesHeaders = append([]string{"X-Amz-Object-Attributes", "X-Amz-Max-Parts", "X-Amz-Part-Number-Marker"}, objectReadHeaders...)

// rewriteAttributes edits a GetObjectAttributes answer (doc) after asking
// the backend about the object it describes. It returns errObjectChanged
// if the object was replaced or deleted since the answer (the HEAD,
// pinned with If-Match, got 412 or 404): the caller asks again.
func (p *Proxy) rewriteAttributes(rq *request, doc []byte, wantETag, wantChecksum bool) ([]byte, error) {
	var etag string
	scan := xmlRule{path: []string{"GetObjectAttributesResponse", "ETag"}, replace: func(text string) (string, bool) {
		etag = strings.TrimSpace(text)
		return "", false
	}}
	if _, err := rewriteXML(doc, scan); err != nil {
		return nil, err
	}
	s := readSpec{
		bucket: rq.bucket,
		key:    rq.key,
		query:  url.Values{},
		cond:   http.Header{},
		header: forwardHeader(rq.r.Header, attributesHeaders...),
		head:   true,
		// The recorded checksum authenticates under the data key.
		wantKey: wantChecksum,
	}
	if v := query(rq.r).Get("versionId"); v != "" {
		s.query.Set("versionId", v)
	}
	if etag != "" {
		// S3 names the ETag unquoted here; conditions take it quoted.
		inner, _ := unquoteETag(etag)
		s.cond.Set("If-Match", `"`+inner+`"`)
	}
	res, err := p.readObject(rq.r.Context(), rq, s)
	if err != nil {
		return nil, err
	}
	defer res.close()
	var rules []xmlRule
	if !wantETag {
		// First, as the first rule that matches an element applies.
		rules = append(rules, xmlRule{path: []string{"GetObjectAttributesResponse", "ETag"}, drop: true})
	}
	if pt := res.passthrough; pt != nil {
		switch {
		case ok2xx(pt.StatusCode):
			// No envelope metadata: the backend's answer is the truth.
			return rewriteXML(doc, rules...)
		case pt.StatusCode == http.StatusPreconditionFailed, pt.StatusCode == http.StatusNotFound:
			return nil, errObjectChanged
		default:
			return nil, fmt.Errorf("backend answered HEAD of the object with %s", pt.Status)
		}
	}
	out, err := rewriteXML(doc, append(rules, attributesRules(res)...)...)
	if err != nil || !wantChecksum {
		return out, err
	}
	return withStoredChecksum(out, res)
}

// attributesRules edit the GetObjectAttributes answer of an encrypted
// object to what HeadObject reports, res being HeadObject's read: the
// plaintext size, the client ETag (etag.go), the part count without the
// marker part, the parts' plaintext sizes, and no checksums (they would
// be the ciphertext's). The size is a single-part object's recorded size
// (Metadata.Size), which the read (planRead) has checked against the stored size
// (the check of Metadata.CheckSize); a multipart object's is the sum of
// its parts' plaintext sizes from the layout (the read's HEAD per stored
// part, which HeadObject also pays): exact for any part sizes, where the
// listings' size algebra is exact only for 64 KiB-aligned parts. A
// single-part object listed as one part has the object's size.
func attributesRules(res *readResult) []xmlRule {
	size := strconv.FormatInt(res.size, 10)
	rules := []xmlRule{
		{path: []string{"GetObjectAttributesResponse", "ObjectSize"}, replace: func(string) (string, bool) { return size, true }},
		{path: []string{"GetObjectAttributesResponse", "ETag"}, replace: func(text string) (string, bool) {
			e := clientETag(strings.TrimSpace(text))
			return e, e != strings.TrimSpace(text)
		}},
		{path: []string{"GetObjectAttributesResponse", "Checksum"}, drop: true},
	}
	if !res.layout.Multipart {
		// A backend that lists a single-part object as one part (MinIO)
		// names the ciphertext's size: the part is the whole object.
		rules = append(rules, xmlRule{path: []string{"Part", "Size"}, replace: func(string) (string, bool) { return size, true }})
	}
	rules = append(rules, storedPartSizeRule)
	if res.layout.Multipart {
		parts := strconv.Itoa(len(res.layout.Parts))
		rules = append(rules, xmlRule{path: []string{"ObjectParts", "TotalPartsCount"}, replace: func(string) (string, bool) { return parts, true }})
	}
	return append(rules, dropChecksums("Part")...)
}

// objectSizeRule rewrites an object's stored size (element name under
// parent) to its plaintext size with envelope.PlaintextSize (every format
// version's size algebra at once): for a multipart object as its sibling
// ETag "<hex>-m" says, otherwise as a single-part one. Sizes no encrypted
// object can have (objects written before the proxy) are left alone.
func objectSizeRule(parent, name string) xmlRule {
	return xmlRule{
		path: []string{parent, name},
		replaceIn: func(text string, siblings map[string]string) (string, bool) {
			if m, ok := multipartETagParts(siblings["ETag"]); ok {
				c, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
				if err != nil {
					return "", false
				}
				n, err := envelope.PlaintextSize(c, m)
				if err != nil {
					return "", false
				}
				return strconv.FormatInt(n, 10), true
			}
			return plaintextSizeText(text)
		},
	}
}

// multipartETagParts returns m of a multipart ETag "<hex>-m" (quoted or
// not), m >= 1.
func multipartETagParts(etag string) (int, bool) {
	inner, _ := unquoteETag(strings.TrimSpace(etag))
	i := strings.LastIndexByte(inner, '-')
	if i < 0 {
		return 0, false
	}
	m, err := strconv.Atoi(inner[i+1:])
	return m, err == nil && m >= 1 && m <= maxParts && inner[i+1] != '+'
}

// storedPartSizeText is plaintextSizeText for a stored part (a stream and
// its end field).
func storedPartSizeText(s string) (string, bool) {
	c, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return "", false
	}
	n, err := envelope.PlaintextSize(c, 1)
	if err != nil {
		return "", false
	}
	return strconv.FormatInt(n, 10), true
}

// storedPartSizeRule rewrites <Part><Size> to the part's plaintext size.
var storedPartSizeRule = xmlRule{path: []string{"Part", "Size"}, replace: storedPartSizeText}

// storedPartETagRule is clientETagRule for parts, whose sizes are stored
// part sizes: a part's ETag and size follow the same choice.
var storedPartETagRule = xmlRule{
	path: []string{"Part", "ETag"},
	replaceIn: func(text string, siblings map[string]string) (string, bool) {
		if s, ok := siblings["Size"]; ok {
			if _, ok := storedPartSizeText(s); !ok {
				return "", false
			}
		}
		e := clientETag(strings.TrimSpace(text))
		return e, e != strings.TrimSpace(text)
	},
}

// rewritten forwards a bodiless request and relays a successful XML answer
// edited by rules; other answers are relayed as they are.
func (p *Proxy) rewritten(rq *request, q url.Values, rules ...xmlRule) error {
	return p.edited(rq, q, func(doc []byte) ([]byte, error) { return rewriteXML(doc, rules...) })
}

// edited is rewritten for edits that need more than fixed rules (the
// backend requests of a mixed bucket's listing): edit gets the whole
// successful XML answer and returns the document to relay.
func (p *Proxy) edited(rq *request, q url.Values, edit func(doc []byte) ([]byte, error)) error {
	h := forwardHeader(rq.r.Header)
	resp, err := p.forward(rq, rq.r.Method, q, h, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || rq.r.Method == http.MethodHead {
		return rq.relay(resp)
	}
	doc, err := readXML(resp.Body)
	if err != nil {
		return err
	}
	out, err := edit(doc)
	if err != nil {
		return fmt.Errorf("proxy: %s: backend answer: %w", rq.op, err)
	}
	return rq.relayBody(resp, out)
}

// readXML reads a backend XML document whole, within maxXMLDoc.
// decodeOK decodes a backend answer of 200 into v (op names the backend
// operation in errors) and closes its body; any other answer is returned as
// failed, body open, for the caller to relay.
func decodeOK(resp *http.Response, op string, v any) (failed *http.Response, _ error) {
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	doc, err := readXML(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if err := xml.Unmarshal(doc, v); err != nil {
		return nil, fmt.Errorf("proxy: %s: backend answer: %w", op, err)
	}
	return nil, nil
}

func readXML(r io.Reader) ([]byte, error) {
	doc, err := io.ReadAll(io.LimitReader(r, maxXMLDoc+1))
	if err != nil {
		return nil, &upstreamError{err: err}
	}
	if len(doc) > maxXMLDoc {
		return nil, fmt.Errorf("proxy: backend XML answer larger than %d bytes", maxXMLDoc)
	}
	return doc, nil
}
