package admin

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bucketkey/bucketkey/keycache"
)

// opsMetrics are what an operator's dashboard and alerts need beyond the
// savings: the backend's answers, readiness and its changes, and the
// requests that had to wait for KMS.
type opsMetrics struct {
	backend         *prometheus.CounterVec
	backendDuration *prometheus.HistogramVec
	ready           *prometheus.GaugeVec
	readyChanges    *prometheus.CounterVec
	draining        prometheus.Gauge
}

func newOpsMetrics(reg *prometheus.Registry, stats func() keycache.Stats) *opsMetrics {
	o := &opsMetrics{
		backend: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bucketkey_backend_requests_total",
			Help: "Requests the proxy sent to the S3 backend, by HTTP method and status (\"error\": no response).",
		}, []string{"method", "status"}),
		backendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bucketkey_backend_request_duration_seconds",
			Help:    "Time to the backend's response headers, by HTTP method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bucketkey_ready",
			Help: "1 when the readiness check passed at its last run (on /readyz), 0 when it failed.",
		}, []string{"check"}),
		readyChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bucketkey_readiness_changes_total",
			Help: "Times a readiness check went from passing to failing or back.",
		}, []string{"check"}),
		draining: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bucketkey_draining",
			Help: "1 once shutdown has begun (/readyz answers 503), else 0.",
		}),
	}
	waits := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "bucketkey_kms_waits_total",
		Help: "Requests that waited for a KMS call because the key they needed was not cached: the cache misses clients felt.",
	}, func() float64 { return float64(stats().Waited) })
	reg.MustRegister(o.backend, o.backendDuration, o.ready, o.readyChanges, o.draining, waits)
	return o
}

// checkDeclared makes a check's change counter exist at 0 from the start,
// so that increase() and alerts on it work before its first change.
func (o *opsMetrics) checkDeclared(check string) { o.readyChanges.WithLabelValues(check) }

// observeReady records one readiness check's result; changed is true when
// it differs from the previous run's.
func (o *opsMetrics) observeReady(check string, ok, changed bool) {
	v := 0.0
	if ok {
		v = 1
	}
	o.ready.WithLabelValues(check).Set(v)
	if changed {
		o.readyChanges.WithLabelValues(check).Inc()
	}
}

// InstrumentBackend wraps the proxy's backend transport so that every
// backend request is counted by method and status
// (bucketkey_backend_requests_total) and timed to its response headers.
func (m *Metrics) InstrumentBackend(rt http.RoundTripper) http.RoundTripper {
	return &backendCounter{rt: rt, o: m.ops}
}

type backendCounter struct {
	rt http.RoundTripper
	o  *opsMetrics
}

func (b *backendCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := b.rt.RoundTrip(r)
	method := r.Method
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete:
	default:
		method = "other"
	}
	status := "error"
	if err == nil {
		status = statusLabel(resp.StatusCode)
	}
	b.o.backend.WithLabelValues(method, status).Inc()
	b.o.backendDuration.WithLabelValues(method).Observe(time.Since(start).Seconds())
	return resp, err
}

// CloseIdleConnections passes through, so that callers closing the
// transport's idle connections still reach it.
func (b *backendCounter) CloseIdleConnections() {
	if c, ok := b.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
