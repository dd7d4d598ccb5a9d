package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bucketkey/bucketkey/internal/accesslog"
	"github.com/bucketkey/bucketkey/keycache"
)

// replaySettings is how `bucketkey estimate --access-log` replays a log.
type replaySettings struct {
	TTL        time.Duration
	Replicas   int
	Sticky     bool // each bucket to one replica (hash of the bucket), else requests in turn
	Partition  bool // --partition-by-access-key: one bucket key per client
	MaxObjects int64
	Price      float64
}

// replayCounts are the KMS requests of a replay, for one bucket or all,
// extrapolated to a 30-day month at the log's rate.
type replayCounts struct {
	Writes          int64   `json:"writes"`
	Reads           int64   `json:"reads"`
	GenerateDataKey int64   `json:"generate_data_key"`
	Decrypt         int64   `json:"decrypt"`
	Requests        int64   `json:"kms_requests"`
	Baseline        int64   `json:"kms_requests_one_per_object"`
	MonthRequests   float64 `json:"kms_requests_per_month"`
	MonthBaseline   float64 `json:"kms_requests_one_per_object_per_month"`
	MonthDollars    float64 `json:"dollars_per_month"`
	MonthBaseDollar float64 `json:"dollars_one_per_object_per_month"`
	SavedRatio      float64 `json:"saved_ratio"`
}

// replayResult is one replay of a log at one TTL.
type replayResult struct {
	TTL      time.Duration            `json:"ttl"`
	Replicas int                      `json:"replicas"`
	Span     time.Duration            `json:"log_span"`
	Total    replayCounts             `json:"total"`
	Buckets  map[string]*replayCounts `json:"buckets"`
}

// simClock is the replay's clock: the time of the event being replayed.
type simClock struct{ ns atomic.Int64 }

func (c *simClock) now() time.Time  { return time.Unix(0, c.ns.Load()) }
func (c *simClock) set(t time.Time) { c.ns.Store(t.UnixNano()) }

// simKMS stands in for KMS during a replay: it answers at once and hands out
// distinct wrapped blobs. It does no cryptography; the key cache in front
// of it, the code serve runs, decides when it is called and counts the
// calls.
type simKMS struct{ n atomic.Uint64 }

func (k *simKMS) GenerateDataKey(_ context.Context, keyID string, _ map[string]string) (keycache.GeneratedKey, error) {
	pt := make([]byte, 32)
	rand.Read(pt)
	w := binary.BigEndian.AppendUint64([]byte("sim"), k.n.Add(1))
	return keycache.GeneratedKey{Plaintext: pt, Wrapped: w, KeyID: keyID}, nil
}

func (k *simKMS) Decrypt(context.Context, string, []byte, map[string]string) ([]byte, error) {
	pt := make([]byte, 32)
	rand.Read(pt)
	return pt, nil
}

func (k *simKMS) Name() string { return "simulated" }

// simKeyID is the KMS key the replay names (any id would do).
const simKeyID = "arn:aws:kms:us-east-1:111122223333:key/simulated"

// replay runs the object requests of events (in time order) through
// s.Replicas key caches (keycache.Cache, as serve builds it, with the
// replay's clock), requests spread over the replicas in turn as a load
// balancer without affinity would (with s.Sticky, each bucket to one
// replica by a hash of its name), and counts the KMS requests the caches made. An object
// read but not written during the log is taken as written, before the log
// began, under one bucket key per bucket.
func replay(events []accesslog.Event, s replaySettings) replayResult {
	clock := &simClock{}
	// One stand-in KMS for every replica, as they share one KMS: its
	// wrapped blobs are then distinct across replicas too (with one each,
	// replica A's n-th key and replica B's had the same blob, and B took
	// A's key for one it had cached).
	kms := &simKMS{}
	caches := make([]*keycache.Cache, s.Replicas)
	for i := range caches {
		caches[i] = keycache.New(kms, keycache.Options{
			TTL: s.TTL, MaxObjects: s.MaxObjects, PartitionByAccessKey: s.Partition,
			Now: clock.now,
		})
	}
	type stored struct {
		wrapped []byte
		keyID   string
	}
	objects := map[string]stored{}
	var mu sync.Mutex // the callbacks run on this goroutine; the map is the replay's own
	ctx := context.Background()
	var first, last time.Time
	i := 0
	for _, ev := range events {
		if ev.Kind == accesslog.Other {
			continue
		}
		if first.IsZero() {
			first = ev.Time
		}
		last = ev.Time
		clock.set(ev.Time)
		r := i % len(caches)
		if s.Sticky {
			h := fnv.New32a()
			h.Write([]byte(ev.Bucket))
			r = int(h.Sum32() % uint32(len(caches)))
		}
		c := caches[r]
		i++
		access := ""
		if s.Partition {
			access = ev.Client
		}
		id := ev.Bucket + "\x00" + ev.Key
		switch ev.Kind {
		case accesslog.Write:
			_ = c.WithBucketKey(ctx, keycache.WriteRequest{Bucket: ev.Bucket, KeyID: simKeyID, AccessKey: access}, func(k keycache.Key) error {
				mu.Lock()
				objects[id] = stored{wrapped: append([]byte(nil), k.Wrapped...), keyID: k.KeyID}
				mu.Unlock()
				return nil
			})
		case accesslog.Read:
			mu.Lock()
			o, ok := objects[id]
			mu.Unlock()
			if !ok {
				o = stored{wrapped: []byte("pre-log:" + ev.Bucket), keyID: simKeyID}
			}
			_ = c.WithUnwrappedKey(ctx, keycache.ReadRequest{
				KeyBucket: ev.Bucket, KeyID: o.keyID, Wrapped: o.wrapped, AccessKey: access, Bucket: ev.Bucket,
			}, func([]byte) error { return nil })
		}
	}
	res := replayResult{TTL: s.TTL, Replicas: s.Replicas, Span: last.Sub(first), Buckets: map[string]*replayCounts{}}
	for _, c := range caches {
		c.Close() // waits for refreshes in flight
		for b, sv := range c.Stats().Buckets {
			rc := res.Buckets[b]
			if rc == nil {
				rc = &replayCounts{}
				res.Buckets[b] = rc
			}
			addSavings(rc, sv)
			addSavings(&res.Total, sv)
		}
	}
	// A month at the log's rate; a log of less than a second counts as one.
	scale := float64(secondsPerMonth) / max(res.Span.Seconds(), 1)
	for _, rc := range append([]*replayCounts{&res.Total}, bucketsOf(res)...) {
		rc.MonthRequests = float64(rc.Requests) * scale
		rc.MonthBaseline = float64(rc.Baseline) * scale
		rc.MonthDollars = rc.MonthRequests * s.Price / 10000
		rc.MonthBaseDollar = rc.MonthBaseline * s.Price / 10000
		if rc.Baseline > 0 {
			rc.SavedRatio = 1 - float64(rc.Requests)/float64(rc.Baseline)
		}
	}
	return res
}

func addSavings(rc *replayCounts, sv keycache.Savings) {
	rc.Writes += sv.ObjectsEncrypted
	rc.Reads += sv.ObjectsDecrypted
	for _, n := range sv.Requests[keycache.OpGenerateDataKey] {
		rc.GenerateDataKey += n
	}
	for _, n := range sv.Requests[keycache.OpDecrypt] {
		rc.Decrypt += n
	}
	rc.Requests += sv.Actual
	rc.Baseline += sv.BaselineTotal
}

// bucketsOf returns res's per-bucket counts in bucket order.
func bucketsOf(res replayResult) []*replayCounts {
	names := make([]string, 0, len(res.Buckets))
	for b := range res.Buckets {
		names = append(names, b)
	}
	sort.Strings(names)
	out := make([]*replayCounts, len(names))
	for i, b := range names {
		out[i] = res.Buckets[b]
	}
	return out
}

// String summarises a result in one line, for logs and tests.
func (r replayResult) String() string {
	return fmt.Sprintf("ttl %v replicas %d: %d KMS requests (GenerateDataKey %d, Decrypt %d), one per object %d",
		r.TTL, r.Replicas, r.Total.Requests, r.Total.GenerateDataKey, r.Total.Decrypt, r.Total.Baseline)
}
