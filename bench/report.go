package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Comparison holds the ratios of a run (A) to a baseline run (B) of the
// same workload: above 1 means A is faster (or, for latency, slower).
type Comparison struct {
	A        *Result       `json:"-"`
	B        *Result       `json:"-"`
	OpsRatio float64       `json:"ops_ratio"`    // A.OpsPerSec / B.OpsPerSec
	MBRatio  float64       `json:"mb_ratio"`     // A.MBPerSec / B.MBPerSec
	P50Added time.Duration `json:"p50_added_ns"` // A.P50 - B.P50
	P99Added time.Duration `json:"p99_added_ns"` // A.P99 - B.P99
	// KMSPerOpRatio is A's KMS requests per operation over B's, when both
	// runs read a bucketkey admin listener and B made KMS requests
	// (0.001 = 99.9% fewer).
	KMSPerOpRatio float64 `json:"kms_per_op_ratio,omitempty"`
}

// Compare returns a against baseline b.
func Compare(a, b *Result) Comparison {
	c := Comparison{A: a, B: b, P50Added: a.Latency.P50 - b.Latency.P50, P99Added: a.Latency.P99 - b.Latency.P99}
	if b.OpsPerSec > 0 {
		c.OpsRatio = a.OpsPerSec / b.OpsPerSec
	}
	if b.MBPerSec > 0 {
		c.MBRatio = a.MBPerSec / b.MBPerSec
	}
	if a.KMS != nil && b.KMS != nil && a.Ops > 0 && b.Ops > 0 && b.KMS.Requests > 0 {
		c.KMSPerOpRatio = (a.KMS.Requests / float64(a.Ops)) / (b.KMS.Requests / float64(b.Ops))
	}
	return c
}

// Print writes results as a table, one row per run.
func Print(w io.Writer, results ...*Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "endpoint\top\tsize\tconc\tops\terrors\tops/s\tMB/s\tp50\tp90\tp99\tKMS calls\twithout bucket keys\tsaved")
	for _, r := range results {
		kms, base, saved := "-", "-", "-"
		if r.KMS != nil {
			kms = fmt.Sprintf("%.0f", r.KMS.Requests)
			base = fmt.Sprintf("%.0f", r.KMS.Baseline)
			saved = fmt.Sprintf("%.2f%%", r.KMS.SavedRatio*100)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Endpoint, r.Op, r.Size, r.Concurrency, r.Ops, r.Errors, r.OpsPerSec, r.MBPerSec,
			round(r.Latency.P50), round(r.Latency.P90), round(r.Latency.P99), kms, base, saved)
	}
	tw.Flush()
	for _, r := range results {
		if r.FirstError != "" {
			fmt.Fprintf(w, "%s: first error: %s\n", r.Endpoint, r.FirstError)
		}
	}
}

// PrintComparison writes the ratios of c.
func PrintComparison(w io.Writer, c Comparison) {
	fmt.Fprintf(w, "%s vs %s: ops/s x%.3f, MB/s x%.3f, p50 %+v, p99 %+v",
		c.A.Endpoint, c.B.Endpoint, c.OpsRatio, c.MBRatio, round(c.P50Added), round(c.P99Added))
	if c.A.KMS != nil && c.B.KMS != nil && c.B.KMS.Requests > 0 {
		fmt.Fprintf(w, ", KMS requests per op x%.5f (%.3f%% fewer)", c.KMSPerOpRatio, (1-c.KMSPerOpRatio)*100)
	}
	fmt.Fprintln(w)
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second || d <= -time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond || d <= -time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
