package proxy

import (
	"bytes"
	"context"
	"net"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
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
