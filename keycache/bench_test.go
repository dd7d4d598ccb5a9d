package keycache_test

import (
	"context"
	"math/bits"
	"testing"
	"time"

	"github.com/bucketkey/bucketkey/internal/testenv"
	"github.com/bucketkey/bucketkey/keycache"
)

var sink byte

func benchCache(b *testing.B, o keycache.Options) *keycache.Cache {
	b.Helper()
	c := newCache(b, newLocal(b), o)
	write(b, c, keycache.WriteRequest{Bucket: "bench"}) // warm
	return c
}

// BenchmarkBucketKeyHit is the PUT hot path: a cached bucket key lent to a
// callback. Target: well under 1 µs and 0 allocs.
func BenchmarkBucketKeyHit(b *testing.B) {
	for _, tc := range []struct {
		name string
		req  keycache.WriteRequest
	}{
		{"plain", keycache.WriteRequest{Bucket: "bench"}},
		{"context", keycache.WriteRequest{Bucket: "bench", Context: map[string]string{"tenant": "t1", "app": "a"}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := benchCache(b, keycache.Options{})
			write(b, c, tc.req)
			ctx := context.Background()
			fn := func(k keycache.Key) error { sink ^= k.Plaintext[0]; return nil }
			b.ReportAllocs()
			for b.Loop() {
				if err := c.WithBucketKey(ctx, tc.req, fn); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBucketKeyHitParallel is the hot path from every P at once, all
// on one bucket key (the contended case).
func BenchmarkBucketKeyHitParallel(b *testing.B) {
	c := benchCache(b, keycache.Options{})
	req := keycache.WriteRequest{Bucket: "bench"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		var local byte
		fn := func(k keycache.Key) error { local ^= k.Plaintext[0]; return nil }
		for pb.Next() {
			if err := c.WithBucketKey(ctx, req, fn); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkUnwrapHit is the GET hot path: a cached unwrapped key.
func BenchmarkUnwrapHit(b *testing.B) {
	c := benchCache(b, keycache.Options{})
	wrapped, _ := write(b, c, keycache.WriteRequest{Bucket: "bench"})
	req := keycache.ReadRequest{KeyBucket: "bench", Wrapped: wrapped, Bucket: "bench"}
	ctx := context.Background()
	fn := func(p []byte) error { sink ^= p[0]; return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := c.WithUnwrappedKey(ctx, req, fn); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStats is a metrics scrape with a few buckets.
func BenchmarkStats(b *testing.B) {
	c := benchCache(b, keycache.Options{})
	for _, bk := range []string{"a", "b", "c", "d"} {
		write(b, c, keycache.WriteRequest{Bucket: bk})
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Stats()
	}
}

// BenchmarkBucketKeyRollover: a writer on one bucket while its key rolls
// over (TTL 50ms, real clock, real local-kms over HTTP), with and without
// refresh-ahead. It reports the latency distribution and the requests that
// waited on KMS (Stats.Waited) per rollover. One writer goroutine, because
// the loop never blocks: writers on every P would starve the refresh
// goroutine and local-kms of CPU and measure the scheduler, where a real
// proxy spends its time in I/O.
func BenchmarkBucketKeyRollover(b *testing.B) {
	kms := startKMS(b)
	for _, tc := range []struct {
		name    string
		refresh time.Duration
	}{{"refresh-ahead", 25 * time.Millisecond}, {"no-refresh", -1}} {
		b.Run(tc.name, func(b *testing.B) {
			counted := &countingProvider{Provider: kms}
			c := newCache(b, counted, keycache.Options{TTL: 50 * time.Millisecond, RefreshAhead: tc.refresh})
			req := keycache.WriteRequest{Bucket: "bench", KeyID: testenv.KMSKeyID}
			write(b, c, req)
			gens0, waited0 := counted.gens.Load(), c.Stats().Waited
			ctx := context.Background()
			fn := func(k keycache.Key) error { sink ^= k.Plaintext[0]; return nil }
			h := new(latencyHistogram)
			for b.Loop() {
				t0 := time.Now()
				if err := c.WithBucketKey(ctx, req, fn); err != nil {
					b.Fatal(err)
				}
				h.add(time.Since(t0))
			}
			rollovers := counted.gens.Load() - gens0
			waited := c.Stats().Waited - waited0
			b.ReportMetric(float64(h.quantile(0.99)), "p99-ns")
			b.ReportMetric(float64(h.quantile(0.9999)), "p99.99-ns")
			b.ReportMetric(float64(h.max), "max-ns")
			b.ReportMetric(float64(rollovers), "rollovers")
			if rollovers > 0 {
				b.ReportMetric(float64(waited)/float64(rollovers), "waits/rollover")
			}
		})
	}
}

// latencyHistogram is log-linear (16 sub-buckets per power of two, ~6%
// resolution) so recording allocates nothing.
type latencyHistogram struct {
	counts [64 * 16]int64
	n      int64
	max    time.Duration
}

func histIndex(ns uint64) int {
	if ns < 16 {
		return int(ns)
	}
	e := bits.Len64(ns) - 1 // ns in [2^e, 2^(e+1))
	return e*16 + int((ns>>(e-4))&15)
}

func histLower(i int) uint64 {
	e, m := i/16, uint64(i%16)
	if e < 4 {
		return uint64(i)
	}
	return (16 + m) << (e - 4)
}

func (h *latencyHistogram) add(d time.Duration) {
	h.counts[histIndex(uint64(max(d, 0)))]++
	h.n++
	h.max = max(h.max, d)
}

func (h *latencyHistogram) quantile(q float64) time.Duration {
	target := int64(q * float64(h.n))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen > target {
			return time.Duration(histLower(i))
		}
	}
	return h.max
}
