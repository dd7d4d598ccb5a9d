package e2e

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/internal/testenv"
	"github.com/bucketkey/bucketkey/keycache"
	"github.com/bucketkey/bucketkey/keycache/awskms"
)

// kmsTimeout is the proxy's bound on one KMS call in these tests
// (keycache.Options.ProviderTimeout; 30 s by default).
const kmsTimeout = 2 * time.Second

// faultyKMSOptions is a proxy whose KMS calls give up after kmsTimeout,
// with the SDK retrying once after at most 100 ms.
func faultyKMSOptions(o envOptions) envOptions {
	o.cache = keycache.Options{ProviderTimeout: kmsTimeout}
	o.kmsOpts = awskms.Options{MaxAttempts: 2, MaxBackoff: 100 * time.Millisecond}
	return o
}

// kmsFixture is a proxy whose KMS fails on demand, a second proxy (with
// its own cache, straight to KMS) that writes "cold" objects the first
// has never seen the keys of, and the buckets and objects the checks use.
type kmsFixture struct {
	e, writer *env
	warm      string // a bucket whose bucket key e holds
	warmData  []byte // warm/"warm", written through e
	// cold[i]/"cold" are objects written through writer only, each in
	// its own bucket so each has its own bucket key: e has to unwrap
	// each of them once.
	cold     []string
	coldData []byte
	n        int // cold objects used so far
}

func newKMSFixture(t *testing.T, e *env, writer *env) *kmsFixture {
	f := &kmsFixture{e: e, writer: writer, warmData: randBytes(100 << 10), coldData: randBytes(100 << 10)}
	f.warm = e.newBucket()
	e.put(f.warm, "warm", f.warmData)
	mustEqual(t, "warm object", e.get(f.warm, "warm"), f.warmData)
	for range 8 {
		b := writer.newBucket()
		writer.put(b, "cold", f.coldData)
		f.cold = append(f.cold, b)
	}
	return f
}

// cachedKeysServe: with KMS failing, what e has keys for still works.
func (f *kmsFixture) cachedKeysServe(t *testing.T) {
	t.Helper()
	ctx := ctxFor(t, 10*time.Second)
	data := randBytes(70 << 10)
	if _, err := f.e.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &f.warm, Key: aws.String("new"), Body: bytes.NewReader(data)}); err != nil {
		t.Errorf("PUT under a cached bucket key: %v", err)
	}
	o := f.e.rawGet("/"+f.warm+"/warm", "")
	if o.status != 200 || o.err != nil || !bytes.Equal(o.body, f.warmData) {
		t.Errorf("GET under a cached key: %d %s %v", o.status, o.code, o.err)
	}
	o = f.e.rawGet("/"+f.warm+"/new", "")
	if o.status != 200 || o.err != nil || !bytes.Equal(o.body, data) {
		t.Errorf("GET of an object just written under a cached key: %d %s %v", o.status, o.code, o.err)
	}
}

// coldFails: a write needing a new bucket key and a read needing an
// unwrap both fail with status and code, before their 15 s deadline;
// with Retry-After when retry is set.
func (f *kmsFixture) coldFails(t *testing.T, status int, code string, retry bool) {
	t.Helper()
	check := func(what string, r reply, took time.Duration) {
		t.Helper()
		t.Logf("%s failed in %v: %d %s", what, took.Round(time.Millisecond), r.status, r.code)
		if r.status != status || r.code != code {
			t.Errorf("%s: %s, want %d %s", what, r, status, code)
		}
		if ra := r.header.Get("Retry-After"); retry && (ra == "" || ra == "0") {
			t.Errorf("%s: Retry-After %q", what, ra)
		}
	}
	ctx := ctxFor(t, 15*time.Second)
	b := f.e.newBucket() // no KMS call: CreateBucket passes through
	// Both at once: each waits for KMS up to its timeout.
	put, get := f.e.signedPut(ctx, "/"+b+"/x", randBytes(1000), nil), f.e.signed(ctx, http.MethodGet, "/"+f.cold[f.n]+"/cold")
	type result struct {
		r    reply
		took time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		r, err := sendReq(f.e.httpClient, get)
		if err != nil {
			r = reply{err: err}
		}
		done <- result{r, time.Since(start)}
	}()
	start := time.Now()
	r := f.e.send(put)
	check("cold PUT", r, time.Since(start))
	g := <-done
	if g.r.err != nil {
		t.Fatalf("cold GET: %v", g.r.err)
	}
	check("cold GET", g.r, g.took)
}

// coldWorks: after the fault, a cold write and a cold read succeed,
// without restarting anything.
func (f *kmsFixture) coldWorks(t *testing.T) {
	t.Helper()
	b := f.e.newBucket()
	data := randBytes(1000)
	f.e.put(b, "x", data)
	mustEqual(t, "cold object written after recovery", f.e.get(b, "x"), data)
	mustEqual(t, "cold object read after recovery", f.e.get(f.cold[f.n], "cold"), f.coldData)
	f.n++
}

// TestKMSFaults puts toxiproxy between the proxy and local-kms and breaks
// it: down (the proxy refuses connections), slow (latency above the KMS
// timeout, and below it), and hung (the toxiproxy "timeout" toxic holds
// every request unanswered). local-kms cannot throttle, so the hung case
// stands in for a KMS that throttles by slowness, and
// TestKMSThrottling checks the mapping of a real ThrottlingException.
// Through every fault, keys in the cache keep serving, cold requests fail
// with 503 ServiceUnavailable and Retry-After within the KMS timeout, and
// once the fault ends the proxy works again by itself. Goroutines and heap
// come back to where they were.
func TestKMSFaults(t *testing.T) {
	e := newEnv(t, faultyKMSOptions(envOptions{kmsFaults: true}))
	w := newEnv(t, envOptions{})
	f := newKMSFixture(t, e, w)
	base := takeLeakBaseline(e, w)

	phases := []struct {
		name  string
		start func(t *testing.T)
		stop  func(t *testing.T)
	}{
		{"down", func(t *testing.T) {
			if err := e.kmsToxi.Disable(); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T) {
			if err := e.kmsToxi.Enable(); err != nil {
				t.Fatal(err)
			}
		}},
		{"slower than the KMS timeout", func(t *testing.T) {
			if _, err := e.kmsToxi.AddToxic("slow", "latency", "downstream", 1, toxAttrs{"latency": 3 * kmsTimeout.Milliseconds()}); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T) {
			if err := e.kmsToxi.RemoveToxic("slow"); err != nil {
				t.Fatal(err)
			}
		}},
		{"hung (throttling by slowness)", func(t *testing.T) {
			if _, err := e.kmsToxi.AddToxic("hung", "timeout", "upstream", 1, toxAttrs{"timeout": 0}); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T) {
			if err := e.kmsToxi.RemoveToxic("hung"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, ph := range phases {
		t.Run(ph.name, func(t *testing.T) {
			e.t, w.t = t, t
			ph.start(t)
			f.cachedKeysServe(t)
			f.coldFails(t, 503, "ServiceUnavailable", true)
			ph.stop(t)
			f.coldWorks(t)
		})
	}
	t.Run("slow within the KMS timeout", func(t *testing.T) {
		e.t, w.t = t, t
		if _, err := e.kmsToxi.AddToxic("slowish", "latency", "downstream", 1, toxAttrs{"latency": 300}); err != nil {
			t.Fatal(err)
		}
		f.coldWorks(t)
		if err := e.kmsToxi.RemoveToxic("slowish"); err != nil {
			t.Fatal(err)
		}
	})
	e.t, w.t = t, t

	// Many cold failures in a row (KMS down) must not leave anything
	// behind: each is a goroutine or a buffer that a leak would keep.
	if err := e.kmsToxi.Disable(); err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t, time.Minute)
	for i := range 200 {
		r := e.send(e.signed(ctx, http.MethodGet, "/"+f.cold[f.n]+"/cold"))
		if r.status != 503 {
			t.Fatalf("cold GET %d with KMS down: %s", i, r)
		}
	}
	if err := e.kmsToxi.Enable(); err != nil {
		t.Fatal(err)
	}
	f.coldWorks(t)
	base.check(t, "the KMS faults", e, w)
	stats := e.keys.Stats()
	t.Logf("KMS requests by outcome: %v", stats.Total.Requests)
}

type toxAttrs = map[string]any

// TestKMSDenies disables the KMS key (local-kms's DisableKey): objects
// whose keys the proxy holds keep serving until those expire; a write
// that needs a new bucket key and a read that needs an unwrap get 403
// AccessDenied; EnableKey restores service with no restart.
func TestKMSDenies(t *testing.T) {
	k := testenv.KMS(t)
	e := newEnv(t, faultyKMSOptions(envOptions{kms: k}))
	w := newEnv(t, envOptions{kms: k})
	f := newKMSFixture(t, e, w)
	baseG := settledGoroutines(e, w)
	admin := kms.New(kms.Options{
		Region:       testenv.Region,
		BaseEndpoint: aws.String(k.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	ctx := ctxFor(t, time.Minute)
	if _, err := admin.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(testenv.KMSKeyID)}); err != nil {
		t.Fatal(err)
	}
	f.cachedKeysServe(t)
	f.coldFails(t, 403, "AccessDenied", false)
	if _, err := admin.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(testenv.KMSKeyID)}); err != nil {
		t.Fatal(err)
	}
	f.coldWorks(t)
	noGoroutineLeak(t, baseG, 2, e, w)
	st := e.keys.Stats().Total.Requests
	if st["GenerateDataKey"]["denied"] == 0 || st["Decrypt"]["denied"] == 0 {
		t.Errorf("KMS denials not counted: %v", st)
	}
}

// throttlingKMS is a FAKE: a reverse proxy in front of the real local-kms
// that, while throttle is set, answers every request as AWS KMS answers
// when it throttles (400, ThrottlingException), because local-kms never
// does. Everything else reaches the real local-kms, on a connection of
// its own each time: the fake keeps none idle, whose goroutines a leak
// check would count as the proxy's.
type throttlingKMS struct {
	*httptest.Server
	throttle atomic.Bool
	refused  atomic.Int64
}

func newThrottlingKMS(t *testing.T, kmsURL string) *throttlingKMS {
	u, err := url.Parse(kmsURL)
	if err != nil {
		t.Fatal(err)
	}
	f := &throttlingKMS{}
	rp := httputil.NewSingleHostReverseProxy(u)
	tr := newTransport()
	tr.DisableKeepAlives = true
	rp.Transport = tr
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !f.throttle.Load() {
			rp.ServeHTTP(w, r)
			return
		}
		f.refused.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Errortype", "ThrottlingException")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"ThrottlingException","message":"Rate exceeded"}`))
	}))
	t.Cleanup(f.Close)
	return f
}

// TestKMSThrottling: when KMS throttles (the fake above), cold requests get
// 503 SlowDown with Retry-After, cached keys keep serving, and service
// resumes by itself when KMS does. Goroutines and heap come back to where
// they were, after many throttled requests in a row, as in TestKMSFaults:
// a throttled call is retried by the SDK and answered with Retry-After,
// paths the other faults do not take.
func TestKMSThrottling(t *testing.T) {
	fake := newThrottlingKMS(t, sharedKMS.URL)
	e := newEnv(t, faultyKMSOptions(envOptions{kmsEndpoint: fake.URL}))
	w := newEnv(t, envOptions{})
	f := newKMSFixture(t, e, w)
	base := takeLeakBaseline(e, w)
	fake.throttle.Store(true)
	f.cachedKeysServe(t)
	f.coldFails(t, 503, "SlowDown", true)
	fake.throttle.Store(false)
	f.coldWorks(t)
	if fake.refused.Load() == 0 {
		t.Error("the fake never throttled")
	}
	if n := e.keys.Stats().Total.Requests["GenerateDataKey"]["throttled"]; n == 0 {
		t.Errorf("throttling not counted: %v", e.keys.Stats().Total.Requests)
	}

	// Many throttled requests in a row must not leave anything behind.
	fake.throttle.Store(true)
	ctx := ctxFor(t, time.Minute)
	refused := fake.refused.Load()
	for i := range 100 {
		r := e.send(e.signed(ctx, http.MethodGet, "/"+f.cold[f.n]+"/cold"))
		if r.status != 503 || r.code != "SlowDown" {
			t.Fatalf("cold GET %d with KMS throttling: %s", i, r)
		}
	}
	if fake.refused.Load() < refused+100 {
		t.Errorf("the fake refused %d KMS requests for 100 cold GETs", fake.refused.Load()-refused)
	}
	fake.throttle.Store(false)
	f.coldWorks(t)
	base.check(t, "the KMS throttling", e, w)
}
