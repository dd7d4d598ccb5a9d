package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/bucketkey/bucketkey/s3err"
	"github.com/bucketkey/bucketkey/sigv4"
)

// Proxy is the S3 proxy handler.
type Proxy struct {
	cfg      Config
	router   *mux.Router
	verifier *sigv4.Verifier
	signer   *sigv4.Signer
	upstream http.RoundTripper
	// replicas[b][a] is true when bucket b may serve objects keyed to a.
	replicas map[string]map[string]bool
	// mixed holds the buckets of Config.MixedBuckets.
	mixed map[string]bool
	// kmsKeys are the KMS keys objects and writes may name.
	kmsKeys *keySet
	// anonymousBuckets holds Config.AnonymousBuckets.
	anonymousBuckets map[string]bool
	// companions caches the client IDs of upload records (uploadrecord.go).
	companions *companionCache
}

// New validates cfg and returns a Proxy.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	transport := cfg.UpstreamTransport
	if transport == nil {
		transport = DefaultTransport()
	}
	p := &Proxy{
		cfg: cfg,
		verifier: &sigv4.Verifier{
			Region:      cfg.Region,
			Credentials: cfg.ClientCredentials,
			Now:         cfg.Now,
		},
		signer: &sigv4.Signer{
			Credentials: cfg.UpstreamCredentials,
			Region:      cfg.UpstreamRegion,
			Mode:        cfg.UpstreamPayload,
			Now:         cfg.Now,
			// One aws-chunked chunk per sealed segment: the sealing
			// reader (sealReader) holds whole segments, and a chunk that
			// matches them is one read of it per segment, where 64 KiB
			// chunks split every segment across two.
			ChunkSize: sealedSegment,
		},
		// The transport itself, not an http.Client: S3 redirects (301/307
		// to another region) are the client's business and pass on as
		// they are, which is all a Client would add besides a copy of
		// every request's headers (kept for redirects) and its wrapping.
		upstream:   transport,
		replicas:   make(map[string]map[string]bool),
		companions: newCompanionCache(),
		mixed:      make(map[string]bool, len(cfg.MixedBuckets)),
		kmsKeys:    newKeySet(append([]string{cfg.KMSKeyID}, cfg.AcceptKMSKeyIDs...)...),
	}
	for _, b := range cfg.MixedBuckets {
		p.mixed[b] = true
	}
	p.anonymousBuckets = make(map[string]bool, len(cfg.AnonymousBuckets))
	for _, b := range cfg.AnonymousBuckets {
		p.anonymousBuckets[b] = true
	}
	for b, srcs := range cfg.Replicas {
		m := make(map[string]bool, len(srcs))
		for _, s := range srcs {
			m[s] = true
		}
		p.replicas[b] = m
	}
	p.router = p.routes()
	return p, nil
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rq := p.begin(w, r)
	defer rq.finish()
	if n := headerSectionSize(r); n > maxHeaderSection {
		// Refused before anything else, as S3 does; a backend may not
		// (versitygw drops the connection).
		rq.fail(s3err.RequestHeaderSectionTooLarge.
			WithExtra("MaxSizeAllowed", strconv.Itoa(maxHeaderSection)).
			Wrap(fmt.Errorf("proxy: %d bytes of request headers", n)))
		return
	}
	addr, err := p.resolve(r)
	if err != nil {
		// Authenticate even a request we cannot route, so that an anonymous
		// caller learns nothing about the proxy but "access denied". Any
		// payload mode passes here: the request is refused either way, with
		// the routing error once the caller proved who it is.
		if _, verr := p.verifier.Verify(r, sigv4.VerifyOptions{AllowStreaming: true}); verr != nil {
			err = verr
		}
		rq.fail(err)
		return
	}
	rq.bucket, rq.key, rq.level = addr.bucket, addr.key, addr.level
	if e := refuseUnrouted(r, addr.level); e != nil {
		rq.fail(e)
		return
	}
	routed := r.WithContext(context.WithValue(r.Context(), requestKey{}, rq))
	if r.Body != nil && r.Body != http.NoBody && p.cfg.BodyIdleTimeout > 0 {
		// On the copy only: the server looks at its own request's Body
		// (an *http.body) to learn whether the handler closed it before
		// its end, and must then not reuse the connection, whose unread
		// body bytes it would take for the next request.
		routed.Body = &idleBody{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: p.cfg.BodyIdleTimeout}
	}
	p.router.ServeHTTP(rq.w, routed)
}

// CheckUpstream makes one cheap signed request to the backend (ListBuckets)
// and reports whether it answered, for readiness probes.
func (p *Proxy) CheckUpstream(ctx context.Context) error {
	req, err := p.newUpstream(ctx, http.MethodGet, "", "", nil, make(http.Header))
	if err != nil {
		return err
	}
	resp, err := p.do(req, nil)
	if err != nil {
		return fmt.Errorf("proxy: upstream check: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("proxy: upstream check: ListBuckets answered %s", resp.Status)
	}
	return nil
}
