package keycache

import (
	"sync/atomic"
	"time"
)

// retiredBit marks an entry that has left its cache: no new borrower may
// take it, and the last one to give it back wipes its key.
const retiredBit = int64(1) << 62

// entry is a cached key, lent to callbacks by reference counting so that
// eviction or replacement never zeroes a key while a callback uses it.
// Fields other than the atomics are immutable after creation, except
// plaintext, which is zeroed exactly once, after the last borrower is done.
type entry struct {
	refs atomic.Int64 // borrowers, plus retiredBit once retired

	plaintext []byte
	wrapped   []byte
	keyID     string            // as the provider reported it (write entries)
	extra     map[string]string // the client's extra context, nil if none

	expires   time.Time
	refreshAt time.Time // expires minus the refresh-ahead window; zero: never

	maxObjects     int64 // write entries: objects it may protect; 0: unlimited
	refreshObjects int64 // write entries: uses at which to refresh; 0: never
	objects        atomic.Int64

	refreshing atomic.Bool  // a background refresh is running or succeeded
	retryAt    atomic.Int64 // UnixNano before which a failed refresh is not retried

	stats     *counters                // write entries: the bucket's accounting
	lastStats atomic.Pointer[counters] // read entries: last reader bucket's accounting
}

// acquire takes a reference unless the entry is retired.
func (e *entry) acquire() bool {
	for {
		r := e.refs.Load()
		if r&retiredBit != 0 {
			return false
		}
		if e.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

// release gives a reference back; the last one out of a retired entry
// wipes its key.
func (e *entry) release() {
	if e.refs.Add(-1) == retiredBit {
		wipe(e.plaintext)
	}
}

// retire takes the entry out of service: it wipes the key now if nobody
// holds it, else its last borrower will. Retiring twice is harmless.
func (e *entry) retire() {
	if old := e.refs.Or(retiredBit); old == 0 {
		wipe(e.plaintext)
	}
}

// tryUse borrows the entry for one object at now: it fails if the entry is
// retired, expired or has protected its MaxObjects.
func (e *entry) tryUse(now time.Time) bool {
	if !e.acquire() {
		return false
	}
	if !now.Before(e.expires) || (e.maxObjects > 0 && e.objects.Add(1) > e.maxObjects) {
		e.release()
		return false
	}
	return true
}

// tryUseFresh is tryUse for a request that waited for this entry to be
// made: it may use it even if the TTL ran out while it was being scheduled
// (under CPU starvation, or with a TTL shorter than a KMS round trip), so a
// waiter is never sent back to KMS for a key made on its behalf. MaxObjects
// still holds.
func (e *entry) tryUseFresh() bool {
	if !e.acquire() {
		return false
	}
	if e.maxObjects > 0 && e.objects.Add(1) > e.maxObjects {
		e.release()
		return false
	}
	return true
}

// usable reports, without borrowing, whether a new borrower could use the
// entry at now; a singleflight uses it to avoid replacing a fresh key.
func (e *entry) usable(now time.Time) bool {
	return e.refs.Load()&retiredBit == 0 && now.Before(e.expires) &&
		(e.maxObjects == 0 || e.objects.Load() < e.maxObjects)
}

// refreshDue reports whether the entry should be replaced in the background
// and claims that job for the caller: it is true at most once per attempt.
func (e *entry) refreshDue(now time.Time) bool {
	due := (!e.refreshAt.IsZero() && !now.Before(e.refreshAt)) ||
		(e.refreshObjects > 0 && e.objects.Load() >= e.refreshObjects)
	if !due || e.refreshing.Load() || now.UnixNano() < e.retryAt.Load() {
		return false
	}
	return e.refreshing.CompareAndSwap(false, true)
}

// refreshFailed lets the refresh be tried again from at.
func (e *entry) refreshFailed(at time.Time) {
	e.retryAt.Store(at.UnixNano())
	e.refreshing.Store(false)
}
