package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bucketkey/bucketkey/keycache"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// sampleStats is a keycache snapshot as a proxy would report it after 10,000
// writes and 5,000 reads over two buckets at $0.03 per 10k: 3 GenerateDataKey
// (one throttled) and 2 Decrypt.
func sampleStats() keycache.Stats {
	a := keycache.Savings{Counts: keycache.Counts{
		Requests:         map[string]map[string]int64{"GenerateDataKey": {"ok": 1, "throttled": 1}, "Decrypt": {"ok": 1}},
		Baseline:         map[string]int64{"GenerateDataKey": 6000, "Decrypt": 1000},
		ObjectsEncrypted: 6000, ObjectsDecrypted: 1000,
	}}
	b := keycache.Savings{Counts: keycache.Counts{
		Requests:         map[string]map[string]int64{"GenerateDataKey": {"ok": 1}, "Decrypt": {"ok": 1}},
		Baseline:         map[string]int64{"GenerateDataKey": 4000, "Decrypt": 4000},
		ObjectsEncrypted: 4000, ObjectsDecrypted: 4000,
	}}
	total := keycache.Savings{Counts: keycache.Counts{
		Requests:         map[string]map[string]int64{"GenerateDataKey": {"ok": 2, "throttled": 1}, "Decrypt": {"ok": 2}},
		Baseline:         map[string]int64{"GenerateDataKey": 10000, "Decrypt": 5000},
		ObjectsEncrypted: 10000, ObjectsDecrypted: 5000,
	}}
	for _, s := range []*keycache.Savings{&a, &b, &total} {
		for _, m := range s.Requests {
			for _, n := range m {
				s.Actual += n
			}
		}
		for _, n := range s.Baseline {
			s.BaselineTotal += n
		}
		s.Saved = s.BaselineTotal - s.Actual
		s.Ratio = float64(s.Saved) / float64(s.BaselineTotal)
	}
	return keycache.Stats{
		Since: t0, Total: total,
		Buckets:          map[string]keycache.Savings{"photos": a, "logs": b},
		CachedBucketKeys: 2, CachedUnwrapped: 2,
	}
}

func newTestHandler(t *testing.T, checks ...Check) (*Handler, *time.Time) {
	t.Helper()
	now := t0.Add(90 * time.Second)
	h := New(Config{
		Stats:      sampleStats,
		BucketKeys: true,
		Checks:     checks,
		Now:        func() time.Time { return now },
		Logger:     slog.New(slog.DiscardHandler),
	})
	return h, &now
}

func do(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestStatsJSON(t *testing.T) {
	h, _ := newTestHandler(t)
	resp, body := do(t, h, "/stats")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var d StatsDoc
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"uptime", d.UptimeSeconds, 90.0},
		{"bucket keys", d.BucketKeys, true},
		{"price", d.PricePer10k, 0.03},
		{"cached", d.CachedBucketKeys, 2},
		{"total made", d.Total.KMSRequestsTotal, int64(5)},
		{"total baseline", d.Total.BaselineRequestsTotal, int64(15000)},
		{"total saved", d.Total.SavedRequests, int64(14995)},
		{"throttled", d.Total.KMSRequests["GenerateDataKey"]["throttled"], int64(1)},
		{"baseline decrypt", d.Total.BaselineRequests["Decrypt"], int64(5000)},
		{"encrypted", d.Total.ObjectsEncrypted, int64(10000)},
		{"photos made", d.Buckets["photos"].KMSRequestsTotal, int64(3)},
		{"logs baseline", d.Buckets["logs"].BaselineRequestsTotal, int64(8000)},
		{"generate requests", d.Total.Requests("GenerateDataKey"), int64(3)},
		{"operations", strings.Join(d.Total.Operations(), ","), "Decrypt,GenerateDataKey"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if !near(d.Total.SavedRatio, 14995.0/15000) || !near(d.Total.CostDollars, 5*0.03/10000) ||
		!near(d.Total.BaselineCostDollars, 0.045) || !near(d.Total.SavedDollars, 0.045-5*0.03/10000) {
		t.Errorf("ratio/cost = %v %v %v %v", d.Total.SavedRatio, d.Total.CostDollars, d.Total.BaselineCostDollars, d.Total.SavedDollars)
	}
}

func near(a, b float64) bool { d := a - b; return d < 1e-12 && d > -1e-12 }

func TestMetricsExposition(t *testing.T) {
	h, _ := newTestHandler(t)
	m := h.cfg.Metrics
	m.ObserveRequest("PutObject", 200, 1000, 0, 3*time.Millisecond)
	m.ObserveRequest("PutObject", 200, 24, 0, time.Millisecond)
	m.ObserveRequest("GetObject", 206, 0, 512, time.Millisecond)
	m.ObserveRequest("GetObject", 404, 0, 0, time.Millisecond)
	m.ObserveKMS("GenerateDataKey", "ok", 12*time.Millisecond)
	m.ObserveRefusal("no_envelope")
	m.ObserveRefusal("no_envelope")
	resp, body := do(t, h, "/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	want := []string{
		`bucketkey_kms_requests_total{operation="GenerateDataKey",outcome="ok"} 2`,
		`bucketkey_kms_requests_total{operation="GenerateDataKey",outcome="throttled"} 1`,
		`bucketkey_kms_requests_total{operation="Decrypt",outcome="ok"} 2`,
		`bucketkey_kms_requests_baseline_total{operation="GenerateDataKey"} 10000`,
		`bucketkey_kms_requests_baseline_total{operation="Decrypt"} 5000`,
		`bucketkey_objects_encrypted_total 10000`,
		`bucketkey_objects_decrypted_total 5000`,
		`bucketkey_bucket_keys_cached 2`,
		`bucketkey_kms_cost_baseline_dollars 0.045`,
		`bucketkey_bucket_keys_enabled 1`,
		`bucketkey_requests_total{operation="PutObject",status="200"} 2`,
		`bucketkey_requests_total{operation="GetObject",status="404"} 1`,
		`bucketkey_request_duration_seconds_count{operation="GetObject",status="206"} 1`,
		`bucketkey_bytes_in_total{operation="PutObject"} 1024`,
		`bucketkey_bytes_out_total{operation="GetObject"} 512`,
		`bucketkey_kms_request_duration_seconds_count{operation="GenerateDataKey",outcome="ok"} 1`,
		`bucketkey_refused_objects_total{reason="no_envelope"} 2`,
	}
	for _, w := range want {
		if !strings.Contains(body, w+"\n") {
			t.Errorf("/metrics lacks %q", w)
		}
	}
	if m := regexp.MustCompile(`\nbucketkey_kms_cost_dollars (\S+)\n`).FindStringSubmatch(body); m == nil {
		t.Errorf("/metrics lacks bucketkey_kms_cost_dollars")
	} else if v, err := strconv.ParseFloat(m[1], 64); err != nil || !near(v, 1.5e-05) {
		t.Errorf("bucketkey_kms_cost_dollars = %s, want 1.5e-05", m[1])
	}
	for _, bucket := range []string{"photos", "logs"} {
		if strings.Contains(body, bucket) {
			t.Errorf("/metrics names bucket %q: per-bucket detail belongs in /stats", bucket)
		}
	}
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "bucketkey_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

func TestMetricsBaselineZeroBeforeTraffic(t *testing.T) {
	m := NewMetrics(func() keycache.Stats { return keycache.Stats{} }, false, DefaultPricePer10k)
	n, err := testutil.GatherAndCount(m.Registry(), "bucketkey_kms_requests_total", "bucketkey_kms_requests_baseline_total")
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 { // both operations, made and baseline, exist at 0 so rate() works at once
		t.Errorf("%d series before any traffic, want 4", n)
	}
}

func TestMetricsLabelsBounded(t *testing.T) {
	m := NewMetrics(func() keycache.Stats { return keycache.Stats{} }, true, DefaultPricePer10k)
	m.maxOperations = 3
	for _, op := range []string{"PutObject", "GetObject", "HeadObject", "ListParts", "bucket/key", ""} {
		m.ObserveRequest(op, 200, 0, 0, time.Millisecond)
	}
	m.ObserveRequest("PutObject", 999, 0, 0, time.Millisecond)
	m.ObserveKMS("weird op", "ok", time.Millisecond)
	m.ObserveRefusal("photos/secret.txt")
	if got := testutil.ToFloat64(m.refused.WithLabelValues("other")); got != 1 {
		t.Errorf("refusal with a path for a reason: other = %v, want 1", got)
	}
	tests := []struct {
		labels []string
		want   float64
	}{
		{[]string{"PutObject", "200"}, 1},
		{[]string{"HeadObject", "200"}, 1},
		{[]string{"other", "200"}, 3}, // ListParts past the cap, a path, an empty name
		{[]string{"PutObject", "other"}, 1},
	}
	for _, tt := range tests {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(tt.labels...)); got != tt.want {
			t.Errorf("requests%v = %v, want %v", tt.labels, got, tt.want)
		}
	}
	if n := testutil.CollectAndCount(m.requests); n != 5 { // PutObject, GetObject, HeadObject, other; PutObject/other
		t.Errorf("%d request series, want 5", n)
	}
	if n := testutil.CollectAndCount(m.kmsDuration); n != 1 {
		t.Errorf("%d KMS latency series, want 1 (other/ok)", n)
	}
}

func TestHealthz(t *testing.T) {
	h, _ := newTestHandler(t, Check{Name: "upstream", Probe: func(context.Context) error { return errors.New("down") }})
	resp, body := do(t, h, "/healthz")
	if resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok even while not ready", resp.StatusCode, body)
	}
}

func TestReadyzCachesProbes(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	kmsErr := error(nil)
	probe := func(name string) func(context.Context) error {
		return func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				t.Errorf("probe %s without a deadline", name)
			}
			mu.Lock()
			defer mu.Unlock()
			calls[name]++
			if name == "kms" {
				return kmsErr
			}
			return nil
		}
	}
	h, now := newTestHandler(t, Check{Name: "upstream", Probe: probe("upstream")}, Check{Name: "kms", Probe: probe("kms")})

	resp, body := do(t, h, "/readyz")
	if resp.StatusCode != 200 || body != "upstream: ok\nkms: ok\n" {
		t.Fatalf("/readyz = %d %q", resp.StatusCode, body)
	}
	mu.Lock()
	kmsErr = errors.New("kms unreachable")
	mu.Unlock()
	*now = now.Add(4 * time.Second) // within the 5 s TTL: cached
	if resp, _ := do(t, h, "/readyz"); resp.StatusCode != 200 {
		t.Errorf("within the TTL: status %d, want the cached 200", resp.StatusCode)
	}
	if calls["upstream"] != 1 || calls["kms"] != 1 {
		t.Errorf("probes ran %v within the TTL, want once each", calls)
	}
	*now = now.Add(2 * time.Second)
	resp, body = do(t, h, "/readyz")
	if resp.StatusCode != 503 || body != "upstream: ok\nkms: kms unreachable\n" {
		t.Errorf("after the TTL: %d %q, want 503 naming kms", resp.StatusCode, body)
	}
	if calls["kms"] != 2 {
		t.Errorf("kms probed %d times, want 2", calls["kms"])
	}
}

func TestPageIsSelfContained(t *testing.T) {
	h, _ := newTestHandler(t)
	resp, body := do(t, h, "/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/ = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"<svg", "fetch(\"stats\"", "<script>"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// No external assets: no src/href attributes and no absolute URLs.
	if m := regexp.MustCompile(`(?i)(\ssrc=|\shref=|https?://|//[a-z0-9.-]+\.[a-z]{2,})`).FindString(body); m != "" {
		t.Errorf("page references an external asset: %q", m)
	}
	if resp, _ := do(t, h, "/nope"); resp.StatusCode != 404 {
		t.Errorf("/nope = %d, want 404", resp.StatusCode)
	}
}

func TestReadyzDraining(t *testing.T) {
	h, _ := newTestHandler(t, Check{Name: "upstream", Probe: func(context.Context) error { return nil }})
	if resp, _ := do(t, h, "/readyz"); resp.StatusCode != 200 {
		t.Fatalf("before Drain: %d", resp.StatusCode)
	}
	h.Drain()
	if resp, body := do(t, h, "/readyz"); resp.StatusCode != 503 || body != "shutting down\n" {
		t.Errorf("after Drain: %d %q, want 503 shutting down", resp.StatusCode, body)
	}
	if resp, _ := do(t, h, "/healthz"); resp.StatusCode != 200 {
		t.Errorf("/healthz after Drain: %d, want 200", resp.StatusCode)
	}
}
