package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bucketkey/bucketkey/bench"
)

// run is one `bucketkey bench` invocation: WORKLOAD.TARGET.rROUND.json and
// its .cpu.json (CPU seconds of every process during the run).
type run struct {
	workload, target string
	round            int
	res              *bench.Result
	cpu              map[string]float64
	written          time.Time // the file's modification time: the run order
}

// rssStep is one line of rss.jsonl: a proxy's VmHWM after a step.
type rssStep struct {
	Target string `json:"target"`
	Step   string `json:"step"`
	KB     int64  `json:"kb"`
}

// cryptoRates is crypto.json (scripts/cryptorate): one core's seconds per GiB.
type cryptoRates struct {
	SHA256     float64 `json:"sha256_sec_per_gib"`
	AESGCMSeal float64 `json:"aesgcm_seal_sec_per_gib"`
	AESGCMOpen float64 `json:"aesgcm_open_sec_per_gib"`
}

// kmsLatency is an element of kms-latency.json.
type kmsLatency struct {
	Proxy    string  `json:"proxy"`
	Requests int64   `json:"kms_requests"`
	Mean     float64 `json:"kms_mean_seconds"`
}

// hugeFile is huge.json: the huge object's size and its stored size.
type hugeFile struct {
	Size         string `json:"size"`
	BackendBytes int64  `json:"backend_bytes"`
}

// results is everything one benchmarks.sh run wrote.
type results struct {
	runs    map[[2]string][]*run // by {workload, target}, in round order
	order   [][2]string          // workloads and targets as first seen (file order)
	rss     []rssStep
	huge    *hugeFile
	crypto  *cryptoRates
	kmsLat  []kmsLatency
	machine string
}

// load reads dir. Only run files are required; the other files are
// optional (their sections are left out when a part did not run).
func load(dir string) (*results, error) {
	r := &results{runs: map[[2]string][]*run{}}
	names, err := filepath.Glob(filepath.Join(dir, "*.r*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimSuffix(filepath.Base(name), ".json")
		if strings.HasSuffix(base, ".cpu") {
			continue
		}
		f := strings.Split(base, ".")
		if len(f) != 3 || !strings.HasPrefix(f[2], "r") {
			continue
		}
		round, err := strconv.Atoi(f[2][1:])
		if err != nil {
			continue
		}
		ru := &run{workload: f[0], target: f[1], round: round}
		if err := ru.read(dir, base); err != nil {
			return nil, err
		}
		k := [2]string{ru.workload, ru.target}
		if r.runs[k] == nil {
			r.order = append(r.order, k)
		}
		r.runs[k] = append(r.runs[k], ru)
	}
	if len(r.runs) == 0 {
		return nil, fmt.Errorf("%s: no runs (WORKLOAD.TARGET.rN.json)", dir)
	}
	for _, rs := range r.runs {
		sort.Slice(rs, func(i, j int) bool { return rs[i].round < rs[j].round })
	}
	// Workloads in the order they ran (their first rounds' files).
	sort.SliceStable(r.order, func(i, j int) bool {
		return r.runs[r.order[i]][0].written.Before(r.runs[r.order[j]][0].written)
	})
	if err := r.readExtras(dir); err != nil {
		return nil, err
	}
	return r, nil
}

func (ru *run) read(dir, base string) error {
	var out struct {
		Results []*bench.Result `json:"results"`
	}
	path := filepath.Join(dir, base+".json")
	if err := readJSON(path, &out); err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil {
		ru.written = fi.ModTime()
	}
	if len(out.Results) != 1 {
		return fmt.Errorf("%s.json: %d results, want 1", base, len(out.Results))
	}
	ru.res = out.Results[0]
	ru.cpu = map[string]float64{}
	err := readJSON(filepath.Join(dir, base+".cpu.json"), &ru.cpu)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (r *results) readExtras(dir string) error {
	optional := func(name string, v any) error {
		err := readJSON(filepath.Join(dir, name), v)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if err := optional("crypto.json", &r.crypto); err != nil {
		return err
	}
	if err := optional("kms-latency.json", &r.kmsLat); err != nil {
		return err
	}
	if err := optional("huge.json", &r.huge); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(dir, "rss.jsonl"))
	if err == nil {
		for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var s rssStep
			if err := json.Unmarshal([]byte(line), &s); err != nil {
				return fmt.Errorf("rss.jsonl line %d: %w", i+1, err)
			}
			r.rss = append(r.rss, s)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(dir, "machine.txt")); err == nil {
		r.machine = string(b)
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return nil
}

// machineField returns the value of a "name: value" line of machine.txt.
func (r *results) machineField(name string) string {
	for _, line := range strings.Split(r.machine, "\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// clientSigned reports whether the bench client signed its PUT payloads
// (a hex SHA-256 or signed chunks), as the plain proxy logged them: then
// every proxy owes one SHA-256 pass to verify them.
func (r *results) clientSigned() bool {
	v := r.machineField("client payload (as the plain proxy saw the bench client's PUTs)")
	return strings.Contains(v, "hex SHA-256") || strings.Contains(v, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
}

// stat is the medians over the rounds of one workload against one target.
type stat struct {
	rounds           int
	errors           int64
	firstErr         string
	ops, mbps        float64
	p50, p99         float64 // seconds
	elapsed          float64 // seconds
	proxyCPU         float64 // the target process's CPU seconds per GiB moved (0: not a proxy)
	proxyCPUPerOp    float64 // ... per operation
	backendCPU       float64 // versitygw's CPU seconds per GiB moved
	clientCPU        float64 // the bench client's per GiB
	backendCPUPerOp  float64
	clientCPUPerOp   float64
	size             int64
	kmsReq, kmsBase  float64 // sums over the rounds
	totalOps         int64
	hasCPU, hasProxy bool
}

// backendProcess reports whether a process name is an S3 backend.
func backendProcess(name string) bool { return strings.HasPrefix(name, "versitygw") }

// stat returns the medians for workload against target, nil if it did not run.
func (r *results) stat(workload, target string) *stat {
	rs := r.runs[[2]string{workload, target}]
	if len(rs) == 0 {
		return nil
	}
	s := &stat{rounds: len(rs), size: rs[0].res.Size}
	var ops, mbps, p50, p99, el, pc, pcOp, bc, cc, bcOp, ccOp []float64
	for _, ru := range rs {
		res := ru.res
		s.errors += res.Errors
		if s.firstErr == "" {
			s.firstErr = res.FirstError
		}
		ops, mbps = append(ops, res.OpsPerSec), append(mbps, res.MBPerSec)
		p50, p99 = append(p50, res.Latency.P50.Seconds()), append(p99, res.Latency.P99.Seconds())
		el = append(el, res.Elapsed.Seconds())
		s.totalOps += res.Ops
		if res.KMS != nil {
			s.kmsReq += res.KMS.Requests
			s.kmsBase += res.KMS.Baseline
		}
		gib := float64(res.Bytes) / (1 << 30)
		if len(ru.cpu) == 0 || gib == 0 {
			continue
		}
		s.hasCPU = true
		if v, ok := ru.cpu[target]; ok {
			s.hasProxy = true
			pc, pcOp = append(pc, v/gib), append(pcOp, v/float64(max(res.Ops, 1)))
		}
		var b float64
		for p, v := range ru.cpu {
			if backendProcess(p) {
				b += v
			}
		}
		n := float64(max(res.Ops, 1))
		bc, cc = append(bc, b/gib), append(cc, ru.cpu["bench-client"]/gib)
		bcOp, ccOp = append(bcOp, b/n), append(ccOp, ru.cpu["bench-client"]/n)
	}
	s.ops, s.mbps, s.p50, s.p99, s.elapsed = median(ops), median(mbps), median(p50), median(p99), median(el)
	s.proxyCPU, s.proxyCPUPerOp, s.backendCPU, s.clientCPU = median(pc), median(pcOp), median(bc), median(cc)
	s.backendCPUPerOp, s.clientCPUPerOp = median(bcOp), median(ccOp)
	return s
}

// median of xs (0 for none); the mean of the middle two for an even count.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
