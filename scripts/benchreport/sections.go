package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// modeRow is one proxy of the upstream payload part (workload
// mode-put-64MiB): bucketkey with one --upstream-payload mode over one
// transport, or the plain proxy on that transport.
type modeRow struct {
	transport, mode string
	s               *stat
	ratio, target   float64 // CPU per GiB / the plain proxy's on the same transport; the goal
}

const modeWorkload = "mode-put-64MiB"

func (r *results) modeRows() []modeRow {
	var rows []modeRow
	for _, k := range r.order {
		if k[0] != modeWorkload {
			continue
		}
		m := modeRow{s: r.stat(k[0], k[1])}
		plain := "plain"
		switch {
		case k[1] == "plain":
			m.transport, m.mode = "http", "plain proxy"
		case k[1] == "plain-https":
			m.transport, m.mode = "https", "plain proxy"
		default:
			t, mode, ok := strings.Cut(strings.TrimPrefix(k[1], "bk-"), "-")
			if !ok {
				continue
			}
			m.transport, m.mode = t, mode
		}
		if m.transport == "https" {
			plain = "plain-https"
		}
		if p := r.stat(modeWorkload, plain); p != nil && p.hasProxy && m.s.hasProxy {
			m.ratio = ratio(m.s.proxyCPU, p.proxyCPU)
			if !strings.HasPrefix(k[1], "plain") {
				m.target = ratio(r.putCPULimit(p.proxyCPU), p.proxyCPU)
			}
		}
		rows = append(rows, m)
	}
	return rows
}

func (r *results) writeModes(out io.Writer) {
	rows := r.modeRows()
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(out, "\n### Upstream payload modes: 64 MiB PUT, c=2, medians of %s\n\n", plural(rows[0].s.rounds, "round"))
	fmt.Fprintln(out, "| to versitygw over | --upstream-payload | MB/s | proxy CPU per GiB | / plain proxy, same transport | goal | | versitygw CPU per GiB |")
	fmt.Fprintln(out, "| --- | --- | ---: | ---: | ---: | --- | --- | ---: |")
	for _, m := range rows {
		w := row{value: m.ratio, target: m.target, lower: true, invalid: invalidOf(m.s)}
		rat := "-"
		if m.ratio != 0 {
			rat = fmt.Sprintf("%.2f", m.ratio)
		}
		fmt.Fprintf(out, "| %s | %s | %.0f | %.2f s | %s | %s | %s | %.2f s |\n", m.transport, m.mode, m.s.mbps, m.s.proxyCPU, rat, w.goal(), w.verdict(), m.s.backendCPU)
	}
}

// memNames are the memory part's proxies as the tables name them.
var memNames = map[string]string{"mem": "bucketkey", "plainmem": "plain proxy"}

func (r *results) writeMemory(out io.Writer) {
	if len(r.rss) == 0 {
		return
	}
	var steps, targets []string
	kb := map[[2]string]int64{}
	for _, s := range r.rss {
		k := [2]string{s.Target, s.Step}
		if _, ok := kb[k]; !ok {
			if !contains(steps, s.Step) {
				steps = append(steps, s.Step)
			}
			if !contains(targets, s.Target) {
				targets = append(targets, s.Target)
			}
		}
		kb[k] = s.KB
	}
	fmt.Fprintln(out, "\n### Peak RSS (VmHWM, MiB) of a fresh proxy after each step, in order")
	fmt.Fprintf(out, "\n| proxy | %s |\n|%s\n", strings.Join(steps, " | "), strings.Repeat(" ---: |", len(steps)+1))
	for _, t := range targets {
		cells := []string{name(t)}
		for _, st := range steps {
			if v, ok := kb[[2]string{t, st}]; ok {
				cells = append(cells, fmt.Sprintf("%.1f", float64(v)/1024))
			} else {
				cells = append(cells, "-")
			}
		}
		fmt.Fprintf(out, "| %s |\n", strings.Join(cells, " | "))
	}
	if r.huge != nil {
		fmt.Fprintf(out, "\nThe %s object: %s bytes stored at the backend", r.huge.Size, count(r.huge.BackendBytes))
		if p, g := r.stat("mem-put-huge-c1", "mem"), r.stat("mem-get-huge-c1", "mem"); p != nil && g != nil {
			fmt.Fprintf(out, "; PUT %.0f MB/s, GET %.0f MB/s through bucketkey", p.mbps, g.mbps)
		}
		fmt.Fprintln(out, ".")
	}
}

func name(target string) string {
	if n, ok := memNames[target]; ok {
		return n
	}
	return target
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// writeKMS reports the KMS requests bucket keys saved, and key rollover.
func (r *results) writeKMS(out io.Writer) {
	bp, bg := r.stat("kms-put-4KiB", "bk-kms10"), r.stat("kms-get-4KiB", "bk-kms10")
	np, ng := r.stat("kms-put-4KiB", "nobk"), r.stat("kms-get-4KiB", "nobk")
	rp, rg := r.stat("roll-put-4KiB", "roll"), r.stat("roll-get-4KiB", "roll")
	if (bp == nil || np == nil) && rp == nil {
		return
	}
	fmt.Fprintln(out, "\n### KMS: bucket keys against one KMS call per object, and key rollover (KMS 10 ms away)")
	fmt.Fprintln(out, "\n| measure | bucket keys | baseline | figure | goal | |")
	fmt.Fprintln(out, "| --- | --- | --- | --- | --- | --- |")
	if bp != nil && np != nil && bg != nil && ng != nil {
		req, ops := bp.kmsReq+bg.kmsReq, bp.totalOps+bg.totalOps
		perOp := (np.kmsReq + ng.kmsReq) / float64(max(np.totalOps+ng.totalOps, 1))
		fewer := 1 - req/(perOp*float64(ops))
		w := row{value: fewer * 100, abs: "%", target: 99.9, invalid: invalidOf(bp, bg, np, ng)}
		fmt.Fprintf(out, "| KMS requests, %s PUT + %s GET | %s | %.4f per object (--no-bucket-key) | %.3f%% fewer | >= 99.9%% fewer | %s |\n",
			count(bp.totalOps), count(bg.totalOps), count(int64(req)), perOp, fewer*100, w.verdict())
		for _, c := range []pair{{"PUT", bp, np}, {"GET", bg, ng}} {
			fmt.Fprintf(out, "| 4 KiB %s ops/s, c=16 | %s (p99 %s) | %s (p99 %s, --no-bucket-key) | x%.2f | | |\n", c.op,
				count(int64(c.a.ops)), secs(c.a.p99), count(int64(c.b.ops)), secs(c.b.p99), ratio(c.a.ops, c.b.ops))
		}
	}
	for _, c := range []pair{{"PUT", rp, r.stat("roll-put-4KiB", "bk-kms10")}, {"GET", rg, r.stat("roll-get-4KiB", "bk-kms10")}} {
		short, long := c.a, c.b
		if long == nil || short == nil {
			continue
		}
		w := row{invalid: invalidOf(long, short)}
		fmt.Fprintf(out, "| 4 KiB %s, c=16, keys rolled every 2 s | p99 %s, p50 %s, %s ops/s (KMS %s requests) | p99 %s, p50 %s, %s ops/s (TTL 5 min, KMS %s) | p99 x%.2f | | %s |\n",
			c.op, secs(short.p99), secs(short.p50), count(int64(short.ops)), count(int64(short.kmsReq)),
			secs(long.p99), secs(long.p50), count(int64(long.ops)), count(int64(long.kmsReq)), ratio(short.p99, long.p99), w.verdict())
	}
	for _, k := range r.kmsLat {
		fmt.Fprintf(out, "\nKMS as proxy %q saw it: %s requests, mean %.1f ms (10 ms toxic + local-kms).\n", k.Proxy, count(k.Requests), k.Mean*1000)
	}
}

// plural is "n thing(s)".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// pair is a run and its baseline, for one operation.
type pair struct {
	op   string
	a, b *stat
}

// secs formats seconds as milliseconds.
func secs(s float64) string {
	return fmt.Sprintf("%.2f ms", float64(time.Duration(s*float64(time.Second)))/float64(time.Millisecond))
}

// writeRuns lists every workload and target: medians and CPU.
func (r *results) writeRuns(out io.Writer) {
	fmt.Fprintln(out, "\n### Every run: medians over its rounds")
	fmt.Fprintln(out, "\nCPU (user+system, from /proc/PID/stat) per GiB moved for objects of 1 MiB and more, per operation below.")
	fmt.Fprintln(out, "\n| workload | target | rounds | ops/s | MB/s | p50 | p99 | proxy CPU | versitygw CPU | bench client CPU | errors |")
	fmt.Fprintln(out, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, k := range r.order {
		s := r.stat(k[0], k[1])
		cpu := func(perGiB, perOp float64, ok bool) string {
			switch {
			case !ok:
				return "-"
			case s.size >= 1<<20:
				return fmt.Sprintf("%.2f s/GiB", perGiB)
			}
			return fmt.Sprintf("%.0f µs/op", perOp*1e6)
		}
		fmt.Fprintf(out, "| %s | %s | %d | %s | %.1f | %s | %s | %s | %s | %s | %d |\n", k[0], name(k[1]), s.rounds, count(int64(s.ops)), s.mbps,
			secs(s.p50), secs(s.p99), cpu(s.proxyCPU, s.proxyCPUPerOp, s.hasProxy), cpu(s.backendCPU, s.backendCPUPerOp, s.hasCPU),
			cpu(s.clientCPU, s.clientCPUPerOp, s.hasCPU), s.errors)
	}
}
