package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/bucketkey/bucketkey/admin"
)

const reportSynopsis = "bucketkey report [--admin URL] [--json]"

// runReport is `bucketkey report`: the savings of a running proxy, read from
// its admin listener's /stats.
func runReport(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) (string, bool)) int {
	var adminURL string
	var asJSON bool
	var timeout time.Duration
	s := newSettings("report")
	s.fs.StringVar(&adminURL, "admin", "http://127.0.0.1:9090", "the proxy's admin listener `URL` (BUCKETKEY_ADMIN)")
	s.fs.BoolVar(&asJSON, "json", false, "print the /stats document as it is")
	s.fs.DurationVar(&timeout, "timeout", 10*time.Second, "give up after this long")
	if err := s.parse(args, getenv); err != nil {
		if errors.Is(err, errHelp) {
			s.usage(stdout, reportSynopsis)
			return exitOK
		}
		return configError(stderr, "report", err)
	}
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return configError(stderr, "report", fmt.Errorf("--admin %q: want the admin listener's URL, e.g. http://127.0.0.1:9090", adminURL))
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	raw, doc, err := fetchStats(ctx, u)
	if err != nil {
		fmt.Fprintf(stderr, "bucketkey report: %v\n", err)
		return exitFail
	}
	if asJSON {
		_, _ = stdout.Write(raw)
		return exitOK
	}
	printReport(stdout, u.Redacted(), doc)
	return exitOK
}

// fetchStats GETs <admin>/stats.
func fetchStats(ctx context.Context, base *url.URL) ([]byte, admin.StatsDoc, error) {
	var doc admin.StatsDoc
	u := base.JoinPath("stats")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, doc, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, doc, fmt.Errorf("cannot reach the admin listener: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, doc, fmt.Errorf("read %s: %v", u.Redacted(), err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, doc, fmt.Errorf("%s answered %s", u.Redacted(), resp.Status)
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, doc, fmt.Errorf("%s: not a bucketkey /stats document: %v", u.Redacted(), err)
	}
	return raw, doc, nil
}

// perMonth projects an amount accrued over uptime to a 30-day month at the
// same rate.
func perMonth(amount, uptimeSeconds float64) float64 {
	if uptimeSeconds <= 0 {
		return 0
	}
	return amount * secondsPerMonth / uptimeSeconds
}

func printReport(out io.Writer, from string, d admin.StatsDoc) {
	t := d.Total
	mode := "bucket keys on"
	if !d.BucketKeys {
		mode = "bucket keys OFF: this proxy runs the one-call-per-object baseline"
	}
	up := time.Duration(d.UptimeSeconds * float64(time.Second))
	fmt.Fprintf(out, "bucketkey at %s: up %s (since %s), %s\n", from, duration(up), d.Since.UTC().Format("2006-01-02 15:04:05 MST"), mode)
	fmt.Fprintf(out, "%s objects encrypted, %s decrypted; %d bucket keys cached\n\n", count(float64(t.ObjectsEncrypted)), count(float64(t.ObjectsDecrypted)), d.CachedBucketKeys)

	rows := [][]string{{"KMS requests", "made", "without bucket keys", "saved"}}
	ops := t.Operations()
	if len(ops) == 0 {
		ops = []string{"GenerateDataKey", "Decrypt"}
	}
	for _, op := range ops {
		made, base := t.Requests(op), t.BaselineRequests[op]
		rows = append(rows, []string{op, count(float64(made)), count(float64(base)), savedPct(made, base)})
	}
	rows = append(rows, []string{"total", count(float64(t.KMSRequestsTotal)), count(float64(t.BaselineRequestsTotal)), savedPct(t.KMSRequestsTotal, t.BaselineRequestsTotal)})
	table(out, rows)
	if failed := failedRequests(t); failed != "" {
		fmt.Fprintf(out, "(made includes failed requests: %s)\n", failed)
	}

	fmt.Fprintf(out, "\nat $%s per 10,000 KMS requests:\n", num(d.PricePer10k))
	table(out, [][]string{
		{"cost", "so far", "per month at this rate"},
		{"with bucket keys", dollars(t.CostDollars), dollars(perMonth(t.CostDollars, d.UptimeSeconds))},
		{"without bucket keys", dollars(t.BaselineCostDollars), dollars(perMonth(t.BaselineCostDollars, d.UptimeSeconds))},
		{"saved", dollars(t.SavedDollars), dollars(perMonth(t.SavedDollars, d.UptimeSeconds))},
	})

	if len(d.Buckets) == 0 {
		return
	}
	names := make([]string, 0, len(d.Buckets))
	for b := range d.Buckets {
		names = append(names, b)
	}
	sort.Strings(names)
	fmt.Fprintln(out)
	rows = [][]string{{"bucket", "written", "read", "KMS requests", "without bucket keys", "saved", "cost so far"}}
	for _, b := range names {
		s := d.Buckets[b]
		rows = append(rows, []string{b, count(float64(s.ObjectsEncrypted)), count(float64(s.ObjectsDecrypted)),
			count(float64(s.KMSRequestsTotal)), count(float64(s.BaselineRequestsTotal)), savedPct(s.KMSRequestsTotal, s.BaselineRequestsTotal), dollars(s.CostDollars)})
	}
	table(out, rows)
}

func savedPct(made, base int64) string {
	if base == 0 {
		return "-"
	}
	return percent(float64(base-made) / float64(base))
}

// failedRequests summarises non-ok outcomes: "1 throttled, 2 unavailable".
func failedRequests(t admin.SavingsDoc) string {
	byOutcome := map[string]int64{}
	for _, outcomes := range t.KMSRequests {
		for o, n := range outcomes {
			if o != "ok" && n > 0 {
				byOutcome[o] += n
			}
		}
	}
	var parts []string
	for o, n := range byOutcome {
		parts = append(parts, fmt.Sprintf("%s %s", count(float64(n)), o))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
