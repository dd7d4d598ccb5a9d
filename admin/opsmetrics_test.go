package admin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestBackendMetrics: InstrumentBackend counts backend requests by method
// and status, and a request that got no response as "error".
func TestBackendMetrics(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slowdown":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer backend.Close()
	h, _ := newTestHandler(t)
	c := &http.Client{Transport: h.cfg.Metrics.InstrumentBackend(&http.Transport{})}
	for _, tt := range []struct{ method, path string }{
		{http.MethodPut, "/b/k"}, {http.MethodPut, "/b/k"}, {http.MethodGet, "/slowdown"}, {"PROPFIND", "/b"},
	} {
		req, _ := http.NewRequest(tt.method, backend.URL+tt.path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if _, err := c.Get("http://127.0.0.1:1/unreachable"); err == nil {
		t.Fatal("a request to a closed port succeeded")
	}
	_, body := do(t, h, "/metrics")
	for _, want := range []string{
		`bucketkey_backend_requests_total{method="PUT",status="200"} 2`,
		`bucketkey_backend_requests_total{method="GET",status="503"} 1`,
		`bucketkey_backend_requests_total{method="other",status="200"} 1`,
		`bucketkey_backend_requests_total{method="GET",status="error"} 1`,
		`bucketkey_backend_request_duration_seconds_count{method="PUT"} 2`,
		`bucketkey_kms_waits_total 0`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestReadinessMetrics: each check's last result is a gauge, each change of
// it a count (what a flapping alert needs), and draining is a gauge.
func TestReadinessMetrics(t *testing.T) {
	var fail bool
	h, now := newTestHandler(t, Check{Name: "upstream", Probe: func(context.Context) error {
		if fail {
			return errors.New("down")
		}
		return nil
	}})
	for _, failing := range []bool{false, true, true, false, true} {
		fail = failing
		*now = now.Add(6 * time.Second) // past the 5 s cache
		do(t, h, "/readyz")
	}
	_, body := do(t, h, "/metrics")
	for _, want := range []string{
		`bucketkey_ready{check="upstream"} 0`,
		`bucketkey_readiness_changes_total{check="upstream"} 3`,
		`bucketkey_draining 0`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	h.Drain()
	if _, body := do(t, h, "/metrics"); !strings.Contains(body, "bucketkey_draining 1\n") {
		t.Errorf("after Drain: bucketkey_draining is not 1")
	}
}
