package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// headerRecorder is a client transport that records, per response,
// whether the server asked to close the connection (Connection: close,
// which Go's client turns into Response.Close).
type headerRecorder struct {
	rt    http.RoundTripper
	mu    sync.Mutex
	close []bool
}

func (h *headerRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := h.rt.RoundTrip(r)
	if err == nil {
		h.mu.Lock()
		h.close = append(h.close, resp.Close)
		h.mu.Unlock()
	}
	return resp, err
}

// TestServeDrainDelay: with --drain-delay, SIGTERM turns /readyz to 503 at
// once but the S3 listener keeps accepting new connections (a load balancer
// that has not yet seen the 503 loses nothing), answering with
// Connection: close so that clients reconnect elsewhere; then serve exits
// cleanly.
func TestServeDrainDelay(t *testing.T) {
	s3p := testenv.S3(t)
	masterKey := writeFile(t, "master.key", strings.Repeat("d1", 32)+"\n")
	r := startServe(t, []string{"--upstream", s3p.URL, "--upstream-access-key", testenv.S3AccessKey, "--upstream-secret-key", testenv.S3SecretKey,
		"--kms-local-key", masterKey, "--client-access-key", "app", "--client-secret-key", "app-secret", "--drain-delay", "5s"}, env())
	bg := context.Background()
	if _, err := s3Client(r.listen, "app", "app-secret", testenv.Region).CreateBucket(bg, &s3.CreateBucketInput{Bucket: aws.String("drain")}); err != nil {
		t.Fatal(err)
	}

	r.cancel() // SIGTERM
	waitUntil(t, "/readyz to turn 503", func() bool { return httpStatus(t, r.admin+"/readyz") == http.StatusServiceUnavailable })
	// A new connection, as from a load balancer that has not noticed yet.
	rec := &headerRecorder{rt: &http.Transport{}}
	c := s3.New(s3.Options{Region: testenv.Region, BaseEndpoint: aws.String(r.listen), UsePathStyle: true,
		Credentials: s3Client(r.listen, "app", "app-secret", testenv.Region).Options().Credentials,
		HTTPClient:  &http.Client{Transport: rec}, RetryMaxAttempts: 1})
	body := randomBytes(10_000)
	if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: aws.String("drain"), Key: aws.String("late"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatalf("PUT during the drain delay: %v", err)
	}
	if got := getBytes(t, c, &s3.GetObjectInput{Bucket: aws.String("drain"), Key: aws.String("late")}); !bytes.Equal(got, body) {
		t.Errorf("GET during the drain delay: the body differs")
	}
	rec.mu.Lock()
	for i, closed := range rec.close {
		if !closed {
			t.Errorf("response %d during the drain delay kept the connection open, want Connection: close", i)
		}
	}
	rec.mu.Unlock()
	<-r.done
	if r.code != exitOK {
		t.Errorf("exit %d", r.code)
	}
	if !strings.Contains(r.stderr.String(), `"msg":"draining: not ready, still serving"`) {
		t.Errorf("no drain line in the log:\n%s", r.stderr.String())
	}
}
