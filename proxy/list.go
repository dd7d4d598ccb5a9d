package proxy

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// listObjects serves ListObjects (v1), ListObjectsV2 and
// ListObjectVersions: the backend's listing with every object size
// rewritten to the plaintext size from the size algebra
// (docs/ARCHITECTURE.md, "Listing sizes"), without a request per object.
func (p *Proxy) listObjects(rq *request) error {
	return p.rewritten(rq, forwardQuery(query(rq.r)), sizeRule("Contents"), sizeRule("Version"))
}

// listParts serves ListParts with plaintext part sizes (each part is its
// own stream, so they are exact), no ciphertext checksums, and the
// client's upload ID in place of the backend's.
func (p *Proxy) listParts(rq *request) error {
	clientID := query(rq.r).Get("uploadId")
	u, err := parseUploadID(clientID)
	if err != nil {
		return err
	}
	q := forwardQuery(query(rq.r))
	q.Set("uploadId", u.backend)
	rules := append([]xmlRule{
		sizeRule("Part"),
		{path: []string{"ListPartsResult", "UploadId"}, replace: func(string) (string, bool) { return clientID, true }},
	}, dropChecksums("Part")...)
	return p.rewritten(rq, q, rules...)
}

// getObjectAttributes serves GetObjectAttributes with plaintext sizes (the
// object's from the size algebra, like listings; the parts' exact) and
// without checksums, which would be the ciphertext's.
func (p *Proxy) getObjectAttributes(rq *request) error {
	rules := append([]xmlRule{
		{path: []string{"GetObjectAttributesResponse", "ObjectSize"}, replace: plaintextSizeText},
		{path: []string{"GetObjectAttributesResponse", "Checksum"}, drop: true},
		sizeRule("Part"),
	}, dropChecksums("Part")...)
	return p.rewritten(rq, forwardQuery(query(rq.r)), rules...)
}

// rewritten forwards a bodiless request and relays a successful XML answer
// edited by rules; other answers are relayed as they are.
func (p *Proxy) rewritten(rq *request, q url.Values, rules ...xmlRule) error {
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
	out, err := rewriteXML(doc, rules...)
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
