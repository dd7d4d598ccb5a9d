package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestEstimateWorkedExamples(t *testing.T) {
	base := workload{Buckets: 1, TTL: 5 * time.Minute, Replicas: 1, Price: 0.03, DistinctWriters: 1, MaxObjects: 1_000_000}
	with := func(f func(*workload)) workload { w := base; f(&w); return w }
	tests := []struct {
		name                     string
		w                        workload
		baseGDK, baseDec         float64
		gdk, dec                 float64
		baseDollars, keysDollars float64
	}{
		{
			// README's example. Keys live L = 270 s (refresh-ahead at 90% of
			// the 5-minute TTL): 9,600 windows a month; 3 replicas x 10
			// buckets = 30 keys a window; each key is read for L + 5 min, so
			// each of 3 replicas unwraps it c = 1 + ceil(300/270) = 3 times,
			// its maker the first time free: 8 Decrypts.
			name: "3 replicas, 10 buckets",
			w: with(func(w *workload) {
				w.PutRate, w.GetRate, w.Buckets, w.Replicas, w.ReadWindow = 100, 400, 10, 3, 5*time.Minute
			}),
			baseGDK: 259_200_000, baseDec: 1_036_800_000,
			gdk: 288_000, dec: 2_304_000,
			baseDollars: 3888, keysDollars: 7.776,
		},
		{
			// README's example behind a load balancer with bucket affinity:
			// 10 keys a window (one per bucket), each read by its maker only,
			// unwrapped again twice (c - 1 = 2 Decrypts per key).
			name: "3 replicas, 10 buckets, sticky",
			w: with(func(w *workload) {
				w.PutRate, w.GetRate, w.Buckets, w.Replicas, w.ReadWindow, w.Sticky = 100, 400, 10, 3, 5*time.Minute, true
			}),
			baseGDK: 259_200_000, baseDec: 1_036_800_000,
			gdk: 96_000, dec: 192_000,
			baseDollars: 3888, keysDollars: 0.864,
		},
		{
			// README's fleet ("Running many replicas"): 100 replicas x 10,000
			// buckets = 1,000,000 keys a window, fewer than the writes (K is
			// capped by W*L = 1,350,000 only above that); 299 Decrypts per key
			// exceed the reads, so Decrypt is capped by the baseline: bucket
			// keys save 5%.
			name: "fleet, round-robin",
			w: with(func(w *workload) {
				w.PutRate, w.GetRate, w.Buckets, w.Replicas, w.ReadWindow = 5000, 20000, 10000, 100, 5*time.Minute
			}),
			baseGDK: 12_960_000_000, baseDec: 51_840_000_000,
			gdk: 9_600_000_000, dec: 51_840_000_000,
			baseDollars: 194_400, keysDollars: 184_320,
		},
		{
			// The same fleet with bucket affinity: 10,000 keys a window.
			name: "fleet, sticky",
			w: with(func(w *workload) {
				w.PutRate, w.GetRate, w.Buckets, w.Replicas, w.ReadWindow, w.Sticky = 5000, 20000, 10000, 100, 5*time.Minute, true
			}),
			baseGDK: 12_960_000_000, baseDec: 51_840_000_000,
			gdk: 96_000_000, dec: 192_000_000,
			baseDollars: 194_400, keysDollars: 864,
		},
		{
			// One proxy reading back what it just wrote: its own keys are in
			// its unwrap cache, so no Decrypt at all.
			name:    "one proxy, fresh reads",
			w:       with(func(w *workload) { w.PutRate, w.GetRate, w.ReadWindow = 10, 10, 0 }),
			baseGDK: 25_920_000, baseDec: 25_920_000,
			gdk: 9600, dec: 0,
			baseDollars: 155.52, keysDollars: 0.0288,
		},
		{
			// A trickle: fewer writes than (replica, bucket) pairs per window,
			// so every write makes a key and nothing is saved (the cap).
			name: "trickle is capped by the baseline",
			w: with(func(w *workload) {
				w.PutRate, w.Buckets, w.Replicas, w.ReadWindow = 0.001, 100, 2, 5*time.Minute
			}),
			baseGDK: 2592, baseDec: 0,
			gdk: 2592, dec: 0,
			baseDollars: 0.007776, keysDollars: 0.007776,
		},
		{
			// 2,700,000 writes a window exceed --bucket-key-max-objects (a key
			// is replaced at 90% of it): 3 keys a window.
			name:    "max objects rolls keys",
			w:       with(func(w *workload) { w.PutRate, w.ReadWindow = 10_000, 0 }),
			baseGDK: 25_920_000_000, baseDec: 0,
			gdk: 28_800, dec: 0,
			baseDollars: 77_760, keysDollars: 0.0864,
		},
		{
			// Reads reach an hour back: a key is unwrapped 1 + ceil(3600/270)
			// = 15 times by each replica: 2*15 - 1 = 29 Decrypts per key, 10
			// keys a window.
			name: "hour-long read window",
			w: with(func(w *workload) {
				w.PutRate, w.GetRate, w.Buckets, w.Replicas, w.ReadWindow = 50, 500, 5, 2, time.Hour
			}),
			baseGDK: 129_600_000, baseDec: 1_296_000_000,
			gdk: 96_000, dec: 2_784_000,
			baseDollars: 4276.8, keysDollars: 8.64,
		},
		{
			// README's example in bursts once per TTL: no refresh-ahead, keys
			// live a whole window (8,640 a month), c = 1 + ceil(300/300) = 2.
			name: "3 replicas, 10 buckets, bursts",
			w: with(func(w *workload) {
				w.PutRate, w.GetRate, w.Buckets, w.Replicas, w.ReadWindow, w.Bursts = 100, 400, 10, 3, 5*time.Minute, true
			}),
			baseGDK: 259_200_000, baseDec: 1_036_800_000,
			gdk: 259_200, dec: 1_296_000,
			baseDollars: 3888, keysDollars: 4.6656,
		},
		{
			// Partitioning by access key multiplies the keys: 4 writers.
			name: "distinct writers",
			w: with(func(w *workload) {
				w.PutRate, w.GetRate, w.DistinctWriters, w.ReadWindow = 100, 100, 4, 5*time.Minute
			}),
			baseGDK: 259_200_000, baseDec: 259_200_000,
			gdk: 38_400, dec: 76_800,
			baseDollars: 1555.2, keysDollars: 0.3456,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.w.validate(); err != nil {
				t.Fatal(err)
			}
			r := estimate(tt.w)
			check := func(what string, got, want float64) {
				t.Helper()
				if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
					t.Errorf("%s = %v, want %v", what, got, want)
				}
			}
			check("baseline GenerateDataKey", r.Baseline.GenerateDataKey, tt.baseGDK)
			check("baseline Decrypt", r.Baseline.Decrypt, tt.baseDec)
			check("bucket keys GenerateDataKey", r.BucketKeys.GenerateDataKey, tt.gdk)
			check("bucket keys Decrypt", r.BucketKeys.Decrypt, tt.dec)
			check("baseline $", r.Baseline.Dollars, tt.baseDollars)
			check("bucket keys $", r.BucketKeys.Dollars, tt.keysDollars)
			check("saved $", r.SavedDollar, tt.baseDollars-tt.keysDollars)
			if r.BucketKeys.Requests > r.Baseline.Requests {
				t.Errorf("bucket keys cost more requests than the baseline")
			}
		})
	}
}

func TestEstimateCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"estimate", "--put-rate", "100", "--get-rate", "400", "--buckets", "10", "--replicas", "3"}, &stdout, &stderr, env())
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"one KMS call per object  259,200,000  1,036,800,000  1,296,000,000  $3,888.00",
		"bucket keys      288,000      2,304,000      2,592,000      $7.78",
		"1,293,408,000  $3,880.22",
		"99.80% fewer KMS requests",
		"reads reach objects up to 5m0s old",
	} {
		if !strings.Contains(squeeze(out), squeeze(want)) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	stdout.Reset()
	if code := run(context.Background(), []string{"estimate", "--put-rate", "1", "--json"}, &stdout, &stderr, env()); code != exitOK {
		t.Fatalf("--json exit %d", code)
	}
	var res estimateResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Baseline.GenerateDataKey != 2_592_000 || res.Workload.ReadWindow != 5*time.Minute {
		t.Errorf("json: %+v", res)
	}
}

func TestEstimateInvalid(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--put-rate", "-1"},
		{"--put-rate", "1", "--buckets", "0"},
		{"--put-rate", "1", "--replicas", "0"},
		{"--put-rate", "1", "--ttl", "0s"},
		{"--put-rate", "1", "--price", "0"},
		{"--put-rate", "1", "--read-window", "-1s"},
		{"--put-rate", "NaN"},
		{"--put-rate", "x"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"estimate"}, args...), &stdout, &stderr, env())
		if code != exitConfig || strings.Count(stderr.String(), "\n") != 1 || !strings.HasPrefix(stderr.String(), "bucketkey estimate: ") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line", args, code, stderr.String())
		}
	}
}

// squeeze collapses runs of spaces, so table checks do not depend on column
// widths.
func squeeze(s string) string { return strings.Join(strings.Fields(s), " ") }
