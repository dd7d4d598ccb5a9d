package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/admin"
	"github.com/bucketkey/bucketkey/internal/testenv"
	"github.com/bucketkey/bucketkey/keycache"
)

// The replicas test: 3 bucketkey replicas behind Debian's nginx, in front of
// versitygw and local-kms, all on loopback. The replicas' key caches share a
// clock the test steps one TTL window at a time, so each window's KMS
// requests are a function of the workload alone, not of how fast this
// (shared, loaded) machine runs it; the KMS requests are real.

const (
	replicaCount   = 3
	replicaBuckets = 20
	vhostDomain    = "s3.example.com" // as in examples/nginx/bucketkey-bucket.conf
	replicaAK      = "replicas-app"
	replicaSK      = "replicas-app-secret-0123456789abcdef"
	putsPerBucket  = 3 // per window: one per replica under round-robin
)

// steppedClock is the key caches' clock.
type steppedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *steppedClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *steppedClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// replica is one `bucketkey serve`, built from its command line as serve
// builds it, with the test's clock in its key cache.
type replica struct {
	name       string
	addr       string // S3 listener host:port
	admin      string // admin URL
	srv        *server
	ps, as     *http.Server
	log        *syncBuffer
	killedOnce sync.Once
}

func startReplica(t *testing.T, name string, args []string, now func() time.Time) *replica {
	t.Helper()
	var c serveConfig
	s := serveFlags(&c)
	if err := s.parse(args, env()); err != nil {
		t.Fatal(err)
	}
	r, err := c.validate(s)
	if err != nil {
		t.Fatal(err)
	}
	r.Cache.Now = now
	rep := &replica{name: name, log: newSyncBuffer()}
	srv, err := newServer(context.Background(), r, slog.New(slog.NewJSONHandler(rep.log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.listen(); err != nil {
		srv.close()
		t.Fatal(err)
	}
	rep.srv, rep.addr, rep.admin = srv, srv.proxyLn.Addr().String(), srv.adminURL()
	rep.ps = &http.Server{Handler: srv.proxy, ReadHeaderTimeout: 30 * time.Second}
	rep.as = &http.Server{Handler: srv.admin, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = rep.ps.Serve(srv.proxyLn) }()
	go func() { _ = rep.as.Serve(srv.adminLn) }()
	t.Cleanup(func() {
		rep.kill()
		rep.as.Close()
		srv.close()
		if strings.Contains(rep.log.String(), replicaSK) {
			t.Errorf("%s logged a secret", name)
		}
	})
	return rep
}

// kill ends the replica's S3 side as a crash looks from the load balancer:
// the listener and every connection, idle or in flight, closed at once. Its
// admin listener stays up so that the test can still read what it did.
func (r *replica) kill() { r.killedOnce.Do(func() { r.ps.Close() }) }

// kmsTotals reads a replica's real KMS requests by operation (all
// outcomes) from its /metrics, as Prometheus would.
func kmsTotals(t *testing.T, adminURL string) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	for _, line := range strings.Split(scrape(t, adminURL), "\n") {
		rest, ok := strings.CutPrefix(line, "bucketkey_kms_requests_total{")
		if !ok {
			continue
		}
		labels, value, _ := strings.Cut(rest, "} ")
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		for _, op := range []string{keycache.OpGenerateDataKey, keycache.OpDecrypt} {
			if strings.Contains(labels, `operation="`+op+`"`) {
				m[op] += v
			}
		}
	}
	return m
}

func scrape(t *testing.T, adminURL string) string {
	t.Helper()
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// fleet is the replicas, nginx and the clients, and every object written
// with its body (to prove none is lost).
type fleet struct {
	t        *testing.T
	replicas []*replica
	clock    *steppedClock
	ttl      time.Duration
	start    time.Time

	roundRobin *s3.Client // path style, nginx round-robin
	hashPath   *s3.Client // path style, nginx hash $bucketkey_bucket consistent
	hashVHost  *s3.Client // virtual-hosted style, the same nginx server
	nginx      *testenv.Process

	mu      sync.Mutex
	written map[string]map[int][]string // bucket -> window -> keys
	bodies  map[string][]byte           // bucket/key -> body
	ops     atomic.Int64
}

func newReplicaClient(endpoint string, pathStyle bool, dial string) *s3.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	var d net.Dialer
	// Every connection goes to nginx on loopback, whatever the host name
	// (BUCKET.s3.example.com is never resolved).
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, dial)
	}
	return s3.New(s3.Options{
		Region:           testenv.Region,
		BaseEndpoint:     aws.String(endpoint),
		UsePathStyle:     pathStyle,
		Credentials:      credentials.NewStaticCredentialsProvider(replicaAK, replicaSK, ""),
		HTTPClient:       &http.Client{Transport: tr},
		RetryMaxAttempts: 1, // a request the load balancer lost must show
	})
}

// nginxHTTP is the test's http block: the example's bucket map and proxy
// settings, a round-robin upstream and a consistent-hash one.
func nginxHTTP(t *testing.T, replicas []*replica, rrAddr, hashAddr string) string {
	examples, err := filepath.Abs("../../examples/nginx")
	if err != nil {
		t.Fatal(err)
	}
	var servers strings.Builder
	for _, r := range replicas {
		fmt.Fprintf(&servers, "        server %s max_fails=1 fail_timeout=10s;\n", r.addr)
	}
	return fmt.Sprintf(`    log_format upstream '$request_method $host $request_uri -> $upstream_addr $upstream_status $status bucket=$bucketkey_bucket';
    access_log $DIR/access.log upstream;
    include %[1]s/bucketkey-bucket.conf;
    upstream roundrobin {
%[2]s        keepalive 16;
    }
    upstream affinity {
        hash $bucketkey_bucket consistent;
%[2]s        keepalive 16;
    }
    server {
        listen %[3]s;
        location / {
            proxy_pass http://roundrobin;
            include %[1]s/bucketkey-proxy.conf;
        }
    }
    server {
        listen %[4]s;
        location / {
            proxy_pass http://affinity;
            include %[1]s/bucketkey-proxy.conf;
        }
    }`, examples, servers.String(), rrAddr, hashAddr)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	a, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	s3p, kmsp := testenv.S3(t), testenv.KMS(t)
	kmsEnv(t)
	f := &fleet{t: t, ttl: keycache.DefaultTTL, start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		written: map[string]map[int][]string{}, bodies: map[string][]byte{}}
	f.clock = &steppedClock{t: f.start}
	args := []string{
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-format", "json",
		"--upstream", s3p.URL, "--upstream-access-key", testenv.S3AccessKey, "--upstream-secret-key", testenv.S3SecretKey,
		"--kms-key-id", testenv.KMSKeyID, "--kms-endpoint", kmsp.URL, "--kms-region", testenv.Region,
		"--client-access-key", replicaAK, "--client-secret-key", replicaSK,
		"--virtual-host-domain", vhostDomain,
	}
	for i := range replicaCount {
		f.replicas = append(f.replicas, startReplica(t, fmt.Sprintf("replica-%d", i), args, f.clock.Now))
	}
	rrAddr, hashAddr := freeAddr(t), freeAddr(t)
	ngx := testenv.Nginx(t, nginxHTTP(t, f.replicas, rrAddr, hashAddr), rrAddr, hashAddr)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nginx error log:\n%s", ngx.Output())
		}
	})
	f.nginx = ngx
	_, hashPort, _ := net.SplitHostPort(hashAddr)
	f.roundRobin = newReplicaClient("http://"+rrAddr, true, rrAddr)
	f.hashPath = newReplicaClient("http://"+hashAddr, true, hashAddr)
	f.hashVHost = newReplicaClient("http://"+vhostDomain+":"+hashPort, false, hashAddr)
	return f
}

// at sets the clock to the start of global window g.
func (f *fleet) at(g int) { f.clock.Set(f.start.Add(time.Duration(g) * f.ttl)) }

func (f *fleet) createBuckets(prefix string) []string {
	var bs []string
	for i := range replicaBuckets {
		b := fmt.Sprintf("%s-%02d", prefix, i)
		if _, err := f.hashPath.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			f.t.Fatalf("CreateBucket %s: %v", b, err)
		}
		bs = append(bs, b)
	}
	return bs
}

func (f *fleet) put(c *s3.Client, bucket, key string, body []byte, w int) error {
	f.ops.Add(1)
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		return fmt.Errorf("PUT %s/%s: %w", bucket, key, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.written[bucket] == nil {
		f.written[bucket] = map[int][]string{}
	}
	f.written[bucket][w] = append(f.written[bucket][w], key)
	f.bodies[bucket+"/"+key] = body
	return nil
}

func (f *fleet) get(c *s3.Client, bucket, key string) error {
	f.ops.Add(1)
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("GET %s/%s: %w", bucket, key, err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		return fmt.Errorf("GET %s/%s: body: %w", bucket, key, err)
	}
	f.mu.Lock()
	want := f.bodies[bucket+"/"+key]
	f.mu.Unlock()
	if !bytes.Equal(got, want) {
		return fmt.Errorf("GET %s/%s: %d bytes that differ from the %d written", bucket, key, len(got), len(want))
	}
	return nil
}

func (f *fleet) keys(bucket string, w int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.written[bucket][w]...)
}

// readAll GETs keys. Three keys are read nine times, key (i + i/3) mod 3 at
// the i-th request: under round-robin (one request at a time, so nginx's
// rotation is exact) three consecutive requests reach the three replicas,
// so every replica reads every key, as the estimate assumes.
func (f *fleet) readAll(c *s3.Client, bucket string, keys []string) {
	f.t.Helper()
	order := keys
	if len(keys) == replicaCount {
		order = nil
		for i := range replicaCount * replicaCount {
			order = append(order, keys[(i+i/replicaCount)%replicaCount])
		}
	}
	for _, k := range order {
		if err := f.get(c, bucket, k); err != nil {
			f.t.Fatal(err)
		}
	}
}

// window is one TTL window of the mixed workload on every bucket, one
// request at a time: 3 PUTs of 1 KiB, GETs covering every (replica, key)
// pair of this window's and the last window's objects (the estimate's
// read window = TTL), a HEAD and a LIST.
func (f *fleet) window(w int, buckets []string, put, get *s3.Client) {
	f.t.Helper()
	bg := context.Background()
	for _, b := range buckets {
		for i := range putsPerBucket {
			if err := f.put(put, b, fmt.Sprintf("w%d-%d", w, i), randomBytes(1024), w); err != nil {
				f.t.Fatal(err)
			}
		}
		cur := f.keys(b, w)
		f.readAll(get, b, cur)
		if w > 0 {
			f.readAll(get, b, f.keys(b, w-1))
		}
		f.ops.Add(2)
		if _, err := get.HeadObject(bg, &s3.HeadObjectInput{Bucket: aws.String(b), Key: aws.String(cur[0])}); err != nil {
			f.t.Fatalf("HEAD %s/%s: %v", b, cur[0], err)
		}
		if _, err := get.ListObjectsV2(bg, &s3.ListObjectsV2Input{Bucket: aws.String(b), MaxKeys: aws.Int32(10)}); err != nil {
			f.t.Fatalf("LIST %s: %v", b, err)
		}
	}
}

// totals sums the fleet's KMS requests from every replica's /metrics.
func (f *fleet) totals() map[string]float64 {
	sum := map[string]float64{}
	for _, r := range f.replicas {
		for op, n := range kmsTotals(f.t, r.admin) {
			sum[op] += n
		}
	}
	return sum
}

// bucketStats is each replica's /stats per bucket.
func (f *fleet) bucketStats() []map[string]admin.SavingsDoc {
	var out []map[string]admin.SavingsDoc
	for _, r := range f.replicas {
		out = append(out, getStats(f.t, r.admin).Buckets)
	}
	return out
}

// measured is one routing's KMS requests per bucket per window.
type measured struct{ gdk, dec float64 }

// runPhase runs warm-up window 0 and measured windows 1..2 on fresh buckets
// from global window g0 and returns the KMS requests per bucket per window
// of the measured windows, from the replicas' /metrics.
func (f *fleet) runPhase(prefix string, g0 int, put, get *s3.Client) ([]string, measured) {
	buckets := f.createBuckets(prefix)
	f.at(g0)
	f.window(0, buckets, put, get)
	before := f.totals()
	const windows = 2
	for w := 1; w <= windows; w++ {
		f.at(g0 + w)
		f.window(w, buckets, put, get)
	}
	after := f.totals()
	per := float64(windows * len(buckets))
	return buckets, measured{
		gdk: (after[keycache.OpGenerateDataKey] - before[keycache.OpGenerateDataKey]) / per,
		dec: (after[keycache.OpDecrypt] - before[keycache.OpDecrypt]) / per,
	}
}

// predict runs `bucketkey estimate --json` for the workload of window() and
// returns its KMS requests per bucket per window.
func (f *fleet) predict(sticky bool) measured {
	f.t.Helper()
	ttl := f.ttl.Seconds()
	putRate := float64(replicaBuckets*putsPerBucket) / ttl
	// Per bucket and window: 9 GETs of this window's objects, 9 of the last's.
	getRate := float64(replicaBuckets*2*replicaCount*replicaCount) / ttl
	args := []string{"estimate", "--json",
		"--put-rate", strconv.FormatFloat(putRate, 'g', -1, 64),
		"--get-rate", strconv.FormatFloat(getRate, 'g', -1, 64),
		"--buckets", strconv.Itoa(replicaBuckets),
		"--replicas", strconv.Itoa(replicaCount),
		"--ttl", f.ttl.String(),
		"--read-window", f.ttl.String(),
		// The test steps whole TTL windows: requests come in one burst a
		// window, so no key is refreshed ahead.
		"--bursts",
	}
	if sticky {
		args = append(args, "--sticky")
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), args, &out, &errb, env()); code != exitOK {
		f.t.Fatalf("bucketkey %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	var res estimateResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		f.t.Fatal(err)
	}
	perMonth := float64(replicaBuckets) * secondsPerMonth / ttl
	return measured{gdk: res.BucketKeys.GenerateDataKey / perMonth, dec: res.BucketKeys.Decrypt / perMonth}
}

func within(got, want, tolerance float64) bool {
	d := got - want
	return d <= tolerance*want && -d <= tolerance*want
}

// TestReplicasBehindNginx measures what bucket affinity saves: the same
// mixed workload over 20 buckets through 3 replicas behind nginx with
// round-robin, then with `hash $bucketkey_bucket consistent` (the example
// configuration, path-style PUTs and virtual-hosted-style GETs); the KMS
// requests per bucket per window from the replicas' /metrics against
// `bucketkey estimate --replicas 3` (and --sticky). Then one replica is
// killed with requests in flight: nginx replays them on the survivors, no
// request fails and no object is lost, and only the dead replica's buckets
// move (their extra KMS requests are counted).
func TestReplicasBehindNginx(t *testing.T) {
	f := newFleet(t)

	rrBuckets, rr := f.runPhase("rr", 0, f.roundRobin, f.roundRobin)
	afBuckets, af := f.runPhase("af", 10, f.hashPath, f.hashVHost)
	predRR, predAF := f.predict(false), f.predict(true)
	t.Logf("KMS requests per bucket per %v window, 3 replicas, 20 buckets (%d requests so far):", f.ttl, f.ops.Load())
	t.Logf("  round-robin:      GenerateDataKey %.2f (estimate %.2f), Decrypt %.2f (estimate %.2f)", rr.gdk, predRR.gdk, rr.dec, predRR.dec)
	t.Logf("  bucket affinity:  GenerateDataKey %.2f (estimate --sticky %.2f), Decrypt %.2f (estimate --sticky %.2f)", af.gdk, predAF.gdk, af.dec, predAF.dec)
	t.Logf("  round-robin / affinity: GenerateDataKey %.1fx, Decrypt %.1fx", rr.gdk/af.gdk, rr.dec/af.dec)
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"round-robin GenerateDataKey", rr.gdk, predRR.gdk},
		{"round-robin Decrypt", rr.dec, predRR.dec},
		{"affinity GenerateDataKey", af.gdk, predAF.gdk},
		{"affinity Decrypt", af.dec, predAF.dec},
	} {
		if !within(c.got, c.want, 0.10) {
			t.Errorf("%s: measured %.2f per bucket per window, estimate %.2f: more than 10%% apart", c.what, c.got, c.want)
		}
	}
	// The multipliers: N keys per bucket and window under round-robin, one
	// with affinity; N(N*c-1)/(c-1) = 15 times the unwraps for c = 2
	// windows of reads.
	if !within(rr.gdk/af.gdk, replicaCount, 0.10) {
		t.Errorf("round-robin makes %.2fx the GenerateDataKey of affinity, want about %d", rr.gdk/af.gdk, replicaCount)
	}
	if !within(af.gdk, 1, 0.10) || !within(af.dec, 1, 0.10) {
		t.Errorf("affinity: %.2f GenerateDataKey and %.2f Decrypt per bucket per window, want about 1 each", af.gdk, af.dec)
	}

	// Where each bucket ran: on every replica with round-robin, on exactly
	// one with affinity, whether addressed path style or virtual-hosted.
	stats := f.bucketStats()
	for _, b := range rrBuckets {
		if n := len(activeOn(stats, b)); n != replicaCount {
			t.Errorf("round-robin: bucket %s served by %d replicas, want %d", b, n, replicaCount)
		}
	}
	for _, b := range afBuckets {
		if on := activeOn(stats, b); len(on) != 1 {
			t.Errorf("affinity: bucket %s served by replicas %v, want one", b, on)
		}
	}

	f.killOne(20)
}

// activeOn lists the replicas that encrypted or decrypted in bucket b.
func activeOn(stats []map[string]admin.SavingsDoc, b string) []int {
	var on []int
	for i, s := range stats {
		if d, ok := s[b]; ok && d.ObjectsEncrypted+d.ObjectsDecrypted > 0 {
			on = append(on, i)
		}
	}
	return on
}

// killOne runs the kill phase from global window g0 with affinity routing:
// window 0; window 1 until one replica (the one owning most buckets) is
// killed while a 4 MiB PUT is inside it and readers hammer every bucket;
// the rest of window 1 and window 2 on the survivors. It checks that no
// request failed, that every object reads back, and that the extra KMS
// requests are the dead replica's buckets' alone.
func (f *fleet) killOne(g0 int) {
	t := f.t
	buckets := f.createBuckets("kl")
	put, get := f.hashPath, f.hashVHost
	f.at(g0)
	f.window(0, buckets, put, get)
	base, baseStats := f.totals(), f.bucketStats()
	f.at(g0 + 1)
	f.window(1, buckets, put, get)

	// The owner of each bucket, and the replica to kill.
	owner := map[string]int{}
	owned := make([][]string, replicaCount)
	for i, s := range f.bucketStats() {
		for _, b := range buckets {
			if d := s[b]; d.ObjectsEncrypted > baseStats[i][b].ObjectsEncrypted {
				owner[b] = i
				owned[i] = append(owned[i], b)
			}
		}
	}
	victim := 0
	for i := range owned {
		if len(owned[i]) > len(owned[victim]) {
			victim = i
		}
	}
	moved := owned[victim]
	dead := f.replicas[victim]
	t.Logf("killing %s, which owns %d of %d buckets (%v)", dead.name, len(moved), len(buckets), moved)

	// Readers: every object of window 1, over and over, until the kill is over.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failures []error
	var failMu sync.Mutex
	var readsAfterKill atomic.Int64
	killed := atomic.Bool{}
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				b := buckets[(i*7+r*5)%len(buckets)]
				for _, k := range f.keys(b, 1) {
					select {
					case <-stop:
						return
					default:
					}
					if err := f.get(get, b, k); err != nil {
						failMu.Lock()
						failures = append(failures, err)
						failMu.Unlock()
					} else if killed.Load() {
						readsAfterKill.Add(1)
					}
				}
			}
		}()
	}
	big := randomBytes(4 << 20)
	encBefore := getStats(t, dead.admin).Total.ObjectsEncrypted
	putErr := make(chan error, 1)
	go func() { putErr <- f.put(put, moved[0], "big-inflight", big, 1) }()
	waitUntil(t, "the 4 MiB PUT to be inside the replica", func() bool {
		return getStats(t, dead.admin).Total.ObjectsEncrypted > encBefore
	})
	dead.kill()
	killed.Store(true)
	if err := <-putErr; err != nil {
		t.Errorf("the PUT in flight at the kill failed (nginx should have replayed it on a survivor): %v", err)
	}
	waitUntil(t, "reads after the kill", func() bool { return readsAfterKill.Load() >= 50 })
	close(stop)
	wg.Wait()
	for _, err := range failures {
		t.Errorf("a request failed around the kill: %v", err)
	}

	// The rest of window 1 on the survivors: every object of window 1
	// read once more, 3 more PUTs per bucket, and window 0's objects.
	for _, b := range buckets {
		for _, k := range f.keys(b, 1) {
			if err := f.get(get, b, k); err != nil {
				t.Fatal(err)
			}
		}
		for i := range putsPerBucket {
			if err := f.put(put, b, fmt.Sprintf("w1b-%d", i), randomBytes(1024), 1); err != nil {
				t.Fatal(err)
			}
		}
		f.readAll(get, b, f.keys(b, 0))
	}
	f.at(g0 + 2)
	f.window(2, buckets, put, get)
	end, endStats := f.totals(), f.bucketStats()

	// No object lost: everything ever acknowledged reads back, through
	// both addressing styles.
	f.mu.Lock()
	all := make([]string, 0, len(f.bodies))
	for k := range f.bodies {
		all = append(all, k)
	}
	f.mu.Unlock()
	sort.Strings(all)
	for i, bk := range all {
		b, k, _ := strings.Cut(bk, "/")
		c := get
		if i%2 == 0 {
			c = put
		}
		if err := f.get(c, b, k); err != nil {
			t.Errorf("object lost: %v", err)
		}
	}

	// Extra KMS requests: per bucket over windows 1 and 2, against 1
	// GenerateDataKey and 1 Decrypt per window without a kill. A moved
	// bucket costs its new replica 1 GenerateDataKey and 3 Decrypts (the
	// dead replica's keys of windows 0 and 1, the latter again in window 2);
	// any other bucket nothing.
	isMoved := map[string]bool{}
	for _, b := range moved {
		isMoved[b] = true
	}
	var extraGDK, extraDec int64
	for _, b := range buckets {
		var gdk, dec int64
		for i := range f.replicas {
			gdk += endStats[i][b].Requests(keycache.OpGenerateDataKey) - baseStats[i][b].Requests(keycache.OpGenerateDataKey)
			dec += endStats[i][b].Requests(keycache.OpDecrypt) - baseStats[i][b].Requests(keycache.OpDecrypt)
			if i != owner[b] && !isMoved[b] {
				if d := endStats[i][b]; d.ObjectsEncrypted+d.ObjectsDecrypted > 0 {
					t.Errorf("bucket %s (owned by replica-%d, which lives) moved to replica-%d", b, owner[b], i)
				}
			}
		}
		wantGDK, wantDec := int64(2), int64(2)
		if isMoved[b] {
			wantGDK, wantDec = 3, 5
		}
		if gdk != wantGDK || dec != wantDec {
			t.Errorf("bucket %s (moved %v): %d GenerateDataKey and %d Decrypt in windows 1-2, want %d and %d", b, isMoved[b], gdk, dec, wantGDK, wantDec)
		}
		extraGDK += gdk - 2
		extraDec += dec - 2
	}
	fleetGDK := end[keycache.OpGenerateDataKey] - base[keycache.OpGenerateDataKey]
	fleetDec := end[keycache.OpDecrypt] - base[keycache.OpDecrypt]
	t.Logf("kill: %d of %d buckets moved; extra KMS requests %d GenerateDataKey + %d Decrypt (fleet /metrics, windows 1-2: %.0f GenerateDataKey, %.0f Decrypt; %d without the kill each)",
		len(moved), len(buckets), extraGDK, extraDec, fleetGDK, fleetDec, 2*len(buckets))
	if want := float64(2*len(buckets) + len(moved)); fleetGDK != want {
		t.Errorf("fleet GenerateDataKey in windows 1-2: %.0f, want %.0f", fleetGDK, want)
	}
	if want := float64(2*len(buckets) + 3*len(moved)); fleetDec != want {
		t.Errorf("fleet Decrypt in windows 1-2: %.0f, want %.0f", fleetDec, want)
	}
	t.Logf("%d requests in all", f.ops.Load())

	// nginx's access log names two replicas for a request it replayed.
	log, err := os.ReadFile(filepath.Join(f.nginx.Dir, "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	var replayed []string
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, ", ") {
			replayed = append(replayed, line)
		}
	}
	t.Logf("requests nginx replayed on a survivor: %d", len(replayed))
	for _, l := range replayed {
		t.Logf("  %s", l)
	}
	// Whether the 4 MiB PUT is still inside the replica when it dies is a
	// race the test cannot win every time (nginx buffers the body, then
	// the loopback upload takes milliseconds). What the issue asks is that
	// it is not lost: it succeeded, and it read back with every other
	// acknowledged object ("No object lost" above), replayed or not; the
	// log says which.
	if slices.ContainsFunc(replayed, func(l string) bool { return strings.HasPrefix(l, "PUT ") && strings.Contains(l, "/big-inflight") }) {
		t.Logf("the PUT in flight at the kill was replayed on a survivor")
	} else {
		t.Logf("the PUT finished on the replica before the kill reached it (not replayed)")
	}
}

// TestNginxExampleConfig: examples/nginx/bucketkey.conf, as a user
// installs it (its includes pointed at the examples), passes `nginx -t`.
// TestReplicasBehindNginx runs its bucket map and proxy settings.
func TestNginxExampleConfig(t *testing.T) {
	bin, err := testenv.NginxBinary()
	if err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Abs("../../examples/nginx")
	if err != nil {
		t.Fatal(err)
	}
	site, err := os.ReadFile(filepath.Join(examples, "bucketkey.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var temps strings.Builder
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&temps, "%s_temp_path %s;\n", d, filepath.Join(dir, d))
	}
	conf := fmt.Sprintf("pid %s/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n%s%s\n}\n", dir, temps.String(),
		strings.ReplaceAll(string(site), "/etc/nginx/conf.d", examples))
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-p", dir, "-e", "stderr", "-c", path).CombinedOutput(); err != nil {
		t.Errorf("nginx -t on examples/nginx/bucketkey.conf: %v\n%s", err, out)
	}
}
