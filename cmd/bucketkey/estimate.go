package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/bucketkey/bucketkey/admin"
	"github.com/bucketkey/bucketkey/keycache"
)

// secondsPerMonth is the 30-day month AWS prices by.
const secondsPerMonth = 30 * 24 * 3600 // 2,592,000

// workload is what `bucketkey estimate` is told.
type workload struct {
	PutRate         float64       `json:"put_rate"`         // objects written per second, all replicas together
	GetRate         float64       `json:"get_rate"`         // objects read per second
	Buckets         int           `json:"buckets"`          // buckets written and read
	TTL             time.Duration `json:"ttl"`              // bucket key life (--bucket-key-ttl)
	Replicas        int           `json:"replicas"`         // proxy instances behind a load balancer
	Price           float64       `json:"price_per_10k"`    // dollars per 10,000 KMS requests
	DistinctWriters int           `json:"distinct_writers"` // client access keys, with --partition-by-access-key
	ReadWindow      time.Duration `json:"read_window"`      // age of the objects read
	MaxObjects      int64         `json:"max_objects"`      // --bucket-key-max-objects
	// Sticky: the load balancer sends each bucket to one replica
	// (consistent hashing on the bucket), so the replicas do not multiply
	// the keys: the estimate is the one-replica one.
	Sticky bool `json:"sticky"`
	// Bursts: traffic comes in bursts at most once per TTL (a batch job),
	// so no key is used in the last tenth of its life and none is
	// refreshed ahead: keys live a whole TTL.
	Bursts bool `json:"bursts,omitempty"`
}

// design is one design's monthly KMS requests and cost.
type design struct {
	GenerateDataKey float64 `json:"generate_data_key"`
	Decrypt         float64 `json:"decrypt"`
	Requests        float64 `json:"requests"`
	Dollars         float64 `json:"dollars"`
}

// estimateResult compares the two designs over a month.
type estimateResult struct {
	Workload    workload `json:"workload"`
	Baseline    design   `json:"baseline"`    // one KMS call per object
	BucketKeys  design   `json:"bucket_keys"` // this proxy
	SavedRatio  float64  `json:"saved_ratio"`
	SavedDollar float64  `json:"saved_dollars"`
}

// estimate computes the monthly KMS requests of both designs (the formula is
// in README.md, "Estimating the cost"):
//
//	S        = 2,592,000 s (30 days)
//	baseline = (W + R) * S requests: one GenerateDataKey per write, one Decrypt per read
//
//	L                 = TTL - TTL/10                    a key's life under continuous traffic
//	windows M         = S / L
//	keys per window K = min(W*L, N*B*D * max(1, ceil(W*L / (N*B*D*0.9*maxObjects))))
//	GenerateDataKey   = min(W*S, M * K)
//	c                 = 1 + ceil(readWindow / L)        unwraps of a key by each replica that reads it
//	Decrypt           = min(R*S, M * K * (N*c - 1))
//
// The cache refreshes a key that is used in the last tenth of its life
// (refresh-ahead, keycache.Options.RefreshAhead), in the background, so
// that no request waits for KMS: under continuous traffic a bucket key is
// replaced every L = 0.9 TTL, not every TTL (and at 90% of maxObjects),
// and an unwrapped key is unwrapped again every L while it is read. A key
// is read from its creation until readWindow after its last write, i.e.
// for L + readWindow: each of the N replicas unwraps it when it first
// reads it and again every L after that, c times, except the replica that
// generated the key, which has it cached from the start (N*c - 1).
// Assumptions: steady state (the data read was written by this workload),
// load spread evenly so that every replica writes every bucket in every
// window and reads every live key (upper bounds both), no evictions (the
// caches hold 10,000 keys). With Sticky, N is 1: bucket affinity makes R
// replicas cost what one does. With Bursts, L is the TTL: keys used in
// bursts at most once per TTL are never refreshed ahead.
func estimate(w workload) estimateResult {
	S := float64(secondsPerMonth)
	life := w.TTL.Seconds()
	if !w.Bursts {
		life = keyLife(w.TTL).Seconds()
	}
	windows := S / life
	n := w.Replicas
	if w.Sticky {
		n = 1
	}
	combos := float64(n * w.Buckets * w.DistinctWriters)
	writesPerWindow := w.PutRate * life

	res := estimateResult{Workload: w}
	res.Baseline.GenerateDataKey = w.PutRate * S
	res.Baseline.Decrypt = w.GetRate * S

	perKey := math.Max(1, float64(w.MaxObjects-max(1, w.MaxObjects/10))) // refreshed at 90% of maxObjects
	perCombo := math.Max(1, math.Ceil(writesPerWindow/(combos*perKey)))
	keysPerWindow := math.Min(writesPerWindow, combos*perCombo)
	res.BucketKeys.GenerateDataKey = math.Min(res.Baseline.GenerateDataKey, windows*keysPerWindow)
	c := 1 + math.Ceil(w.ReadWindow.Seconds()/life)
	res.BucketKeys.Decrypt = math.Min(res.Baseline.Decrypt, windows*keysPerWindow*(float64(n)*c-1))

	for _, d := range []*design{&res.Baseline, &res.BucketKeys} {
		d.Requests = d.GenerateDataKey + d.Decrypt
		d.Dollars = d.Requests * w.Price / 10000
	}
	if res.Baseline.Requests > 0 {
		res.SavedRatio = 1 - res.BucketKeys.Requests/res.Baseline.Requests
	}
	res.SavedDollar = res.Baseline.Dollars - res.BucketKeys.Dollars
	return res
}

// keyLife is how long a bucket key (or an unwrapped key) serves under
// continuous traffic: the cache replaces it in the background once it is
// used in the last tenth of its TTL (keycache's default RefreshAhead).
func keyLife(ttl time.Duration) time.Duration {
	return ttl - ttl/10
}

func (w workload) validate() error {
	switch {
	case w.PutRate < 0 || w.GetRate < 0 || math.IsNaN(w.PutRate) || math.IsNaN(w.GetRate) || math.IsInf(w.PutRate, 0) || math.IsInf(w.GetRate, 0):
		return errors.New("--put-rate and --get-rate must be finite and not negative")
	case w.PutRate == 0 && w.GetRate == 0:
		return errors.New("give --put-rate and/or --get-rate (objects per second)")
	case w.Buckets < 1:
		return errors.New("--buckets must be at least 1")
	case w.Replicas < 1:
		return errors.New("--replicas must be at least 1")
	case w.DistinctWriters < 1:
		return errors.New("--distinct-writers must be at least 1")
	case w.TTL <= 0:
		return errors.New("--ttl must be positive")
	case w.ReadWindow < 0:
		return errors.New("--read-window must not be negative")
	case !(w.Price > 0) || math.IsInf(w.Price, 0):
		return errors.New("--price must be positive")
	case w.MaxObjects < 1:
		return errors.New("--max-objects must be at least 1")
	}
	return nil
}

const estimateSynopsis = "bucketkey estimate --put-rate N --get-rate N [--buckets N] [--ttl D] [--replicas N] [--price D] [--sticky] [--bursts] [--distinct-writers N] [--read-window D] [--json]\n       bucketkey estimate --access-log FILE... [--ttl D | --ttl-sweep D,D,...] [--replicas N] [--sticky] [--partition-by-access-key] [--svg FILE] [--price D] [--json]"

// runEstimate is `bucketkey estimate`.
func runEstimate(args []string, stdout, stderr io.Writer) int {
	var w workload
	var asJSON bool
	s := newSettings("estimate")
	fs := s.fs
	fs.Float64Var(&w.PutRate, "put-rate", 0, "objects written per `second`, all proxies together")
	fs.Float64Var(&w.GetRate, "get-rate", 0, "objects read per `second`, all proxies together")
	fs.IntVar(&w.Buckets, "buckets", 1, "`number` of buckets the objects are spread over")
	fs.DurationVar(&w.TTL, "ttl", keycache.DefaultTTL, "bucket key life (--bucket-key-ttl)")
	fs.IntVar(&w.Replicas, "replicas", 1, "`number` of proxy instances; each caches its own keys")
	fs.Float64Var(&w.Price, "price", admin.DefaultPricePer10k, "KMS price in `dollars` per 10,000 requests")
	fs.IntVar(&w.DistinctWriters, "distinct-writers", 1, "client access keys writing, when running with --partition-by-access-key")
	fs.DurationVar(&w.ReadWindow, "read-window", -1, "age of the objects read: reads reach objects written this long ago [--ttl]")
	fs.Int64Var(&w.MaxObjects, "max-objects", keycache.DefaultMaxObjects, "--bucket-key-max-objects")
	fs.BoolVar(&w.Sticky, "sticky", false, "the load balancer routes each bucket to one replica (consistent hashing on the bucket)")
	fs.BoolVar(&w.Bursts, "bursts", false, "traffic comes in bursts at most once per TTL: keys are not refreshed ahead and live a whole TTL")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	var rf replayFlags
	fs.Var(&rf.logs, "access-log", "replay this S3 server access log or CloudTrail S3 data events `file` through the key cache instead (repeatable)")
	fs.StringVar(&rf.sweep, "ttl-sweep", "", "with --access-log: replay at each of these comma-separated `TTLs` (a table, and a chart with --svg)")
	fs.BoolVar(&rf.partition, "partition-by-access-key", false, "with --access-log: one bucket key per client (the log's requester), as serve --partition-by-access-key")
	fs.StringVar(&rf.svg, "svg", "", "with --access-log: write a chart of KMS requests by TTL to this SVG `file`")
	if err := s.parse(args, noEnv); err != nil {
		if errors.Is(err, errHelp) {
			s.usage(stdout, estimateSynopsis)
			return exitOK
		}
		return configError(stderr, "estimate", err)
	}
	if !s.isSet("read-window") {
		w.ReadWindow = w.TTL
	}
	if len(rf.logs) > 0 {
		if s.isSet("put-rate") || s.isSet("get-rate") || s.isSet("buckets") || s.isSet("distinct-writers") || s.isSet("read-window") {
			return configError(stderr, "estimate", errors.New("--access-log replays the log's own rates, buckets and clients: drop --put-rate, --get-rate, --buckets, --distinct-writers and --read-window"))
		}
		w.PutRate = 1 // the log's; only the other settings are checked
		if err := w.validate(); err != nil {
			return configError(stderr, "estimate", err)
		}
		return runReplayEstimate(w, rf, asJSON, stdout, stderr)
	}
	if rf.sweep != "" || rf.partition || rf.svg != "" {
		return configError(stderr, "estimate", errors.New("--ttl-sweep, --partition-by-access-key and --svg go with --access-log"))
	}
	if err := w.validate(); err != nil {
		return configError(stderr, "estimate", err)
	}
	res := estimate(w)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
		return exitOK
	}
	printEstimate(stdout, res)
	return exitOK
}

func noEnv(string) (string, bool) { return "", false }

func printEstimate(out io.Writer, r estimateResult) {
	w := r.Workload
	routing := ""
	if w.Sticky && w.Replicas > 1 {
		routing = " (each bucket routed to one)"
	}
	fmt.Fprintf(out, "Workload: %s PUT/s and %s GET/s over %d bucket(s), %d proxy replica(s)%s, bucket key TTL %v,\n",
		num(w.PutRate), num(w.GetRate), w.Buckets, w.Replicas, routing, w.TTL)
	fmt.Fprintf(out, "reads reach objects up to %v old, %d distinct writer(s), $%s per 10,000 KMS requests, 30-day month.\n\n",
		w.ReadWindow, w.DistinctWriters, num(w.Price))
	table(out, [][]string{
		{"per month", "GenerateDataKey", "Decrypt", "KMS requests", "cost"},
		{"one KMS call per object", count(r.Baseline.GenerateDataKey), count(r.Baseline.Decrypt), count(r.Baseline.Requests), dollars(r.Baseline.Dollars)},
		{"bucket keys", count(r.BucketKeys.GenerateDataKey), count(r.BucketKeys.Decrypt), count(r.BucketKeys.Requests), dollars(r.BucketKeys.Dollars)},
		{"saved", "", "", count(r.Baseline.Requests - r.BucketKeys.Requests), dollars(r.SavedDollar)},
	})
	fmt.Fprintf(out, "\nBucket keys make %s fewer KMS requests. Upper bound: assumes every replica writes every\n", percent(r.SavedRatio))
	fmt.Fprintln(out, "bucket in every key life (0.9 TTL) and reads every live key (see README, \"Estimating the cost\").")
}
