package main

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/bucketkey/bucketkey/internal/accesslog"
)

// replayFlags are estimate's settings for --access-log.
type replayFlags struct {
	logs      listFlag
	sweep     string
	partition bool
	svg       string
}

// parseSweep parses --ttl-sweep: comma-separated durations.
func parseSweep(v string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("--ttl-sweep %q: %q is not a positive duration", v, f)
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// readLogs parses every log file and returns the events in time order.
func readLogs(paths []string) ([]accesslog.Event, error) {
	var all []accesslog.Event
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("--access-log: %w", err)
		}
		evs, err := accesslog.Parse(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("--access-log %s: %w", p, err)
		}
		all = append(all, evs...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Time.Before(all[j].Time) })
	return all, nil
}

// replayReport is `bucketkey estimate --access-log --json`.
type replayReport struct {
	Logs        []string       `json:"logs"`
	Requests    int            `json:"requests"`
	Replicas    int            `json:"replicas"`
	Sticky      bool           `json:"sticky"`
	Partitioned bool           `json:"partition_by_access_key"`
	PricePer10k float64        `json:"price_per_10k"`
	Results     []replayResult `json:"results"` // one per TTL, shortest first
	DetailTTL   time.Duration  `json:"detail_ttl"`
}

// runReplayEstimate is `bucketkey estimate --access-log FILE...`.
func runReplayEstimate(w workload, rf replayFlags, asJSON bool, stdout, stderr io.Writer) int {
	ttls := []time.Duration{w.TTL}
	if rf.sweep != "" {
		var err error
		if ttls, err = parseSweep(rf.sweep); err != nil {
			return configError(stderr, "estimate", err)
		}
		if len(ttls) == 0 {
			return configError(stderr, "estimate", fmt.Errorf("--ttl-sweep %q: no durations", rf.sweep))
		}
	}
	events, err := readLogs(rf.logs)
	if err != nil {
		return configError(stderr, "estimate", err)
	}
	rep := replayReport{Logs: rf.logs, Requests: len(events), Replicas: w.Replicas, Sticky: w.Sticky, Partitioned: rf.partition, PricePer10k: w.Price, DetailTTL: w.TTL}
	detail := -1
	for i, ttl := range ttls {
		rep.Results = append(rep.Results, replay(events, replaySettings{
			TTL: ttl, Replicas: w.Replicas, Sticky: w.Sticky, Partition: rf.partition, MaxObjects: w.MaxObjects, Price: w.Price,
		}))
		if ttl == w.TTL {
			detail = i
		}
	}
	if detail < 0 {
		detail = 0
		rep.DetailTTL = ttls[0]
	}
	if rf.svg != "" {
		if err := os.WriteFile(rf.svg, []byte(sweepSVG(rep)), 0o644); err != nil {
			fmt.Fprintf(stderr, "bucketkey estimate: --svg: %v\n", err)
			return exitFail
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
		return exitOK
	}
	printReplay(stdout, rep, detail)
	return exitOK
}

func printReplay(out io.Writer, rep replayReport, detail int) {
	first := rep.Results[0]
	t := first.Total
	part := ""
	if rep.Sticky {
		part += ", each bucket on one replica"
	}
	if rep.Partitioned {
		part += ", bucket keys per client"
	}
	fmt.Fprintf(out, "Replayed %s object requests (%s writes, %s reads) of %d log file(s), spanning %v, through the key cache serve runs\n",
		count(float64(t.Writes+t.Reads)), count(float64(t.Writes)), count(float64(t.Reads)), len(rep.Logs), first.Span.Round(time.Second))
	fmt.Fprintf(out, "(simulated clock, %d proxy replica(s)%s, $%s per 10,000 KMS requests). Per month at the log's rate:\n\n", rep.Replicas, part, num(rep.PricePer10k))
	rows := [][]string{{"bucket key TTL", "GenerateDataKey", "Decrypt", "KMS requests", "one per object", "saved", "cost", "one per object"}}
	for _, r := range rep.Results {
		scale := r.Total.MonthRequests / math.Max(float64(r.Total.Requests), 1)
		rows = append(rows, []string{r.TTL.String(), count(float64(r.Total.GenerateDataKey) * scale), count(float64(r.Total.Decrypt) * scale),
			count(r.Total.MonthRequests), count(r.Total.MonthBaseline), percent(r.Total.SavedRatio), dollars(r.Total.MonthDollars), dollars(r.Total.MonthBaseDollar)})
	}
	table(out, rows)
	d := rep.Results[detail]
	fmt.Fprintf(out, "\nPer bucket at TTL %v, in the log's %v:\n\n", d.TTL, d.Span.Round(time.Second))
	rows = [][]string{{"bucket", "writes", "reads", "KMS requests", "one per object", "saved"}}
	names := make([]string, 0, len(d.Buckets))
	for b := range d.Buckets {
		names = append(names, b)
	}
	sort.Strings(names)
	for _, b := range names {
		c := d.Buckets[b]
		rows = append(rows, []string{b, count(float64(c.Writes)), count(float64(c.Reads)), count(float64(c.Requests)), count(float64(c.Baseline)), percent(c.SavedRatio)})
	}
	table(out, rows)
}

// sweepSVG draws KMS requests per month against the TTL (log scale), with
// the one-call-per-object baseline.
func sweepSVG(rep replayReport) string {
	const W, H, left, right, top, bottom = 640.0, 360.0, 80.0, 20.0, 30.0, 50.0
	rs := rep.Results
	maxY := 1.0
	for _, r := range rs {
		maxY = math.Max(maxY, math.Max(r.Total.MonthRequests, r.Total.MonthBaseline))
	}
	lo, hi := math.Log(rs[0].TTL.Seconds()), math.Log(rs[len(rs)-1].TTL.Seconds())
	x := func(d time.Duration) float64 {
		if hi == lo {
			return left + (W-left-right)/2
		}
		return left + (math.Log(d.Seconds())-lo)/(hi-lo)*(W-left-right)
	}
	y := func(v float64) float64 { return top + (1-v/maxY)*(H-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", W, H)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="18" font-size="14">KMS requests per month by bucket key TTL (%s)</text>`+"\n", left, html.EscapeString(strings.Join(rep.Logs, ", ")))
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", left, H-bottom, W-right, H-bottom)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", left, top, left, H-bottom)
	for i := 0; i <= 4; i++ {
		v := maxY * float64(i) / 4
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y(v)+4, count(v))
	}
	var pts, base []string
	for _, r := range rs {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(r.TTL), y(r.Total.MonthRequests)))
		base = append(base, fmt.Sprintf("%.1f,%.1f", x(r.TTL), y(r.Total.MonthBaseline)))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", x(r.TTL), H-bottom+16, r.TTL)
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="#1f77b4"/>`+"\n", x(r.TTL), y(r.Total.MonthRequests))
	}
	fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#d62728" stroke-dasharray="6 4"/>`+"\n", strings.Join(base, " "))
	fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#1f77b4" stroke-width="2"/>`+"\n", strings.Join(pts, " "))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">bucket key TTL (log scale)</text>`+"\n", (W+left)/2, H-12)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" fill="#1f77b4">bucket keys</text>`+"\n", W-right-150, top+14)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" fill="#d62728">one KMS call per object</text>`+"\n", W-right-150, top+30)
	b.WriteString("</svg>\n")
	return b.String()
}
