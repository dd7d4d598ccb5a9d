package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// TestRunAgainstRealS3 runs each workload kind against a real S3 server and
// checks every operation is counted and succeeded.
func TestRunAgainstRealS3(t *testing.T) {
	srv := testenv.S3(t)
	cfg := Config{Endpoint: srv.URL, AccessKey: testenv.S3AccessKey, SecretKey: testenv.S3SecretKey, Bucket: "benchbucket", Concurrency: 4}
	client := newClient(withDefaults(t, cfg))
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		op   Op
		size int64
	}{{OpPut, 4096}, {OpGet, 4096}, {OpMixed, 1000}, {OpPut, 0}} {
		t.Run(fmt.Sprintf("%s/%d", tc.op, tc.size), func(t *testing.T) {
			c := cfg
			c.Op, c.Size, c.Count = tc.op, tc.size, 40
			var progress bytes.Buffer
			c.Progress = &progress
			res, err := Run(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors != 0 || res.Ops != 40 {
				t.Fatalf("ops %d errors %d (%s), want 40 and 0", res.Ops, res.Errors, res.FirstError)
			}
			if res.Bytes != 40*tc.size {
				t.Fatalf("bytes %d, want %d", res.Bytes, 40*tc.size)
			}
			if res.Latency.P50 <= 0 || res.Latency.P50 > res.Latency.P99 || res.Latency.P99 > res.Latency.Max {
				t.Fatalf("latency percentiles out of order: %+v", res.Latency)
			}
			if !strings.Contains(progress.String(), "100%") {
				t.Fatalf("progress never reached 100%%: %q", progress.String())
			}
		})
	}
}

// TestRunForDuration checks a duration-bound run stops and counts no
// cancelled request as an error.
func TestRunForDuration(t *testing.T) {
	srv := testenv.S3(t)
	cfg := Config{Endpoint: srv.URL, AccessKey: testenv.S3AccessKey, SecretKey: testenv.S3SecretKey, Bucket: "benchdur", Concurrency: 2, Op: OpPut, Size: 100, Duration: 300 * time.Millisecond}
	client := newClient(withDefaults(t, cfg))
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops == 0 || res.Errors != 0 {
		t.Fatalf("ops %d errors %d (%s)", res.Ops, res.Errors, res.FirstError)
	}
}

func withDefaults(t *testing.T, c Config) Config {
	t.Helper()
	c.Count = 1
	if err := c.defaults(); err != nil {
		t.Fatal(err)
	}
	return c
}

// fakeAdmin is a FAKE bucketkey admin listener serving /metrics text whose
// KMS counters grow by fixed steps on every scrape: it tests the parsing
// and subtraction, which a real proxy cannot make deterministic.
func fakeAdmin(t *testing.T) string {
	var scrapes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := scrapes.Add(1)
		fmt.Fprintf(w, "# TYPE bucketkey_kms_requests_total counter\n"+
			"bucketkey_kms_requests_total{operation=\"GenerateDataKey\",outcome=\"ok\"} %d\n"+
			"bucketkey_kms_requests_total{operation=\"Decrypt\",outcome=\"ok\"} %d\n"+
			"# TYPE bucketkey_kms_requests_baseline_total counter\n"+
			"bucketkey_kms_requests_baseline_total{operation=\"GenerateDataKey\"} %d\n", n, n, 1000*n)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestKMSDelta(t *testing.T) {
	url := fakeAdmin(t)
	a, err := fetchStats(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fetchStats(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	d := diffStats(a, b)
	if d.Requests != 2 || d.Baseline != 1000 || d.Saved != 998 || d.SavedRatio != 0.998 {
		t.Fatalf("delta %+v", d)
	}
}

func TestFetchStatsRejectsNonBucketkey(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "# TYPE other_total counter\nother_total 1")
	}))
	defer srv.Close()
	if _, err := fetchStats(context.Background(), srv.URL); err == nil {
		t.Fatal("want an error for an endpoint without bucketkey metrics")
	}
}

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	got := percentiles(d)
	want := Latency{P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if got != want {
		t.Fatalf("got %+v want %+v", got, want)
	}
	if (percentiles(nil) != Latency{}) {
		t.Fatal("empty input must give zero latency")
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []Config{
		{},
		{Endpoint: "http://x", Bucket: "b", Op: "delete", Count: 1},
		{Endpoint: "http://x", Bucket: "b"},
		{Endpoint: "http://x", Bucket: "b", Count: 1, Size: -1},
	} {
		if err := c.defaults(); err == nil {
			t.Errorf("%+v: want an error", c)
		}
	}
}

func TestCompareAndPrint(t *testing.T) {
	a := &Result{Endpoint: "proxy", OpsPerSec: 90, MBPerSec: 9, Latency: Latency{P50: 3 * time.Millisecond, P99: 9 * time.Millisecond}, KMS: &KMSDelta{Requests: 1, Baseline: 1000, SavedRatio: 0.999}}
	b := &Result{Endpoint: "direct", OpsPerSec: 100, MBPerSec: 10, Latency: Latency{P50: 2 * time.Millisecond, P99: 5 * time.Millisecond}}
	c := Compare(a, b)
	if c.OpsRatio != 0.9 || c.MBRatio != 0.9 || c.P50Added != time.Millisecond || c.P99Added != 4*time.Millisecond {
		t.Fatalf("comparison %+v", c)
	}
	var out bytes.Buffer
	Print(&out, a, b)
	PrintComparison(&out, c)
	for _, want := range []string{"99.90%", "x0.900", "direct"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBar(t *testing.T) {
	if got := bar(0.5, 10); got != "[=====     ]  50%" {
		t.Fatalf("bar(0.5) = %q", got)
	}
	if got := bar(2, 4); got != "[====] 100%" {
		t.Fatalf("bar(2) = %q", got)
	}
}
