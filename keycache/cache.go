package keycache

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Cache hands out bucket keys and unwrapped keys. It is safe for concurrent use.
type Cache struct {
	p    Provider
	o    Options
	acct *accounting
	seed maphash.Seed

	writes *lruMap[writeKey]
	reads  *lruMap[readKey]
	sf     singleflight.Group

	// ctx is the parent of every provider call; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	waited atomic.Int64 // requests that waited for a provider call

	mu     sync.Mutex     // orders inserts, refresh starts and provider calls against Close
	closed atomic.Bool    // set under mu
	bg     sync.WaitGroup // background refreshes and provider calls; Add under mu
	stop   chan struct{}
	swept  chan struct{} // closed when the janitor has stopped
}

// New returns a cache over p. Call Close to stop its background work and
// wipe its keys.
func New(p Provider, o Options) *Cache {
	o = o.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cache{
		p:      p,
		o:      o,
		acct:   newAccounting(o),
		seed:   maphash.MakeSeed(),
		writes: newLRUMap[writeKey](o.MaxEntries),
		reads:  newLRUMap[readKey](o.MaxUnwrapped),
		ctx:    ctx,
		cancel: cancel,
		stop:   make(chan struct{}),
		swept:  make(chan struct{}),
	}
	go c.janitor(janitorInterval(o))
	return c
}

// janitorInterval is half the shorter key life, within [1s, 1m]: expired
// keys are wiped that long after expiry at worst.
func janitorInterval(o Options) time.Duration {
	return min(max(min(o.TTL, o.UnwrapTTL)/2, time.Second), time.Minute)
}

// janitor wipes expired keys that nobody asked for again. It uses a real
// ticker only to wake up: expiry is judged by Options.Now.
func (c *Cache) janitor(every time.Duration) {
	defer close(c.swept)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.removeExpired()
		}
	}
}

// removeExpired drops expired entries from both caches (wiping their keys
// once unborrowed) and returns how many.
func (c *Cache) removeExpired() int {
	now := c.o.Now()
	return c.writes.removeExpired(now) + c.reads.removeExpired(now)
}

// Stats returns a snapshot of the savings accounting. It takes no lock the
// hot path takes (counters are atomics), so it is cheap to call from a
// metrics scrape; fields are read one by one, not as one atomic snapshot.
func (c *Cache) Stats() Stats {
	st := c.acct.stats()
	st.CachedBucketKeys = c.writes.len()
	st.CachedUnwrapped = c.reads.len()
	st.Waited = c.waited.Load()
	return st
}

// Options returns the options in effect, defaults filled in.
func (c *Cache) Options() Options { return c.o }

// Close stops background refreshes, cancels the provider calls in flight
// and waits for them to return (a provider that ignores its context delays
// Close), then wipes every cached key: once Close returns, no provider call
// the cache made is still running. Keys lent to running callbacks are wiped
// when those return. Later calls fail with an *Error wrapping ErrClosed.
// Close is idempotent.
func (c *Cache) Close() {
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return
	}
	c.closed.Store(true)
	c.mu.Unlock()
	c.cancel() // abort provider calls in flight
	close(c.stop)
	<-c.swept
	c.bg.Wait()
	c.writes.purge()
	c.reads.purge()
}

// startBackground runs f in a goroutine Close waits for, unless the cache
// is closed.
func (c *Cache) startBackground(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return false
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		f()
	}()
	return true
}

// startCall registers a provider call Close waits for: it returns false,
// and the caller must not call the provider, once the cache is closed. A
// true return must be matched by c.bg.Done when the provider call returns.
// Flight bodies call it themselves, so a flight counts once however many
// requests wait on it, and not at all if Close came first.
func (c *Cache) startCall() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return false
	}
	c.bg.Add(1)
	return true
}

// baselineContext bounds a Disabled-mode provider call, which runs on the
// request's context, by ProviderTimeout and by Close.
func (c *Cache) baselineContext(ctx context.Context) (context.Context, context.CancelFunc) {
	pctx, cancel := context.WithTimeout(ctx, c.o.ProviderTimeout)
	stop := context.AfterFunc(c.ctx, cancel)
	return pctx, func() {
		stop()
		cancel()
	}
}

// insert runs put unless the cache is closed, in which case it wipes e.
func (c *Cache) insert(e *entry, put func()) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		wipe(e.plaintext)
		return ErrClosed
	}
	put()
	return nil
}

// refreshRetry is how long after a failed background refresh the next one
// may start: short enough to get a new key before expiry, long enough not to
// hammer a throttling KMS with one call per request.
func (c *Cache) refreshRetry(life time.Duration) time.Duration {
	return max(min(time.Second, c.o.refreshWindow(life)/4), time.Millisecond)
}

// wait waits for a singleflight result or the caller's context.
func wait(ctx context.Context, op string, ch <-chan singleflight.Result) (*entry, error) {
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*entry), nil
	case <-ctx.Done():
		return nil, ctxError(op, ctx)
	}
}

// maxLendAttempts bounds how often a request goes back to the cache after
// the key it got was used up by others before it could borrow it.
const maxLendAttempts = 3
