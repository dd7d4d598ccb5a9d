// Command benchreport turns the results scripts/benchmarks.sh wrote into the
// figures of BENCHMARKS.md (a Markdown table on stdout, every figure a
// ratio or difference measured in that one run) and a chart (-svg).
//
//	go run ./scripts/benchreport -in bench-results -svg BENCHMARKS.svg > bench-results/figures.md
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/bucketkey/bucketkey/bench"
)

// runFile is what `bucketkey bench --json` prints.
type runFile struct {
	Results    []*bench.Result   `json:"results"`
	Comparison *bench.Comparison `json:"comparison"`
}

// rssFile is d-rss.json: VmHWM of the memory test's proxy, in KiB.
type rssFile struct {
	StartKB        int64  `json:"start_kb"`
	After64KB      int64  `json:"after_64MiB_kb"`
	AfterHugePutKB int64  `json:"after_huge_put_kb"`
	AfterHugeKB    int64  `json:"after_huge_kb"`
	HugeSize       string `json:"huge_size"`
	HugeBackend    int64  `json:"huge_backend_bytes"`
}

func main() {
	in := flag.String("in", "bench-results", "directory scripts/benchmarks.sh wrote")
	svg := flag.String("svg", "", "write the chart to this `file`")
	flag.Parse()
	if err := report(*in, *svg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

type loader struct {
	dir string
	err error
}

func (l *loader) json(name string, v any) {
	if l.err != nil {
		return
	}
	b, err := os.ReadFile(filepath.Join(l.dir, name))
	if err != nil {
		l.err = err
		return
	}
	if err := json.Unmarshal(b, v); err != nil {
		l.err = fmt.Errorf("%s: %w", name, err)
	}
}

func (l *loader) run(name string, want int) *runFile {
	var r runFile
	l.json(name+".json", &r)
	if l.err == nil && len(r.Results) != want {
		l.err = fmt.Errorf("%s.json: %d results, want %d", name, len(r.Results), want)
	}
	return &r
}

func report(dir, svgPath string, out io.Writer) error {
	l := &loader{dir: dir}
	aPut, aGet := l.run("a-put-64MiB", 2), l.run("a-get-64MiB", 2)
	bPutBK, bPutBase := l.run("b-put-4KiB-bucketkeys", 2), l.run("b-put-4KiB-nobucketkey", 1)
	bGetBK, bGetBase := l.run("b-get-4KiB-bucketkeys", 2), l.run("b-get-4KiB-nobucketkey", 1)
	c := l.run("c-get-4KiB-latency", 2)
	dPut, dGet := l.run("d-put-huge", 1), l.run("d-get-huge", 1)
	ePutLong, ePutShort := l.run("e-put-4KiB-ttl5m", 1), l.run("e-put-4KiB-ttl2s", 1)
	eGetLong, eGetShort := l.run("e-get-4KiB-ttl5m", 1), l.run("e-get-4KiB-ttl2s", 1)
	var rss rssFile
	l.json("d-rss.json", &rss)
	var kmsLat []struct {
		Proxy    string  `json:"proxy"`
		Requests int64   `json:"kms_requests"`
		Mean     float64 `json:"kms_mean_seconds"`
	}
	l.json("kms-latency.json", &kmsLat)
	if l.err != nil {
		return l.err
	}
	all := []*runFile{aPut, aGet, bPutBK, bPutBase, bGetBK, bGetBase, c, dPut, dGet, ePutLong, ePutShort, eGetLong, eGetShort}
	var errs []string
	failed := map[*runFile]bool{} // runs with errors: their figures are not evidence
	for _, r := range all {
		for _, res := range r.Results {
			if res.Errors > 0 {
				failed[r] = true
				errs = append(errs, fmt.Sprintf("%s %s %d B: %d errors (%s)", res.Endpoint, res.Op, res.Size, res.Errors, res.FirstError))
			}
		}
	}
	if bPutBK.Results[0].KMS == nil || bPutBase.Results[0].KMS == nil || bGetBK.Results[0].KMS == nil || bGetBase.Results[0].KMS == nil {
		return errors.New("the small-object runs lack KMS figures (no --admin?)")
	}

	putOps := bPutBK.Results[0].OpsPerSec / bPutBase.Results[0].OpsPerSec
	getOps := bGetBK.Results[0].OpsPerSec / bGetBase.Results[0].OpsPerSec
	bk := kmsTotals(bPutBK, bGetBK)
	base := kmsTotals(bPutBase, bGetBase)
	// One KMS call per object, as measured on the --no-bucket-key proxy,
	// scaled to the bucket-key run's object count.
	basePerOp := base.requests / float64(base.ops)
	fewer := 1 - bk.requests/(basePerOp*float64(bk.ops))
	timesFewer := basePerOp * float64(bk.ops) / max(bk.requests, 1)
	cmp := c.Comparison
	mib := func(kb int64) float64 { return float64(kb) / 1024 }

	p := func(format string, args ...any) { fmt.Fprintf(out, format, args...) }
	p("| measure | bucketkey | baseline | figure | target | |\n| --- | --- | --- | --- | --- | --- |\n")
	row := func(name, a, b, fig, target string, ok bool, from ...*runFile) {
		verdict := "met"
		if !ok {
			verdict = "**missed**"
		}
		if target == "" {
			verdict = ""
		}
		for _, r := range from {
			if failed[r] {
				verdict = "**invalid: the run had errors**"
			}
		}
		p("| %s | %s | %s | %s | %s | %s |\n", name, a, b, fig, target, verdict)
	}
	mbRow := func(name string, r *runFile) float64 {
		ratio := r.Comparison.MBRatio
		row(name, mbps(r.Results[0]), mbps(r.Results[1])+" (direct)", fmt.Sprintf("x%.2f", ratio), ">= 0.9", ratio >= 0.9, r)
		return ratio
	}
	aPutR := mbRow("64 MiB PUT, proxy vs versitygw direct", aPut)
	aGetR := mbRow("64 MiB GET, proxy vs versitygw direct", aGet)
	opsRow := func(name string, a, b *runFile, ratio float64) {
		row(name, opsps(a.Results[0]), opsps(b.Results[0])+" (--no-bucket-key)", fmt.Sprintf("x%.2f", ratio), ">= 10x", ratio >= 10, a, b)
	}
	opsRow("4 KiB PUT ops/s, c=16, KMS 10 ms away", bPutBK, bPutBase, putOps)
	opsRow("4 KiB GET ops/s, c=16, KMS 10 ms away", bGetBK, bGetBase, getOps)
	// The ceiling: the same workload straight to the backend (no KMS).
	ceiling := func(name string, r *runFile) {
		row(name, opsps(r.Results[0]), opsps(r.Results[1])+" (direct)", fmt.Sprintf("x%.2f", r.Comparison.OpsRatio), "", true, r)
	}
	ceiling("4 KiB PUT ops/s, c=16, bucket keys vs versitygw direct", bPutBK)
	ceiling("4 KiB GET ops/s, c=16, bucket keys vs versitygw direct", bGetBK)
	row(fmt.Sprintf("KMS requests, %s PUT + %s GET", count(bk.putOps), count(bk.getOps)),
		fmt.Sprintf("%s (proxy's baseline counter: %s)", count(int64(bk.requests)), count(int64(bk.baseline))),
		fmt.Sprintf("%s for %s PUT + %s GET: %.4f per object", count(int64(base.requests)), count(base.putOps), count(base.getOps), basePerOp),
		fmt.Sprintf("%.4f%% fewer", fewer*100), ">= 99.9% fewer", fewer >= 0.999, bPutBK, bPutBase, bGetBK, bGetBase)
	row("4 KiB GET added latency p50, c=1", dur(c.Results[0].Latency.P50), dur(c.Results[1].Latency.P50)+" (direct)", "+"+dur(cmp.P50Added), "< 1 ms", cmp.P50Added < time.Millisecond, c)
	row("4 KiB GET added latency p99, c=1", dur(c.Results[0].Latency.P99), dur(c.Results[1].Latency.P99)+" (direct)", "+"+dur(cmp.P99Added), "", true, c)
	row("proxy peak RSS (VmHWM), 64 MiB up and down", fmt.Sprintf("%.1f MiB", mib(rss.After64KB)), fmt.Sprintf("%.1f MiB at start", mib(rss.StartKB)), fmt.Sprintf("%.1f MiB", mib(rss.After64KB)), "< 100 MiB", mib(rss.After64KB) < 100)
	row(fmt.Sprintf("proxy peak RSS (VmHWM), then %s up and down", rss.HugeSize), fmt.Sprintf("%.1f MiB", mib(rss.AfterHugeKB)), fmt.Sprintf("%.1f MiB after 64 MiB", mib(rss.After64KB)),
		fmt.Sprintf("+%.1f MiB", mib(rss.AfterHugeKB-rss.After64KB)), "< 100 MiB, flat", mib(rss.AfterHugeKB) < 100)
	rollRow := func(name string, long, short *runFile) float64 {
		l, s := long.Results[0], short.Results[0]
		ratio := float64(s.Latency.P99) / float64(max(l.Latency.P99, 1))
		kms := ""
		if s.KMS != nil && l.KMS != nil {
			kms = fmt.Sprintf(" (KMS %s vs %s requests)", count(int64(s.KMS.Requests)), count(int64(l.KMS.Requests)))
		}
		row(name, fmt.Sprintf("p99 %s, p50 %s, %s over %.0f s%s", dur(s.Latency.P99), dur(s.Latency.P50), opsps(s), s.Elapsed.Seconds(), kms),
			fmt.Sprintf("p99 %s, p50 %s, %s (TTL 5 min)", dur(l.Latency.P99), dur(l.Latency.P50), opsps(l)),
			fmt.Sprintf("p99 x%.2f", ratio), "", true, long, short)
		return ratio
	}
	ePutR := rollRow("4 KiB PUT, c=16, bucket keys rolled every 2 s (KMS 10 ms away)", ePutLong, ePutShort)
	eGetR := rollRow("4 KiB GET, c=16, unwrapped keys rolled every 2 s (KMS 10 ms away)", eGetLong, eGetShort)
	p("\n%s object through the proxy: PUT %s, GET %s (%s stored at the backend).\n", rss.HugeSize, mbps(dPut.Results[0]), mbps(dGet.Results[0]), count(rss.HugeBackend)+" bytes")
	for _, k := range kmsLat {
		p("KMS as seen by proxy %q: %s requests, mean %.1f ms (10 ms toxic + local-kms).\n", k.Proxy, count(k.Requests), k.Mean*1000)
	}
	if len(errs) > 0 {
		p("\nErrors: %s\n", strings.Join(errs, "; "))
	}
	if err := cpuTable(dir, out); err != nil {
		return err
	}

	if svgPath == "" {
		return nil
	}
	f, err := os.Create(svgPath)
	if err != nil {
		return err
	}
	bars := []bar{
		{Label: "64 MiB PUT MB/s, proxy / direct", Value: aPutR, Text: fmt.Sprintf("x%.2f", aPutR), Target: 0.9},
		{Label: "64 MiB GET MB/s, proxy / direct", Value: aGetR, Text: fmt.Sprintf("x%.2f", aGetR), Target: 0.9},
		{Label: "4 KiB PUT ops/s, bucket keys / one call per object", Value: putOps, Text: fmt.Sprintf("x%.2f", putOps), Target: 10},
		{Label: "4 KiB GET ops/s, bucket keys / one call per object", Value: getOps, Text: fmt.Sprintf("x%.2f", getOps), Target: 10},
		{Label: fmt.Sprintf("KMS requests, %s objects: times fewer", count(bk.ops)), Value: timesFewer, Text: fmt.Sprintf("%sx fewer (%.4f%%)", count(int64(timesFewer)), fewer*100), Target: 1000, Log: true},
		{Label: "4 KiB GET added latency p50, ms", Value: ms(cmp.P50Added), Text: fmt.Sprintf("+%.3f ms", ms(cmp.P50Added)), Target: 1, Lower: true},
		{Label: "4 KiB GET added latency p99, ms", Value: ms(cmp.P99Added), Text: fmt.Sprintf("+%.3f ms", ms(cmp.P99Added))},
		{Label: "proxy peak RSS, 64 MiB object, MiB", Value: mib(rss.After64KB), Text: fmt.Sprintf("%.1f MiB", mib(rss.After64KB)), Target: 100, Lower: true},
		{Label: fmt.Sprintf("proxy peak RSS, %s object, MiB", rss.HugeSize), Value: mib(rss.AfterHugeKB), Text: fmt.Sprintf("%.1f MiB", mib(rss.AfterHugeKB)), Target: 100, Lower: true},
		{Label: "4 KiB PUT p99, keys rolled every 2 s / every 5 min", Value: ePutR, Text: fmt.Sprintf("x%.2f", ePutR)},
		{Label: "4 KiB GET p99, keys rolled every 2 s / every 5 min", Value: eGetR, Text: fmt.Sprintf("x%.2f", eGetR)},
	}
	werr := writeChart(f, "bucketkey: measured against its targets, one run", machineLine(dir)+"; see BENCHMARKS.md", bars)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

type kmsTotal struct {
	requests, baseline  float64
	ops, putOps, getOps int64
}

func kmsTotals(put, get *runFile) kmsTotal {
	p, g := put.Results[0], get.Results[0]
	return kmsTotal{
		requests: p.KMS.Requests + g.KMS.Requests, baseline: p.KMS.Baseline + g.KMS.Baseline,
		ops: p.Ops + g.Ops, putOps: p.Ops, getOps: g.Ops,
	}
}

// cpuTable prints the CPU seconds each process spent in each phase.
func cpuTable(dir string, out io.Writer) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.cpu.json"))
	if err != nil || len(files) == 0 {
		return err
	}
	sort.Strings(files)
	cols := []string{"bench-client", "proxy-bk", "proxy-nobk", "proxy-mem", "proxy-roll", "versitygw", "local-kms", "toxiproxy"}
	fmt.Fprintf(out, "\nCPU seconds (user+system) per process and phase:\n\n| phase | wall | %s |\n|%s\n", strings.Join(cols, " | "), strings.Repeat(" --- |", len(cols)+2))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var m map[string]float64
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".cpu.json")
		wall := "-"
		var r runFile
		if rb, err := os.ReadFile(filepath.Join(dir, name+".json")); err == nil && json.Unmarshal(rb, &r) == nil {
			var el time.Duration
			for _, res := range r.Results {
				el += res.Elapsed
			}
			wall = fmt.Sprintf("%.1f", el.Seconds())
		}
		cells := []string{name, wall}
		for _, c := range cols {
			if v, ok := m[c]; ok {
				cells = append(cells, fmt.Sprintf("%.1f", v))
			} else {
				cells = append(cells, "-")
			}
		}
		fmt.Fprintf(out, "| %s |\n", strings.Join(cells, " | "))
	}
	return nil
}

func mbps(r *bench.Result) string  { return fmt.Sprintf("%.1f MB/s", r.MBPerSec) }
func opsps(r *bench.Result) string { return fmt.Sprintf("%s ops/s", count(int64(r.OpsPerSec))) }
func ms(d time.Duration) float64   { return float64(d) / float64(time.Millisecond) }
func dur(d time.Duration) string   { return fmt.Sprintf("%.3f ms", ms(d)) }

// count formats n with thousands separators.
func count(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + count(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// machineLine describes the machine of the run for the chart, from the
// machine.txt benchmarks.sh wrote: CPUs and load.
func machineLine(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "machine.txt"))
	if err != nil {
		return "machine unknown"
	}
	var cpu, load string
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "cpu: "); ok {
			cpu = v
		}
		if v, ok := strings.CutPrefix(line, "load average at the end: "); ok {
			load = v
		}
	}
	if cpu == "" {
		return "machine unknown"
	}
	if load != "" {
		return fmt.Sprintf("%s, load %s at the end", cpu, load)
	}
	return cpu
}
