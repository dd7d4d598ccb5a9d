package proxy

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/bucketkey/bucketkey/envelope"
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
	q := forwardQuery(query(rq.r))
	q.Set("uploadId", u.backend)
	rules := append([]xmlRule{
		storedPartSizeRule, storedPartETagRule,
		{path: []string{"ListPartsResult", "UploadId"}, replace: func(string) (string, bool) { return clientID, true }},
	}, dropChecksums("Part")...)
	return p.rewritten(rq, q, rules...)
}

// getObjectAttributes serves GetObjectAttributes with plaintext sizes (the
// object's from the size algebra, like listings; the parts' exact), the
// part count without the marker part, and without checksums, which would
// be the ciphertext's.
func (p *Proxy) getObjectAttributes(rq *request) error {
	// The object's size needs its part count, which the ETag tells: ask
	// for the ETag too, and drop it if the client did not.
	attrs := strings.ToLower(strings.Join(rq.r.Header.Values("X-Amz-Object-Attributes"), ","))
	var rules []xmlRule
	if strings.Contains(attrs, "objectsize") && !strings.Contains(attrs, "etag") {
		rq.r.Header.Set("X-Amz-Object-Attributes", strings.Join(rq.r.Header.Values("X-Amz-Object-Attributes"), ",")+",ETag")
		rules = append(rules, xmlRule{path: []string{"GetObjectAttributesResponse", "ETag"}, drop: true})
	}
	rules = append(rules,
		objectSizeRule("GetObjectAttributesResponse", "ObjectSize"),
		xmlRule{path: []string{"GetObjectAttributesResponse", "Checksum"}, drop: true},
		clientETagRule("GetObjectAttributesResponse", "ObjectSize"),
		storedPartSizeRule,
		xmlRule{path: []string{"ObjectParts", "TotalPartsCount"}, replace: func(text string) (string, bool) {
			return p.dataPartCount(rq, strings.TrimSpace(text))
		}},
	)
	return p.rewritten(rq, forwardQuery(query(rq.r)), append(rules, dropChecksums("Part")...)...)
}

// dataPartCount is the part count of GetObjectAttributes without the
// marker part of an encrypted multipart object: its stored part m, if
// it is MarkerSize bytes of an encrypted object, is the marker (one HEAD
// ?partNumber=m). Anything else leaves the count alone.
func (p *Proxy) dataPartCount(rq *request, text string) (string, bool) {
	m, err := strconv.Atoi(text)
	if err != nil || m < 2 || m > envelope.MaxPart {
		return "", false
	}
	q := url.Values{"partNumber": {text}}
	if v := query(rq.r).Get("versionId"); v != "" {
		q.Set("versionId", v)
	}
	resp, err := p.forward(rq, http.MethodHead, q, backendHeader(rq.r.Header), nil)
	if err != nil {
		return "", false
	}
	drain(resp)
	if _, err := envelope.ParseMetadata(resp.Header); err != nil || !ok2xx(resp.StatusCode) || resp.ContentLength != envelope.MarkerSize {
		return "", false
	}
	return strconv.Itoa(m - 1), true
}

// objectSizeRule rewrites an object's stored size (element name under
// parent) to its plaintext size: for a multipart object, as its sibling
// ETag "<hex>-m" says, with envelope.MultipartPlaintextSize; otherwise
// with envelope.PlaintextSize. Sizes no encrypted object can have (objects
// written before the proxy) are left alone.
func objectSizeRule(parent, name string) xmlRule {
	return xmlRule{
		path: []string{parent, name},
		replaceIn: func(text string, siblings map[string]string) (string, bool) {
			if m, ok := multipartETagParts(siblings["ETag"]); ok {
				c, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
				if err != nil {
					return "", false
				}
				n, err := envelope.MultipartPlaintextSize(c, m)
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
	return m, err == nil && m >= 1 && m <= envelope.MaxPart && inner[i+1] != '+'
}

// storedPartSizeText is plaintextSizeText for a stored part (a stream and
// its end field).
func storedPartSizeText(s string) (string, bool) {
	c, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return "", false
	}
	n, err := envelope.StoredPartPlaintextSize(c)
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
