package main

import (
	"context"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

func listBucketNames(t *testing.T, c *s3.Client) []string {
	t.Helper()
	out, err := c.ListBuckets(context.Background(), &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range out.Buckets {
		names = append(names, aws.ToString(b.Name))
	}
	slices.Sort(names)
	return names
}

// TestServeReloadCredentialsOnSIGHUP: SIGHUP reloads the credentials file
// in place: an upload in flight on an open connection completes, a client
// added with a backend identity of its own (a versitygw user, or a MinIO
// user whose policy covers the buckets named alice-*) reaches the backend
// as that user, a file that does not load keeps the current table, and no
// secret reaches the log. It runs in front of each backend.
func TestServeReloadCredentialsOnSIGHUP(t *testing.T) {
	for _, name := range testenv.Backends() {
		t.Run(name, func(t *testing.T) { serveReloadCredentialsOnSIGHUP(t, name) })
	}
}

func serveReloadCredentialsOnSIGHUP(t *testing.T, backend string) {
	const beSecret = "alice-backend-secret-0123456789"
	gw := testenv.BackendWithUsers(t, backend, []testenv.User{{AccessKey: "alice-be", SecretKey: beSecret, BucketPrefix: "alice-"}})
	masterKey := writeFile(t, "master.key", strings.Repeat("5a", 32)+"\n")
	creds := writeFile(t, "creds", "app:app-secret\n")
	r := startServe(t, []string{"--upstream", gw.URL, "--upstream-access-key", testenv.S3AccessKey, "--upstream-secret-key", testenv.S3SecretKey,
		"--kms-local-key", masterKey, "--credentials", creds}, env())
	app := s3Client(r.listen, "app", "app-secret", testenv.Region)
	if _, err := app.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("root-bucket")}); err != nil {
		t.Fatal(err)
	}
	body := randomBytes(300_000)
	pw, status := slowPut(t, r.listen, "/root-bucket/inflight", int64(len(body)))
	if _, err := pw.Write(body[:200_000]); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the PUT to be in flight", func() bool { return getStats(t, r.admin).Total.ObjectsEncrypted == 1 })

	if err := os.WriteFile(creds, []byte("app:app-secret\nalice alice-client-secret alice-be "+beSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	r.stderr.waitFor(t, `"msg":"credentials reloaded"`, r.done, 30*time.Second)
	if _, err := pw.Write(body[200_000:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if code := <-status; code != http.StatusOK {
		t.Fatalf("the PUT in flight across the reload answered %d", code)
	}

	alice := s3Client(r.listen, "alice", "alice-client-secret", testenv.Region)
	if _, err := alice.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("alice-bucket")}); err != nil {
		t.Fatal(err)
	}
	if got := listBucketNames(t, alice); !slices.Equal(got, []string{"alice-bucket"}) {
		t.Errorf("alice (a backend user) lists %v", got)
	}
	if got := listBucketNames(t, app); !slices.Equal(got, []string{"alice-bucket", "root-bucket"}) {
		t.Errorf("app (the proxy's root identity) lists %v", got)
	}

	// A file that does not load: the table stays.
	if err := os.WriteFile(creds, []byte("alice alice-client-secret\x01 =\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	r.stderr.waitFor(t, `"msg":"credentials not reloaded; keeping the current ones"`, r.done, 30*time.Second)
	if got := listBucketNames(t, alice); !slices.Equal(got, []string{"alice-bucket"}) {
		t.Errorf("after a failed reload alice lists %v", got)
	}
	log := r.stderr.String()
	for _, secret := range []string{beSecret, "alice-client-secret", "app-secret"} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds a secret (%d bytes)", len(secret))
		}
	}
}
