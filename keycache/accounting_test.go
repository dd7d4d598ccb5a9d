package keycache_test

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/bucketkey/bucketkey/keycache"
)

func TestStatsSavings(t *testing.T) {
	clock := newFakeClock()
	start := clock.Now()
	p := newLocal(t)
	c := newCache(t, p, keycache.Options{Now: clock.Now})
	for range 1000 {
		write(t, c, keycache.WriteRequest{Bucket: "a"})
	}
	wrapped, _ := write(t, c, keycache.WriteRequest{Bucket: "a"})
	other, err := p.GenerateDataKey(context.Background(), "", keycache.BucketContext("a"))
	if err != nil {
		t.Fatal(err)
	}
	for range 99 {
		if _, err := read(c, keycache.ReadRequest{KeyBucket: "a", Wrapped: wrapped}); err != nil {
			t.Fatal(err)
		}
		if _, err := read(c, keycache.ReadRequest{KeyBucket: "a", Wrapped: other.Wrapped, Bucket: "b"}); err != nil {
			t.Fatal(err)
		}
	}
	st := c.Stats()
	if !st.Since.Equal(start) {
		t.Errorf("Since %v", st.Since)
	}
	tot := st.Total
	want := keycache.Savings{Actual: 2, BaselineTotal: 1001 + 198, Saved: 1199 - 2}
	if tot.Actual != want.Actual || tot.BaselineTotal != want.BaselineTotal || tot.Saved != want.Saved {
		t.Fatalf("total: actual %d, baseline %d, saved %d; want %d, %d, %d",
			tot.Actual, tot.BaselineTotal, tot.Saved, want.Actual, want.BaselineTotal, want.Saved)
	}
	if tot.Baseline[keycache.OpGenerateDataKey] != 1001 || tot.Baseline[keycache.OpDecrypt] != 198 ||
		tot.Requests[keycache.OpGenerateDataKey][keycache.OutcomeOK] != 1 || tot.Requests[keycache.OpDecrypt][keycache.OutcomeOK] != 1 {
		t.Errorf("counts: %+v", tot.Counts)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	if !near(tot.Ratio, 1197.0/1199) {
		t.Errorf("ratio %v", tot.Ratio)
	}
	a, b := st.Buckets["a"], st.Buckets["b"]
	if a.ObjectsEncrypted != 1001 || a.ObjectsDecrypted != 99 || a.Actual != 1 ||
		b.ObjectsDecrypted != 99 || b.Actual != 1 || b.Requests[keycache.OpDecrypt][keycache.OutcomeOK] != 1 {
		t.Errorf("per bucket: a %+v, b %+v", a.Counts, b.Counts)
	}
	if len(st.Buckets) != 2 {
		t.Errorf("buckets %v", st.Buckets)
	}
	// Every operation and outcome is present, zeros included, for exporters.
	for _, op := range []string{keycache.OpGenerateDataKey, keycache.OpDecrypt} {
		if len(tot.Requests[op]) != 5 {
			t.Errorf("%s outcomes: %v", op, tot.Requests[op])
		}
	}
}

// TestStatsBucketsBounded: clients cannot grow the accounting by naming
// buckets; the excess is summed under OtherBuckets.
func TestStatsBucketsBounded(t *testing.T) {
	c := newCache(t, newLocal(t), keycache.Options{MaxEntries: 2})
	for i := range 5 {
		write(t, c, keycache.WriteRequest{Bucket: fmt.Sprint("b", i)})
	}
	st := c.Stats()
	if len(st.Buckets) != 3 || st.Buckets[keycache.OtherBuckets].ObjectsEncrypted != 3 || st.Buckets[keycache.OtherBuckets].Actual != 3 {
		t.Fatalf("buckets: %v", st.Buckets)
	}
	if st.Total.ObjectsEncrypted != 5 || st.Total.Actual != 5 || st.CachedBucketKeys != 2 {
		t.Fatalf("total %+v, %d cached", st.Total.Counts, st.CachedBucketKeys)
	}
}

func TestOnKMSRequest(t *testing.T) {
	type call struct{ op, outcome string }
	var mu sync.Mutex
	var calls []call
	c := newCache(t, newLocal(t), keycache.Options{OnKMSRequest: func(op, outcome string, d time.Duration) {
		if d < 0 {
			t.Errorf("negative duration %v", d)
		}
		mu.Lock()
		calls = append(calls, call{op, outcome})
		mu.Unlock()
	}})
	wrapped, _ := write(t, c, keycache.WriteRequest{Bucket: "a"})
	write(t, c, keycache.WriteRequest{Bucket: "a"})
	_, _ = read(c, keycache.ReadRequest{KeyBucket: "b", Wrapped: wrapped})
	_ = c.WithBucketKey(context.Background(), keycache.WriteRequest{Bucket: "a", KeyID: "alias/nope"}, func(keycache.Key) error { return nil })
	want := []call{{keycache.OpGenerateDataKey, keycache.OutcomeOK}, {keycache.OpDecrypt, keycache.OutcomeInvalid}, {keycache.OpGenerateDataKey, keycache.OutcomeDenied}}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Fatalf("hook saw %v, want %v", calls, want)
	}
}

// TestStatsConcurrent runs Stats against writers and readers (for -race)
// and checks nothing is lost.
func TestStatsConcurrent(t *testing.T) {
	c := newCache(t, newLocal(t), keycache.Options{MaxObjects: 50})
	wrapped, _ := write(t, c, keycache.WriteRequest{Bucket: "a"})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				b := fmt.Sprint("b", (w+i)%7)
				_ = c.WithBucketKey(context.Background(), keycache.WriteRequest{Bucket: b}, func(keycache.Key) error { return nil })
				_, _ = read(c, keycache.ReadRequest{KeyBucket: "a", Wrapped: wrapped, Bucket: b})
			}
		})
	}
	scraped := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				scraped <- n
				return
			default:
				_ = c.Stats()
				n++
			}
		}
	}()
	wg.Wait()
	close(stop)
	if recv(t, scraped, "scraper") == 0 {
		t.Error("Stats never ran")
	}
	st := c.Stats()
	var enc, dec int64
	for _, b := range st.Buckets {
		enc += b.ObjectsEncrypted
		dec += b.ObjectsDecrypted
	}
	if st.Total.ObjectsEncrypted != 2001 || enc != 2001 || st.Total.ObjectsDecrypted != 2000 || dec != 2000 {
		t.Fatalf("objects: total %d/%d, buckets %d/%d", st.Total.ObjectsEncrypted, st.Total.ObjectsDecrypted, enc, dec)
	}
}
