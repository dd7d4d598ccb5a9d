package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// connCounter counts the connections, reads and writes of the sockets it
// wraps: one conn Read or Write is one read(2) or write(2) (plus one
// more after an EAGAIN), so per GiB they are the syscalls a hop costs,
// measured without strace and without timing.
type connCounter struct {
	dials, reads, writes atomic.Int64
}

func (c *connCounter) wrap(conn net.Conn) net.Conn {
	c.dials.Add(1)
	return &countedConn{Conn: conn, c: c}
}

// dialer returns a DialContext that counts.
func (c *connCounter) dialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return c.wrap(conn), nil
	}
}

// listener counts the connections it accepts.
func (c *connCounter) listener(l net.Listener) net.Listener { return &countedListener{l, c} }

func (c *connCounter) reset() {
	c.dials.Store(0)
	c.reads.Store(0)
	c.writes.Store(0)
}

type countedConn struct {
	net.Conn
	c *connCounter
}

func (c *countedConn) Read(b []byte) (int, error) {
	c.c.reads.Add(1)
	return c.Conn.Read(b)
}

func (c *countedConn) Write(b []byte) (int, error) {
	c.c.writes.Add(1)
	return c.Conn.Write(b)
}

type countedListener struct {
	net.Listener
	c *connCounter
}

func (l *countedListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.c.wrap(conn), nil
}

// hop is one server in front of the shared versitygw, with its client
// side (front) and backend side (back) sockets counted.
type hop struct {
	url         string
	front, back connCounter
}

// serveCounted serves h on a fresh 127.0.0.1 port with counted sockets.
func serveCounted(t testing.TB, h http.Handler, hp *hop) {
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = hp.front.listener(srv.Listener)
	srv.Start()
	t.Cleanup(srv.Close)
	hp.url = srv.URL
}

// newPlainProxy is the floor for any proxy (issue 15): a plain
// net/http/httputil.ReverseProxy in front of up, no crypto, keeping the
// client's Host so that the client's own signature passes through, with
// the same backend transport settings as the proxy. Benchmark tooling,
// not product.
func newPlainProxy(t testing.TB, up *url.URL) *hop {
	hp := &hop{}
	tr := DefaultTransport()
	tr.DialContext = hp.back.dialer()
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(up)
			r.Out.Host = r.In.Host
		},
		Transport: tr,
	}
	serveCounted(t, rp, hp)
	return hp
}

// newCountedProxy is bucketkey in front of the shared versitygw with its
// sockets counted.
func newCountedProxy(t testing.TB, opts ...proxyOption) (*testProxy, *hop) {
	hp := &hop{}
	tr := DefaultTransport()
	tr.DialContext = hp.back.dialer()
	tp := newTestProxy(t, append([]proxyOption{func(c *Config) { c.UpstreamTransport = tr }}, opts...)...)
	serveCounted(t, tp.Proxy, hp)
	return tp, hp
}

// benchClient is an S3 client with `bucketkey bench`'s settings (SDK
// defaults, no retries) and idle connections for c workers.
func benchClient(endpoint, ak, sk string, c int) *s3.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 2*c, 2*c
	return s3.New(s3.Options{
		Region: testenv.Region, BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials:      credentials.NewStaticCredentialsProvider(ak, sk, ""),
		HTTPClient:       &http.Client{Transport: tr},
		RetryMaxAttempts: 1,
	})
}

// reportSockets reports the hop's socket operations per GiB moved (or per
// operation for small objects) and resets the counters.
func reportSockets(b *testing.B, hp *hop, bytes int64) {
	per, unit := float64(b.N), "/op"
	if bytes >= 1<<20 {
		per, unit = float64(bytes)*float64(b.N)/(1<<30), "/GiB"
	}
	b.ReportMetric(float64(hp.front.reads.Load()+hp.front.writes.Load())/per, "clientIO"+unit)
	b.ReportMetric(float64(hp.back.reads.Load()+hp.back.writes.Load())/per, "backendIO"+unit)
	b.ReportMetric(float64(hp.back.dials.Load()), "backendDials")
}

// BenchmarkGet: GetObject through bucketkey next to the same GET through
// a plain reverse proxy (the floor, issue 15) and straight to versitygw,
// in one run: a 4 KiB object by 16 concurrent clients and a 64 MiB one by
// one. allocs/op include the client's (the same in each column), so the
// difference between proxy and plain is what bucketkey adds; clientIO and
// backendIO are the hop's socket reads+writes (≈ syscalls) per op or GiB;
// cpu-µs/op is the test process's CPU (client and proxy) per op.
// Decide from those, not from ns/op, on a shared machine:
//
//	go test -run '^$' -bench 'BenchmarkGet$/.*/4KiB' -benchmem -benchtime 2000x ./proxy
//	go test -run '^$' -bench 'BenchmarkGet$/.*/64MiB' -benchmem -benchtime 20x ./proxy
func BenchmarkGet(b *testing.B) {
	tp, bk := newCountedProxy(b)
	up, _ := url.Parse(backendS3.URL)
	plain := newPlainProxy(b, up)
	bucket := tp.newBucket(b)
	ctx := context.Background()
	for _, size := range []int64{4 << 10, 64 << 20} {
		key := fmt.Sprintf("get-%d", size)
		if _, err := tp.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: newPattern(size), ContentLength: aws.Int64(size)}); err != nil {
			b.Fatal(err)
		}
		// plain and direct read an object of the same size stored as it is.
		plainKey := "plain-" + key
		if _, err := backend().PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &plainKey, Body: newPattern(size), ContentLength: aws.Int64(size)}); err != nil {
			b.Fatal(err)
		}
		for _, c := range []struct {
			name   string
			hop    *hop
			ak, sk string
		}{
			{"bucketkey", bk, clientAccessKey, clientSecretKey},
			{"plain", plain, testenv.S3AccessKey, testenv.S3SecretKey},
			{"direct", nil, testenv.S3AccessKey, testenv.S3SecretKey},
		} {
			endpoint, k := backendS3.URL, plainKey
			if c.hop != nil {
				endpoint = c.hop.url
			}
			if c.hop == bk {
				k = key
			}
			b.Run(fmt.Sprintf("%s/%s", c.name, sizeName(size)), func(b *testing.B) {
				benchGet(b, benchClient(endpoint, c.ak, c.sk, 16), bucket, k, size, c.hop)
			})
		}
	}
}

func sizeName(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}

// benchGet GETs key (size bytes) b.N times: by 16 goroutines for small
// objects, by one for large ones.
func benchGet(b *testing.B, c *s3.Client, bucket, key string, size int64, hp *hop) {
	ctx := context.Background()
	get := func(buf []byte) error {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{out.Body}, buf)
		if err == nil && n != size {
			err = fmt.Errorf("read %d of %d bytes", n, size)
		}
		return err
	}
	if err := get(make([]byte, 256<<10)); err != nil { // warm connections and caches
		b.Fatal(err)
	}
	if hp != nil {
		hp.front.reset()
		hp.back.reset()
	}
	b.SetBytes(size)
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	if size < 1<<20 {
		b.SetParallelism(8) // 16 workers on 2 CPUs
		b.RunParallel(func(pb *testing.PB) {
			buf := make([]byte, 256<<10)
			for pb.Next() {
				if err := get(buf); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		buf := make([]byte, 256<<10)
		for range b.N {
			if err := get(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	// The test process's CPU: the client's (the same in every column)
	// plus the proxy's, so the difference between columns is the
	// proxies', whatever the wall clock of a shared machine did.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
	if hp != nil {
		reportSockets(b, hp, size)
	}
}

// processCPU returns the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// discardWriter is a ResponseWriter that keeps the status and counts the
// body, reusing its header map, so that a handler benchmark counts the
// handler's allocations and not a recorder's.
type discardWriter struct {
	h      http.Header
	status int
	n      int64
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += int64(len(b))
	return len(b), nil
}

func (w *discardWriter) reset() {
	clear(w.h)
	w.status, w.n = 0, 0
}

// BenchmarkHandlerGet: the per-request cost of GetObject and HeadObject
// of a 4 KiB object, calling the proxy's handler directly (no client
// socket, no client) in front of versitygw, with the key caches warm:
// verifying the client's signature, routing, the backend request (signing,
// the transport), the envelope, the answer's headers. allocs/op is the
// figure to cut (issue 15, per-request overhead); each iteration also
// clones one signed request (a few allocations, the same in every
// version of the proxy).
//
//	go test -run '^$' -bench BenchmarkHandlerGet -benchmem -benchtime 2000x ./proxy
//	go test -run '^$' -bench 'BenchmarkHandlerGet/GET' -benchmem -benchtime 5000x -memprofile mem.out -cpuprofile cpu.out ./proxy
func BenchmarkHandlerGet(b *testing.B) {
	tp := newTestProxy(b)
	bucket := tp.newBucket(b)
	const size = 4 << 10
	tp.put(b, bucket, "k", randBytes(size))
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		b.Run(method, func(b *testing.B) {
			req := httptest.NewRequest(method, "http://proxy.test/"+bucket+"/k", nil)
			req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: clientAccessKey, SecretAccessKey: clientSecretKey}, req, "UNSIGNED-PAYLOAD", "s3", testenv.Region, time.Now()); err != nil {
				b.Fatal(err)
			}
			want := int64(size)
			if method == http.MethodHead {
				want = 0
			}
			w := &discardWriter{h: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				tp.Proxy.ServeHTTP(w, req.Clone(context.Background()))
				if w.status != http.StatusOK || w.n != want {
					b.Fatalf("%s answered %d with %d bytes, want 200 with %d", method, w.status, w.n, want)
				}
			}
		})
	}
}
