package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Upload records (docs/ARCHITECTURE.md, "Multipart key material"): the
// client's upload ID carries its key material, which nothing at the
// backend holds, so ListMultipartUploads could list only the backend's
// IDs. CreateMultipartUpload therefore also creates, next to the backend
// upload X, a companion multipart upload that is never completed, whose
// key is the record:
//
//	.bucketkey-upload/<X>/<client ID suffix>
//
// where the suffix is what follows X in the client's ID (".bk1.<...>" or
// ".bk2.<...>", already base64url: a second encoding would only lengthen
// it). Uploads never appear in object listings; the companion of X is
// found with one ListMultipartUploads of prefix ".bucketkey-upload/<X>/".
// A record is only a hint: the ID it rebuilds is checked (MAC, sealed data
// key) wherever key material is used, as a client's own ID is, so a record
// forged at the backend opens nothing. Clients may not name keys under the
// prefix (checkKey).
const companionPrefix = ".bucketkey-upload/"

// companionSkip is a key marker past every key under companionPrefix
// (keys are UTF-8, and U+10FFFF sorts after any of them).
const companionSkip = companionPrefix + "\U0010FFFF"

// maxCompanions bounds the cache of backend ID -> client ID. Records never
// change, so a cached one is right on every replica for as long as it is
// kept.
const maxCompanions = 4096

type companionCache = lru.Cache[string, string]

func newCompanionCache() *companionCache {
	c, err := lru.New[string, string](maxCompanions)
	if err != nil {
		panic(err) // only for a size < 1
	}
	return c
}

// companionKey is the key of the companion recording the client ID id of
// the backend upload backend; ok is false when id does not wrap backend or
// the key would be longer than S3 allows (the upload then has no record,
// as before records existed).
func companionKey(backend, id string) (_ string, ok bool) {
	suffix, found := strings.CutPrefix(id, backend)
	if !found || !(strings.HasPrefix(suffix, uploadIDSep) || strings.HasPrefix(suffix, uploadIDSep2)) {
		return "", false
	}
	k := companionPrefix + backend + "/" + suffix
	return k, len(k) <= maxKeyLen
}

// parseCompanionKey splits a companion key into the backend ID it records
// and the client ID, which must parse as one wrapping that backend ID.
func parseCompanionKey(key string) (backend, id string, _ error) {
	rest, ok := strings.CutPrefix(key, companionPrefix)
	if !ok {
		return "", "", errors.New("proxy: not an upload record")
	}
	i := max(strings.LastIndex(rest, "/"+uploadIDSep), strings.LastIndex(rest, "/"+uploadIDSep2))
	if i <= 0 {
		return "", "", errors.New("proxy: upload record has no ID")
	}
	backend, suffix := rest[:i], rest[i+1:]
	if strings.Contains(suffix, "/") {
		return "", "", errors.New("proxy: upload record ID has a slash")
	}
	id = backend + suffix
	u, err := parseUploadID(id)
	if err != nil {
		return "", "", err
	}
	if u.md == nil || u.backend != backend {
		return "", "", errors.New("proxy: upload record does not wrap its backend ID")
	}
	return backend, id, nil
}

// createCompanion records id, the client ID of the request's backend
// upload backend; a backend refusal comes back as failed. An ID too long
// for a key gets no record.
func (p *Proxy) createCompanion(rq *request, backend, id string) (failed *http.Response, _ error) {
	k, ok := companionKey(backend, id)
	if !ok {
		return nil, nil
	}
	req, err := p.newUpstream(rq.r.Context(), http.MethodPost, rq.bucket, k, url.Values{"uploads": {""}}, backendHeader(rq.r.Header))
	if err != nil {
		return nil, err
	}
	resp, err := p.do(req, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	drain(resp)
	p.companions.Add(rq.bucket+"\x00"+backend, id)
	return nil, nil
}

// companionUploads lists the companion uploads of backend upload backend
// in the request's bucket: those of key prefix (its record's key when the
// client ID is known: MinIO lists the uploads of one exact key only).
func (p *Proxy) companionUploads(rq *request, backend, prefix string) ([]listedUpload, error) {
	l, err := p.backendUploads(rq, url.Values{"uploads": {""}, "prefix": {prefix}})
	if err != nil {
		return nil, err
	}
	var out []listedUpload
	for _, u := range l.Uploads {
		if b, _, err := parseCompanionKey(u.Key); err == nil && b == backend {
			out = append(out, listedUpload{Key: u.Key, UploadID: u.UploadID})
		}
	}
	return out, nil
}

// clientUploadID is the client ID recorded for backend upload backend, or
// "" when it has none (created before records, directly at the backend,
// or its record cannot be read: the caller answers as for a bare ID).
func (p *Proxy) clientUploadID(rq *request, backend string) string {
	ck := rq.bucket + "\x00" + backend
	if id, ok := p.companions.Get(ck); ok {
		return id
	}
	us, err := p.companionUploads(rq, backend, companionPrefix+backend+"/")
	if err != nil {
		p.cfg.Logger.Warn("proxy: upload record not read", "request_id", rq.id, "err", err)
		return ""
	}
	if len(us) == 0 {
		return ""
	}
	_, id, _ := parseCompanionKey(us[0].Key)
	p.companions.Add(ck, id)
	return id
}

// dropCompanions aborts the companions of backend upload backend, once it
// is completed or aborted. Best effort: a companion left behind only
// lists nothing (its backend upload is gone) and is logged.
func (p *Proxy) dropCompanions(rq *request, u uploadID) {
	// The backend upload is gone whatever the client does now: a client
	// that gave up waiting (and will retry its Complete) must not leave
	// the record behind.
	rq, cancel := rq.detached()
	defer cancel()
	backend := u.backend
	p.companions.Remove(rq.bucket + "\x00" + backend)
	prefix := companionPrefix + backend + "/"
	if u.md != nil {
		if k, ok := companionKey(backend, u.String()); ok {
			prefix = k
		}
	}
	us, err := p.companionUploads(rq, backend, prefix)
	if err == nil {
		for _, u := range us {
			if err = p.abortBackendUpload(rq, u.Key, u.UploadID); err != nil {
				break
			}
		}
	}
	if err != nil {
		p.cfg.Logger.Warn("proxy: upload record not removed", "request_id", rq.id, "upload", backend, "err", err)
	}
}

// cleanupTimeout bounds the backend requests of a cleanup made after the
// client's request has ended or was cancelled (request.detached).
const cleanupTimeout = 30 * time.Second

// detached is rq on a context that the client's going away does not
// cancel, bounded by cleanupTimeout: for cleanup the backend's state
// needs whatever the client does.
func (rq *request) detached() (*request, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(rq.r.Context()), cleanupTimeout)
	return &request{
		p: rq.p, r: rq.r.WithContext(ctx), w: rq.w, id: rq.id, op: rq.op, start: rq.start,
		level: rq.level, bucket: rq.bucket, key: rq.key, query: rq.query,
		auth: rq.auth, anonymous: rq.anonymous,
	}, cancel
}

// abortBackendUpload aborts the backend upload id of key in the request's
// bucket; a missing upload is no error.
func (p *Proxy) abortBackendUpload(rq *request, key, id string) error {
	req, err := p.newUpstream(rq.r.Context(), http.MethodDelete, rq.bucket, key, url.Values{"uploadId": {id}}, backendHeader(rq.r.Header))
	if err != nil {
		return err
	}
	resp, err := p.do(req, nil)
	if err != nil {
		return err
	}
	drain(resp)
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotFound {
		return errors.New("proxy: AbortMultipartUpload: " + resp.Status)
	}
	return nil
}

// withRecord returns u, or for a bare backend ID with a record the client
// ID the record holds, parsed.
func (p *Proxy) withRecord(rq *request, u uploadID) uploadID {
	if u.md != nil {
		return u
	}
	id := p.clientUploadID(rq, u.backend)
	if id == "" {
		return u
	}
	if r, err := parseUploadID(id); err == nil && r.backend == u.backend {
		return r
	}
	return u
}
