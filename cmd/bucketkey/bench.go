package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"

	"github.com/bucketkey/bucketkey/bench"
)

const benchSynopsis = "bucketkey bench --endpoint URL --bucket NAME [--op put|get|mixed] [--size 4KiB] [--count N | --duration D] [--concurrency N] [--admin URL] [--compare-endpoint URL ...] [--json]"

// benchPlan is a parsed `bucketkey bench` command line: the workload
// against the endpoint, and optionally the same workload against a second
// endpoint to compare with.
type benchPlan struct {
	Run          bench.Config
	Compare      *bench.Config // nil without --compare-endpoint
	CreateBucket bool
	JSON         bool
}

// benchOutput is what --json prints.
type benchOutput struct {
	Results    []*bench.Result   `json:"results"`
	Comparison *bench.Comparison `json:"comparison,omitempty"` // results[0] against results[1]
}

// parseBench reads bench's flags, BUCKETKEY_* variables and, for the keys,
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. progress is where the progress
// bar goes (nil: none).
func parseBench(args []string, getenv func(string) (string, bool), progress io.Writer) (*benchPlan, *settings, error) {
	var (
		p                              benchPlan
		c                              = &p.Run
		op                             string
		size                           = sizeFlag(4 << 10)
		cmpEndpoint, cmpAK, cmpSK      string
		cmpAdmin, cmpBucket, cmpRegion string
		noProgress                     bool
	)
	s := newSettings("bench")
	fs := s.fs
	fs.StringVar(&c.Endpoint, "endpoint", "", "S3 endpoint `URL` to load (a bucketkey proxy or any S3 server; required)")
	fs.StringVar(&c.Region, "region", "us-east-1", "`region` to sign for")
	fs.StringVar(&c.AccessKey, "access-key", "", "access `key` (else AWS_ACCESS_KEY_ID)")
	fs.StringVar(&c.SecretKey, "secret-key", "", "`secret` key (else AWS_SECRET_ACCESS_KEY)")
	fs.StringVar(&c.Bucket, "bucket", "", "`bucket` to write and read (required)")
	fs.BoolVar(&p.CreateBucket, "create-bucket", false, "create the bucket(s) first if missing")
	fs.StringVar(&c.KeyPrefix, "prefix", "bench/", "object key `prefix`")
	fs.StringVar(&op, "op", "put", "workload: `put`, get or mixed (alternating PUT and GET)")
	fs.Var(&size, "size", "object `size`: bytes or with a unit: 4KiB, 64MiB, 5GiB, 1MB [4KiB]")
	fs.IntVar(&c.Count, "count", 0, "`operations` to run [1000 unless --duration]")
	fs.DurationVar(&c.Duration, "duration", 0, "run for this long instead of --count")
	fs.IntVar(&c.Concurrency, "concurrency", 16, "requests in flight")
	fs.IntVar(&c.Objects, "objects", 0, "distinct `keys` get and mixed cycle over, written before the timed run [min(count, 1000)]")
	fs.BoolVar(&c.Prewritten, "prewritten", false, "get/mixed: the objects exist already (an earlier put run with the same --prefix and --size), do not write them")
	fs.StringVar(&c.AdminURL, "admin", "", "bucketkey admin listener `URL`: report the KMS requests the run made and saved")
	fs.StringVar(&cmpEndpoint, "compare-endpoint", "", "run the same workload against this second endpoint `URL` too and print the ratios")
	fs.StringVar(&cmpAK, "compare-access-key", "", "access `key` for --compare-endpoint [--access-key]")
	fs.StringVar(&cmpSK, "compare-secret-key", "", "`secret` key for --compare-endpoint [--secret-key]")
	fs.StringVar(&cmpAdmin, "compare-admin", "", "admin listener `URL` of --compare-endpoint, if it is a bucketkey proxy")
	fs.StringVar(&cmpBucket, "compare-bucket", "", "`bucket` at --compare-endpoint [--bucket]")
	fs.StringVar(&cmpRegion, "compare-region", "", "`region` of --compare-endpoint [--region]")
	fs.BoolVar(&p.JSON, "json", false, "print the results as JSON")
	fs.BoolVar(&noProgress, "no-progress", false, "no progress bar (there is none unless stderr is a terminal)")
	if err := s.parse(args, getenv); err != nil {
		return nil, s, err
	}
	c.Op, c.Size = bench.Op(op), int64(size)
	if c.AccessKey == "" {
		c.AccessKey, _ = getenv("AWS_ACCESS_KEY_ID")
	}
	if c.SecretKey == "" {
		c.SecretKey, _ = getenv("AWS_SECRET_ACCESS_KEY")
	}
	if !noProgress && !p.JSON {
		c.Progress = progress
	}

	switch {
	case c.Endpoint == "":
		return nil, s, fmt.Errorf("--endpoint is required (%s)", s.where("endpoint"))
	case c.Bucket == "":
		return nil, s, fmt.Errorf("--bucket is required (%s)", s.where("bucket"))
	case c.AccessKey == "" || c.SecretKey == "":
		return nil, s, errors.New("credentials are required: --access-key and --secret-key (or BUCKETKEY_ACCESS_KEY/BUCKETKEY_SECRET_KEY, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
	case c.Op != bench.OpPut && c.Op != bench.OpGet && c.Op != bench.OpMixed:
		return nil, s, fmt.Errorf("--op %q: want put, get or mixed", op)
	case c.Count < 0 || c.Duration < 0:
		return nil, s, errors.New("--count and --duration must not be negative")
	case c.Count > 0 && c.Duration > 0:
		return nil, s, errors.New("give --count or --duration, not both")
	case c.Concurrency < 1:
		return nil, s, errors.New("--concurrency must be at least 1")
	case c.Objects < 0:
		return nil, s, errors.New("--objects must not be negative")
	case c.Prewritten && c.Op == bench.OpPut:
		return nil, s, errors.New("--prewritten is for --op get or mixed")
	}
	if c.Count == 0 && c.Duration == 0 {
		c.Count = 1000
	}
	if err := checkURL("endpoint", c.Endpoint); err != nil {
		return nil, s, err
	}
	if c.AdminURL != "" {
		if err := checkURL("admin", c.AdminURL); err != nil {
			return nil, s, err
		}
	}

	compareOnly := map[string]string{"compare-access-key": cmpAK, "compare-secret-key": cmpSK, "compare-admin": cmpAdmin, "compare-bucket": cmpBucket, "compare-region": cmpRegion}
	if cmpEndpoint == "" {
		for name, v := range compareOnly {
			if v != "" {
				return nil, s, fmt.Errorf("--%s needs --compare-endpoint", name)
			}
		}
		return &p, s, nil
	}
	if err := checkURL("compare-endpoint", cmpEndpoint); err != nil {
		return nil, s, err
	}
	if cmpAdmin != "" {
		if err := checkURL("compare-admin", cmpAdmin); err != nil {
			return nil, s, err
		}
	}
	b := *c
	b.Endpoint, b.AdminURL = cmpEndpoint, cmpAdmin
	if cmpAK != "" || cmpSK != "" {
		if cmpAK == "" || cmpSK == "" {
			return nil, s, errors.New("give both --compare-access-key and --compare-secret-key, or neither")
		}
		b.AccessKey, b.SecretKey = cmpAK, cmpSK
	}
	if cmpBucket != "" {
		b.Bucket = cmpBucket
	}
	if cmpRegion != "" {
		b.Region = cmpRegion
	}
	if b.Endpoint == c.Endpoint && b.Bucket == c.Bucket && b.AdminURL == c.AdminURL {
		return nil, s, errors.New("--compare-endpoint is the same endpoint and bucket as --endpoint: nothing to compare")
	}
	p.Compare = &b
	return &p, s, nil
}

func checkURL(flagName, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--%s %q: want an http(s) URL, e.g. http://127.0.0.1:8080", flagName, v)
	}
	return nil
}

// runBench is `bucketkey bench`.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) (string, bool)) int {
	var progress io.Writer
	if isTerminal(stderr) {
		progress = stderr
	}
	p, s, err := parseBench(args, getenv, progress)
	if err != nil {
		if errors.Is(err, errHelp) {
			s.usage(stdout, benchSynopsis)
			return exitOK
		}
		return configError(stderr, "bench", err)
	}
	runs := []bench.Config{p.Run}
	if p.Compare != nil {
		runs = append(runs, *p.Compare)
	}
	if p.CreateBucket {
		for _, c := range runs {
			if err := bench.CreateBucket(ctx, c); err != nil {
				fmt.Fprintf(stderr, "bucketkey bench: %v\n", err)
				return exitFail
			}
		}
	}
	var out benchOutput
	for _, c := range runs {
		if c.Progress != nil {
			fmt.Fprintf(c.Progress, "%s %s %s x%d at %s\n", c.Op, sizeString(c.Size), workString(c), c.Concurrency, c.Endpoint)
		}
		res, err := bench.Run(ctx, c)
		if err != nil {
			fmt.Fprintf(stderr, "bucketkey bench: %s: %v\n", c.Endpoint, err)
			return exitFail
		}
		out.Results = append(out.Results, res)
	}
	if len(out.Results) == 2 {
		cmp := bench.Compare(out.Results[0], out.Results[1])
		out.Comparison = &cmp
	}
	if p.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "bucketkey bench: %v\n", err)
			return exitFail
		}
	} else {
		bench.Print(stdout, out.Results...)
		if out.Comparison != nil {
			bench.PrintComparison(stdout, *out.Comparison)
		}
	}
	var failed int64
	for _, r := range out.Results {
		failed += r.Errors
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "bucketkey bench: %d operations failed\n", failed)
		return exitFail
	}
	return exitOK
}

func workString(c bench.Config) string {
	if c.Count > 0 {
		return fmt.Sprintf("%d ops", c.Count)
	}
	return "for " + c.Duration.String()
}

// sizeString is a byte count with a binary unit when it has one exactly.
func sizeString(n int64) string {
	for _, u := range []struct {
		name string
		mult int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.mult && n%u.mult == 0 {
			return fmt.Sprintf("%d%s", n/u.mult, u.name)
		}
	}
	return fmt.Sprintf("%dB", n)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
