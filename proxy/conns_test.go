package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestUpstreamConnectionsReused: the proxy keeps its backend connections
// alive across requests. A dial (and a close) per request costs more CPU
// than the request itself for small objects.
func TestUpstreamConnectionsReused(t *testing.T) {
	var dials atomic.Int64
	tr := DefaultTransport()
	d := &net.Dialer{}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	tp := newTestProxy(t, func(c *Config) { c.UpstreamTransport = tr })
	b := tp.newBucket(t)
	ctx := context.Background()
	data := randBytes(4096)
	tp.put(t, b, "warm", data)
	before := dials.Load()
	const n = 20
	for range n {
		key := aws.String("k")
		if _, err := tp.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: key, Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "GET", tp.get(t, b, "k"), data)
		if _, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: key}); err != nil {
			t.Fatal(err)
		}
		r, _ := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &b, Key: key, Range: aws.String("bytes=10-20")})
		mustEqual(t, "ranged GET", r, data[10:21])
	}
	if got := dials.Load() - before; got > 2 {
		t.Errorf("%d backend dials for %d sequential PUT+GET+HEAD+range rounds: connections are not reused", got, n)
	}
}

// TestConnectionsReusedConcurrently: under 16 concurrent clients (the
// 4 KiB benchmark's concurrency) mixing PUT, GET, HEAD, ranged GET, a
// conditional GET answered 304 and a GET of a missing key, the proxy
// keeps both sides of the hop alive: the backend sees at most one
// connection per concurrent request (not one per request), and the
// clients' connections to the proxy stay open too (issue 15, "keep-alive
// everywhere"). The same traffic through a transport without keep-alive
// dials once per backend request, which shows the count counts.
func TestConnectionsReusedConcurrently(t *testing.T) {
	const workers, rounds, opsPerRound = 16, 6, 6
	run := func(t *testing.T, keepAlive bool) (front, back int64) {
		hp := &hop{}
		tr := DefaultTransport()
		tr.DisableKeepAlives = !keepAlive
		tr.DialContext = hp.back.dialer()
		tp := newTestProxy(t, func(c *Config) { c.UpstreamTransport = tr })
		serveCounted(t, tp.Proxy, hp)
		b := tp.newBucket(t)
		c := benchClient(hp.url, clientAccessKey, clientSecretKey, workers)
		data := randBytes(4096)
		etag := aws.ToString(tp.put(t, b, "shared", data).ETag)
		hp.front.reset()
		hp.back.reset()
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				if err := connRounds(c, b, fmt.Sprintf("w%d", w), etag, data, rounds); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		return hp.front.dials.Load(), hp.back.dials.Load()
	}
	front, back := run(t, true)
	// A connection per worker, and as many again for the moments when
	// the transport dials for a waiting request just before another
	// request's connection comes back to the pool.
	if back > 2*workers {
		t.Errorf("%d backend connections for %d concurrent clients making %d requests: the proxy does not keep backend connections alive", back, workers, workers*rounds*opsPerRound)
	}
	if front > 2*workers {
		t.Errorf("%d client connections for %d concurrent clients making %d requests: the proxy closes client connections", front, workers, workers*rounds*opsPerRound)
	}
	t.Logf("keep-alive: %d client and %d backend connections for %d requests", front, back, workers*rounds*opsPerRound)
	if _, back := run(t, false); back < workers*rounds*opsPerRound {
		t.Errorf("without keep-alive: %d backend connections for %d requests; the counter misses dials", back, workers*rounds*opsPerRound)
	}
}

// connRounds makes rounds of opsPerRound requests as one client: PUT,
// GET, HEAD, ranged GET of its own key, a conditional GET of the shared
// key that the backend answers 304, and a GET of a missing key (404).
func connRounds(c *s3.Client, bucket, key, sharedETag string, data []byte, rounds int) error {
	ctx := context.Background()
	for range rounds {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
			return err
		}
		for _, rng := range []*string{nil, aws.String("bytes=10-20")} {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key, Range: rng})
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, out.Body)
			out.Body.Close()
			if err != nil {
				return err
			}
		}
		if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key}); err != nil {
			return err
		}
		var re *awshttp.ResponseError
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("shared"), IfNoneMatch: &sharedETag})
		if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusNotModified {
			return fmt.Errorf("conditional GET: %v, want 304", err)
		}
		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("missing-" + key)})
		if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusNotFound {
			return fmt.Errorf("GET of a missing key: %v, want 404", err)
		}
	}
	return nil
}
