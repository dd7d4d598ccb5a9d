package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/bucketkey/bucketkey/envelope"
)

// Listings of mixed buckets (Config.MixedBuckets). A listing carries no
// metadata, so elsewhere an entry is taken for encrypted whenever its size
// could be a ciphertext size. A bucket that still holds objects written
// before the proxy is declared mixed so that those objects are listed as
// HEAD and GET report them: for each entry the listing would rewrite, the
// proxy asks the backend (HEAD, pinned to the listed ETag and version)
// whether the object carries envelope metadata, and rewrites only the
// entries that do. Entries whose size no ciphertext can have are passed
// through without a request, as in any bucket.

// mixedProbeConcurrency bounds the HEADs one listing has in flight: a page
// of 1,000 entries then takes some 63 round trips in sequence, and one
// listing never holds more than a few of the transport's connections.
const mixedProbeConcurrency = 16

// listEntry is an entry of a listing whose size could be a ciphertext
// size: its Key as listed (URL-encoded if the listing is), its VersionId
// ("" outside ListObjectVersions) and its backend ETag.
type listEntry struct{ key, versionID, etag string }

// entryID names an entry by the text of its Key and VersionId siblings,
// as the rules see them in both passes over the document.
func entryID(siblings map[string]string) string {
	return siblings["Key"] + "\x00" + siblings["VersionId"]
}

func (e listEntry) id() string { return e.key + "\x00" + e.versionID }

// rewriteMixedListing edits a listing of a mixed bucket: a first pass
// collects the entries the usual rules would rewrite, HEADs tell which of
// them are pre-proxy objects, and the second pass applies the usual rules
// to all other entries.
func (p *Proxy) rewriteMixedListing(rq *request, doc []byte) ([]byte, error) {
	var (
		entries []listEntry
		seen    = make(map[string]bool)
		urlKeys bool
	)
	record := func(s map[string]string) {
		// An entry without a key cannot be asked about (a HEAD without
		// one would address the bucket); it is treated as anywhere else.
		if s["Key"] == "" || seen[entryID(s)] {
			return
		}
		seen[entryID(s)] = true
		entries = append(entries, listEntry{key: s["Key"], versionID: s["VersionId"], etag: strings.TrimSpace(s["ETag"])})
	}
	scan := []xmlRule{encodingTypeRule("ListBucketResult", &urlKeys), encodingTypeRule("ListVersionsResult", &urlKeys)}
	for _, r := range listEntryRules() {
		scan = append(scan, observedRule(r, record))
	}
	if _, err := rewriteXML(doc, scan...); err != nil {
		return nil, err
	}
	legacy := p.legacyEntries(rq, entries, urlKeys)
	rules := listEntryRules()
	for i := range rules {
		rules[i] = exceptEntries(rules[i], legacy)
	}
	return rewriteXML(doc, rules...)
}

// encodingTypeRule records whether the listing's keys are URL-encoded
// (encoding-type=url, which aws-cli and boto3 ask for): the HEADs need
// the keys themselves.
func encodingTypeRule(root string, urlKeys *bool) xmlRule {
	return xmlRule{path: []string{root, "EncodingType"}, replace: func(text string) (string, bool) {
		*urlKeys = strings.EqualFold(strings.TrimSpace(text), "url")
		return "", false
	}}
}

// observedRule is r, a replaceIn rule, made to edit nothing but report the
// siblings of every entry r would edit.
func observedRule(r xmlRule, record func(siblings map[string]string)) xmlRule {
	edit := r.replaceIn
	r.replaceIn = func(text string, siblings map[string]string) (string, bool) {
		if _, ok := edit(text, siblings); ok {
			record(siblings)
		}
		return "", false
	}
	return r
}

// exceptEntries is r, a replaceIn rule, made to leave the entries named in
// skip alone.
func exceptEntries(r xmlRule, skip map[string]bool) xmlRule {
	edit := r.replaceIn
	r.replaceIn = func(text string, siblings map[string]string) (string, bool) {
		if skip[entryID(siblings)] {
			return "", false
		}
		return edit(text, siblings)
	}
	return r
}

// legacyEntries returns the ids of the entries that the backend says carry
// no envelope metadata, asking about up to mixedProbeConcurrency at a time.
// An entry the backend could not answer for is left out, so it is listed
// as in a bucket not declared mixed: a failed HEAD never fails the
// listing (which the client would retry, HEADs and all), and the listing
// is never worse than without the mode. Such failures are logged.
func (p *Proxy) legacyEntries(rq *request, entries []listEntry, urlKeys bool) map[string]bool {
	var (
		mu       sync.Mutex
		legacy   = make(map[string]bool)
		failed   int
		firstErr error
		g        errgroup.Group
	)
	g.SetLimit(mixedProbeConcurrency)
	for _, e := range entries {
		g.Go(func() error {
			isLegacy, err := p.probeEntry(rq, e, urlKeys)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				failed++
				if firstErr == nil {
					firstErr = err
				}
			case isLegacy:
				legacy[e.id()] = true
			}
			return nil
		})
	}
	_ = g.Wait()
	if failed > 0 && rq.r.Context().Err() == nil {
		p.cfg.Logger.Warn("proxy: mixed bucket listing: entries not checked, listed as encrypted",
			"request_id", rq.id, "bucket", rq.bucket, "entries_failed", failed, "entries_asked", len(entries), "error", firstErr.Error())
	}
	return legacy
}

// probeEntry asks the backend whether a listed entry is an object written
// before the proxy: a HEAD of its key and version, with If-Match: the
// listed ETag, so that an object replaced since the listing is not taken
// for the one listed. An entry gone or replaced (404, 412) is reported as
// not legacy: its listed size and ETag describe an object nobody can read
// any more, and they are then listed as in any other bucket. Other
// answers are errors.
func (p *Proxy) probeEntry(rq *request, e listEntry, urlKeys bool) (bool, error) {
	key := e.key
	if urlKeys {
		k, err := url.QueryUnescape(key)
		if err != nil {
			return false, fmt.Errorf("listed key not URL-encoded: %w", err)
		}
		key = k
	}
	status, h, err := p.headEntry(rq, key, e.versionID, e.etag)
	if err == nil && status == http.StatusBadRequest && e.versionID == "null" {
		// The null version (an object written while versioning was off:
		// in a bucket versioned later, typically a pre-proxy object
		// overwritten since) is versionId=null to S3, but some backends
		// (versitygw) refuse that in a bucket without versioning, where
		// the only version is the current one. If-Match still pins it.
		status, h, err = p.headEntry(rq, key, "", e.etag)
	}
	switch {
	case err != nil:
		return false, err
	case ok2xx(status):
		_, err := envelope.ParseMetadata(h)
		// Metadata that does not parse is not "no metadata": HEAD and GET
		// refuse such an object rather than pass it through.
		return errors.Is(err, envelope.ErrNotEncrypted), nil
	case status == http.StatusNotFound, status == http.StatusPreconditionFailed:
		return false, nil
	default:
		return false, fmt.Errorf("backend answered HEAD with %d %s", status, http.StatusText(status))
	}
}

// headEntry sends one HEAD of probeEntry and returns its status and
// headers.
func (p *Proxy) headEntry(rq *request, key, versionID, etag string) (int, http.Header, error) {
	q := url.Values{}
	if versionID != "" {
		q.Set("versionId", versionID)
	}
	h := backendHeader(rq.r.Header)
	if etag != "" {
		h.Set("If-Match", etag)
	}
	req, err := p.newUpstream(rq.r.Context(), http.MethodHead, rq.bucket, key, q, h)
	if err != nil {
		return 0, nil, err
	}
	resp, err := p.do(req, nil)
	if err != nil {
		return 0, nil, err
	}
	drain(resp)
	return resp.StatusCode, resp.Header, nil
}
