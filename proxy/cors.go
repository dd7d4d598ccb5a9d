package proxy

import (
	"net/http"
	"strings"

	"github.com/bucketkey/bucketkey/sigv4"
)

// CORS. Browsers send an unauthenticated OPTIONS preflight before a
// cross-origin request, and read Access-Control-* headers on every
// response. The preflight goes to the backend as S3 receives it: unsigned,
// with only the headers CORS defines, and the backend's answer (its
// bucket's CORS configuration) is relayed. On other responses the
// backend's Access-Control-* and Vary headers pass through as they are
// (copyResponseHeader), and where the backend exposes headers to scripts,
// the proxy's own are exposed too (exposeProxyHeaders).

// preflightHeaders are the request headers of a CORS preflight.
var preflightHeaders = []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}

// handlePreflight serves OPTIONS on a bucket or object: a CORS preflight,
// never authenticated.
func (p *Proxy) handlePreflight() http.Handler {
	return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		rq := requestOf(r)
		rq.op, rq.r = "PreflightCORS", r
		rq.anonymous, rq.w.preflight = true, true
		if err := p.preflight(rq); err != nil {
			rq.fail(err)
		}
	})
}

func (p *Proxy) preflight(rq *request) error {
	h := make(http.Header)
	for _, k := range preflightHeaders {
		if v := rq.r.Header.Values(k); len(v) > 0 {
			h[k] = append([]string(nil), v...)
		}
	}
	req, err := p.newUpstream(sigv4.WithAnonymous(rq.r.Context()), http.MethodOptions, rq.bucket, rq.key, nil, h)
	if err != nil {
		return err
	}
	resp, err := p.do(req, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return rq.relay(resp)
}

// proxyHeaders are the response headers the proxy sets itself (the
// backend's would describe ciphertext, or are not the client's).
var proxyHeaders = []string{
	"x-amz-request-id",
	"x-amz-server-side-encryption",
	"x-amz-server-side-encryption-aws-kms-key-id",
	"x-amz-server-side-encryption-bucket-key-enabled",
	"x-amz-server-side-encryption-context",
}

// exposeProxyHeaders adds the proxy's own headers to the
// Access-Control-Expose-Headers the backend sent, so that a script that
// may read the backend's headers may also read the ones the proxy set in
// their place. Nothing changes when the backend exposes nothing or "*".
// A preflight's answer is not passed here (responseWriter.preflight):
// browsers read exposed headers on the actual response only, and S3's
// preflight answer lists the rule's ExposeHeaders as configured.
func exposeProxyHeaders(h http.Header) {
	vals := h.Values("Access-Control-Expose-Headers")
	if len(vals) == 0 {
		return
	}
	listed := map[string]bool{}
	for _, v := range vals {
		for tok := range strings.SplitSeq(v, ",") {
			listed[strings.ToLower(strings.TrimSpace(tok))] = true
		}
	}
	if listed["*"] {
		return
	}
	var add []string
	for _, k := range proxyHeaders {
		if !listed[k] && h.Get(k) != "" {
			add = append(add, k)
		}
	}
	if len(add) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(vals, ", ")+", "+strings.Join(add, ", "))
	}
}
