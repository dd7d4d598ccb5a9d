package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/bench"
	"github.com/bucketkey/bucketkey/internal/testenv"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"4096", 4096, false},
		{"4KiB", 4096, false},
		{"64mib", 64 << 20, false},
		{"5GiB", 5 << 30, false},
		{"1MB", 1_000_000, false},
		{"1.5KiB", 1536, false},
		{"0", 0, false},
		{"12 B", 12, false},
		{"", 0, true},
		{"KiB", 0, true},
		{"-1", 0, true},
		{"1.3B", 0, true},
		{"9999999TiB", 0, true},
		{"ten", 0, true},
		{"NaN", 0, true},
	} {
		got, err := parseSize(tc.in)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("parseSize(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestBenchFlags checks bench's command line: defaults, the environment,
// the compare endpoint inheriting the first endpoint's settings, and one
// clear error per mistake.
func TestBenchFlags(t *testing.T) {
	base := []string{"--endpoint", "http://127.0.0.1:8080", "--bucket", "b", "--access-key", "ak", "--secret-key", "sk"}
	with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
	for _, tc := range []struct {
		name  string
		args  []string
		env   []string
		err   string // substring of the error; "" for success
		check func(t *testing.T, p *benchPlan)
	}{
		{name: "defaults", args: base, check: func(t *testing.T, p *benchPlan) {
			c := p.Run
			if c.Op != bench.OpPut || c.Size != 4096 || c.Count != 1000 || c.Duration != 0 || c.Concurrency != 16 || p.Compare != nil || p.JSON {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{name: "env credentials", args: []string{"--op", "get"}, env: []string{
			"BUCKETKEY_ENDPOINT", "https://s3.example", "BUCKETKEY_BUCKET", "eb",
			"AWS_ACCESS_KEY_ID", "aws-ak", "AWS_SECRET_ACCESS_KEY", "aws-sk", "BUCKETKEY_SECRET_KEY", "bk-sk",
		}, check: func(t *testing.T, p *benchPlan) {
			c := p.Run
			if c.Endpoint != "https://s3.example" || c.Bucket != "eb" || c.AccessKey != "aws-ak" || c.SecretKey != "bk-sk" || c.Op != bench.OpGet {
				t.Errorf("from the environment: %+v", c)
			}
		}},
		{name: "duration and size", args: with("--duration", "3s", "--size", "64MiB", "--op", "mixed", "--concurrency", "2"), check: func(t *testing.T, p *benchPlan) {
			if p.Run.Count != 0 || p.Run.Duration != 3*time.Second || p.Run.Size != 64<<20 || p.Run.Op != bench.OpMixed || p.Run.Concurrency != 2 {
				t.Errorf("%+v", p.Run)
			}
		}},
		{name: "compare inherits", args: with("--compare-endpoint", "http://127.0.0.1:7070", "--compare-admin", "http://127.0.0.1:9091", "--admin", "http://127.0.0.1:9090", "--json"), check: func(t *testing.T, p *benchPlan) {
			b := p.Compare
			if b == nil || b.Endpoint != "http://127.0.0.1:7070" || b.AccessKey != "ak" || b.SecretKey != "sk" || b.Bucket != "b" || b.AdminURL != "http://127.0.0.1:9091" || p.Run.AdminURL != "http://127.0.0.1:9090" || !p.JSON {
				t.Errorf("compare %+v", b)
			}
			if p.Run.Progress != nil || b.Progress != nil {
				t.Error("--json must not draw a progress bar")
			}
		}},
		{name: "compare own settings", args: with("--compare-endpoint", "http://127.0.0.1:7070", "--compare-access-key", "ak2", "--compare-secret-key", "sk2", "--compare-bucket", "b2", "--compare-region", "eu-west-1"), check: func(t *testing.T, p *benchPlan) {
			b := p.Compare
			if b.AccessKey != "ak2" || b.SecretKey != "sk2" || b.Bucket != "b2" || b.Region != "eu-west-1" || p.Run.Region != "us-east-1" || p.Run.Bucket != "b" {
				t.Errorf("compare %+v, run %+v", b, p.Run)
			}
		}},
		{name: "no endpoint", args: []string{"--bucket", "b", "--access-key", "a", "--secret-key", "s"}, err: "--endpoint is required"},
		{name: "no bucket", args: []string{"--endpoint", "http://x:1", "--access-key", "a", "--secret-key", "s"}, err: "--bucket is required"},
		{name: "no credentials", args: []string{"--endpoint", "http://x:1", "--bucket", "b"}, err: "credentials are required"},
		{name: "bad op", args: with("--op", "delete"), err: `--op "delete"`},
		{name: "bad size", args: with("--size", "4XB"), err: "invalid value"},
		{name: "count and duration", args: with("--count", "5", "--duration", "1s"), err: "not both"},
		{name: "negative count", args: with("--count", "-5"), err: "must not be negative"},
		{name: "zero concurrency", args: with("--concurrency", "0"), err: "--concurrency"},
		{name: "prewritten put", args: with("--prewritten"), err: "--prewritten is for"},
		{name: "endpoint not a URL", args: []string{"--endpoint", "127.0.0.1:8080", "--bucket", "b", "--access-key", "a", "--secret-key", "s"}, err: "want an http(s) URL"},
		{name: "admin not a URL", args: with("--admin", "localhost"), err: "--admin"},
		{name: "compare flag alone", args: with("--compare-bucket", "x"), err: "--compare-bucket needs --compare-endpoint"},
		{name: "half compare keys", args: with("--compare-endpoint", "http://y:1", "--compare-access-key", "x"), err: "both --compare-access-key"},
		{name: "compare with itself", args: with("--compare-endpoint", "http://127.0.0.1:8080"), err: "nothing to compare"},
		{name: "stray argument", args: with("extra"), err: "unexpected argument"},
		{name: "unknown flag", args: with("--sise", "1"), err: "sise"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _, err := parseBench(tc.args, env(tc.env...), io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p)
		})
	}
}

// TestBenchCommandErrors checks bench fails in one line with exit 2 on bad
// usage and never echoes a secret.
func TestBenchCommandErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"bench", "--endpoint", "nope", "--bucket", "b", "--access-key", "a", "--secret-key", "very-secret-value"}, &stdout, &stderr, env())
	if code != exitConfig || strings.Count(stderr.String(), "\n") != 1 || strings.Contains(stderr.String(), "very-secret-value") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"bench", "-h"}, &stdout, &stderr, env()); code != exitOK || !strings.Contains(stdout.String(), "--compare-endpoint") {
		t.Errorf("-h: exit %d, %q", code, stdout.String())
	}
}

// benchJSON runs `bucketkey bench --json` in-process and decodes its output.
func benchJSON(t *testing.T, args []string, getenv func(string) (string, bool)) (benchOutput, int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"bench", "--json"}, args...), &stdout, &stderr, getenv)
	var out benchOutput
	if code != exitConfig && stdout.Len() > 0 {
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
			t.Fatalf("--json output: %v\n%s", err, stdout.String())
		}
	}
	return out, code, stderr.String()
}

// TestBenchEndToEnd runs bench against a real `bucketkey serve` in front of
// versitygw and local-kms, comparing it with versitygw directly in one run:
// every operation succeeds, the proxy's KMS requests are read from its
// admin listener (one bucket key for the whole run), the proxy's bucket
// holds ciphertext, and a GET run over the objects the PUT run wrote reads
// them back through the proxy.
func TestBenchEndToEnd(t *testing.T) {
	s3p, kmsp := testenv.S3(t), testenv.KMS(t)
	kmsEnv(t)
	const ak, sk = "bench-app", "bench-app-secret-0123456789"
	r := startServe(t, []string{"--upstream", s3p.URL, "--upstream-access-key", testenv.S3AccessKey, "--upstream-secret-key", testenv.S3SecretKey,
		"--kms-key-id", testenv.KMSKeyID, "--kms-endpoint", kmsp.URL, "--kms-region", testenv.Region,
		"--client-access-key", ak, "--client-secret-key", sk}, env())

	const n, size = 40, 70_000
	common := []string{"--size", "70000", "--count", "40", "--concurrency", "4", "--admin", r.admin,
		"--compare-endpoint", s3p.URL, "--compare-access-key", testenv.S3AccessKey, "--compare-secret-key", testenv.S3SecretKey, "--compare-bucket", "direct"}
	// The proxy's keys come from the environment, as an application's would.
	getenv := env("BUCKETKEY_ENDPOINT", r.listen, "AWS_ACCESS_KEY_ID", ak, "AWS_SECRET_ACCESS_KEY", sk, "BUCKETKEY_BUCKET", "viaproxy")

	put, code, stderr := benchJSON(t, append([]string{"--op", "put", "--create-bucket"}, common...), getenv)
	if code != exitOK {
		t.Fatalf("bench put: exit %d\n%s", code, stderr)
	}
	if len(put.Results) != 2 || put.Comparison == nil {
		t.Fatalf("want two results and a comparison: %+v", put)
	}
	proxied, direct := put.Results[0], put.Results[1]
	for _, res := range put.Results {
		if res.Ops != n || res.Errors != 0 || res.Bytes != n*size || res.OpsPerSec <= 0 || res.Latency.P50 <= 0 {
			t.Errorf("%s: %+v", res.Endpoint, res)
		}
	}
	if proxied.Endpoint != r.listen || direct.Endpoint != s3p.URL {
		t.Errorf("endpoints %s, %s", proxied.Endpoint, direct.Endpoint)
	}
	if proxied.KMS == nil || proxied.KMS.Requests != 1 || proxied.KMS.Baseline != n || proxied.KMS.SavedRatio != float64(n-1)/n {
		t.Errorf("proxy KMS delta %+v: want 1 request against a baseline of %d", proxied.KMS, n)
	}
	if direct.KMS != nil {
		t.Errorf("direct endpoint has KMS figures: %+v", direct.KMS)
	}
	if c := put.Comparison; c.OpsRatio != proxied.OpsPerSec/direct.OpsPerSec || c.MBRatio <= 0 {
		t.Errorf("comparison %+v", c)
	}

	// What the proxy stored is ciphertext: 16 bytes of tag per 64 KiB segment.
	backend := s3Client(s3p.URL, testenv.S3AccessKey, testenv.S3SecretKey, testenv.Region)
	head, err := backend.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("viaproxy"), Key: aws.String("bench/70000/0")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(head.ContentLength) != size+2*16 {
		t.Errorf("backend object is %d bytes, want %d (ciphertext)", aws.ToInt64(head.ContentLength), size+2*16)
	}

	// GET what the PUT run wrote, without writing it again.
	get, code, stderr := benchJSON(t, append([]string{"--op", "get", "--prewritten", "--objects", "40"}, common...), getenv)
	if code != exitOK {
		t.Fatalf("bench get: exit %d\n%s", code, stderr)
	}
	for _, res := range get.Results {
		if res.Ops != n || res.Errors != 0 || res.Bytes != n*size {
			t.Errorf("get %s: %+v", res.Endpoint, res)
		}
	}
	if k := get.Results[0].KMS; k == nil || k.Baseline != n || k.Requests > 1 {
		t.Errorf("get KMS delta %+v: want at most one Decrypt against a baseline of %d", k, n)
	}

	// --prewritten over objects that do not exist: every GET fails, and
	// bench says so with exit 1.
	missing, code, stderr := benchJSON(t, []string{"--op", "get", "--prewritten", "--prefix", "absent/", "--count", "3", "--concurrency", "1"}, getenv)
	if code != exitFail || !strings.Contains(stderr, "3 operations failed") || len(missing.Results) != 1 || missing.Results[0].Errors != 3 || missing.Results[0].FirstError == "" {
		t.Errorf("missing objects: exit %d, stderr %q, %+v", code, stderr, missing.Results)
	}
	if strings.Contains(stderr, sk) {
		t.Error("stderr holds the secret key")
	}
}

// TestBenchTextOutput checks the table and the ratio line, directly
// against versitygw and against a second bucket of it.
func TestBenchTextOutput(t *testing.T) {
	s3p := testenv.S3(t)
	var stdout, stderr bytes.Buffer
	args := []string{"bench", "--endpoint", s3p.URL, "--access-key", testenv.S3AccessKey, "--secret-key", testenv.S3SecretKey,
		"--bucket", "one", "--compare-bucket", "two", "--compare-endpoint", s3p.URL, "--create-bucket", "--op", "mixed", "--size", "1KiB", "--count", "20", "--concurrency", "2"}
	if code := run(context.Background(), args, &stdout, &stderr, env()); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"ops/s", "p99", "mixed", " vs " + s3p.URL + ": ops/s x"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, s3p.URL) != 4 { // two rows, and the ratio line names both
		t.Errorf("want two result rows and one ratio line:\n%s", out)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr not a terminal, yet: %q", stderr.String())
	}
}
