package proxy

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bucketkey/bucketkey/checksum"
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

// parseConditionDate reads a condition date as S3 does: an HTTP date or
// an RFC 3339 one. A date it cannot read, or one in the future, is not a
// condition at all (ok false), as for If-Modified-Since: an upload cannot
// have been initiated later than now, and S3 ignores such a date rather
// than failing every request that carries it.
func parseConditionDate(v string) (_ time.Time, ok bool) {
	t, err := http.ParseTime(v)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, v); err != nil {
			return time.Time{}, false
		}
	}
	return t, !t.After(time.Now())
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
	want, ok := parseConditionDate(v)
	if !ok {
		return nil, nil
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
// listing with the IDs clients were given: each listed upload's ID is the
// one its record holds (uploadrecord.go; a bare backend ID for an upload
// without one), and the records themselves are left out, a page they
// shortened being filled from the backend's next ones, so that pages hold
// max-uploads entries as S3's do. An upload-id-marker that is a proxy
// upload ID is reduced to the backend ID it wraps, which is where the
// backend's listing resumes, and is echoed back as the client sent it.
func (p *Proxy) listMultipartUploads(rq *request) error {
	q := forwardQuery(query(rq.r))
	marker := q.Get("upload-id-marker")
	if u, err := parseUploadID(marker); marker != "" && err == nil && u.md != nil {
		q.Set("upload-id-marker", u.backend)
	} else {
		marker = ""
	}
	return p.edited(rq, q, func(doc []byte) ([]byte, error) {
		return p.clientUploadList(rq, q, marker, doc)
	})
}

// uploadsPage is what the proxy reads of a backend ListMultipartUploads
// page.
type uploadsPage struct {
	IsTruncated        bool   `xml:"IsTruncated"`
	NextKeyMarker      string `xml:"NextKeyMarker"`
	NextUploadIDMarker string `xml:"NextUploadIdMarker"`
	EncodingType       string `xml:"EncodingType"`
	Uploads            []struct {
		Key      string `xml:"Key"`
		UploadID string `xml:"UploadId"`
	} `xml:"Upload"`
	CommonPrefixes []struct {
		Prefix string `xml:"Prefix"`
	} `xml:"CommonPrefixes"`
	// shadow is the page's common prefix (as listed) that only folds
	// records: one shorter than the records' prefix (".", ".bucketkey-"
	// for the delimiters "." or "-"), which the backend lists though no
	// client upload's key has it.
	shadow string
}

// decoded is a key or prefix of the page as it names it.
func (l *uploadsPage) decoded(s string) string {
	if strings.EqualFold(l.EncodingType, "url") {
		if v, err := url.QueryUnescape(s); err == nil {
			return v
		}
	}
	return s
}

// isRecord reports whether a listed key or common prefix is (or holds
// only) upload records.
func (l *uploadsPage) isRecord(s string) bool {
	return strings.HasPrefix(l.decoded(s), companionPrefix) || (s != "" && s == l.shadow)
}

// findShadow sets l.shadow to the page's common prefix that is shorter
// than the records' prefix and folds no client upload's key, if any (one
// at most: the records' prefix up to the delimiter's first occurrence).
// A delimiter that occurs in ".bucketkey-upload/" folds the records into
// such a prefix, which S3 would not list: at most two backend requests
// per page tell whether client keys share it.
func (p *Proxy) findShadow(rq *request, l *uploadsPage) error {
	for _, c := range l.CommonPrefixes {
		d := l.decoded(c.Prefix)
		if d == "" || !strings.HasPrefix(companionPrefix, d) || d == companionPrefix {
			continue
		}
		held, err := p.holdsClientUploads(rq, d)
		if err != nil {
			return err
		}
		if !held {
			l.shadow = c.Prefix
		}
		return nil
	}
	return nil
}

// holdsClientUploads reports whether the backend has an upload of a key
// with prefix that is not a record: the first of the prefix's keys, or
// the first after the records' range.
func (p *Proxy) holdsClientUploads(rq *request, prefix string) (bool, error) {
	for _, marker := range []string{"", companionSkip} {
		q := url.Values{"uploads": {""}, "prefix": {prefix}, "max-uploads": {"1"}}
		if marker != "" {
			q.Set("key-marker", marker)
		}
		l, err := p.backendUploads(rq, q)
		if err != nil {
			return false, err
		}
		if len(l.Uploads) > 0 && !l.isRecord(l.Uploads[0].Key) {
			return true, nil
		}
	}
	return false, nil
}

// scan looks up the client IDs of the page's uploads into ids and counts
// the entries a client sees. Records listed on the page name their
// uploads' IDs without a lookup; the others come from the cache or, for
// a page that still lacks some, from one read of the records' range
// (readRecords), not a lookup per upload.
func (p *Proxy) scan(rq *request, l *uploadsPage, ids map[string]string) (kept, dropped int, _ error) {
	if err := p.findShadow(rq, l); err != nil {
		return 0, 0, err
	}
	p.addRecords(rq, l, ids)
	missing := false
	for _, u := range l.Uploads {
		if l.isRecord(u.Key) {
			dropped++
			continue
		}
		kept++
		if _, ok := ids[u.UploadID]; ok {
			continue
		}
		if id, ok := p.companions.Get(rq.bucket + "\x00" + u.UploadID); ok {
			ids[u.UploadID] = id
		} else {
			missing = true
		}
	}
	// The next upload-id-marker can name an upload not on the page: the
	// last one folded into a common prefix that ended it.
	if m := l.NextUploadIDMarker; m != "" && !l.isRecord(l.NextKeyMarker) {
		if _, ok := ids[m]; !ok {
			if id, ok := p.companions.Get(rq.bucket + "\x00" + m); ok {
				ids[m] = id
			} else {
				missing = true
			}
		}
	}
	if missing {
		p.readRecords(rq, ids)
	}
	for _, c := range l.CommonPrefixes {
		if l.isRecord(c.Prefix) {
			dropped++
		} else {
			kept++
		}
	}
	return kept, dropped, nil
}

// addRecords adds the client IDs the records listed on page l hold to ids
// and to the cache.
func (p *Proxy) addRecords(rq *request, l *uploadsPage, ids map[string]string) {
	for _, u := range l.Uploads {
		if b, id, err := parseCompanionKey(l.decoded(u.Key)); err == nil {
			ids[b] = id
			p.companions.Add(rq.bucket+"\x00"+b, id)
		}
	}
}

// maxRecordPages bounds readRecords: an upload whose record lies beyond
// 10,000 others lists its backend ID until the cache holds its record.
const maxRecordPages = 10

// recordsPerPage is readRecords' max-uploads: S3's default and maximum
// (a variable so that a test can page through a few records).
var recordsPerPage = 1000

// readRecords adds the client IDs of the bucket's upload records to ids,
// from a listing of the records' key range. Best effort: an upload whose
// record is not read lists its backend ID (and MinIO, which lists the
// uploads of one exact key when given a prefix, lists none here).
func (p *Proxy) readRecords(rq *request, ids map[string]string) {
	q := url.Values{"uploads": {""}, "prefix": {companionPrefix}, "max-uploads": {strconv.Itoa(recordsPerPage)}}
	for range maxRecordPages {
		l, err := p.backendUploads(rq, q)
		if err != nil {
			p.cfg.Logger.Warn("proxy: upload records not read", "request_id", rq.id, "err", err)
			return
		}
		p.addRecords(rq, &l, ids)
		if !l.IsTruncated || l.NextKeyMarker == "" {
			return
		}
		// key-marker alone: every record key holds one upload, and
		// versitygw refuses a key-marker with an upload-id-marker here
		// (400), which left all but the first 1,000 records unread.
		q.Set("key-marker", l.decoded(l.NextKeyMarker))
	}
}

// backendUploads is the backend's ListMultipartUploads page of query q
// (the proxy's own: no client parameters) in the request's bucket.
func (p *Proxy) backendUploads(rq *request, q url.Values) (uploadsPage, error) {
	var l uploadsPage
	req, err := p.newUpstream(rq.r.Context(), http.MethodGet, rq.bucket, "", q, backendHeader(rq.r.Header))
	if err != nil {
		return l, err
	}
	resp, err := p.do(req, nil)
	if err != nil {
		return l, err
	}
	failed, err := decodeOK(resp, "ListMultipartUploads", &l)
	if failed != nil {
		drain(failed)
		return l, errors.New("proxy: backend ListMultipartUploads: " + failed.Status)
	}
	return l, err
}

// uploadRules are the edits of a backend page: records out, client IDs
// and their declared checksums in.
func uploadRules(l *uploadsPage, ids map[string]string) []xmlRule {
	byID := func(s string) (string, bool) {
		id, ok := ids[s]
		return id, ok
	}
	rules := []xmlRule{
		{path: []string{"Upload"}, dropIf: func(c map[string]string) bool { return l.isRecord(c["Key"]) },
			insert: func(c map[string]string) string { return declaredChecksum(ids[c["UploadId"]]) }},
		{path: []string{"CommonPrefixes"}, dropIf: func(c map[string]string) bool { return l.isRecord(c["Prefix"]) }},
		{path: []string{"Upload", "UploadId"}, replace: byID},
		{path: []string{"ListMultipartUploadsResult", "NextUploadIdMarker"}, replace: byID},
	}
	// The backend's upload was created without the client's checksum (its
	// parts are ciphertext): the listing names the one the ID declares.
	return append(rules, dropChecksums("Upload")...)
}

// declaredChecksum is the XML of the checksum algorithm and type client
// upload ID id declares, as S3 lists them; "" for none.
func declaredChecksum(id string) string {
	u, err := parseUploadID(id)
	if id == "" || err != nil || u.ckAlg == checksum.None {
		return ""
	}
	return "<ChecksumAlgorithm>" + u.ckAlg.String() + "</ChecksumAlgorithm><ChecksumType>" + u.ckType + "</ChecksumType>"
}

// clientUploadList edits the backend's first page doc (of query q) into
// the client's; marker is the client's upload-id-marker when it was a
// proxy upload ID.
func (p *Proxy) clientUploadList(rq *request, q url.Values, marker string, doc []byte) ([]byte, error) {
	var l uploadsPage
	if err := xml.Unmarshal(doc, &l); err != nil {
		return nil, fmt.Errorf("proxy: ListMultipartUploads: backend answer: %w", err)
	}
	ids := make(map[string]string)
	kept, dropped, err := p.scan(rq, &l, ids)
	if err != nil {
		return nil, err
	}
	rules := uploadRules(&l, ids)
	if marker != "" {
		rules = append(rules, xmlRule{
			path:    []string{"ListMultipartUploadsResult", "UploadIdMarker"},
			replace: func(string) (string, bool) { return marker, true },
		})
	}
	var more []byte
	if dropped > 0 && l.IsTruncated {
		last, extra, err := p.fillUploads(rq, q, l, maxUploadsOf(q)-kept, ids)
		if err != nil {
			return nil, err
		}
		more = extra
		// Before the page's own rules: the first match applies.
		rules = append([]xmlRule{
			xmlRule{path: []string{"ListMultipartUploadsResult", "IsTruncated"}, replace: func(string) (string, bool) { return strconv.FormatBool(last.IsTruncated), true }},
			xmlRule{path: []string{"ListMultipartUploadsResult", "NextKeyMarker"}, replace: func(string) (string, bool) { return last.NextKeyMarker, true }},
			xmlRule{path: []string{"ListMultipartUploadsResult", "NextUploadIdMarker"}, replace: func(string) (string, bool) {
				if id, ok := ids[last.NextUploadIDMarker]; ok {
					return id, true
				}
				return last.NextUploadIDMarker, true
			}}}, rules...)
	}
	out, err := rewriteXML(doc, rules...)
	if err != nil || len(more) == 0 {
		return out, err
	}
	end := bytes.LastIndex(out, []byte("</ListMultipartUploadsResult>"))
	if end < 0 {
		return nil, errors.New("proxy: ListMultipartUploads: backend answer does not end")
	}
	return slices.Concat(out[:end], more, out[end:]), nil
}

// maxUploadsOf is the page size query q asks for (S3's default and
// ceiling are 1,000).
func maxUploadsOf(q url.Values) int {
	n, err := strconv.Atoi(q.Get("max-uploads"))
	if err != nil || n < 0 || n > 1000 {
		return 1000
	}
	return n
}

// fillUploads reads the backend's pages after prev until need entries a
// client sees are found or the listing ends, skipping the records' range
// of keys; it returns the last page read and the entries (Upload and
// CommonPrefixes elements, edited) to add.
func (p *Proxy) fillUploads(rq *request, q url.Values, prev uploadsPage, need int, ids map[string]string) (uploadsPage, []byte, error) {
	var more []byte
	for page := 0; need > 0 && prev.IsTruncated; page++ {
		if page > 100 {
			return prev, nil, errors.New("proxy: ListMultipartUploads does not end")
		}
		next := maps.Clone(q)
		next.Set("max-uploads", strconv.Itoa(need))
		if prev.NextKeyMarker == "" {
			break
		}
		next.Set("key-marker", prev.decoded(prev.NextKeyMarker))
		next.Set("upload-id-marker", prev.NextUploadIDMarker)
		if prev.isRecord(prev.NextKeyMarker) {
			next.Set("key-marker", companionSkip)
			next.Del("upload-id-marker")
		}
		req, err := p.newUpstream(rq.r.Context(), http.MethodGet, rq.bucket, "", next, forwardHeader(rq.r.Header))
		if err != nil {
			return prev, nil, err
		}
		resp, err := p.do(req, nil)
		if err != nil {
			return prev, nil, err
		}
		if resp.StatusCode != http.StatusOK {
			// The backend cannot resume there (versitygw refuses an
			// upload-id-marker with a key-marker): the page stays short,
			// its markers the backend's.
			drain(resp)
			break
		}
		doc, err := readXML(resp.Body)
		resp.Body.Close()
		if err != nil {
			return prev, nil, err
		}
		var l uploadsPage
		if err := xml.Unmarshal(doc, &l); err != nil {
			return prev, nil, fmt.Errorf("proxy: ListMultipartUploads: backend answer: %w", err)
		}
		kept, _, err := p.scan(rq, &l, ids)
		if err != nil {
			return prev, nil, err
		}
		edited, err := rewriteXML(doc, uploadRules(&l, ids)...)
		if err != nil {
			return prev, nil, err
		}
		more = append(more, childElements(edited, "Upload", "CommonPrefixes")...)
		need -= kept
		prev = l
	}
	return prev, more, nil
}

// childElements returns the bytes of doc's root's child elements named
// one of names, in order.
func childElements(doc []byte, names ...string) []byte {
	var out []byte
	d := xml.NewDecoder(bytes.NewReader(doc))
	depth, start := 0, int64(-1)
	for {
		off := d.InputOffset()
		tok, err := d.RawToken()
		if err != nil {
			return out
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 && slices.Contains(names, t.Name.Local) {
				start = off
			}
		case xml.EndElement:
			if depth == 2 && start >= 0 {
				out = append(out, doc[start:d.InputOffset()]...)
				start = -1
			}
			depth--
		}
	}
}
