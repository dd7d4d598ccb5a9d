package keycache

import (
	"sync"
	"sync/atomic"
	"time"
)

// Operation and outcome indexes of counters.req.
const (
	opGen = iota
	opDec
	numOps
)

var opNames = [numOps]string{OpGenerateDataKey, OpDecrypt}

var outcomeNames = [...]string{OutcomeOK, OutcomeThrottled, OutcomeDenied, OutcomeUnavailable, OutcomeInvalid}

func outcomeIndex(o string) int {
	for i, n := range outcomeNames {
		if n == o {
			return i
		}
	}
	return 3 // unavailable
}

// counters are one bucket's (or the total's) KMS accounting, all atomics so
// the hot path never locks and Stats can read while it runs.
type counters struct {
	name string
	req  [numOps][len(outcomeNames)]atomic.Int64
	enc  atomic.Int64 // objects encrypted: baseline GenerateDataKey calls
	dec  atomic.Int64 // objects decrypted: baseline Decrypt calls
}

// accounting is the savings ledger: a total and a bounded set of buckets.
type accounting struct {
	since time.Time
	hook  func(op, outcome string, d time.Duration)
	total counters

	mu      sync.RWMutex
	buckets map[string]*counters
	max     int
	other   *counters
}

func newAccounting(o Options) *accounting {
	return &accounting{
		since:   o.Now(),
		hook:    o.OnKMSRequest,
		total:   counters{name: "total"},
		buckets: make(map[string]*counters),
		max:     o.MaxBuckets,
		other:   &counters{name: OtherBuckets},
	}
}

// bucket returns the counters of a bucket, creating them while fewer than
// max buckets are tracked and using the shared "(other)" counters beyond.
func (a *accounting) bucket(name string) *counters {
	a.mu.RLock()
	b := a.buckets[name]
	a.mu.RUnlock()
	if b != nil {
		return b
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if b = a.buckets[name]; b != nil {
		return b
	}
	if len(a.buckets) >= a.max {
		return a.other
	}
	b = &counters{name: name}
	a.buckets[name] = b
	return b
}

// request records one provider call.
func (a *accounting) request(b *counters, op int, err error, d time.Duration) {
	o := outcome(err)
	i := outcomeIndex(o)
	b.req[op][i].Add(1)
	a.total.req[op][i].Add(1)
	if a.hook != nil {
		a.hook(opNames[op], o, d)
	}
}

func (a *accounting) encrypted(b *counters) {
	b.enc.Add(1)
	a.total.enc.Add(1)
}

func (a *accounting) decrypted(b *counters) {
	b.dec.Add(1)
	a.total.dec.Add(1)
}

func (a *accounting) savings(b *counters) Savings {
	s := Savings{Counts: Counts{
		Requests:         make(map[string]map[string]int64, numOps),
		ObjectsEncrypted: b.enc.Load(),
		ObjectsDecrypted: b.dec.Load(),
	}}
	for op := range numOps {
		m := make(map[string]int64, len(outcomeNames))
		for i, name := range outcomeNames {
			n := b.req[op][i].Load()
			m[name] = n
			s.Actual += n
		}
		s.Requests[opNames[op]] = m
	}
	s.Baseline = map[string]int64{
		OpGenerateDataKey: s.ObjectsEncrypted,
		OpDecrypt:         s.ObjectsDecrypted,
	}
	s.BaselineTotal = s.ObjectsEncrypted + s.ObjectsDecrypted
	s.Saved = s.BaselineTotal - s.Actual
	if s.BaselineTotal > 0 {
		s.Ratio = float64(s.Saved) / float64(s.BaselineTotal)
	}
	return s
}

func (a *accounting) stats() Stats {
	a.mu.RLock()
	bs := make([]*counters, 0, len(a.buckets)+1)
	for _, b := range a.buckets {
		bs = append(bs, b)
	}
	a.mu.RUnlock()
	if a.other.enc.Load()+a.other.dec.Load() > 0 || a.other.hasRequests() {
		bs = append(bs, a.other)
	}
	st := Stats{
		Since:   a.since,
		Total:   a.savings(&a.total),
		Buckets: make(map[string]Savings, len(bs)),
	}
	for _, b := range bs {
		st.Buckets[b.name] = a.savings(b)
	}
	return st
}

func (b *counters) hasRequests() bool {
	for op := range b.req {
		for i := range b.req[op] {
			if b.req[op][i].Load() > 0 {
				return true
			}
		}
	}
	return false
}

// Counts are KMS request counts.
type Counts struct {
	// Requests are real provider calls by operation ("GenerateDataKey",
	// "Decrypt") and outcome ("ok", "throttled", "denied", "unavailable", "invalid").
	Requests map[string]map[string]int64
	// Baseline are the calls one KMS call per object would have made, by operation.
	Baseline         map[string]int64
	ObjectsEncrypted int64
	ObjectsDecrypted int64
}

// Savings derives totals from Counts (in requests: dollars are reporting,
// admin.Cost).
type Savings struct {
	Counts
	Actual        int64   // real KMS requests, all outcomes
	BaselineTotal int64   // one-call-per-object requests
	Saved         int64   // BaselineTotal - Actual (may be negative)
	Ratio         float64 // Saved / BaselineTotal, 0 when BaselineTotal is 0
}

// Stats is the accounting snapshot, in total and per bucket. Buckets beyond
// Options.MaxBuckets are summed under OtherBuckets.
type Stats struct {
	Since            time.Time
	Total            Savings
	Buckets          map[string]Savings
	CachedBucketKeys int
	CachedUnwrapped  int
	// Waited counts requests that waited for a provider call: cache misses
	// (coalesced or not), and every request when Disabled. With
	// refresh-ahead it stays flat in steady state; a rising rate means keys
	// expire unused or MaxObjects is too small for the write rate.
	Waited int64
}
