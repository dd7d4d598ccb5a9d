package main

import (
	"fmt"
	"io"
	"strings"
)

// row is one line of the headline table and one bar of the chart.
type row struct {
	name              string
	bk, plain, direct string  // formatted values ("" when not measured)
	ratio             float64 // bucketkey / plain proxy (0: none)
	vsDirect          float64 // bucketkey / direct (0: none)
	// value is what the goal judges: the ratio, or an absolute figure
	// (MiB) when abs is set.
	value   float64
	abs     string // the unit of an absolute value
	target  float64
	lower   bool // the goal is an upper bound
	invalid string
}

func (w row) bar() bar {
	label := w.name
	text := ""
	if w.abs != "" {
		text = fmt.Sprintf("%.1f %s", w.value, w.abs)
	} else {
		text = fmt.Sprintf("x%.2f", w.value)
	}
	if w.vsDirect != 0 {
		text += fmt.Sprintf(" (direct x%.2f)", w.vsDirect)
	}
	return bar{Label: label, Value: w.value, Text: text, Target: w.target, Lower: w.lower}
}

func (w row) verdict() string {
	switch {
	case w.invalid != "":
		return "**invalid: " + w.invalid + "**"
	case w.target == 0:
		return ""
	case w.bar().met():
		return "met"
	}
	return "**missed**"
}

func (w row) goal() string {
	if w.target == 0 {
		return ""
	}
	op := ">="
	if w.lower {
		op = "<="
	}
	if w.abs != "" {
		return fmt.Sprintf("%s %g %s", op, w.target, w.abs)
	}
	return fmt.Sprintf("%s %.2f", op, w.target)
}

// invalidOf names the errors of the stats, "" if none.
func invalidOf(ss ...*stat) string {
	var n int64
	first := ""
	for _, s := range ss {
		if s == nil {
			continue
		}
		n += s.errors
		if first == "" {
			first = s.firstErr
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d failed operations (%s)", n, first)
}

// throughputRow compares a measure of bk-like target `b` with plain and
// direct in workload w; nil when bk or plain did not run.
func (r *results) throughputRow(name, w, b string, target float64, measure func(*stat) float64, format func(float64) string) *row {
	sb, sp, sd := r.stat(w, b), r.stat(w, "plain"), r.stat(w, "direct")
	if sb == nil || sp == nil {
		return nil
	}
	x := &row{name: name, bk: format(measure(sb)), plain: format(measure(sp)), target: target, invalid: invalidOf(sb, sp, sd)}
	x.ratio = ratio(measure(sb), measure(sp))
	x.value = x.ratio
	if sd != nil {
		x.direct = format(measure(sd))
		x.vsDirect = ratio(measure(sb), measure(sd))
	}
	return x
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// putCPULimit is the goal for bucketkey's CPU per GiB on a PUT: the plain
// proxy's, plus one SHA-256 pass when the client signed its payload, plus
// one AES-GCM pass, +20%. 0 without crypto.json.
func (r *results) putCPULimit(plain float64) float64 {
	if r.crypto == nil {
		return 0
	}
	limit := plain + r.crypto.AESGCMSeal
	if r.clientSigned() {
		limit += r.crypto.SHA256
	}
	return limit * 1.2
}

// headline is the rows of the headline table, in order; rows whose runs
// are missing are left out.
func (r *results) headline() []row {
	mbps := func(s *stat) float64 { return s.mbps }
	ops := func(s *stat) float64 { return s.ops }
	fmtMB := func(v float64) string { return fmt.Sprintf("%.0f MB/s", v) }
	fmtOps := func(v float64) string { return count(int64(v)) + " ops/s" }
	var rows []row
	add := func(x *row) {
		if x != nil {
			rows = append(rows, *x)
		}
	}
	add(r.throughputRow("64 MiB GET, c=2", "get-64MiB", "bk", 0.95, mbps, fmtMB))
	add(r.throughputRow("64 MiB PUT, c=2", "put-64MiB", "bk", 0.95, mbps, fmtMB))
	add(r.throughputRow("4 KiB GET, c=16", "get-4KiB", "bk", 0.95, ops, fmtOps))
	add(r.throughputRow("4 KiB PUT, c=16", "put-4KiB", "bk", 0.9, ops, fmtOps))
	add(r.throughputRow("4 KiB GET, c=16, KMS 10 ms away", "get-4KiB", "bk-kms10", 0.9, ops, fmtOps))
	add(r.throughputRow("4 KiB PUT, c=16, KMS 10 ms away", "put-4KiB", "bk-kms10", 0.9, ops, fmtOps))
	add(r.cpuRow("64 MiB PUT, proxy CPU per GiB", "put-64MiB", "bk", "plain", true))
	add(r.cpuRow("64 MiB GET, proxy CPU per GiB", "get-64MiB", "bk", "plain", false))
	add(r.rssRow())
	return rows
}

// cpuRow compares the CPU seconds per GiB of proxy b and plain proxy p in
// workload w, with the PUT goal when put is set.
func (r *results) cpuRow(name, w, b, p string, put bool) *row {
	sb, sp := r.stat(w, b), r.stat(w, p)
	if sb == nil || sp == nil || !sb.hasProxy || !sp.hasProxy {
		return nil
	}
	secs := func(v float64) string { return fmt.Sprintf("%.2f s", v) }
	x := &row{name: name, bk: secs(sb.proxyCPU), plain: secs(sp.proxyCPU), ratio: ratio(sb.proxyCPU, sp.proxyCPU), lower: true, invalid: invalidOf(sb, sp)}
	x.value = x.ratio
	if put {
		if limit := r.putCPULimit(sp.proxyCPU); limit > 0 {
			x.target = ratio(limit, sp.proxyCPU)
		}
	}
	return x
}

// rssRow is the peak RSS of the memory proxies over the c=256 steps.
func (r *results) rssRow() *row {
	peak := map[string]int64{}
	for _, s := range r.rss {
		peak[s.Target] = max(peak[s.Target], s.KB)
	}
	b, ok := peak["mem"]
	if !ok {
		return nil
	}
	mib := func(kb int64) float64 { return float64(kb) / 1024 }
	x := &row{name: "peak RSS (VmHWM), up to c=256", bk: fmt.Sprintf("%.1f MiB", mib(b)), value: mib(b), abs: "MiB", target: 150, lower: true}
	if p, ok := peak["plainmem"]; ok {
		x.plain = fmt.Sprintf("%.1f MiB", mib(p))
		x.ratio = ratio(mib(b), mib(p))
	}
	return x
}

func writeHeadline(out io.Writer, r *results, rows []row) {
	rounds := 0
	for _, w := range []string{"put-64MiB", "get-64MiB", "put-4KiB", "get-4KiB"} {
		if s := r.stat(w, "bk"); s != nil {
			rounds = max(rounds, s.rounds)
		}
	}
	if rounds > 0 {
		fmt.Fprintf(out, "Medians of %s, interleaved (bucketkey, plain proxy, direct, bucketkey, ...).\n\n", plural(rounds, "round"))
	}
	fmt.Fprintln(out, "| workload | bucketkey | plain proxy | **bucketkey / plain proxy** | goal | | direct (versitygw) | bucketkey / direct |")
	fmt.Fprintln(out, "| --- | ---: | ---: | ---: | --- | --- | ---: | ---: |")
	for _, w := range rows {
		rat, vd := "", ""
		if w.ratio != 0 {
			rat = fmt.Sprintf("**%.2f**", w.ratio)
		}
		if w.vsDirect != 0 {
			vd = fmt.Sprintf("%.2f", w.vsDirect)
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", w.name, w.bk, w.plain, rat, w.goal(), w.verdict(), dash(w.direct), vd)
	}
	if r.crypto != nil {
		signed := "the client sent no signed payload, so no SHA-256 pass is allowed"
		if r.clientSigned() {
			signed = "the client signed its payload: one SHA-256 pass allowed"
		}
		fmt.Fprintf(out, "\nPUT CPU goal: plain proxy + %.2f s SHA-256 + %.2f s AES-256-GCM per GiB (one core, scripts/cryptorate), +20%%; %s.\n",
			r.crypto.SHA256, r.crypto.AESGCMSeal, signed)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// bars is the chart: one bar per headline row, then the upstream payload
// modes' CPU ratios.
func (r *results) bars(rows []row) []bar {
	var bs []bar
	for _, w := range rows {
		b := w.bar()
		if w.abs == "" {
			b.Label += ", / plain"
		}
		bs = append(bs, b)
	}
	for _, m := range r.modeRows() {
		if m.ratio != 0 && m.target != 0 {
			bs = append(bs, bar{Label: "64 MiB PUT CPU per GiB, " + m.transport + " " + m.mode + ", / plain", Value: m.ratio, Text: fmt.Sprintf("x%.2f", m.ratio), Target: m.target, Lower: true})
		}
	}
	// One scale for the throughput ratios and one for the CPU ratios, so
	// that bars compare across rows.
	isRatio := func(b bar) bool { return strings.HasSuffix(b.Label, "/ plain") }
	top := map[bool]float64{false: 1.5, true: 1.5} // by Lower
	for _, b := range bs {
		if isRatio(b) {
			top[b.Lower] = max(top[b.Lower], b.Value*1.05, b.Target*1.05)
		}
	}
	for i := range bs {
		if isRatio(bs[i]) {
			bs[i].Max, bs[i].Ref = top[bs[i].Lower], 1
		}
	}
	return bs
}

// count formats n with thousands separators.
func count(n int64) string {
	if n < 0 {
		return "-" + count(-n)
	}
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
