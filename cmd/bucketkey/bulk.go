package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/bucketkey/bucketkey/internal/bulk"
	"github.com/bucketkey/bucketkey/sigv4"
)

// bulkOptions are the settings every bulk command (encrypt-existing,
// rotate, verify) has besides serve's.
type bulkOptions struct {
	Concurrency int
	State       string
	Restart     bool
	DryRun      bool
	Quiet       bool
	JSON        bool
}

// bulkCommand is a parsed bulk command line.
type bulkCommand struct {
	name           string
	r              *resolved
	opts           bulkOptions
	bucket, prefix string
}

// parseBulk parses a bulk command line: serve's settings (flags,
// BUCKETKEY_* variables, --config), the bulk options, extra's flags, and
// one s3://bucket[/prefix] argument anywhere among the flags.
func parseBulk(name, synopsis string, args []string, stdout io.Writer, getenv func(string) (string, bool), extra func(*flag.FlagSet)) (*bulkCommand, int, error) {
	var c serveConfig
	s := serveFlags(&c)
	s.cmd = name
	b := &bulkCommand{name: name}
	fs := s.fs
	fs.IntVar(&b.opts.Concurrency, "concurrency", 16, "objects processed in parallel")
	fs.StringVar(&b.opts.State, "state", "", "state `file` that makes the run resumable [bucketkey-"+name+"-BUCKET.state.json]")
	fs.BoolVar(&b.opts.Restart, "restart", false, "ignore the state file and start from the first object")
	fs.BoolVar(&b.opts.DryRun, "dry-run", false, "inspect every object and say what would be done, change nothing")
	fs.BoolVar(&b.opts.Quiet, "quiet", false, "no progress, only failures and the summary")
	if extra != nil {
		extra(fs)
	}
	flags, pos := splitArgs(fs, args)
	if err := s.parse(flags, getenv); err != nil {
		if errors.Is(err, errHelp) {
			s.usage(stdout, synopsis)
			return nil, exitOK, err
		}
		return nil, exitConfig, err
	}
	if len(pos) != 1 {
		return nil, exitConfig, fmt.Errorf("want one s3://bucket[/prefix] argument, got %d (usage: %s)", len(pos), synopsis)
	}
	var err error
	if b.bucket, b.prefix, err = parseS3URL(pos[0]); err != nil {
		return nil, exitConfig, err
	}
	if c.ClientAccessKey == "" && c.Credentials == "" {
		// The commands serve no client; the proxy inside gets its own
		// credentials (newBulkRun), these only pass validation.
		c.ClientAccessKey, c.ClientSecretKey = "bulk-placeholder", "bulk-placeholder-secret"
	}
	r, err := c.validate(s)
	if err != nil {
		return nil, exitConfig, err
	}
	if b.opts.Concurrency < 1 || b.opts.Concurrency > 1024 {
		return nil, exitConfig, fmt.Errorf("--concurrency %d: want 1 to 1024", b.opts.Concurrency)
	}
	if b.opts.State == "" {
		b.opts.State = defaultStatePath(name, b.bucket, b.prefix)
	}
	b.r = r
	return b, exitOK, nil
}

// splitArgs separates flags (with their values) from positional
// arguments, so that flags may stand before or after s3://bucket.
func splitArgs(fs *flag.FlagSet, args []string) (flags, pos []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(pos, args[i+1:]...)
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // the parser reports it
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, pos
}

// parseS3URL splits s3://bucket[/prefix].
func parseS3URL(v string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(v, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q: want s3://bucket or s3://bucket/prefix", v)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if !bucketName.MatchString(bucket) {
		return "", "", fmt.Errorf("%q: %q is not a bucket name", v, bucket)
	}
	return bucket, prefix, nil
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// defaultStatePath names the state file of a walk in the working
// directory.
func defaultStatePath(cmd, bucket, prefix string) string {
	name := "bucketkey-" + cmd + "-" + bucket
	if prefix != "" {
		name += "-" + strings.Trim(unsafeFileChars.ReplaceAllString(prefix, "_"), "_")
	}
	return name + ".state.json"
}

// bulkRun is a running bulk command: a proxy of its own on a loopback port
// (the same code as serve, built from the same configuration), a client of
// that proxy, and a client of the backend.
type bulkRun struct {
	cmd     *bulkCommand
	srv     *server
	backend *s3.Client // the backend, with the proxy's backend credentials
	proxied *s3.Client // the in-process proxy
	done    chan error
	cancel  context.CancelFunc
}

// startBulk builds and starts the command's proxy. keyID, if set, replaces
// the configured default KMS key (rotate's --to-kms-key-id).
func startBulk(ctx context.Context, b *bulkCommand, keyID string, stderr io.Writer) (*bulkRun, error) {
	r := *b.r
	secret := make([]byte, 24)
	rand.Read(secret)
	ak := "BULK" + strings.ToUpper(hex.EncodeToString(secret[:8]))
	sk := hex.EncodeToString(secret[8:])
	r.ClientCredentials = sigv4.StaticCredentials{ak: sk}
	r.Clients = staticClientKeys(ak, sk)
	r.Listen, r.AdminListen, r.TLS = "127.0.0.1:0", "", nil
	r.DrainDelay = 0 // no load balancer in front of this one
	r.Mixed = append(append([]string(nil), r.Mixed...), b.bucket)
	if keyID != "" && keyID != r.KMSKeyID {
		// Rotating: new envelopes name keyID, the ones being replaced the
		// configured key (or another accepted one).
		r.KMSAccept = append(append([]string(nil), r.KMSAccept...), r.KMSKeyID)
		r.KMSKeyID = keyID
	}
	level := r.LogLevel
	if lv, err := parseLevel(level); err != nil || lv < slog.LevelWarn {
		level = "warn" // the proxy's request lines are noise here
	}
	log := newLogger(stderr, r.LogFormat, level)
	srv, err := newServer(ctx, &r, log)
	if err != nil {
		return nil, err
	}
	if err := srv.listen(); err != nil {
		srv.close()
		return nil, err
	}
	upCreds, err := upstreamCredentials(ctx, &r)
	if err != nil {
		srv.close()
		return nil, err
	}
	var hc *http.Client
	if r.UpstreamRoots != nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{RootCAs: r.UpstreamRoots, MinVersion: tls.VersionTLS12}
		hc = &http.Client{Transport: t}
	}
	br := &bulkRun{cmd: b, srv: srv, done: make(chan error, 1)}
	br.backend = s3.New(s3.Options{
		Region: r.UpstreamRegion, Credentials: upCreds, BaseEndpoint: aws.String(r.Upstream.String()),
		UsePathStyle: true, HTTPClient: hcOrDefault(hc, b.opts.Concurrency),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	// Bodies stream from a backend GET into the proxy: unsigned payload
	// (the proxy verifies the signature of the headers, and encrypts the
	// bytes it is given), no trailing checksum.
	br.proxied = s3.New(s3.Options{
		Region: r.UpstreamRegion, Credentials: credentials.NewStaticCredentialsProvider(ak, sk, ""),
		BaseEndpoint: aws.String(srv.endpoint()), UsePathStyle: true, HTTPClient: hcOrDefault(nil, b.opts.Concurrency),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		APIOptions:                 []func(*middleware.Stack) error{v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware},
	})
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	br.cancel = cancel
	go func() { br.done <- srv.serve(sctx) }()
	return br, nil
}

// hcOrDefault returns hc, or a client that keeps enough idle connections
// for n workers.
func hcOrDefault(hc *http.Client, n int) *http.Client {
	if hc != nil {
		return hc
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = n + 8
	t.DisableCompression = true
	return &http.Client{Transport: t}
}

// stop shuts the command's proxy down.
func (br *bulkRun) stop() {
	br.srv.cfg.ShutdownTimeout = 5 * time.Second
	br.cancel()
	<-br.done
}

// kmsRequests returns the KMS requests made so far and the baseline: what
// a proxy without bucket keys makes, one call per data key lent, which is
// one per object written or read and one per part uploaded (UploadPart
// unwraps the upload's data key, as rotate --data-keys and
// encrypt-existing of a large object do part by part).
func (br *bulkRun) kmsRequests() (actual, baseline int64) {
	t := br.srv.cache.Stats().Total
	return t.Actual, t.BaselineTotal
}

// walk runs do over every object with the command's options and prints
// failures as they happen.
func (br *bulkRun) walk(ctx context.Context, stderr io.Writer, do func(context.Context, bulk.Object) (bulk.Result, error)) (bulk.Summary, error) {
	b := br.cmd
	if b.opts.Restart {
		if err := os.Remove(b.opts.State); err != nil && !errors.Is(err, os.ErrNotExist) {
			return bulk.Summary{}, err
		}
	}
	prog := &bulk.Progress{W: stderr, Quiet: b.opts.Quiet, Extra: func() string {
		a, base := br.kmsRequests()
		return fmt.Sprintf("KMS %d (baseline %d)", a, base)
	}}
	if f, ok := stderr.(*os.File); ok {
		prog.Terminal = bulk.IsTerminal(f)
	}
	state := b.opts.State
	if b.opts.DryRun {
		state = "" // a dry run changes nothing, its state file included
	}
	return bulk.Run(ctx, bulk.Options{
		Command: b.name, Bucket: b.bucket, Prefix: b.prefix,
		StatePath: state, Concurrency: b.opts.Concurrency,
		List: bulk.S3Lister(br.backend, b.bucket, b.prefix, 1000),
		Do: func(ctx context.Context, o bulk.Object) (bulk.Result, error) {
			res, err := do(ctx, o)
			if testObjectDone != nil {
				testObjectDone()
			}
			return res, err
		},
		Progress: prog,
		OnFail: func(key string, err error) {
			fmt.Fprintf(stderr, "bucketkey %s: %s: %v\n", b.name, key, trimErr(err))
		},
	})
}

// testObjectDone, if set, is called after each object (tests interrupt a
// run in its middle with it).
var testObjectDone func()

// printSummary prints the summary line(s) of a run and returns the exit
// code: non-zero if the walk failed, was interrupted, or any object failed
// or has an outcome in bad.
func printSummary(w io.Writer, b *bulkCommand, sum bulk.Summary, walkErr error, kms, baseline int64, bad ...string) int {
	target := "s3://" + b.bucket + "/" + b.prefix
	var parts []string
	for _, k := range sortedKeys(sum.Counts) {
		parts = append(parts, fmt.Sprintf("%s %d", k, sum.Counts[k]))
	}
	if len(parts) == 0 {
		parts = append(parts, "no objects")
	}
	mode := ""
	if b.opts.DryRun {
		mode = " (dry run: nothing changed)"
	}
	fmt.Fprintf(w, "%s %s%s: %s; %s in %s; KMS requests %d (one per object or part: %d)\n",
		b.name, target, mode, strings.Join(parts, ", "), bulk.HumanBytes(sum.Bytes),
		sum.Elapsed.Round(time.Millisecond), kms, baseline)
	if sum.Resumed {
		var tparts []string
		for _, k := range sortedKeys(sum.Total) {
			tparts = append(tparts, fmt.Sprintf("%s %d", k, sum.Total[k]))
		}
		fmt.Fprintf(w, "resumed from %s; over all runs: %s\n", b.opts.State, strings.Join(tparts, ", "))
	}
	code := exitOK
	if walkErr != nil {
		fmt.Fprintf(w, "%s stopped: %v\n", b.name, trimErr(walkErr))
		code = exitFail
	} else if !sum.Complete {
		fmt.Fprintf(w, "%s interrupted: run the same command again to continue from %s\n", b.name, b.opts.State)
		code = exitFail
	}
	if n := len(sum.Failed); n > 0 {
		fmt.Fprintf(w, "%d objects failed (listed in %s; the next run retries them)\n", n, b.opts.State)
		code = exitFail
	}
	for _, k := range bad {
		if sum.Total[k] > 0 {
			code = exitFail
		}
	}
	return code
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
