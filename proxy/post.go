package proxy

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/bucketkey/bucketkey/s3err"
	"github.com/bucketkey/bucketkey/sigv4"
)

// POST Object (browser-based uploads): a multipart/form-data form whose
// policy, signed with a client's secret, says what the browser may upload.
// The proxy authenticates the form (sigv4.VerifyPost), then stores the
// file exactly as a PutObject: encrypted under a fresh data key, with the
// form's metadata fields as the object's headers.

// handlePost serves POST Object. It authenticates the form itself: the
// request has no Authorization header or presigned query.
func (p *Proxy) handlePost() http.Handler {
	return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		rq := requestOf(r)
		rq.op, rq.r = "PostObject", r
		if err := p.postObject(rq); err != nil {
			rq.fail(err)
		}
	})
}

func (p *Proxy) postObject(rq *request) error {
	form, err := readPostForm(rq.r.Body, rq.r.Header.Get("Content-Type"), rq.r.ContentLength)
	if err != nil {
		return err
	}
	key, ok := form.fields["key"]
	if !ok {
		return s3err.InvalidArgument.With("Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.").
			WithExtra("ArgumentName", "key").WithExtra("ArgumentValue", "")
	}
	if form.hasFilename {
		key = strings.ReplaceAll(key, "${filename}", form.filename)
		form.fields["key"] = key
	}
	auth, err := p.verifier.VerifyPost(sigv4.PostForm{Fields: form.fields, Size: form.size}, rq.bucket, form.file)
	if err != nil {
		if errors.Is(err, sigv4.ErrPostAnonymous) {
			// An anonymous upload would need a bucket key before the
			// backend could refuse it (SECURITY.md, "Anonymous requests").
			return s3err.AccessDenied.Wrap(errors.New("proxy: anonymous POST uploads are not supported"))
		}
		return err
	}
	if key == "" {
		return s3err.InvalidArgument.With("User key must have a length greater than 0.").WithExtra("ArgumentName", "key").WithExtra("ArgumentValue", "")
	}
	if err := checkUploadSize(form.size); err != nil {
		return err // a PutObject's limit: a policy need not bound the size
	}
	if err := checkKey(key); err != nil {
		return err
	}
	rq.auth, rq.key = auth, key
	rq.in.r = auth.Body
	defer auth.Body.Close()
	if err := p.withIdentity(rq); err != nil {
		return err
	}
	h, err := postHeaders(form.fields)
	if err != nil {
		return err
	}
	return p.postStore(rq, h, form)
}

// postStore encrypts and stores the file (the PutObject path) and answers
// as the form asked.
func (p *Proxy) postStore(rq *request, h http.Header, form *postForm) error {
	sse, err := parseSSE(h, rq.bucket)
	if err != nil {
		return err
	}
	ctx := rq.r.Context()
	md, dk, err := p.sealNew(ctx, rq, rq.bucket, rq.key, sse, false, form.size)
	if err != nil {
		return err
	}
	defer dk.Wipe()
	// The object's checksum is recorded as a PutObject's: the form's
	// x-amz-checksum-<alg> field (verified against the file as it is
	// read), or for a small file without one, S3's default CRC64NVME.
	body, err := checksummedBody(rq, h, md, dk, form.size)
	if err != nil {
		return err
	}
	h = forwardHeader(h)
	if err := setMetadata(h, md); err != nil {
		return err
	}
	resp, relayed, err := p.putStored(ctx, rq, encryptedPut{
		bucket: rq.bucket, key: rq.key, header: h, dk: dk,
		plaintext: body, size: form.size, fromClient: true,
	})
	if relayed || err != nil {
		return err
	}
	w := rq.w.Header()
	copyResponseHeader(w, resp.Header, true)
	p.setSSEHeaders(w, md.KeyID)
	rq.setWriteChecksum(w, md)
	return rq.postAnswer(form.fields, w.Get("ETag"))
}

// postFieldHeaders are the form fields stored as the object's headers
// besides x-amz-*: S3's POST Object form fields are the REST headers of a
// PutObject, Content-Language among them.
var postFieldHeaders = []string{"Cache-Control", "Content-Type", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires", "Content-Md5"}

// postNotHeaders are the x-amz-* fields that authenticate the form, and
// the directives of a copy; with x-amz-copy-source* (postCopyPrefix) they
// are not forwarded: they would make the backend's PUT a copy, which a
// POST upload never is.
var postNotHeaders = []string{"x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature", "x-amz-security-token",
	"x-amz-metadata-directive", "x-amz-tagging-directive"}

const postCopyPrefix = "x-amz-copy-source"

// postHeaders turns a form's fields into the headers a PutObject of the
// same object would carry.
func postHeaders(fields map[string]string) (http.Header, error) {
	h := make(http.Header)
	for _, k := range postFieldHeaders {
		if v, ok := fields[strings.ToLower(k)]; ok {
			h.Set(k, v)
		}
	}
	for k, v := range fields {
		if strings.HasPrefix(k, "x-amz-") && !containsFold(postNotHeaders, k) && !strings.HasPrefix(k, postCopyPrefix) {
			h.Set(k, v)
		}
	}
	if v, ok := fields["acl"]; ok {
		h.Set("X-Amz-Acl", v)
	}
	if v, ok := fields["tagging"]; ok {
		tags, err := postTagging(v)
		if err != nil {
			return nil, err
		}
		h.Set("X-Amz-Tagging", tags)
	}
	return h, nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// postTagging turns the form's tagging field (a Tagging XML document) into
// the query-encoded form of the x-amz-tagging header.
func postTagging(doc string) (string, error) {
	var t struct {
		Tags []struct {
			Key   string `xml:"Key"`
			Value string `xml:"Value"`
		} `xml:"TagSet>Tag"`
	}
	if err := xml.Unmarshal([]byte(doc), &t); err != nil {
		return "", s3err.MalformedXML.Wrap(err)
	}
	q := make(url.Values)
	for _, tag := range t.Tags {
		q.Add(tag.Key, tag.Value)
	}
	return q.Encode(), nil
}

// postAnswer answers a stored POST as S3 does: a 303 to
// success_action_redirect (an absolute http(s) URL) with bucket, key and
// etag appended; else success_action_status 200 (empty), 201 (a
// PostResponse document) or, by default, 204.
func (rq *request) postAnswer(fields map[string]string, etag string) error {
	location := rq.objectURL()
	w := rq.w.Header()
	w.Set("Location", location)
	redirect, ok := fields["success_action_redirect"]
	if !ok {
		redirect = fields["redirect"]
	}
	if u, err := url.Parse(redirect); redirect != "" && err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		sep := "?"
		if strings.Contains(redirect, "?") {
			sep = "&"
		}
		w.Set("Location", redirect+sep+"bucket="+url.QueryEscape(rq.bucket)+"&key="+url.QueryEscape(rq.key)+"&etag="+url.QueryEscape(etag))
		rq.w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	switch fields["success_action_status"] {
	case "200":
		return rq.relayBodyHeaders(http.StatusOK, nil)
	case "201":
		body, err := xml.Marshal(struct {
			XMLName  xml.Name `xml:"PostResponse"`
			Location string   `xml:"Location"`
			Bucket   string   `xml:"Bucket"`
			Key      string   `xml:"Key"`
			ETag     string   `xml:"ETag"`
		}{Location: location, Bucket: rq.bucket, Key: rq.key, ETag: etag})
		if err != nil {
			return fmt.Errorf("proxy: PostResponse: %w", err)
		}
		w.Set("Content-Type", "application/xml")
		return rq.relayBodyHeaders(http.StatusCreated, append([]byte(xml.Header), body...))
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// objectURL is the stored object's URL as the client addressed the proxy
// (path style), the key escaped with "/" as %2F, as S3's Location.
func (rq *request) objectURL() string {
	scheme := "http"
	if rq.r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + rq.r.Host + "/" + url.PathEscape(rq.bucket) + "/" + queryEscape(rq.key)
}
