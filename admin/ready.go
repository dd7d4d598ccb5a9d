package admin

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Check is one readiness probe.
type Check struct {
	Name  string                          // "upstream", "kms"
	Probe func(ctx context.Context) error // nil error: reachable
}

// readiness runs the checks at most once per ttl and serves the cached
// result: orchestrators probe often, and each probe may be a request to S3
// or KMS.
type readiness struct {
	checks  []Check
	ttl     time.Duration
	timeout time.Duration
	now     func() time.Time
	log     *slog.Logger
	// observe, if set, is told each check's result and whether it changed.
	observe func(check string, ok, changed bool)

	draining atomic.Bool // set on shutdown: not ready, whatever the checks say

	mu      sync.Mutex // held while probing, so concurrent probes wait for one run
	at      time.Time
	results []error
	failing map[string]bool // checks failing at the last run, to log changes only
}

func newReadiness(checks []Check, ttl, timeout time.Duration, now func() time.Time, log *slog.Logger) *readiness {
	return &readiness{checks: checks, ttl: ttl, timeout: timeout, now: now, log: log, failing: map[string]bool{}}
}

// run returns the checks' results, probing if the cached ones are stale.
func (r *readiness) run(ctx context.Context) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.results != nil && r.now().Sub(r.at) < r.ttl {
		return r.results
	}
	results := make([]error, len(r.checks))
	var wg sync.WaitGroup
	for i, c := range r.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
			defer cancel()
			results[i] = c.Probe(cctx)
		}()
	}
	wg.Wait()
	for i, c := range r.checks {
		switch failed := results[i] != nil; {
		case failed && !r.failing[c.Name]:
			r.log.Warn("not ready", "check", c.Name, "err", results[i])
		case !failed && r.failing[c.Name]:
			r.log.Info("ready again", "check", c.Name)
		}
		if r.observe != nil {
			r.observe(c.Name, results[i] == nil, (results[i] != nil) != r.failing[c.Name])
		}
		r.failing[c.Name] = results[i] != nil
	}
	r.results, r.at = results, r.now()
	return results
}

func (r *readiness) serve(w http.ResponseWriter, req *http.Request) {
	if r.draining.Load() {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("shutting down\n"))
		return
	}
	results := r.run(req.Context())
	var b strings.Builder
	status := http.StatusOK
	for i, c := range r.checks {
		if results[i] != nil {
			status = http.StatusServiceUnavailable
			fmt.Fprintf(&b, "%s: %v\n", c.Name, results[i])
		} else {
			fmt.Fprintf(&b, "%s: ok\n", c.Name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}
