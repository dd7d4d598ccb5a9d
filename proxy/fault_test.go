package proxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// observerFunc adapts a function to Observer.
type observerFunc func(op string, status int, in, out int64, d time.Duration)

func (f observerFunc) ObserveRequest(op string, status int, in, out int64, d time.Duration) {
	f(op, status, in, out, d)
}

// TestBackendUnreachable: no backend is a 503 ServiceUnavailable S3 error,
// for reads and for streamed writes.
func TestBackendUnreachable(t *testing.T) {
	p := unitProxy(t) // upstream: a closed port
	srv := httptest.NewServer(p)
	defer srv.Close()
	for _, m := range []struct {
		method string
		body   []byte
	}{{"GET", nil}, {"PUT", []byte("some plaintext")}, {"GET", nil}} {
		resp := signedRequest(t, srv.URL, clientAccessKey, clientSecretKey, m.method, "/b/k", nil, m.body)
		body := readAllClose(t, resp.Body)
		if resp.StatusCode != 503 || !bytes.Contains(body, []byte("ServiceUnavailable")) {
			t.Errorf("%s with no backend: %d %s", m.method, resp.StatusCode, body)
		}
	}
	if err := p.CheckUpstream(context.Background()); err == nil {
		t.Error("CheckUpstream succeeded with no backend")
	}
}

// TestBackendStalls: a backend that never answers (a fake: the only way to
// inject this fault) costs UpstreamTimeout, then 503.
func TestBackendStalls(t *testing.T) {
	release := make(chan struct{})
	fakeStalledBackend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer fakeStalledBackend.Close()
	defer close(release)
	up, _ := url.Parse(fakeStalledBackend.URL)
	p := unitProxy(t, func(c *Config) { c.Upstream = up; c.UpstreamTimeout = 200 * time.Millisecond })
	srv := httptest.NewServer(p)
	defer srv.Close()
	for _, method := range []string{"GET", "PUT"} {
		var body []byte
		if method == "PUT" {
			body = bytes.Repeat([]byte("x"), 200<<10)
		}
		resp := signedRequest(t, srv.URL, clientAccessKey, clientSecretKey, method, "/b/k", nil, body)
		rb := readAllClose(t, resp.Body)
		if resp.StatusCode != 503 {
			t.Errorf("%s to a stalled backend: %d %s", method, resp.StatusCode, rb)
		}
	}
}

// TestClientDisconnectStoresNothing: a client that goes away in the middle
// of an upload leaves no object behind.
func TestClientDisconnectStoresNothing(t *testing.T) {
	done := make(chan int, 4)
	tp := newTestProxy(t, func(c *Config) {
		c.Observer = observerFunc(func(op string, status int, in, out int64, d time.Duration) {
			if op == "PutObject" {
				done <- status
			}
		})
	})
	b := tp.newBucket(t)
	const size = 1 << 20
	req, _ := http.NewRequest("PUT", tp.srv.URL+"/"+b+"/cut", nil)
	req.ContentLength = size
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: clientAccessKey, SecretAccessKey: clientSecretKey}, req, "UNSIGNED-PAYLOAD", "s3", testenv.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	req.Body = io.NopCloser(bytes.NewReader(bytes.Repeat([]byte("p"), 300<<10)))
	conn, err := net.Dial("tcp", strings.TrimPrefix(tp.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	_ = req.Write(conn) // fails: the body is short of its length
	conn.Close()
	<-done
	if _, err := backend().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &b, Key: aws.String("cut")}); err == nil {
		t.Fatal("an interrupted upload left an object")
	}
}

// TestUnitBackendRedirectRelayed: a redirect from the backend (S3's 301
// PermanentRedirect for a bucket in another region) reaches the client as
// the backend gave it, and the proxy does not follow it (the test's
// client, http.DefaultClient, does: only the client reaches the other
// endpoint).
func TestUnitBackendRedirectRelayed(t *testing.T) {
	var hits, proxyFollowed atomic.Int32
	fakeOtherRegion := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") == "bucketkey" {
			proxyFollowed.Add(1)
		}
	}))
	defer fakeOtherRegion.Close()
	const doc = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message><Bucket>b</Bucket></Error>`
	fakeRedirectingBackend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Location", fakeOtherRegion.URL+"/b?list-type=2")
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusMovedPermanently)
		_, _ = io.WriteString(w, doc)
	}))
	defer fakeRedirectingBackend.Close()
	up, _ := url.Parse(fakeRedirectingBackend.URL)
	p := unitProxy(t, func(c *Config) { c.Upstream = up })
	srv := httptest.NewServer(p)
	defer srv.Close()
	resp := signedRequest(t, srv.URL, clientAccessKey, clientSecretKey, "GET", "/b?list-type=2", nil, nil)
	readAllClose(t, resp.Body)
	if resp.Request.URL.Host != strings.TrimPrefix(fakeOtherRegion.URL, "http://") {
		t.Errorf("the client ended at %s, want the Location the backend gave", resp.Request.URL)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("backend asked %d times, want once", n)
	}
	if n := proxyFollowed.Load(); n != 0 {
		t.Errorf("the proxy followed the backend's redirect %d times", n)
	}
}
