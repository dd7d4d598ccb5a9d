package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bucketkey/bucketkey/admin"
	"github.com/bucketkey/bucketkey/internal/accesslog"
	"github.com/bucketkey/bucketkey/keycache"
)

// uniformLog is a synthetic log: put writes per second spread evenly over
// buckets, get reads per second of objects written in the last window,
// for span.
func uniformLog(put, get float64, buckets int, window, span time.Duration) []accesslog.Event {
	r := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []accesslog.Event
	type obj struct {
		bucket, key string
		at          time.Time
	}
	var written []obj
	lo := 0 // written[lo:] are the objects of the last window
	rate := put + get
	n := int(rate * span.Seconds())
	for i := range n {
		at := t0.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if r.Float64() < put/rate || len(written) == 0 {
			o := obj{fmt.Sprintf("bucket-%d", len(written)%buckets), fmt.Sprintf("k%d", i), at}
			written = append(written, o)
			evs = append(evs, accesslog.Event{Time: at, Bucket: o.bucket, Key: o.key, Client: "app", Kind: accesslog.Write})
			continue
		}
		// A recent object: written within the window.
		for lo < len(written)-1 && at.Sub(written[lo].at) > window {
			lo++
		}
		o := written[lo+r.IntN(len(written)-lo)]
		evs = append(evs, accesslog.Event{Time: at, Bucket: o.bucket, Key: o.key, Client: "app", Kind: accesslog.Read})
	}
	return evs
}

// TestReplayAgreesWithClosedForm replays synthetic uniform logs of
// continuous traffic through the key cache and compares with `bucketkey
// estimate`'s formula for the same workload: the one-per-object baseline
// exactly; GenerateDataKey within 10% (the formula's keys live 0.9 TTL, as
// refresh-ahead replaces them); Decrypt at most 5% over and at least 60%
// of the formula's, which counts every unwrap refresh-ahead may make (a
// replica that first reads a key late refreshes it late, and may not need
// its last refresh: README, "Estimating the cost"). Before refresh-ahead
// was in the formula, the replay's Decrypt count was twice the formula's
// for one replica and a read window of one TTL.
func TestReplayAgreesWithClosedForm(t *testing.T) {
	const put, get, buckets = 10.0, 20.0, 3
	ttl := 5 * time.Minute
	for _, tc := range []struct {
		replicas   int
		readWindow time.Duration
	}{{1, ttl / 2}, {1, ttl}, {2, ttl / 4}, {3, ttl / 2}, {3, ttl}, {3, 2 * ttl}} {
		evs := uniformLog(put, get, buckets, tc.readWindow, 2*time.Hour)
		got := replay(evs, replaySettings{TTL: ttl, Replicas: tc.replicas, MaxObjects: keycache.DefaultMaxObjects, Price: admin.DefaultPricePer10k})
		want := estimate(workload{PutRate: put, GetRate: get, Buckets: buckets, TTL: ttl, Replicas: tc.replicas,
			Price: admin.DefaultPricePer10k, DistinctWriters: 1, ReadWindow: tc.readWindow, MaxObjects: keycache.DefaultMaxObjects})
		scale := float64(secondsPerMonth) / got.Span.Seconds()
		base := float64(got.Total.Baseline) * scale
		gdk, dec := float64(got.Total.GenerateDataKey)*scale, float64(got.Total.Decrypt)*scale
		t.Logf("%v; per month: GenerateDataKey %.0f (formula %.0f), Decrypt %.0f (formula %.0f)", got, gdk, want.BucketKeys.GenerateDataKey, dec, want.BucketKeys.Decrypt)
		if math.Abs(base-want.Baseline.Requests)/want.Baseline.Requests > 0.01 {
			t.Errorf("%+v: baseline %.0f per month, formula %.0f", tc, base, want.Baseline.Requests)
		}
		if r := gdk / want.BucketKeys.GenerateDataKey; r < 0.9 || r > 1.1 {
			t.Errorf("%+v: GenerateDataKey %.0f per month, formula %.0f", tc, gdk, want.BucketKeys.GenerateDataKey)
		}
		// Refresh-ahead runs in the caches' own goroutines, not on the
		// replay's clock, so the Decrypt count varies from run to run: for
		// 3 replicas and a read window of half a TTL, 411,482 to 453,962
		// per month in 13 runs against the formula's 432,000 (-4.7% to
		// +5.1%; one CI-like run failed a 1.05 bound). 1.1 still catches
		// the error this test was written for (twice the formula).
		if r := dec / want.BucketKeys.Decrypt; r < 0.6 || r > 1.1 {
			t.Errorf("%+v: Decrypt %.0f per month, formula %.0f", tc, dec, want.BucketKeys.Decrypt)
		}
	}
}

// TestReplayReplicasShareOneKMS: every replica's bucket keys have wrapped
// blobs of their own, as one KMS gives them, so that a replica never takes
// another's key for one it has cached (with a stand-in KMS per replica the
// n-th blobs coincided and Decrypts of other replicas' keys went uncounted).
func TestReplayReplicasShareOneKMS(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	evs := []accesslog.Event{
		{Time: t0, Bucket: "b", Key: "x", Client: "app", Kind: accesslog.Write},                     // replica 0 makes key 1
		{Time: t0.Add(time.Second), Bucket: "b", Key: "y", Client: "app", Kind: accesslog.Write},    // replica 1 makes its key
		{Time: t0.Add(2 * time.Second), Bucket: "b", Key: "x", Client: "app", Kind: accesslog.Read}, // replica 0: its own key
		{Time: t0.Add(3 * time.Second), Bucket: "b", Key: "x", Client: "app", Kind: accesslog.Read}, // replica 1: replica 0's key
	}
	got := replay(evs, replaySettings{TTL: 5 * time.Minute, Replicas: 2, MaxObjects: keycache.DefaultMaxObjects, Price: admin.DefaultPricePer10k})
	if got.Total.GenerateDataKey != 2 || got.Total.Decrypt != 1 {
		t.Errorf("two replicas: %v; want 2 GenerateDataKey, 1 Decrypt (replica 1 unwrapping replica 0's key)", got)
	}
}

// TestEstimateAccessLog runs `bucketkey estimate --access-log` on the
// sample log the README uses: a TTL sweep table, per-bucket lines, an SVG
// chart and the JSON form.
func TestEstimateAccessLog(t *testing.T) {
	sample := "../../testdata/accesslog/sample-s3-access.log"
	svg := filepath.Join(t.TempDir(), "sweep.svg")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"estimate", "--access-log", sample, "--ttl-sweep", "1m,5m,15m", "--replicas", "2", "--svg", svg}, &out, &errb, noEnv)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"Replayed 521 object requests (198 writes, 323 reads)", "1m0s", "15m0s", "photos-example", "logs-example"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if b, err := os.ReadFile(svg); err != nil || !bytes.Contains(b, []byte("<polyline")) {
		t.Errorf("svg: %v %.100s", err, b)
	}
	out.Reset()
	if code := run(context.Background(), []string{"estimate", "--access-log", sample, "--partition-by-access-key", "--json"}, &out, &errb, noEnv); code != exitOK {
		t.Fatalf("--json: exit %d: %s", code, errb.String())
	}
	var rep replayReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || len(rep.Results) != 1 || rep.Results[0].Total.Requests == 0 ||
		rep.Results[0].Total.Requests >= rep.Results[0].Total.Baseline {
		t.Errorf("--json: %v %+v", err, rep)
	}
	// Bucket affinity: three sticky replicas cost what one does.
	evs, err := readLogs([]string{sample})
	if err != nil {
		t.Fatal(err)
	}
	one := replay(evs, replaySettings{TTL: 5 * time.Minute, Replicas: 1, MaxObjects: keycache.DefaultMaxObjects, Price: 0.03})
	sticky := replay(evs, replaySettings{TTL: 5 * time.Minute, Replicas: 3, Sticky: true, MaxObjects: keycache.DefaultMaxObjects, Price: 0.03})
	spread := replay(evs, replaySettings{TTL: 5 * time.Minute, Replicas: 3, MaxObjects: keycache.DefaultMaxObjects, Price: 0.03})
	if sticky.Total.Requests != one.Total.Requests || spread.Total.Requests <= one.Total.Requests {
		t.Errorf("one replica %v; three sticky %v; three in turn %v", one, sticky, spread)
	}
	errb.Reset()
	if code := run(context.Background(), []string{"estimate", "--access-log", sample, "--put-rate", "3"}, &out, &errb, noEnv); code != exitConfig {
		t.Errorf("--access-log with --put-rate: exit %d", code)
	}
}
