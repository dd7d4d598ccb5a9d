package admin

import (
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/bucketkey/bucketkey/keycache"
)

// Metrics is bucketkey's Prometheus registry. The KMS accounting is read from
// keycache's Stats at scrape time (a Collector), so the metrics and /stats
// are two views of one set of counters; request metrics come from the proxy
// through ObserveRequest and KMS latencies from keycache's OnKMSRequest hook
// through ObserveKMS.
//
// Labels are bounded: S3 operation names (at most maxOperations distinct,
// then "other"), HTTP status codes, KMS operations and outcomes. Bucket and
// object names never become labels; per-bucket numbers are in /stats.
type Metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	bytesIn       *prometheus.CounterVec
	bytesOut      *prometheus.CounterVec
	kmsDuration   *prometheus.HistogramVec
	refused       *prometheus.CounterVec
	ops           *opsMetrics
	mu            sync.Mutex
	operations    map[string]bool
	maxOperations int
}

const defaultMaxOperations = 64

// operationName is what a well-behaved caller passes as an operation: an S3
// or KMS operation name.
var operationName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,63}$`)

// NewMetrics builds the registry. stats is the accounting snapshot (normally
// keycache.Cache.Stats); bucketKeys is false when running the baseline;
// pricePer10k prices the requests in dollars.
func NewMetrics(stats func() keycache.Stats, bucketKeys bool, pricePer10k float64) *Metrics {
	m := &Metrics{
		reg:           prometheus.NewRegistry(),
		operations:    make(map[string]bool),
		maxOperations: defaultMaxOperations,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bucketkey_requests_total",
			Help: "Client requests handled, by S3 operation and HTTP status.",
		}, []string{"operation", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bucketkey_request_duration_seconds",
			Help:    "Time to handle a client request, by S3 operation and HTTP status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"operation", "status"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bucketkey_bytes_in_total",
			Help: "Plaintext body bytes received from clients, by S3 operation.",
		}, []string{"operation"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bucketkey_bytes_out_total",
			Help: "Plaintext body bytes sent to clients, by S3 operation.",
		}, []string{"operation"}),
		kmsDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bucketkey_kms_request_duration_seconds",
			Help:    "Latency of real KMS requests, by operation and outcome.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation", "outcome"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bucketkey_refused_objects_total",
			Help: "Reads or writes refused because the seal does not vouch for the object, by reason (no_envelope, kms_key_not_accepted).",
		}, []string{"reason"}),
	}
	m.reg.MustRegister(
		m.requests, m.duration, m.bytesIn, m.bytesOut, m.kmsDuration, m.refused,
		&statsCollector{stats: stats, bucketKeys: bucketKeys, price: pricePer10k},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.ops = newOpsMetrics(m.reg, stats)
	return m
}

// Registry is the registry /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveRequest implements proxy.Observer.
func (m *Metrics) ObserveRequest(operation string, status int, bytesIn, bytesOut int64, d time.Duration) {
	op := m.operation(operation)
	st := statusLabel(status)
	m.requests.WithLabelValues(op, st).Inc()
	m.duration.WithLabelValues(op, st).Observe(d.Seconds())
	if bytesIn > 0 {
		m.bytesIn.WithLabelValues(op).Add(float64(bytesIn))
	}
	if bytesOut > 0 {
		m.bytesOut.WithLabelValues(op).Add(float64(bytesOut))
	}
}

// ObserveKMS records one real KMS request's latency; it has the signature of
// keycache's Options.OnKMSRequest hook.
func (m *Metrics) ObserveKMS(operation, outcome string, d time.Duration) {
	if !operationName.MatchString(operation) {
		operation = "other"
	}
	if !operationName.MatchString(outcome) {
		outcome = "other"
	}
	m.kmsDuration.WithLabelValues(operation, outcome).Observe(d.Seconds())
}

// reasonName is what a refusal reason looks like (proxy.Refused*).
var reasonName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// ObserveRefusal implements proxy.RefusalObserver: one refused object
// (an object without an envelope outside a mixed bucket, a KMS key not
// accepted), by reason.
func (m *Metrics) ObserveRefusal(reason string) {
	if !reasonName.MatchString(reason) {
		reason = "other"
	}
	m.refused.WithLabelValues(reason).Inc()
}

// operation bounds the operation label: a name that does not look like an
// operation, or one past the first maxOperations seen, is "other".
func (m *Metrics) operation(op string) string {
	if !operationName.MatchString(op) {
		return "other"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.operations[op] {
		return op
	}
	if len(m.operations) >= m.maxOperations {
		return "other"
	}
	m.operations[op] = true
	return op
}

func statusLabel(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code)
}

// statsCollector exposes keycache's accounting at scrape time.
type statsCollector struct {
	stats      func() keycache.Stats
	bucketKeys bool
	price      float64 // dollars per 10,000 KMS requests
}

var (
	descKMSRequests = prometheus.NewDesc("bucketkey_kms_requests_total",
		"Real KMS requests, by operation and outcome.", []string{"operation", "outcome"}, nil)
	descKMSBaseline = prometheus.NewDesc("bucketkey_kms_requests_baseline_total",
		"KMS requests one call per object (no bucket keys) would have made, by operation.", []string{"operation"}, nil)
	descEncrypted = prometheus.NewDesc("bucketkey_objects_encrypted_total",
		"Objects (and multipart uploads) encrypted.", nil, nil)
	descDecrypted = prometheus.NewDesc("bucketkey_objects_decrypted_total",
		"Objects read with decryption.", nil, nil)
	descBucketKeys = prometheus.NewDesc("bucketkey_bucket_keys_cached",
		"Bucket keys held in the cache now.", nil, nil)
	descUnwrapped = prometheus.NewDesc("bucketkey_unwrapped_keys_cached",
		"Unwrapped bucket keys held in the read cache now.", nil, nil)
	descCost = prometheus.NewDesc("bucketkey_kms_cost_dollars",
		"Dollars spent on real KMS requests since start, at the configured price.", nil, nil)
	descCostBaseline = prometheus.NewDesc("bucketkey_kms_cost_baseline_dollars",
		"Dollars one KMS call per object would have cost since start, at the configured price.", nil, nil)
	descRatio = prometheus.NewDesc("bucketkey_kms_requests_saved_ratio",
		"Share of the baseline's KMS requests avoided (saved / baseline).", nil, nil)
	descEnabled = prometheus.NewDesc("bucketkey_bucket_keys_enabled",
		"1 when bucket keys are on, 0 when running the one-call-per-object baseline.", nil, nil)
	descPrice = prometheus.NewDesc("bucketkey_kms_price_per_10k_dollars",
		"The configured KMS price per 10,000 requests.", nil, nil)
)

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descKMSRequests, descKMSBaseline, descEncrypted, descDecrypted,
		descBucketKeys, descUnwrapped, descCost, descCostBaseline, descRatio, descEnabled, descPrice} {
		ch <- d
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	t := s.Total
	for op, outcomes := range t.Requests {
		for outcome, n := range outcomes {
			ch <- prometheus.MustNewConstMetric(descKMSRequests, prometheus.CounterValue, float64(n), op, outcome)
		}
	}
	// Both operations are always present, so rate() works from the start.
	for _, op := range []string{keycache.OpGenerateDataKey, keycache.OpDecrypt} {
		if _, ok := t.Requests[op]; !ok {
			ch <- prometheus.MustNewConstMetric(descKMSRequests, prometheus.CounterValue, 0, op, keycache.OutcomeOK)
		}
		ch <- prometheus.MustNewConstMetric(descKMSBaseline, prometheus.CounterValue, float64(t.Baseline[op]), op)
	}
	for op, n := range t.Baseline {
		if op != keycache.OpGenerateDataKey && op != keycache.OpDecrypt {
			ch <- prometheus.MustNewConstMetric(descKMSBaseline, prometheus.CounterValue, float64(n), op)
		}
	}
	enabled := 0.0
	if c.bucketKeys {
		enabled = 1
	}
	ch <- prometheus.MustNewConstMetric(descEncrypted, prometheus.CounterValue, float64(t.ObjectsEncrypted))
	ch <- prometheus.MustNewConstMetric(descDecrypted, prometheus.CounterValue, float64(t.ObjectsDecrypted))
	ch <- prometheus.MustNewConstMetric(descBucketKeys, prometheus.GaugeValue, float64(s.CachedBucketKeys))
	ch <- prometheus.MustNewConstMetric(descUnwrapped, prometheus.GaugeValue, float64(s.CachedUnwrapped))
	ch <- prometheus.MustNewConstMetric(descCost, prometheus.GaugeValue, Cost(t.Actual, c.price))
	ch <- prometheus.MustNewConstMetric(descCostBaseline, prometheus.GaugeValue, Cost(t.BaselineTotal, c.price))
	ch <- prometheus.MustNewConstMetric(descRatio, prometheus.GaugeValue, t.Ratio)
	ch <- prometheus.MustNewConstMetric(descEnabled, prometheus.GaugeValue, enabled)
	ch <- prometheus.MustNewConstMetric(descPrice, prometheus.GaugeValue, c.price)
}
