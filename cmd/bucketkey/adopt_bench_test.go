package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// TestBenchAdoptCommands measures objects/s of encrypt-existing, verify and
// rotate on BUCKETKEY_BULK_OBJECTS (default 10,000) 4 KiB objects, each
// against what a user would do instead through the proxy with the AWS CLI
// (aws s3 cp --recursive, 10 requests at a time, its default; the
// commands get --concurrency 10 too): a copy of the bucket through the
// proxy (which encrypts, or re-wraps, each object), and a download of the
// bucket through it (which authenticates each object). Figures for
// BENCHMARKS.md; it runs only with BUCKETKEY_BENCH_ADOPT=1.
func TestBenchAdoptCommands(t *testing.T) {
	if os.Getenv("BUCKETKEY_BENCH_ADOPT") == "" {
		t.Skip("set BUCKETKEY_BENCH_ADOPT=1 to measure (BENCHMARKS.md)")
	}
	awsCLI := "/usr/bin/aws"
	if _, err := os.Stat(awsCLI); err != nil {
		t.Skip("no aws CLI v2 at /usr/bin/aws")
	}
	n := 10000
	if os.Getenv("BUCKETKEY_BULK_OBJECTS") != "" {
		n = bulkObjects(t)
	}
	body := bytes.Repeat([]byte("4KiB object "), 342)[:4096]
	old := bulkObjectBody
	bulkObjectBody = func(int) []byte { return body }
	defer func() { bulkObjectBody = old }()
	e := newBulkEnv(t, "", n)
	total := n + len(e.mp)
	ctx := context.Background()
	for _, b := range []string{"copy-enc", "copy-rot"} {
		if _, err := e.backend.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	srv := startServe(t, append(append([]string(nil), e.args...), "--client-access-key", "bench", "--client-secret-key", "bench-secret",
		"--mixed-bucket", e.bucket, "--kms-accept-key-id", testenv.KMSOtherKeyID), e.getenv)
	cli := func(args ...string) time.Duration {
		t.Helper()
		cmd := exec.Command(awsCLI, append(args, "--endpoint-url", srv.listen, "--only-show-errors")...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench-secret", "AWS_DEFAULT_REGION="+testenv.Region,
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return time.Since(start)
	}
	timed := func(cmd string, extra ...string) time.Duration {
		t.Helper()
		start := time.Now()
		code, out, errOut := e.bulkCmd(ctx, t, cmd, append([]string{"--quiet", "--concurrency", "10"}, extra...)...)
		if code != exitOK {
			t.Fatalf("%s: exit %d\n%s%s", cmd, code, out, errOut)
		}
		t.Logf("%s", strings.TrimSpace(out))
		return time.Since(start)
	}
	rate := func(d time.Duration) float64 { return float64(total) / d.Seconds() }
	var rows []string
	row := func(what string, ours, theirs time.Duration, alt string) {
		rows = append(rows, fmt.Sprintf("| %s | %.0f | %s | %.0f | %.2f |", what, rate(ours), alt, rate(theirs), rate(ours)/rate(theirs)))
	}

	cpEnc := cli("s3", "cp", "--recursive", "s3://"+e.bucket+"/", "s3://copy-enc/")
	enc := timed("encrypt-existing")
	row("encrypt-existing", enc, cpEnc, "aws s3 cp --recursive to another bucket (encrypts each object)")

	dir := t.TempDir()
	cpGet := cli("s3", "cp", "--recursive", "s3://"+e.bucket+"/", dir+"/")
	ver := timed("verify")
	row("verify", ver, cpGet, "aws s3 cp --recursive to a local directory (authenticates each object)")

	cpRot := cli("s3", "cp", "--recursive", "s3://"+e.bucket+"/", "s3://copy-rot/", "--sse", "aws:kms", "--sse-kms-key-id", testenv.KMSOtherKeyID)
	rot := timed("rotate", "--to-kms-key-id", testenv.KMSOtherKeyID)
	row("rotate", rot, cpRot, "aws s3 cp --recursive --sse-kms-key-id NEW to another bucket (re-wraps each object)")

	t.Logf("%d objects of 4 KiB (+%d multipart of 5 MiB), one run on a loaded 2-core machine:\n| command | objects/s | instead, through the proxy | objects/s | ratio |\n| --- | ---: | --- | ---: | ---: |\n%s",
		n, len(e.mp), strings.Join(rows, "\n"))
}
