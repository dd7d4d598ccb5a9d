package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bucketkey/bucketkey/bench"
	"github.com/bucketkey/bucketkey/internal/testenv"
)

// TestPlainProxyPassesSignatures runs bench's PUT and GET through the plain
// proxy in front of versitygw with the backend's credentials (the client's
// signature verifies at the backend because the proxy keeps its Host), and
// a wrong secret, which the backend must refuse through the proxy.
func TestPlainProxyPassesSignatures(t *testing.T) {
	s3 := testenv.S3(t)
	var logw bytes.Buffer
	h, err := newHandler(s3.URL, "", &logw)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	cfg := bench.Config{Endpoint: srv.URL, AccessKey: testenv.S3AccessKey, SecretKey: testenv.S3SecretKey, Bucket: "plain", Concurrency: 2, Count: 20, Size: 100 << 10}
	ctx := context.Background()
	if err := bench.CreateBucket(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for _, op := range []bench.Op{bench.OpPut, bench.OpGet} {
		c := cfg
		c.Op, c.Prewritten = op, op == bench.OpGet
		res, err := bench.Run(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors != 0 || res.Ops != 20 {
			t.Fatalf("%s: ops %d errors %d (%s), want 20 and 0", op, res.Ops, res.Errors, res.FirstError)
		}
	}
	if !strings.Contains(logw.String(), "plainproxy: client payload: ") {
		t.Errorf("no payload mode logged: %q", logw.String())
	}
	bad := cfg
	bad.SecretKey, bad.Op, bad.Count = "wrong-secret-0123456789abcdef", bench.OpPut, 1
	res, err := bench.Run(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 1 || !strings.Contains(res.FirstError, "SignatureDoesNotMatch") {
		t.Fatalf("wrong secret: errors %d (%s), want SignatureDoesNotMatch", res.Errors, res.FirstError)
	}
}

func TestNewHandlerRefusesBadUpstream(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "http://", "127.0.0.1:80"} {
		if _, err := newHandler(u, "", nil); err == nil {
			t.Errorf("newHandler(%q): no error", u)
		}
	}
}
