package devstore

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"strconv"
)

// maxListBody bounds the listing documents the store rewrites (1,000
// entries of XML are far smaller).
const maxListBody = 8 << 20

// listEntries is what a ListObjects (v1 or v2) or ListObjectVersions answer
// says of each object: its key and ETag.
type listEntries struct {
	Entries []struct {
		Key  string `xml:"Key"`
		ETag string `xml:"ETag"`
	} `xml:",any"`
}

// list passes a bucket GET (a listing) through and gives multipart objects
// S3's multipart ETag ("<md5 of md5s>-N"), as HEAD and GET do, where
// gofakes3 would list the MD5 of the whole body. The proxy needs it: a
// listed multipart object's plaintext size depends on its part count.
func (s *Store) list(w http.ResponseWriter, r *http.Request, bucket string) {
	rec := newRecorder()
	s.handler.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status == http.StatusOK && rec.body.Len() <= maxListBody {
		if body, ok := s.multipartListETags(rec.body.Bytes(), bucket); ok {
			rec.body.Reset()
			rec.body.Write(body)
			rec.header.Set("Content-Length", strconv.Itoa(len(body)))
		}
	}
	rec.copyTo(w)
}

// multipartListETags rewrites the ETags of doc's entries that are
// multipart objects with a recorded layout.
func (s *Store) multipartListETags(doc []byte, bucket string) ([]byte, bool) {
	var l listEntries
	if xml.Unmarshal(doc, &l) != nil {
		return nil, false
	}
	changed := false
	for _, e := range l.Entries {
		if e.Key == "" || e.ETag == "" {
			continue
		}
		lay := s.loadLayout(bucket, e.Key)
		if lay == nil || lay.ETag != e.ETag {
			continue // not multipart, or overwritten since
		}
		from, to := escapeText(lay.ETag), escapeText(lay.MultipartETag)
		if i := bytes.Index(doc, []byte("<ETag>"+from+"</ETag>")); i >= 0 {
			doc = bytes.Replace(doc, []byte("<ETag>"+from+"</ETag>"), []byte("<ETag>"+to+"</ETag>"), 1)
			changed = true
		}
	}
	return doc, changed
}

func escapeText(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
