package admin

import (
	"sort"
	"time"

	"github.com/bucketkey/bucketkey/keycache"
)

// StatsDoc is the /stats document. `bucketkey report` decodes it, so its
// JSON names are an interface: add fields, do not rename them.
type StatsDoc struct {
	Since         time.Time `json:"since"`          // start of the accounting (process start)
	Now           time.Time `json:"now"`            // when the snapshot was taken
	UptimeSeconds float64   `json:"uptime_seconds"` // Now - Since
	BucketKeys    bool      `json:"bucket_keys"`    // false with --no-bucket-key: the baseline runs
	PricePer10k   float64   `json:"price_per_10k"`  // dollars per 10,000 KMS requests
	// CachedBucketKeys and CachedUnwrappedKeys are the cache sizes now.
	CachedBucketKeys    int                   `json:"cached_bucket_keys"`
	CachedUnwrappedKeys int                   `json:"cached_unwrapped_keys"`
	Total               SavingsDoc            `json:"total"`
	Buckets             map[string]SavingsDoc `json:"buckets"`
}

// SavingsDoc is the accounting of one bucket, or of all.
type SavingsDoc struct {
	// KMSRequests are the real KMS requests by operation and outcome.
	KMSRequests map[string]map[string]int64 `json:"kms_requests"`
	// KMSRequestsTotal is their sum over every outcome.
	KMSRequestsTotal int64 `json:"kms_requests_total"`
	// BaselineRequests are what one KMS call per object would have made.
	BaselineRequests      map[string]int64 `json:"baseline_requests"`
	BaselineRequestsTotal int64            `json:"baseline_requests_total"`
	SavedRequests         int64            `json:"saved_requests"` // baseline - real (negative if the cache cost more)
	SavedRatio            float64          `json:"saved_ratio"`    // saved / baseline, 0 when there is no baseline
	CostDollars           float64          `json:"cost_dollars"`   // real requests at the price
	BaselineCostDollars   float64          `json:"baseline_cost_dollars"`
	SavedDollars          float64          `json:"saved_dollars"`
	ObjectsEncrypted      int64            `json:"objects_encrypted"`
	ObjectsDecrypted      int64            `json:"objects_decrypted"`
}

// NewStatsDoc renders a keycache snapshot as the /stats document. The
// numbers are keycache's: this only renames them, so /stats, /metrics, the
// report and the shutdown line cannot disagree.
func NewStatsDoc(s keycache.Stats, bucketKeys bool, pricePer10k float64, now time.Time) StatsDoc {
	d := StatsDoc{
		Since:               s.Since,
		Now:                 now,
		BucketKeys:          bucketKeys,
		PricePer10k:         pricePer10k,
		CachedBucketKeys:    s.CachedBucketKeys,
		CachedUnwrappedKeys: s.CachedUnwrapped,
		Total:               newSavingsDoc(s.Total, pricePer10k),
		Buckets:             make(map[string]SavingsDoc, len(s.Buckets)),
	}
	if !s.Since.IsZero() && now.After(s.Since) {
		d.UptimeSeconds = now.Sub(s.Since).Seconds()
	}
	for b, sv := range s.Buckets {
		d.Buckets[b] = newSavingsDoc(sv, pricePer10k)
	}
	return d
}

func newSavingsDoc(s keycache.Savings, price float64) SavingsDoc {
	d := SavingsDoc{
		KMSRequests:           make(map[string]map[string]int64, len(s.Requests)),
		KMSRequestsTotal:      s.Actual,
		BaselineRequests:      make(map[string]int64, len(s.Baseline)),
		BaselineRequestsTotal: s.BaselineTotal,
		SavedRequests:         s.Saved,
		SavedRatio:            s.Ratio,
		CostDollars:           Cost(s.Actual, price),
		BaselineCostDollars:   Cost(s.BaselineTotal, price),
		SavedDollars:          Cost(s.BaselineTotal, price) - Cost(s.Actual, price),
		ObjectsEncrypted:      s.ObjectsEncrypted,
		ObjectsDecrypted:      s.ObjectsDecrypted,
	}
	for op, outcomes := range s.Requests {
		m := make(map[string]int64, len(outcomes))
		for o, n := range outcomes {
			m[o] = n
		}
		d.KMSRequests[op] = m
	}
	for op, n := range s.Baseline {
		d.BaselineRequests[op] = n
	}
	return d
}

// Operations lists the KMS operations a document mentions, sorted, so that
// renderers show a stable table.
func (d SavingsDoc) Operations() []string {
	seen := map[string]bool{}
	for op := range d.KMSRequests {
		seen[op] = true
	}
	for op := range d.BaselineRequests {
		seen[op] = true
	}
	ops := make([]string, 0, len(seen))
	for op := range seen {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// Requests sums op's real requests over every outcome.
func (d SavingsDoc) Requests(op string) int64 {
	var n int64
	for _, c := range d.KMSRequests[op] {
		n += c
	}
	return n
}
