package bench

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// KMSDelta is what a run cost in KMS requests at a bucketkey proxy, read
// from its /metrics before and after: real requests, and the requests one
// KMS call per object would have made.
type KMSDelta struct {
	Requests float64 `json:"requests"`
	Baseline float64 `json:"baseline"`
	Saved    float64 `json:"saved"`
	// SavedRatio is Saved/Baseline (0.999 = 99.9% fewer requests).
	SavedRatio float64 `json:"saved_ratio"`
}

// The metric names bucketkey's admin listener exports (see README).
const (
	metricKMSRequests = "bucketkey_kms_requests_total"
	metricKMSBaseline = "bucketkey_kms_requests_baseline_total"
)

type adminStats struct {
	requests, baseline float64
}

// fetchStats reads the KMS counters from adminURL/metrics.
func fetchStats(ctx context.Context, adminURL string) (*adminStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(adminURL, "/")+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("bench: admin URL: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: reading %s: %w", req.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: %s: status %d", req.URL, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("bench: parsing %s: %w", req.URL, err)
	}
	s := &adminStats{requests: sum(families[metricKMSRequests]), baseline: sum(families[metricKMSBaseline])}
	if families[metricKMSRequests] == nil || families[metricKMSBaseline] == nil {
		return nil, fmt.Errorf("bench: %s has no %s/%s: not a bucketkey admin listener?", req.URL, metricKMSRequests, metricKMSBaseline)
	}
	return s, nil
}

func sum(f *dto.MetricFamily) float64 {
	if f == nil {
		return 0
	}
	var t float64
	for _, m := range f.GetMetric() {
		switch {
		case m.GetCounter() != nil:
			t += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			t += m.GetGauge().GetValue()
		case m.GetUntyped() != nil:
			t += m.GetUntyped().GetValue()
		}
	}
	return t
}

func diffStats(before, after *adminStats) *KMSDelta {
	d := &KMSDelta{Requests: after.requests - before.requests, Baseline: after.baseline - before.baseline}
	d.Saved = d.Baseline - d.Requests
	if d.Baseline > 0 {
		d.SavedRatio = d.Saved / d.Baseline
	}
	return d
}
