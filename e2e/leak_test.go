package e2e

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"
)

// closeIdle closes the idle connections of every side of the envs (test
// clients, proxy to backend, proxy to KMS), whose goroutines would
// otherwise be counted as leaks.
func closeIdle(envs ...*env) {
	for _, e := range envs {
		e.clientHTTP.CloseIdleConnections()
		e.upstream.rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
		e.kmsHTTP.CloseIdleConnections()
	}
}

// settledGoroutines closes idle connections and returns the goroutine
// count once it has stopped falling (three equal readings 20 ms apart,
// within 5 s): the baseline for a leak check.
func settledGoroutines(envs ...*env) int {
	closeIdle(envs...)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(5 * time.Second)
	last, same := runtime.NumGoroutine(), 0
	for same < 3 && time.Now().Before(deadline) {
		<-tick.C
		n := runtime.NumGoroutine()
		if n == last {
			same++
		} else {
			last, same = n, 0
		}
	}
	return last
}

// noGoroutineLeak waits (polling, at most 10 s) for the goroutine count
// to come back to at most baseline+slack after closing idle connections,
// and fails the test with every goroutine's stack if it does not.
func noGoroutineLeak(t testing.TB, baseline, slack int, envs ...*env) int {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		closeIdle(envs...)
		n := runtime.NumGoroutine()
		if n <= baseline+slack {
			return n
		}
		if time.Now().After(deadline) {
			var b bytes.Buffer
			_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Errorf("goroutines: %d, baseline %d (+%d allowed): leaked\n%s", n, baseline, slack, b.String())
			return n
		}
		<-tick.C
	}
}

// leakBaseline is what a fault test compares against once the fault is
// over: goroutines and live heap before it began.
type leakBaseline struct {
	goroutines int
	heap       uint64
}

// takeLeakBaseline records the settled goroutine count and the live heap.
func takeLeakBaseline(envs ...*env) leakBaseline {
	return leakBaseline{goroutines: settledGoroutines(envs...), heap: heapInUse()}
}

// check fails t unless goroutines came back to the baseline (+2) and the
// heap grew by at most 8 MiB over what (a phrase: "the KMS faults").
func (b leakBaseline) check(t testing.TB, what string, envs ...*env) {
	t.Helper()
	g := noGoroutineLeak(t, b.goroutines, 2, envs...)
	heap := heapInUse()
	t.Logf("goroutines %d -> %d; heap %d KiB -> %d KiB", b.goroutines, g, b.heap>>10, heap>>10)
	if heap > b.heap+8<<20 {
		t.Errorf("heap grew from %d KiB to %d KiB over %s", b.heap>>10, heap>>10, what)
	}
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// rssKiB returns this process's resident set size (VmRSS), in KiB.
func rssKiB(t testing.TB) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
