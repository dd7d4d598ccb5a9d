// Command benchreport turns the results scripts/benchmarks.sh wrote into the
// figures of BENCHMARKS.md (Markdown tables on stdout) and a chart (-svg).
// Every headline figure is a ratio of bucketkey to the plain reverse proxy
// (scripts/plainproxy) measured in the same run, medians of interleaved
// rounds, with versitygw direct as a second column.
//
//	go run ./scripts/benchreport -in bench-results -svg BENCHMARKS.svg > bench-results/figures.md
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	in := flag.String("in", "bench-results", "directory scripts/benchmarks.sh wrote")
	svg := flag.String("svg", "", "write the chart to this `file`")
	flag.Parse()
	if err := report(*in, *svg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

// report writes the figures of dir to out and, with svgPath, the chart.
func report(dir, svgPath string, out io.Writer) error {
	r, err := load(dir)
	if err != nil {
		return err
	}
	rows := r.headline()
	writeHeadline(out, r, rows)
	r.writeModes(out)
	r.writeMemory(out)
	r.writeKMS(out)
	r.writeRuns(out)
	if svgPath == "" {
		return nil
	}
	f, err := os.Create(svgPath)
	if err != nil {
		return err
	}
	werr := writeChart(f, "bucketkey / plain reverse proxy on the same hop, one run",
		machineLine(r)+"; medians of interleaved rounds; see BENCHMARKS.md",
		"Throughput ratios share one scale, CPU ratios another; dashed: the plain proxy (1). Black tick: goal. Green: met; red: missed; grey: no goal. CPU and RSS: lower is better.",
		r.bars(rows))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

// machineLine describes the machine of the run for the chart.
func machineLine(r *results) string {
	cpu, load := r.machineField("cpu"), r.machineField("load average at the start")
	switch {
	case cpu == "":
		return "machine unknown"
	case load != "":
		return fmt.Sprintf("%s, load %s at the start", cpu, load)
	}
	return cpu
}
