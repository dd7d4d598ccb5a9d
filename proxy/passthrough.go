package proxy

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"io"
	"net/http"
	"strconv"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/s3err"
)

// maxPassthroughBody bounds the bodies of requests the proxy forwards
// without changing them (XML configuration, DeleteObjects, tagging): they
// are read whole so they can be signed with their hash.
const maxPassthroughBody = 16 << 20

// passthrough serves an operation the proxy does not need to change: the
// authenticated request is rebuilt for the backend (same method, bucket,
// key and query; forwarded headers; the verified body) and the backend's
// answer is relayed as it is. Envelope metadata never leaves in either
// direction.
func (p *Proxy) passthrough(rq *request) error {
	body, err := rq.readBody(maxPassthroughBody)
	if err != nil {
		return err
	}
	h := forwardHeader(rq.r.Header)
	resp, err := p.forward(rq, rq.r.Method, forwardQuery(query(rq.r)), h, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return rq.relay(resp)
}

// forward sends a request for the same bucket and key as the client's
// with an in-memory body. A non-empty body gets a Content-MD5 (verified
// bodies are re-described for the backend: S3 requires it for
// DeleteObjects and several configuration calls, and it costs nothing),
// and so does an empty one the client described (an SDK sends a CRC32 of
// nothing with an empty PutObjectLegalHold): without it the backend
// answers that the digest is missing where S3 judges the body itself
// (MalformedXML) or the bucket (NoSuchBucket).
func (p *Proxy) forward(rq *request, method string, q map[string][]string, h http.Header, body []byte) (*http.Response, error) {
	if len(body) > 0 || describesBody(rq.r.Header) {
		sum := md5.Sum(body)
		h.Set("Content-Md5", base64.StdEncoding.EncodeToString(sum[:]))
	}
	req, err := p.newUpstream(rq.r.Context(), method, rq.bucket, rq.key, q, h)
	if err != nil {
		return nil, err
	}
	return p.do(req, body)
}

// describesBody reports whether a client request carries a digest of its
// body (Content-MD5, an x-amz-checksum-<algorithm> or a trailer
// announcing one), which sigv4 verified.
func describesBody(h http.Header) bool {
	if h.Get("Content-Md5") != "" || h.Get("X-Amz-Trailer") != "" {
		return true
	}
	for _, a := range checksum.All {
		if h.Get(a.CanonicalHeader()) != "" {
			return true
		}
	}
	return false
}

// relay sends the backend's response to the client unchanged but for
// connection headers, envelope metadata and the request id.
func (rq *request) relay(resp *http.Response) error {
	if resp.StatusCode >= 300 && rq.r.Method != http.MethodHead &&
		resp.ContentLength >= 0 && resp.ContentLength <= maxErrorBody {
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return &upstreamError{err: err}
		}
		return rq.relayBody(resp, withRequestID(body, rq.id))
	}
	copyResponseHeader(rq.w.Header(), resp.Header, false)
	if resp.ContentLength >= 0 && bodyAllowed(resp.StatusCode) {
		rq.w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	rq.w.WriteHeader(resp.StatusCode)
	if rq.r.Method == http.MethodHead {
		return nil
	}
	return rq.copyOut(resp.Body)
}

// copyOut streams a body to the client; a failure mid-way aborts the
// response (the client sees a broken transfer).
func (rq *request) copyOut(r io.Reader) error {
	buf := getBuf()
	defer putBuf(buf)
	_, err := io.CopyBuffer(rq.w, r, *buf)
	return err
}

// relayBody sends a rewritten small body with the backend's status and
// headers.
func (rq *request) relayBody(resp *http.Response, body []byte) error {
	copyResponseHeader(rq.w.Header(), resp.Header, false)
	rq.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	rq.w.WriteHeader(resp.StatusCode)
	if rq.r.Method == http.MethodHead {
		return nil
	}
	_, err := rq.w.Write(body)
	return err
}

// bodyAllowed reports whether a response status may carry a body (and so a
// Content-Length).
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// maxErrorBody bounds a backend error document the proxy rewrites.
const maxErrorBody = 64 << 10

// withRequestID replaces the RequestId of an S3 error document with the
// proxy's, and its HostId with the one the proxy answered in x-amz-id-2,
// so that the body names the ids the client was given (the backend's
// own go to nobody).
func withRequestID(body []byte, id string) []byte {
	if i := bytes.Index(body, []byte("<RequestId>")); i < 0 || !bytes.Contains(body[:i], []byte("<Error>")) {
		return body
	}
	body = replaceElement(body, "RequestId", id)
	if !bytes.Contains(body, []byte("<HostId>")) {
		// A backend that names no host (S3 always does): after the
		// RequestId, where S3 puts it.
		if i := bytes.Index(body, []byte("</RequestId>")); i >= 0 {
			i += len("</RequestId>")
			host := "<HostId>" + s3err.HostID(id) + "</HostId>"
			return append(append(append([]byte(nil), body[:i]...), host...), body[i:]...)
		}
		return body
	}
	return replaceElement(body, "HostId", s3err.HostID(id))
}

// replaceElement replaces the text of the first <name> element of body,
// if it has one that ends.
func replaceElement(body []byte, name, text string) []byte {
	open, end := "<"+name+">", "</"+name+">"
	i := bytes.Index(body, []byte(open))
	if i < 0 {
		return body
	}
	j := bytes.Index(body[i:], []byte(end))
	if j < 0 {
		return body
	}
	out := make([]byte, 0, len(body)+len(text))
	out = append(out, body[:i+len(open)]...)
	out = append(out, text...)
	return append(out, body[i+j:]...)
}
