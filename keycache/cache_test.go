package keycache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/bucketkey/bucketkey/internal/testenv"
	"github.com/bucketkey/bucketkey/keycache"
)

// TestCacheHitAndTTL: one GenerateDataKey per TTL window, the key unwraps
// with the bucket's context through the real KMS.
func TestCacheHitAndTTL(t *testing.T) {
	kms := &countingProvider{Provider: startKMS(t)}
	clock := newFakeClock()
	c := newCache(t, kms, keycache.Options{TTL: time.Minute, RefreshAhead: -1, Now: clock.Now})
	req := keycache.WriteRequest{Bucket: "photos", KeyID: testenv.KMSKeyAlias}

	w1, p1 := write(t, c, req)
	clock.Advance(time.Minute - time.Nanosecond)
	w2, _ := write(t, c, req)
	if !bytes.Equal(w1, w2) || kms.gens.Load() != 1 {
		t.Fatalf("within the TTL: same key %v, %d GenerateDataKey", bytes.Equal(w1, w2), kms.gens.Load())
	}
	clock.Advance(time.Nanosecond)
	w3, p3 := write(t, c, req)
	if bytes.Equal(w1, w3) || bytes.Equal(p1, p3) || kms.gens.Load() != 2 {
		t.Fatalf("after the TTL: new key %v, %d GenerateDataKey", !bytes.Equal(w1, w3), kms.gens.Load())
	}

	// The old key still unwraps (objects written with it stay readable):
	// through KMS, since it was seeded only under its own window.
	pt, err := kms.Provider.Decrypt(context.Background(), testenv.KMSKeyID, w1, keycache.BucketContext("photos"))
	if err != nil || !bytes.Equal(pt, p1) {
		t.Fatalf("KMS Decrypt of the first bucket key: %v", err)
	}

	st := c.Stats()
	if st.Total.ObjectsEncrypted != 3 || requests(st.Total, keycache.OpGenerateDataKey, keycache.OutcomeOK) != 2 ||
		st.Total.Saved != 1 || st.Buckets["photos"].ObjectsEncrypted != 3 {
		t.Errorf("stats: %+v", st.Total)
	}
	if st.CachedBucketKeys != 1 {
		t.Errorf("CachedBucketKeys = %d, want 1", st.CachedBucketKeys)
	}
}

func TestCacheMaxObjectsRollover(t *testing.T) {
	kms := &countingProvider{Provider: startKMS(t)}
	c := newCache(t, kms, keycache.Options{MaxObjects: 3, RefreshAhead: -1, Now: newFakeClock().Now})
	req := keycache.WriteRequest{Bucket: "b", KeyID: testenv.KMSKeyID}
	var keys [][]byte
	for range 7 {
		w, _ := write(t, c, req)
		keys = append(keys, w)
	}
	for i, w := range keys {
		same := bytes.Equal(w, keys[i/3*3])
		if !same {
			t.Errorf("object %d did not use the key of object %d", i, i/3*3)
		}
		if i%3 == 0 && i > 0 && bytes.Equal(w, keys[i-1]) {
			t.Errorf("object %d reused the key of object %d past MaxObjects", i, i-1)
		}
	}
	if n := kms.gens.Load(); n != 3 {
		t.Errorf("%d GenerateDataKey for 7 objects at 3 per key, want 3", n)
	}
}

// TestCacheCoalesce: 1,000 writers on a cold bucket, and 1,000 readers of a
// cold blob, each make exactly one call to the real KMS.
func TestCacheCoalesce(t *testing.T) {
	kms := &countingProvider{Provider: startKMS(t)}
	c := newCache(t, kms, keycache.Options{})
	const n = 1000
	run := func(f func() ([]byte, error)) [][]byte {
		start := make(chan struct{})
		out := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				out[i], errs[i] = f()
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("goroutine %d: %v", i, errs[i])
			}
			if !bytes.Equal(out[i], out[0]) {
				t.Fatalf("goroutine %d got another key", i)
			}
		}
		return out
	}

	run(func() (w []byte, err error) {
		err = c.WithBucketKey(context.Background(), keycache.WriteRequest{Bucket: "cold", KeyID: testenv.KMSKeyID}, func(k keycache.Key) error {
			w = bytes.Clone(k.Wrapped)
			return nil
		})
		return w, err
	})
	st := c.Stats()
	if got := kms.gens.Load(); got != 1 {
		t.Errorf("provider saw %d GenerateDataKey, want 1", got)
	}
	if got := requests(st.Total, keycache.OpGenerateDataKey, keycache.OutcomeOK); got != 1 || st.Total.Actual != 1 {
		t.Errorf("accounting: %d GenerateDataKey, %d in all; want 1", got, st.Total.Actual)
	}
	if st.Total.ObjectsEncrypted != n || st.Total.Baseline[keycache.OpGenerateDataKey] != n || st.Total.Saved != n-1 {
		t.Errorf("accounting: %+v", st.Total)
	}

	// A blob this cache did not generate, so the unwrap cache is cold.
	gk, err := kms.Provider.GenerateDataKey(context.Background(), testenv.KMSKeyID, keycache.BucketContext("cold2"))
	if err != nil {
		t.Fatal(err)
	}
	out := run(func() ([]byte, error) {
		return read(c, keycache.ReadRequest{KeyBucket: "cold2", KeyID: gk.KeyID, Wrapped: gk.Wrapped})
	})
	if !bytes.Equal(out[0], gk.Plaintext) {
		t.Fatal("readers got the wrong key")
	}
	if got := kms.decs.Load(); got != 1 {
		t.Errorf("provider saw %d Decrypt, want 1", got)
	}
	st = c.Stats()
	if got := requests(st.Total, keycache.OpDecrypt, keycache.OutcomeOK); got != 1 || st.Total.ObjectsDecrypted != n {
		t.Errorf("accounting: %d Decrypt for %d objects read", got, st.Total.ObjectsDecrypted)
	}
}

// TestCacheUnwrap: reads cost one Decrypt per blob per UnwrapTTL, reads of
// this cache's own writes none, and the accounting names the bucket read.
func TestCacheUnwrap(t *testing.T) {
	kms := &countingProvider{Provider: startKMS(t)}
	clock := newFakeClock()
	c := newCache(t, kms, keycache.Options{TTL: time.Hour, UnwrapTTL: time.Minute, RefreshAhead: -1, Now: clock.Now})

	wrapped, pt := write(t, c, keycache.WriteRequest{Bucket: "src", KeyID: testenv.KMSKeyAlias})
	var keyARN string
	_ = c.WithBucketKey(context.Background(), keycache.WriteRequest{Bucket: "src", KeyID: testenv.KMSKeyAlias}, func(k keycache.Key) error {
		keyARN = k.KeyID
		return nil
	})
	for _, id := range []string{keyARN, testenv.KMSKeyAlias} {
		got, err := read(c, keycache.ReadRequest{KeyBucket: "src", KeyID: id, Wrapped: wrapped})
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("read own write with key id %s: %v", id, err)
		}
	}
	if kms.decs.Load() != 0 {
		t.Fatalf("reading back own writes cost %d Decrypt", kms.decs.Load())
	}

	// A replica bucket reads the same blob: still keyed by the key bucket.
	got, err := read(c, keycache.ReadRequest{KeyBucket: "src", KeyID: keyARN, Wrapped: wrapped, Bucket: "replica"})
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("replica read: %v", err)
	}
	// After UnwrapTTL a read asks KMS once more, then hits again.
	clock.Advance(time.Minute)
	for range 3 {
		if _, err := read(c, keycache.ReadRequest{KeyBucket: "src", KeyID: keyARN, Wrapped: wrapped, Bucket: "replica"}); err != nil {
			t.Fatal(err)
		}
	}
	if kms.decs.Load() != 1 {
		t.Fatalf("%d Decrypt after UnwrapTTL, want 1", kms.decs.Load())
	}
	st := c.Stats()
	if r := st.Buckets["replica"]; r.ObjectsDecrypted != 4 || requests(r, keycache.OpDecrypt, keycache.OutcomeOK) != 1 {
		t.Errorf("replica accounting: %+v", r.Counts)
	}
	if s := st.Buckets["src"]; s.ObjectsDecrypted != 2 || s.ObjectsEncrypted != 2 || requests(s, keycache.OpGenerateDataKey, keycache.OutcomeOK) != 1 {
		t.Errorf("src accounting: %+v", s.Counts)
	}
}

// TestCacheContextMismatch: a blob only unwraps with the context it was
// made with, and the cache never lends a key filled for another context,
// key id or key bucket; it asks KMS, which refuses.
func TestCacheContextMismatch(t *testing.T) {
	kms := &countingProvider{Provider: startKMS(t)}
	c := newCache(t, kms, keycache.Options{})
	extra := map[string]string{"tenant": "t1"}
	wrapped, pt := write(t, c, keycache.WriteRequest{Bucket: "a", KeyID: testenv.KMSKeyID, Context: extra})
	var arn string
	_ = c.WithBucketKey(context.Background(), keycache.WriteRequest{Bucket: "a", KeyID: testenv.KMSKeyID, Context: extra}, func(k keycache.Key) error {
		arn = k.KeyID
		return nil
	})
	if got, err := read(c, keycache.ReadRequest{KeyBucket: "a", KeyID: arn, Wrapped: wrapped, Context: map[string]string{"tenant": "t1"}}); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("read with the right context: %v", err)
	}
	tests := []struct {
		name string
		req  keycache.ReadRequest
		want []keycache.ErrorKind
	}{
		{"other key bucket", keycache.ReadRequest{KeyBucket: "b", KeyID: arn, Wrapped: wrapped, Context: extra}, []keycache.ErrorKind{keycache.KindInvalid}},
		{"no extra context", keycache.ReadRequest{KeyBucket: "a", KeyID: arn, Wrapped: wrapped}, []keycache.ErrorKind{keycache.KindInvalid}},
		{"other extra context", keycache.ReadRequest{KeyBucket: "a", KeyID: arn, Wrapped: wrapped, Context: map[string]string{"tenant": "t2"}}, []keycache.ErrorKind{keycache.KindInvalid}},
		{"other key id", keycache.ReadRequest{KeyBucket: "a", KeyID: testenv.KMSOtherKeyID, Wrapped: wrapped, Context: extra}, []keycache.ErrorKind{keycache.KindInvalid, keycache.KindDenied}},
		{"reserved context key", keycache.ReadRequest{KeyBucket: "a", KeyID: arn, Wrapped: wrapped, Context: map[string]string{"aws:s3:arn": "arn:aws:s3:::a"}}, []keycache.ErrorKind{keycache.KindInvalid}},
		{"no blob", keycache.ReadRequest{KeyBucket: "a", KeyID: arn}, []keycache.ErrorKind{keycache.KindInvalid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := kms.decs.Load()
			got, err := read(c, tt.req)
			ok := false
			for _, w := range tt.want {
				ok = ok || keycache.KindOf(err) == w
			}
			if !ok || got != nil {
				t.Fatalf("read: kind %v (%v), want %v", keycache.KindOf(err), err, tt.want)
			}
			if tt.name != "reserved context key" && tt.name != "no blob" && kms.decs.Load() != before+1 {
				t.Errorf("the cache answered without asking KMS")
			}
		})
	}
	if err := c.WithBucketKey(context.Background(), keycache.WriteRequest{Bucket: "a", Context: map[string]string{"aws:s3:arn": "x"}}, func(keycache.Key) error { return nil }); keycache.KindOf(err) != keycache.KindInvalid {
		t.Errorf("write overriding the bucket ARN: %v", err)
	}
	if err := c.WithBucketKey(context.Background(), keycache.WriteRequest{KeyID: testenv.KMSKeyID}, func(keycache.Key) error { return nil }); keycache.KindOf(err) != keycache.KindInvalid {
		t.Errorf("write without a bucket: %v", err)
	}
	// Different extra contexts get different bucket keys.
	w2, _ := write(t, c, keycache.WriteRequest{Bucket: "a", KeyID: testenv.KMSKeyID, Context: map[string]string{"tenant": "t2"}})
	w3, _ := write(t, c, keycache.WriteRequest{Bucket: "a", KeyID: testenv.KMSKeyID})
	if bytes.Equal(w2, wrapped) || bytes.Equal(w3, wrapped) || bytes.Equal(w2, w3) {
		t.Error("bucket keys shared across encryption contexts")
	}
	if st := c.Stats(); st.Total.Requests[keycache.OpDecrypt][keycache.OutcomeInvalid] < 3 {
		t.Errorf("invalid Decrypts not counted: %v", st.Total.Requests)
	}
}

// TestCachePartitionByAccessKey runs one workload with and without
// PartitionByAccessKey: bucket "b" is written by two access keys and one
// reads what the other wrote; bucket "solo" is written by one. The
// partition's extra KMS calls show in Stats as fewer requests saved and a
// lower ratio, for b and in total; solo's figures are the same either way.
func TestCachePartitionByAccessKey(t *testing.T) {
	type figures struct {
		actual, saved int64
		ratio         float64
	}
	got := map[bool]map[string]figures{}
	for _, partition := range []bool{false, true} {
		t.Run(fmt.Sprint("partition=", partition), func(t *testing.T) {
			kms := &countingProvider{Provider: startKMS(t)}
			c := newCache(t, kms, keycache.Options{PartitionByAccessKey: partition})
			var ws [][]byte
			for _, ak := range []string{"AK1", "AK2", "AK1", "AK2"} {
				w, _ := write(t, c, keycache.WriteRequest{Bucket: "b", KeyID: testenv.KMSKeyID, AccessKey: ak})
				ws = append(ws, w)
			}
			// AK2 reads what AK1 wrote.
			gk := keycache.GeneratedKey{Wrapped: ws[0]}
			_ = c.WithBucketKey(context.Background(), keycache.WriteRequest{Bucket: "b", KeyID: testenv.KMSKeyID, AccessKey: "AK1"}, func(k keycache.Key) error {
				gk.KeyID = k.KeyID
				return nil
			})
			if _, err := read(c, keycache.ReadRequest{KeyBucket: "b", KeyID: gk.KeyID, Wrapped: gk.Wrapped, AccessKey: "AK2"}); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				write(t, c, keycache.WriteRequest{Bucket: "solo", KeyID: testenv.KMSKeyID, AccessKey: "AK1"})
			}

			// b: 5 objects written, 1 read; solo: 3 written.
			wantGensB, wantDecs := int64(1), int64(0)
			if partition {
				wantGensB, wantDecs = 2, 1 // AK2's own bucket key, and its Decrypt of AK1's
			}
			if kms.gens.Load() != wantGensB+1 || kms.decs.Load() != wantDecs {
				t.Errorf("%d GenerateDataKey, %d Decrypt; want %d, %d", kms.gens.Load(), kms.decs.Load(), wantGensB+1, wantDecs)
			}
			if bytes.Equal(ws[0], ws[1]) == partition || !bytes.Equal(ws[0], ws[2]) || !bytes.Equal(ws[1], ws[3]) {
				t.Error("keys not partitioned as configured")
			}

			st := c.Stats()
			want := map[string]figures{
				"b":     {actual: wantGensB + wantDecs, saved: 6 - (wantGensB + wantDecs)},
				"solo":  {actual: 1, saved: 2},
				"total": {actual: wantGensB + wantDecs + 1, saved: 9 - (wantGensB + wantDecs + 1)},
			}
			baseline := map[string]int64{"b": 6, "solo": 3, "total": 9}
			got[partition] = map[string]figures{}
			for name, w := range want {
				s, ok := st.Buckets[name]
				if name == "total" {
					s, ok = st.Total, true
				}
				if !ok {
					t.Errorf("no figures for bucket %s: %v", name, st.Buckets)
					continue
				}
				w.ratio = float64(w.saved) / float64(baseline[name])
				f := figures{actual: s.Actual, saved: s.Saved, ratio: s.Ratio}
				got[partition][name] = f
				if f.actual != w.actual || f.saved != w.saved || math.Abs(f.ratio-w.ratio) > 1e-12 || s.BaselineTotal != baseline[name] {
					t.Errorf("%s: actual %d, saved %d of %d, ratio %v; want %d, %d of %d, %v",
						name, f.actual, f.saved, s.BaselineTotal, f.ratio, w.actual, w.saved, baseline[name], w.ratio)
				}
			}
		})
	}
	if len(got[false]) != 3 || len(got[true]) != 3 {
		return // a run failed; it said why
	}
	// Same workload, same baseline: every extra call is one fewer saved.
	for _, name := range []string{"b", "solo", "total"} {
		off, on := got[false][name], got[true][name]
		extra := on.actual - off.actual
		if off.saved-on.saved != extra {
			t.Errorf("%s: partitioning made %d extra calls but saved %d fewer", name, extra, off.saved-on.saved)
		}
		if wantExtra := map[string]int64{"b": 2, "solo": 0, "total": 2}[name]; extra != wantExtra {
			t.Errorf("%s: partitioning made %d extra calls, want %d", name, extra, wantExtra)
		}
		if (extra > 0) != (on.ratio < off.ratio) {
			t.Errorf("%s: ratio %v partitioned, %v not", name, on.ratio, off.ratio)
		}
	}
}

// TestCacheDisabled is the baseline: one KMS call per object, nothing
// cached, keys wiped after each callback.
func TestCacheDisabled(t *testing.T) {
	kms := &countingProvider{Provider: startKMS(t)}
	c := newCache(t, kms, keycache.Options{Disabled: true})
	var lent [][]byte
	var blobs [][]byte
	var arn string
	for range 5 {
		err := c.WithBucketKey(context.Background(), keycache.WriteRequest{Bucket: "b", KeyID: testenv.KMSKeyID}, func(k keycache.Key) error {
			lent = append(lent, k.Plaintext)
			blobs = append(blobs, bytes.Clone(k.Wrapped))
			arn = k.KeyID
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range blobs {
		if !isZero(lent[i]) {
			t.Errorf("key %d not wiped after its callback", i)
		}
		for j := range i {
			if bytes.Equal(b, blobs[j]) {
				t.Errorf("objects %d and %d share a key in baseline mode", i, j)
			}
		}
		var pt []byte
		err := c.WithUnwrappedKey(context.Background(), keycache.ReadRequest{KeyBucket: "b", KeyID: arn, Wrapped: b}, func(p []byte) error {
			pt = p
			return nil
		})
		if err != nil || !isZero(pt) {
			t.Fatalf("read %d: %v, wiped %v", i, err, isZero(pt))
		}
	}
	st := c.Stats()
	if kms.gens.Load() != 5 || kms.decs.Load() != 5 || st.Total.Actual != 10 || st.Total.BaselineTotal != 10 ||
		st.Total.Saved != 0 || st.Total.Ratio != 0 || st.CachedBucketKeys != 0 || st.CachedUnwrapped != 0 {
		t.Errorf("baseline: %d gens, %d decs, stats %+v", kms.gens.Load(), kms.decs.Load(), st)
	}
}

// TestCacheRefreshAhead: a key in its refresh window is replaced by one
// background call while requests keep getting the old key without waiting.
func TestCacheRefreshAhead(t *testing.T) {
	kms := &countingProvider{Provider: startKMS(t)}
	clock := newFakeClock()
	c := newCache(t, kms, keycache.Options{TTL: 5 * time.Minute, RefreshAhead: 30 * time.Second, Now: clock.Now})
	req := keycache.WriteRequest{Bucket: "b", KeyID: testenv.KMSKeyID}
	old, _ := write(t, c, req)
	clock.Advance(4*time.Minute + 31*time.Second)

	called, release := kms.hold()
	defer release()
	done := make(chan []byte)
	go func() {
		w, _ := write(t, c, req)
		done <- w
	}()
	// The provider call is held open: a request waiting on it never returns.
	if w := recv(t, done, "request in the refresh window (waited on the refresh?)"); !bytes.Equal(w, old) {
		t.Fatal("request in the refresh window did not get the current key")
	}
	if op := recv(t, called, "background refresh"); op != keycache.OpGenerateDataKey {
		t.Fatalf("refresh called %s", op)
	}
	for range 100 { // many requests while the refresh is in flight: no second call
		if w, _ := write(t, c, req); !bytes.Equal(w, old) {
			t.Fatal("key changed before the refresh finished")
		}
	}
	if n := kms.gens.Load(); n != 2 {
		t.Fatalf("%d GenerateDataKey calls, want 2 (miss + one refresh)", n)
	}
	release()
	keycache.WaitBackground(c)
	w, _ := write(t, c, req)
	if bytes.Equal(w, old) {
		t.Fatal("refreshed key not in use")
	}
	if n := kms.gens.Load(); n != 2 {
		t.Fatalf("%d GenerateDataKey calls after the refresh, want 2", n)
	}
	// The refreshed key lives a full TTL from its creation.
	clock.Advance(4 * time.Minute)
	if w2, _ := write(t, c, req); !bytes.Equal(w2, w) {
		t.Fatal("refreshed key did not get a full TTL")
	}
}

// TestCacheRefreshAheadByObjects: at 90% of MaxObjects the key is replaced
// in the background, so the writer that exhausts it does not wait.
func TestCacheRefreshAheadByObjects(t *testing.T) {
	kms := &countingProvider{Provider: startKMS(t)}
	c := newCache(t, kms, keycache.Options{MaxObjects: 10, Now: newFakeClock().Now})
	req := keycache.WriteRequest{Bucket: "b", KeyID: testenv.KMSKeyID}
	first, _ := write(t, c, req)
	for range 7 {
		write(t, c, req)
	}
	if kms.gens.Load() != 1 {
		t.Fatalf("refresh before 90%% of MaxObjects")
	}
	write(t, c, req) // the 9th object starts the refresh
	keycache.WaitBackground(c)
	if kms.gens.Load() != 2 {
		t.Fatalf("%d GenerateDataKey after the 9th of 10 objects, want 2", kms.gens.Load())
	}
	if w, _ := write(t, c, req); bytes.Equal(w, first) {
		t.Fatal("the 10th object did not get the refreshed key")
	}
}

// TestCacheRefreshAheadFailure: a failed refresh leaves the old key serving,
// is not retried on every request, and succeeds once KMS is back.
func TestCacheRefreshAheadFailure(t *testing.T) {
	fault := &fakeFaultProvider{Provider: startKMS(t)}
	clock := newFakeClock()
	c := newCache(t, fault, keycache.Options{TTL: 5 * time.Minute, RefreshAhead: time.Minute, Now: clock.Now})
	req := keycache.WriteRequest{Bucket: "b", KeyID: testenv.KMSKeyID}
	old, _ := write(t, c, req)
	clock.Advance(4*time.Minute + time.Second)
	fault.set(keycache.KindThrottled)
	if w, _ := write(t, c, req); !bytes.Equal(w, old) {
		t.Fatal("old key not served during a failing refresh")
	}
	keycache.WaitBackground(c)
	for range 10 {
		if w, _ := write(t, c, req); !bytes.Equal(w, old) {
			t.Fatal("old key not served after a failed refresh")
		}
	}
	keycache.WaitBackground(c)
	if n := requests(c.Stats().Total, keycache.OpGenerateDataKey, keycache.OutcomeThrottled); n != 1 {
		t.Fatalf("%d throttled refresh attempts, want 1 (no retry before the backoff)", n)
	}
	fault.set(0)
	clock.Advance(time.Second) // the retry backoff
	write(t, c, req)
	keycache.WaitBackground(c)
	if w, _ := write(t, c, req); bytes.Equal(w, old) {
		t.Fatal("refresh did not recover")
	}
}

// TestCacheFailureSemantics: with KMS throttling, down or denying, cached
// keys serve until they expire, cold or expired entries fail with the kind,
// and service recovers by itself.
func TestCacheFailureSemantics(t *testing.T) {
	real := startKMS(t)
	for _, kind := range []keycache.ErrorKind{keycache.KindThrottled, keycache.KindUnavailable, keycache.KindDenied} {
		t.Run(kind.String(), func(t *testing.T) {
			fault := &fakeFaultProvider{Provider: real}
			clock := newFakeClock()
			c := newCache(t, fault, keycache.Options{TTL: time.Minute, RefreshAhead: -1, Now: clock.Now})
			req := keycache.WriteRequest{Bucket: "b-" + kind.String(), KeyID: testenv.KMSKeyID}
			warm, _ := write(t, c, req)
			gk, err := real.GenerateDataKey(context.Background(), testenv.KMSKeyID, keycache.BucketContext(req.Bucket))
			if err != nil {
				t.Fatal(err)
			}
			cold, err := real.GenerateDataKey(context.Background(), testenv.KMSKeyID, keycache.BucketContext(req.Bucket))
			if err != nil {
				t.Fatal(err)
			}
			rreq := keycache.ReadRequest{KeyBucket: req.Bucket, KeyID: gk.KeyID, Wrapped: gk.Wrapped}
			if _, err := read(c, rreq); err != nil {
				t.Fatal(err)
			}

			fault.set(kind)
			if w, _ := write(t, c, req); !bytes.Equal(w, warm) {
				t.Fatal("cached bucket key not served during the fault")
			}
			if _, err := read(c, rreq); err != nil {
				t.Fatalf("cached unwrapped key not served during the fault: %v", err)
			}
			check := func(what string, err error) {
				t.Helper()
				var e *keycache.Error
				if !errors.As(err, &e) || e.Kind != kind {
					t.Fatalf("%s: %v, want kind %v", what, err, kind)
				}
				if (kind != keycache.KindDenied) != (e.RetryAfter > 0) {
					t.Errorf("%s: RetryAfter %v", what, e.RetryAfter)
				}
			}
			_, err = read(c, keycache.ReadRequest{KeyBucket: req.Bucket, KeyID: cold.KeyID, Wrapped: cold.Wrapped})
			check("cold read", err)
			check("cold write", c.WithBucketKey(context.Background(), keycache.WriteRequest{Bucket: "other", KeyID: testenv.KMSKeyID}, func(keycache.Key) error { return nil }))
			clock.Advance(time.Minute)
			check("expired write", c.WithBucketKey(context.Background(), req, func(keycache.Key) error { return nil }))
			_, err = read(c, rreq)
			check("expired read", err)
			if n := c.Stats().Total.Requests[keycache.OpGenerateDataKey][kind.String()]; n != 2 {
				t.Errorf("%d failed GenerateDataKey counted, want 2", n)
			}

			fault.set(0)
			if w, _ := write(t, c, req); bytes.Equal(w, warm) {
				t.Fatal("no new key after recovery")
			}
			if _, err := read(c, rreq); err != nil {
				t.Fatalf("read after recovery: %v", err)
			}
		})
	}
}

// TestCacheWaiterContext: a request whose context ends stops waiting for a
// slow KMS at once; the call it started still fills the cache for others.
func TestCacheWaiterContext(t *testing.T) {
	kms := &countingProvider{Provider: startKMS(t)}
	c := newCache(t, kms, keycache.Options{})
	req := keycache.WriteRequest{Bucket: "b", KeyID: testenv.KMSKeyID}
	called, release := kms.hold()
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		errc <- c.WithBucketKey(ctx, req, func(keycache.Key) error { return nil })
	}()
	recv(t, called, "provider call")
	cancel()
	err := recv(t, errc, "canceled waiter")
	if !errors.Is(err, context.Canceled) || keycache.KindOf(err) != keycache.KindUnavailable {
		t.Fatalf("canceled waiter: %v", err)
	}
	release()
	write(t, c, req)
	if n := kms.gens.Load(); n != 1 {
		t.Fatalf("%d GenerateDataKey, want 1: the detached call should have filled the cache", n)
	}
}

// TestCacheUnknownKey: a real denial from KMS, through the cache.
func TestCacheUnknownKey(t *testing.T) {
	c := newCache(t, startKMS(t), keycache.Options{})
	err := c.WithBucketKey(context.Background(), keycache.WriteRequest{Bucket: "b", KeyID: "alias/missing"}, func(keycache.Key) error { return nil })
	if keycache.KindOf(err) != keycache.KindDenied {
		t.Fatalf("unknown key: %v", err)
	}
	if n := requests(c.Stats().Buckets["b"], keycache.OpGenerateDataKey, keycache.OutcomeDenied); n != 1 {
		t.Errorf("%d denied requests counted", n)
	}
}

// TestCacheSlowCallLongerThanTTL: a key made for waiting requests is used by
// them even if KMS took longer than the TTL; they are not sent back.
func TestCacheSlowCallLongerThanTTL(t *testing.T) {
	kms := &countingProvider{Provider: startKMS(t)}
	clock := newFakeClock()
	c := newCache(t, kms, keycache.Options{TTL: time.Second, Now: clock.Now})
	called, release := kms.hold()
	defer release()
	errc := make(chan error)
	go func() {
		errc <- c.WithBucketKey(context.Background(), keycache.WriteRequest{Bucket: "b", KeyID: testenv.KMSKeyID}, func(keycache.Key) error { return nil })
	}()
	recv(t, called, "provider call")
	clock.Advance(2 * time.Second)
	release()
	if err := recv(t, errc, "write"); err != nil {
		t.Fatal(err)
	}
	if n := kms.gens.Load(); n != 1 {
		t.Fatalf("%d GenerateDataKey, want 1", n)
	}
}

// TestCacheUnwrapRefreshAhead: a blob read continuously is re-unwrapped in
// the background before its entry expires, so readers never wait.
func TestCacheUnwrapRefreshAhead(t *testing.T) {
	kms := &countingProvider{Provider: startKMS(t)}
	clock := newFakeClock()
	c := newCache(t, kms, keycache.Options{UnwrapTTL: time.Minute, RefreshAhead: 10 * time.Second, Now: clock.Now})
	gk, err := kms.Provider.GenerateDataKey(context.Background(), testenv.KMSKeyID, keycache.BucketContext("b"))
	if err != nil {
		t.Fatal(err)
	}
	req := keycache.ReadRequest{KeyBucket: "b", KeyID: gk.KeyID, Wrapped: gk.Wrapped}
	if _, err := read(c, req); err != nil {
		t.Fatal(err)
	}
	clock.Advance(51 * time.Second)
	waited := c.Stats().Waited
	if pt, err := read(c, req); err != nil || !bytes.Equal(pt, gk.Plaintext) {
		t.Fatalf("read in the refresh window: %v", err)
	}
	keycache.WaitBackground(c)
	if n := kms.decs.Load(); n != 2 {
		t.Fatalf("%d Decrypt, want 2 (miss + background refresh)", n)
	}
	clock.Advance(30 * time.Second) // past the first entry's life
	if pt, err := read(c, req); err != nil || !bytes.Equal(pt, gk.Plaintext) {
		t.Fatal(err)
	}
	if n, w := kms.decs.Load(), c.Stats().Waited; n != 2 || w != waited {
		t.Fatalf("%d Decrypt, %d waits after the refresh; want 2, %d", n, w, waited)
	}
}
