package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bucketkey/bucketkey/bench"
)

// fixture writes results in the layout benchmarks.sh uses.
type fixture struct {
	t   *testing.T
	dir string
}

func (f fixture) write(name string, v any) {
	f.t.Helper()
	var b []byte
	switch v := v.(type) {
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(f.dir, name), b, 0o600); err != nil {
		f.t.Fatal(err)
	}
}

// run is one round of workload against target: r's zero fields get
// defaults (1000 ops of 64 MiB, 1 GiB counted, in 1 s), cpu the processes' seconds.
func (f fixture) run(workload, target string, round int, r bench.Result, cpu map[string]float64) {
	if r.Ops == 0 {
		r.Ops = 1000
	}
	if r.Bytes == 0 {
		r.Bytes = 1 << 30
	}
	if r.Size == 0 {
		r.Size = 64 << 20
	}
	if r.Elapsed == 0 {
		r.Elapsed = time.Second
	}
	f.write(fmt.Sprintf("%s.%s.r%d.json", workload, target, round), map[string]any{"results": []bench.Result{r}})
	if cpu != nil {
		f.write(fmt.Sprintf("%s.%s.r%d.cpu.json", workload, target, round), cpu)
	}
}

// rounds writes one run per value of measure (MB/s for 64 MiB workloads,
// ops/s for 4 KiB ones).
func (f fixture) rounds(workload, target string, values ...float64) {
	for i, v := range values {
		r := bench.Result{MBPerSec: v, OpsPerSec: v, Size: 64 << 20}
		if strings.Contains(workload, "4KiB") {
			r.Size = 4096
		}
		f.run(workload, target, i+1, r, nil)
	}
}

func crypto(f fixture, signed bool) {
	f.write("crypto.json", cryptoRates{SHA256: 0.5, AESGCMSeal: 0.5, AESGCMOpen: 0.4})
	mode := "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	if signed {
		mode = "hex SHA-256"
	}
	f.write("machine.txt", "cpu: 2 x Test CPU\nload average at the start: 0.10 0.20 0.30\nclient payload (as the plain proxy saw the bench client's PUTs): "+mode+"\n")
}

func TestReport(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(f fixture)
		want    []string
		notWant []string
		err     string
	}{
		{
			name: "ratios of medians to the plain proxy, direct second",
			setup: func(f fixture) {
				f.rounds("put-64MiB", "bk", 90, 1000, 100)
				f.rounds("put-64MiB", "plain", 100, 100, 100)
				f.rounds("put-64MiB", "direct", 200, 200, 200)
			},
			want: []string{
				"Medians of 3 rounds, interleaved",
				"| 64 MiB PUT, c=2 | 100 MB/s | 100 MB/s | **1.00** | >= 0.95 | met | 200 MB/s | 0.50 |",
			},
			notWant: []string{"4 KiB", "Upstream payload", "Peak RSS", "KMS:"},
		},
		{
			name: "a miss, and KMS 10 ms away against the same plain proxy",
			setup: func(f fixture) {
				f.rounds("get-4KiB", "bk", 500, 500)
				f.rounds("get-4KiB", "bk-kms10", 950, 950)
				f.rounds("get-4KiB", "plain", 1000, 1000)
			},
			want: []string{
				"| 4 KiB GET, c=16 | 500 ops/s | 1,000 ops/s | **0.50** | >= 0.95 | **missed** | - |  |",
				"| 4 KiB GET, c=16, KMS 10 ms away | 950 ops/s | 1,000 ops/s | **0.95** | >= 0.90 | met |",
			},
		},
		{
			name: "failed operations invalidate the row",
			setup: func(f fixture) {
				f.run("put-4KiB", "bk", 1, bench.Result{OpsPerSec: 1000, Errors: 3, FirstError: "boom"}, nil)
				f.rounds("put-4KiB", "plain", 1000)
			},
			want: []string{"**invalid: 3 failed operations (boom)**"},
		},
		{
			name: "PUT CPU goal with a signed client payload",
			setup: func(f fixture) {
				crypto(f, true)
				f.run("put-64MiB", "bk", 1, bench.Result{MBPerSec: 100}, map[string]float64{"bk": 3, "plain": 0, "versitygw": 2, "bench-client": 1})
				f.run("put-64MiB", "plain", 1, bench.Result{MBPerSec: 100}, map[string]float64{"bk": 0, "plain": 1, "versitygw": 2, "bench-client": 1})
			},
			want: []string{
				// (1 + 0.5 SHA-256 + 0.5 AES-GCM) * 1.2 = 2.4 s per GiB
				"| 64 MiB PUT, proxy CPU per GiB | 3.00 s | 1.00 s | **3.00** | <= 2.40 | **missed** |",
				"the client signed its payload",
				"| put-64MiB | bk | 1 | 0 | 100.0 |",
				"| 3.00 s/GiB | 2.00 s/GiB | 1.00 s/GiB | 0 |",
			},
		},
		{
			name: "PUT CPU goal without a signed client payload, and upstream modes",
			setup: func(f fixture) {
				crypto(f, false)
				cpu := func(p string, v float64) map[string]float64 { return map[string]float64{p: v, "versitygw-tls": 0.5} }
				f.run("mode-put-64MiB", "bk-https-unsigned-trailer", 1, bench.Result{MBPerSec: 80}, cpu("bk-https-unsigned-trailer", 1.5))
				f.run("mode-put-64MiB", "bk-https-chunked", 1, bench.Result{MBPerSec: 70}, cpu("bk-https-chunked", 2))
				f.run("mode-put-64MiB", "plain-https", 1, bench.Result{MBPerSec: 90}, cpu("plain-https", 1))
			},
			want: []string{
				"| https | unsigned-trailer | 80 | 1.50 s | 1.50 | <= 1.80 | met | 0.50 s |",
				"| https | chunked | 70 | 2.00 s | 2.00 | <= 1.80 | **missed** | 0.50 s |",
				"| https | plain proxy | 90 | 1.00 s | 1.00 |  |  | 0.50 s |",
				"no SHA-256 pass is allowed",
			},
		},
		{
			name: "peak RSS at c=256 against 150 MiB, and its steps",
			setup: func(f fixture) {
				f.rounds("put-4KiB", "bk", 1)
				f.rounds("put-4KiB", "plain", 1)
				f.write("rss.jsonl", `{"target":"mem","step":"start","kb":10240}
{"target":"mem","step":"get-64MiB-c256","kb":204800}
{"target":"plainmem","step":"start","kb":10240}
{"target":"plainmem","step":"get-64MiB-c256","kb":20480}
`)
			},
			want: []string{
				"| peak RSS (VmHWM), up to c=256 | 200.0 MiB | 20.0 MiB | **10.00** | <= 150 MiB | **missed** |",
				"| proxy | start | get-64MiB-c256 |",
				"| bucketkey | 10.0 | 200.0 |",
				"| plain proxy | 10.0 | 20.0 |",
			},
		},
		{
			name: "KMS requests saved and key rollover",
			setup: func(f fixture) {
				kms := func(req float64) *bench.KMSDelta { return &bench.KMSDelta{Requests: req, Baseline: 4000} }
				f.run("kms-put-4KiB", "bk-kms10", 1, bench.Result{Ops: 4000, OpsPerSec: 800, Size: 4096, KMS: kms(1)}, nil)
				f.run("kms-put-4KiB", "nobk", 1, bench.Result{Ops: 4000, OpsPerSec: 400, Size: 4096, KMS: kms(4000)}, nil)
				f.run("kms-get-4KiB", "bk-kms10", 1, bench.Result{Ops: 4000, OpsPerSec: 1000, Size: 4096, KMS: kms(1)}, nil)
				f.run("kms-get-4KiB", "nobk", 1, bench.Result{Ops: 4000, OpsPerSec: 500, Size: 4096, KMS: kms(4000)}, nil)
				f.run("roll-put-4KiB", "bk-kms10", 1, bench.Result{OpsPerSec: 900, Size: 4096, Latency: bench.Latency{P99: 20 * time.Millisecond}, KMS: kms(1)}, nil)
				f.run("roll-put-4KiB", "roll", 1, bench.Result{OpsPerSec: 900, Size: 4096, Latency: bench.Latency{P99: 30 * time.Millisecond}, KMS: kms(6)}, nil)
				f.write("kms-latency.json", []kmsLatency{{Proxy: "nobk", Requests: 8000, Mean: 0.0125}})
			},
			want: []string{
				"| KMS requests, 4,000 PUT + 4,000 GET | 2 | 1.0000 per object (--no-bucket-key) | 99.975% fewer | >= 99.9% fewer | met |",
				"| 4 KiB PUT ops/s, c=16 | 800 (p99 0.00 ms) | 400 (p99 0.00 ms, --no-bucket-key) | x2.00 | | |",
				"| 4 KiB PUT, c=16, keys rolled every 2 s | p99 30.00 ms, p50 0.00 ms, 900 ops/s (KMS 6 requests) | p99 20.00 ms",
				"p99 x1.50",
				`KMS as proxy "nobk" saw it: 8,000 requests, mean 12.5 ms`,
			},
		},
		{
			name:  "no runs",
			setup: func(f fixture) { f.write("machine.txt", "cpu: 2 x Test CPU\n") },
			err:   "no runs",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fixture{t: t, dir: t.TempDir()}
			tc.setup(f)
			var out bytes.Buffer
			svg := filepath.Join(t.TempDir(), "chart.svg")
			err := report(f.dir, svg, &out)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("output has %q:\n%s", w, out.String())
				}
			}
			checkSVG(t, svg)
		})
	}
}

// checkSVG checks the chart parses as XML.
func checkSVG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("chart is not XML: %v\n%s", err, b)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{9, 1, 5}, 5}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
