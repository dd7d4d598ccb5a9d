// Command bucketkey is an S3-compatible proxy that encrypts object bodies on
// their way to S3 and decrypts them on the way back, with S3 Bucket Key-style
// envelope encryption, and reports the KMS requests and dollars that saves.
//
//	bucketkey serve     run the proxy (flags, BUCKETKEY_* variables or --config)
//	bucketkey dev       the proxy over an embedded S3 store and a local key: try it
//	bucketkey report    savings of a running proxy, from its admin listener
//	bucketkey estimate  KMS cost per month of a workload, with and without bucket keys
//	bucketkey bench     S3 load generator: ops/s, MB/s, latency, KMS requests; compares two endpoints
//	bucketkey encrypt-existing  encrypt a bucket's objects written before the proxy, in place
//	bucketkey rotate    re-wrap a bucket's objects under another KMS key without rewriting data
//	bucketkey verify    read every object through the envelope: authenticated, legacy, tampered, unreadable
//
// See README.md for every flag.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK     = 0
	exitFail   = 1 // a failure while running
	exitConfig = 2 // invalid or missing configuration, bad usage
)

const usage = `bucketkey: an S3 proxy that encrypts objects with bucket keys and shows the KMS requests it saves

usage:
  bucketkey serve    [flags]   run the proxy (see bucketkey serve -h)
  bucketkey dev      [flags]   try it: proxy + embedded S3 store + local master key, no AWS account
  bucketkey report   [--admin URL] [--json]   savings of a running proxy
  bucketkey estimate [flags]   KMS cost per month of a workload, with and without bucket keys (--access-log FILE: replayed from a real one)
  bucketkey bench    [flags]   S3 load generator; with --compare-endpoint, the ratios of two endpoints
  bucketkey encrypt-existing s3://BUCKET[/PREFIX] [flags]   encrypt objects written before the proxy, in place
  bucketkey rotate   s3://BUCKET[/PREFIX] --to-kms-key-id K [flags]   re-wrap objects under another KMS key
  bucketkey verify   s3://BUCKET[/PREFIX] [--json] [flags]   check every object: authenticated, legacy, tampered, unreadable
  bucketkey version
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// run dispatches a command line; main is a thin shell over it so that tests
// run commands in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) (string, bool)) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitConfig
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, stdout, stderr, getenv)
	case "dev":
		return runDev(ctx, rest, stdout, stderr, nil)
	case "report":
		return runReport(ctx, rest, stdout, stderr, getenv)
	case "estimate":
		return runEstimate(rest, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr, getenv)
	case "encrypt-existing":
		return runEncryptExisting(ctx, rest, stdout, stderr, getenv)
	case "rotate":
		return runRotate(ctx, rest, stdout, stderr, getenv)
	case "verify":
		return runVerify(ctx, rest, stdout, stderr, getenv)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "bucketkey", version)
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "bucketkey: unknown command %q (serve, dev, report, estimate, bench, encrypt-existing, rotate, verify, version)\n", cmd)
	return exitConfig
}

// configError prints the one line a configuration problem deserves.
func configError(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "bucketkey %s: %v\n", cmd, err)
	return exitConfig
}
