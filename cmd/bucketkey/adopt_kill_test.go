package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/internal/bulk"
	"github.com/bucketkey/bucketkey/internal/testenv"
)

// TestEncryptExistingSurvivesSIGKILL runs the bucketkey binary's
// encrypt-existing as a subprocess, SIGKILLs it once a third of the objects
// are recorded in its state file (no graceful shutdown: whatever was in
// flight is cut off mid-request), then runs it again: it exits 0, every
// object is encrypted and reads back byte-identical through serve, and the
// resumed run redid no more than the objects in flight at the kill (plus
// those finished after the state file's last write); against versitygw and
// local-kms. Configuration is as the in-process tests': settings as flags,
// credentials in the environment.
func TestEncryptExistingSurvivesSIGKILL(t *testing.T) {
	const (
		n           = 200
		concurrency = 4
	)
	start := time.Now()
	bin := filepath.Join(t.TempDir(), "bucketkey")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	e := newBulkEnv(t, "", n)
	total := n + len(e.mp)
	statePath := filepath.Join(e.dir, "encrypt-existing.state")
	env := os.Environ() // kmsEnv's AWS_* settings for local-kms
	for _, k := range []string{"BUCKETKEY_UPSTREAM_ACCESS_KEY", "BUCKETKEY_UPSTREAM_SECRET_KEY"} {
		v, _ := e.getenv(k)
		env = append(env, k+"="+v)
	}
	command := func() (*exec.Cmd, *bytes.Buffer) {
		args := append([]string{"encrypt-existing"}, e.args...)
		args = append(args, "s3://"+e.bucket, "--state", statePath, "--concurrency", strconv.Itoa(concurrency), "--quiet")
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		return cmd, &out
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// First run: SIGKILL once the state file records a third.
	cmd, out := command()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(5 * time.Millisecond) // polls the state file
	defer tick.Stop()
	for seen := int64(0); seen < int64(total/3); {
		select {
		case err := <-exited:
			t.Fatalf("first run ended before the kill (%d of %d recorded): %v\n%s", seen, total, err, out)
		case <-ctx.Done():
			cmd.Process.Kill()
			t.Fatalf("first run: %d of %d recorded after 5 minutes\n%s", seen, total, out)
		case <-tick.C:
		}
		// The file is renamed into place whole, so a read sees one state
		// or the next, never a torn one.
		st, err := bulk.LoadState(statePath, "encrypt-existing", e.bucket, "")
		if err != nil {
			cmd.Process.Kill()
			t.Fatalf("state file during the run: %v", err)
		}
		if st != nil {
			seen = st.Counts[outEncrypted]
		}
	}
	if err := cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("first run after SIGKILL: %v\n%s", err, out)
	}
	first := e.state(t, "encrypt-existing")
	done1 := first.Counts[outEncrypted]
	if done1 < int64(total/3) || first.Complete {
		t.Fatalf("state after the kill: %d encrypted (complete %v), want at least %d", done1, first.Complete, total/3)
	}
	t.Logf("killed with %d of %d recorded as encrypted", done1, total)

	// Second run: resumes and finishes.
	cmd, out = command()
	if err := cmd.Run(); err != nil {
		t.Fatalf("resumed run: %v\n%s", err, out)
	}
	t.Logf("resumed run:\n%s", out)
	if !strings.Contains(out.String(), "resumed from") {
		t.Errorf("resumed run's summary does not say it resumed:\n%s", out)
	}
	second := e.state(t, "encrypt-existing")
	// Objects stored before the kill but not yet in the state file come
	// back as already encrypted: at most the concurrency in flight, plus
	// those finished between the state file's last write and the kill
	// (the saver coalesces, so allow one more round of workers).
	again := second.Counts[outAlreadyEncrypt]
	if second.Counts[outEncrypted]+again != int64(total) || again > 2*concurrency || !second.Complete || len(second.Failed) != 0 {
		t.Fatalf("after resume: %v, failed %v (complete %v), want %d objects finished once, at most %d again",
			second.Counts, second.Failed, second.Complete, total, 2*concurrency)
	}

	// Every object: encrypted on the backend, byte-identical through serve.
	srv := startServe(t, append(e.args, "--client-access-key", "app", "--client-secret-key", "app-secret"), e.getenv)
	pc := s3Client(srv.listen, "app", "app-secret", testenv.Region)
	want := map[string][]byte{}
	for i := range n {
		want[smallKey(i)] = smallBody(i)
	}
	for k, v := range e.mp {
		want[k] = v
	}
	for key, body := range want {
		h, err := e.backend.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if testenv.EnvelopeFields(h.Metadata)["bk-v"] != "1" {
			t.Errorf("%s on the backend: metadata %v, not encrypted", key, h.Metadata)
			continue
		}
		if got := getBytes(t, pc, &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key)}); !bytes.Equal(got, body) {
			t.Errorf("%s through serve: %d bytes, want %d", key, len(got), len(body))
		}
	}
	t.Logf("total %v", time.Since(start))
}
