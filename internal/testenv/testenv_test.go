package testenv

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestServersStart checks that both real servers come up and answer HTTP.
func TestServersStart(t *testing.T) {
	for _, p := range []*Process{S3(t), KMS(t)} {
		resp, err := http.Get(p.URL + "/")
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s: status %d\n%s", p.Name, resp.StatusCode, p.Output())
		}
	}
}

// TestToxiproxyInFrontOfKMS checks a toxiproxy proxy forwards to local-kms
// and that a toxic takes effect (a reset_peer cuts connections).
func TestToxiproxyInFrontOfKMS(t *testing.T) {
	kms := KMS(t)
	tp := Toxi(t)
	px, err := tp.Proxy("kms", kms.Addr)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + px.Listen + "/")
	if err != nil {
		t.Fatalf("through toxiproxy: %v", err)
	}
	resp.Body.Close()
	if err := px.Disable(); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get("http://" + px.Listen + "/"); err == nil {
		resp.Body.Close()
		t.Fatal("request through a disabled proxy succeeded")
	}
}

// TestBackendsServeS3 checks that every backend comes up and serves a
// signed S3 request (ListBuckets) with the test credentials.
func TestBackendsServeS3(t *testing.T) {
	for _, name := range Backends() {
		t.Run(name, func(t *testing.T) {
			p := Backend(t, name)
			if p.Name != name {
				t.Errorf("process name %q, want %q", p.Name, name)
			}
			req, err := http.NewRequest(http.MethodGet, p.URL+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			const empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
			req.Header.Set("X-Amz-Content-Sha256", empty)
			creds := aws.Credentials{AccessKeyID: S3AccessKey, SecretAccessKey: S3SecretKey}
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, empty, "s3", Region, time.Now()); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "ListAllMyBucketsResult") {
				t.Fatalf("ListBuckets: %s\n%s\n%s", resp.Status, body, p.Output())
			}
		})
	}
}
