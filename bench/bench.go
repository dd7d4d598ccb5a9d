// Package bench is bucketkey's load generator: it speaks S3 (aws-sdk-go-v2)
// to any endpoint, runs PUT, GET or mixed workloads of fixed-size objects at
// a given concurrency for a count or a duration, and reports throughput and
// latency percentiles. Pointed at a bucketkey proxy with an admin URL, it
// also reports the KMS requests the run made and saved.
//
// Run the same Config against two endpoints (a proxy and its backend, or
// the proxy with and without bucket keys) and Compare gives the ratios, all
// measured in one run on the same machine.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Op is a workload kind.
type Op string

// Workload kinds.
const (
	OpPut   Op = "put"
	OpGet   Op = "get"
	OpMixed Op = "mixed" // alternating PUT and GET on the same keys
)

// Config is one workload against one endpoint.
type Config struct {
	Endpoint  string // e.g. http://127.0.0.1:8080
	Region    string // [us-east-1]
	AccessKey string
	SecretKey string
	Bucket    string
	KeyPrefix string // [bench/]

	Op          Op
	Size        int64         // object size in bytes
	Count       int           // operations to run (0: run for Duration)
	Duration    time.Duration // used when Count is 0
	Concurrency int           // [16]
	// Objects is how many distinct keys GET and mixed workloads cycle over
	// (written first, not timed) [min(Count, 1000) or 1000].
	Objects int

	// Prewritten says the objects GET and mixed workloads read already
	// exist (a put run with the same KeyPrefix and Size, at least Objects
	// operations long, wrote them): the untimed write is skipped.
	Prewritten bool

	// AdminURL, if set, is a bucketkey admin listener whose /stats is read
	// before and after the run to report KMS requests.
	AdminURL string

	// Progress receives a one-line progress bar, redrawn in place; nil for none.
	Progress io.Writer

	// HTTPClient overrides the client [a transport sized for Concurrency].
	HTTPClient *http.Client
}

func (c *Config) defaults() error {
	if c.Endpoint == "" || c.Bucket == "" {
		return errors.New("bench: endpoint and bucket are required")
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = "bench/"
	}
	switch c.Op {
	case OpPut, OpGet, OpMixed:
	case "":
		c.Op = OpPut
	default:
		return fmt.Errorf("bench: unknown op %q (put, get, mixed)", c.Op)
	}
	if c.Size < 0 {
		return errors.New("bench: size must be >= 0")
	}
	if c.Count <= 0 && c.Duration <= 0 {
		return errors.New("bench: give a count or a duration")
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.Objects <= 0 {
		c.Objects = 1000
		if c.Count > 0 && c.Count < c.Objects {
			c.Objects = c.Count
		}
	}
	return nil
}

// Result is what one run measured.
type Result struct {
	Endpoint    string        `json:"endpoint"`
	Op          Op            `json:"op"`
	Size        int64         `json:"size"`
	Concurrency int           `json:"concurrency"`
	Ops         int64         `json:"ops"`
	Errors      int64         `json:"errors"`
	FirstError  string        `json:"first_error,omitempty"`
	Bytes       int64         `json:"bytes"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	OpsPerSec   float64       `json:"ops_per_sec"`
	MBPerSec    float64       `json:"mb_per_sec"` // 10^6 bytes per second
	Latency     Latency       `json:"latency"`
	KMS         *KMSDelta     `json:"kms,omitempty"`
}

// Latency holds percentiles of successful operations.
type Latency struct {
	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

// Run executes cfg and returns what it measured. Errors of individual
// operations are counted, not returned; Run fails only if the workload
// cannot start.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	client := newClient(cfg)
	payload, err := newPayload(cfg.Size)
	if err != nil {
		return nil, err
	}

	if cfg.Op != OpPut && !cfg.Prewritten {
		if err := prepopulate(ctx, client, cfg, payload); err != nil {
			return nil, err
		}
	}

	var before *adminStats
	if cfg.AdminURL != "" {
		s, err := fetchStats(ctx, cfg.AdminURL)
		if err != nil {
			return nil, err
		}
		before = s
	}

	res := runWorkers(ctx, client, cfg, payload)

	if before != nil {
		after, err := fetchStats(ctx, cfg.AdminURL)
		if err != nil {
			return nil, err
		}
		res.KMS = diffStats(before, after)
	}
	return res, nil
}

func newClient(cfg Config) *s3.Client {
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = cfg.Concurrency * 2
		tr.MaxIdleConnsPerHost = cfg.Concurrency * 2
		hc = &http.Client{Transport: tr}
	}
	return s3.New(s3.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(cfg.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, ""),
		HTTPClient:   hc,
		// Retries would hide errors and distort latency: a benchmark counts them.
		RetryMaxAttempts: 1,
	})
}

func (cfg Config) key(i int) string {
	return cfg.KeyPrefix + strconv.FormatInt(cfg.Size, 10) + "/" + strconv.Itoa(i)
}

// prepopulate writes the objects GET and mixed workloads read, untimed.
func prepopulate(ctx context.Context, client *s3.Client, cfg Config, payload *objectBody) error {
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		firstErr error
		once     sync.Once
	)
	for w := 0; w < cfg.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Objects {
					return
				}
				if err := put(ctx, client, cfg, cfg.key(i), payload); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("bench: writing object %d before the run: %w", i, err) })
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func put(ctx context.Context, client *s3.Client, cfg Config, key string, payload *objectBody) error {
	_, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(cfg.Bucket),
		Key:           aws.String(key),
		Body:          payload.reader(),
		ContentLength: aws.Int64(payload.size),
	})
	return err
}

func get(ctx context.Context, client *s3.Client, cfg Config, key string) (int64, error) {
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		return 0, err
	}
	defer out.Body.Close()
	n, err := io.Copy(io.Discard, out.Body)
	if err == nil && n != cfg.Size {
		err = fmt.Errorf("bench: %s: got %d bytes, want %d", key, n, cfg.Size)
	}
	return n, err
}

type worker struct {
	lat    []time.Duration
	ops    int64
	errs   int64
	bytes  int64
	errMsg string
}

func runWorkers(ctx context.Context, client *s3.Client, cfg Config, payload *objectBody) *Result {
	runCtx := ctx
	var cancel context.CancelFunc
	if cfg.Count <= 0 {
		runCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	var (
		next    atomic.Int64
		done    atomic.Int64
		workers = make([]*worker, cfg.Concurrency)
		wg      sync.WaitGroup
	)
	start := time.Now()
	stopProgress := startProgress(cfg, &done, start)
	for w := range workers {
		wk := &worker{}
		workers[w] = wk
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				i := int(next.Add(1) - 1)
				if cfg.Count > 0 && i >= cfg.Count {
					return
				}
				doPut := cfg.Op == OpPut || (cfg.Op == OpMixed && i%2 == 0)
				t0 := time.Now()
				var n int64
				var err error
				if doPut {
					key := cfg.key(i % cfg.Objects)
					if cfg.Op == OpPut {
						key = cfg.key(i)
					}
					err = put(runCtx, client, cfg, key, payload)
					n = cfg.Size
				} else {
					n, err = get(runCtx, client, cfg, cfg.key(i%cfg.Objects))
				}
				d := time.Since(t0)
				if err != nil {
					if runCtx.Err() != nil && cfg.Count <= 0 {
						return // the duration ran out mid-request: not an error
					}
					wk.errs++
					if wk.errMsg == "" {
						wk.errMsg = err.Error()
					}
				} else {
					wk.ops++
					wk.bytes += n
					wk.lat = append(wk.lat, d)
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()

	res := &Result{Endpoint: cfg.Endpoint, Op: cfg.Op, Size: cfg.Size, Concurrency: cfg.Concurrency, Elapsed: elapsed}
	var all []time.Duration
	for _, wk := range workers {
		res.Ops += wk.ops
		res.Errors += wk.errs
		res.Bytes += wk.bytes
		if res.FirstError == "" {
			res.FirstError = wk.errMsg
		}
		all = append(all, wk.lat...)
	}
	res.OpsPerSec = float64(res.Ops) / elapsed.Seconds()
	res.MBPerSec = float64(res.Bytes) / 1e6 / elapsed.Seconds()
	res.Latency = percentiles(all)
	return res
}

func percentiles(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(p float64) time.Duration {
		i := int(p*float64(len(d))+0.5) - 1
		if i < 0 {
			i = 0
		}
		if i >= len(d) {
			i = len(d) - 1
		}
		return d[i]
	}
	return Latency{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: d[len(d)-1]}
}
