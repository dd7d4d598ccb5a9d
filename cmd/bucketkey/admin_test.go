package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// adminGet fetches an admin URL with an optional bearer token.
func adminGet(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestServeAdminLeaksNoSecret (issue 12, item 4; failed before:
// /debug/pprof/cmdline returned the command line with both secret keys,
// unauthenticated): with secrets given as flags (which the examples no
// longer do) and every admin option on, no admin path returns a secret;
// pprof is off by default; with --admin-token-file every path but
// /healthz and /readyz asks for the token.
func TestServeAdminLeaksNoSecret(t *testing.T) {
	const clientSecret, upstreamSecret = "client-SECRET-do-not-leak-0123", "upstream-SECRET-do-not-leak-4567"
	const token = "admin-token-0123456789abcdef"
	key := writeFile(t, "master.key", strings.Repeat("ef", 32)+"\n")
	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatal(err)
	}
	tokenFile := writeFile(t, "admin.token", token+"\n")
	s3p := testenv.S3(t)
	base := []string{"--upstream", s3p.URL, "--upstream-access-key", testenv.S3AccessKey, "--upstream-secret-key", testenv.S3SecretKey,
		"--kms-local-key", key, "--client-access-key", "app", "--client-secret-key", clientSecret}

	// Defaults: no pprof at all.
	r := startServe(t, base, env())
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/profile?seconds=1"} {
		if code, _ := adminGet(t, r.admin+p, ""); code != http.StatusNotFound {
			t.Errorf("default %s: %d, want 404", p, code)
		}
	}
	r.stop(t)

	// Everything on; the upstream secret given as a flag too.
	args := append(append([]string{}, base...), "--admin-pprof", "--admin-token-file", tokenFile)
	for i, a := range args {
		if a == testenv.S3SecretKey {
			args[i] = upstreamSecret // versitygw is not asked: nothing is written below
		}
	}
	r = startServe(t, args, env())
	c := s3Client(r.listen, "app", clientSecret, testenv.Region)
	_, _ = c.ListBuckets(context.Background(), &s3.ListBucketsInput{}) // some traffic for the stats
	_, _ = c.HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String("b")})
	paths := []string{"/", "/stats", "/metrics", "/healthz", "/readyz",
		"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/symbol", "/debug/pprof/goroutine?debug=2",
		"/debug/pprof/heap?debug=1", "/debug/pprof/allocs?debug=1", "/debug/pprof/threadcreate?debug=1",
		"/debug/pprof/block?debug=1", "/debug/pprof/mutex?debug=1"}
	for _, p := range paths {
		open := p == "/healthz" || p == "/readyz"
		if code, body := adminGet(t, r.admin+p, ""); !open && code != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d, want 401", p, code)
		} else if open && bytes.Contains(body, []byte("unauthorized")) {
			t.Errorf("%s asks for the token", p)
		}
		if code, _ := adminGet(t, r.admin+p, "wrong-token-0123456789abcdef"); !open && code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d, want 401", p, code)
		}
		code, body := adminGet(t, r.admin+p, token)
		if p == "/debug/pprof/cmdline" {
			if code != http.StatusNotFound {
				t.Errorf("%s: %d, want 404", p, code)
			}
		} else if code != http.StatusOK && !(p == "/readyz" && code == http.StatusServiceUnavailable) {
			t.Errorf("%s with the token: %d", p, code)
		}
		for _, secret := range []string{clientSecret, upstreamSecret, token} {
			if bytes.Contains(body, []byte(secret)) {
				t.Errorf("%s returns a secret", p)
			}
		}
	}
	r.stop(t)
	if log := r.stderr.String(); strings.Contains(log, clientSecret) || strings.Contains(log, upstreamSecret) || strings.Contains(log, token) {
		t.Error("the log holds a secret")
	}
}
