package keycache

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// WriteRequest names the bucket key an object write needs.
type WriteRequest struct {
	Bucket    string            // the bucket written to; names the KMS encryption context
	KeyID     string            // KMS key id
	Context   map[string]string // extra encryption context from the client, or nil
	AccessKey string            // the client's access key, for PartitionByAccessKey
}

// writeKey names a bucket key in the cache. The extra context is hashed so
// the hot path builds the key without allocating; entries keep the context
// itself and a hit compares it.
type writeKey struct {
	bucket, keyID, access string
	ctxHash               uint64
}

func (c *Cache) writeKeyOf(req WriteRequest) writeKey {
	k := writeKey{bucket: req.Bucket, keyID: req.KeyID, ctxHash: hashContext(c.seed, req.Context)}
	if c.o.PartitionByAccessKey {
		k.access = req.AccessKey
	}
	return k
}

// flightName names a bucket key for singleflight: exact, unlike the hash.
func (k writeKey) flightName(extra map[string]string) string {
	b := make([]byte, 0, 64+len(k.bucket)+len(k.keyID)+len(k.access))
	b = append(b, 'w')
	b = appendString(b, k.bucket)
	b = appendString(b, k.keyID)
	b = appendString(b, k.access)
	return string(AppendCanonicalContext(b, extra))
}

// checkContext refuses an extra context that would override the bucket ARN.
func checkContext(op string, extra map[string]string) error {
	if _, ok := extra[ContextKeyBucketARN]; ok {
		return NewError(KindInvalid, op, fmt.Errorf("encryption context key %q is reserved", ContextKeyBucketARN))
	}
	return nil
}

// WithBucketKey calls fn with the current bucket key for req, fetching one
// from the provider on a miss (concurrent misses coalesce into one call).
// It counts one object written (baseline: one GenerateDataKey) when fn is
// called. Errors from the cache are *Error; fn's error is returned as is.
//
// A hit takes no lock but the LRU's and does not allocate. A key near the
// end of its life (time or objects) is replaced in the background while
// requests keep using it. The provider call of a miss runs detached from
// ctx, so one impatient client cannot fail the others waiting on it; ctx
// still bounds how long this request waits.
func (c *Cache) WithBucketKey(ctx context.Context, req WriteRequest, fn func(Key) error) error {
	if req.Bucket == "" {
		return NewError(KindInvalid, OpGenerateDataKey, errors.New("no bucket"))
	}
	if len(req.Context) > 0 {
		if err := checkContext(OpGenerateDataKey, req.Context); err != nil {
			return err
		}
	}
	if c.o.Disabled {
		return c.writeBaseline(ctx, req, fn)
	}
	e, err := c.borrowWrite(ctx, req)
	if err != nil {
		return err
	}
	defer e.release()
	c.acct.encrypted(e.stats)
	return fn(Key{Plaintext: e.plaintext, Wrapped: e.wrapped, KeyID: e.keyID})
}

// borrowWrite returns a borrowed bucket key for req, counted as one object.
func (c *Cache) borrowWrite(ctx context.Context, req WriteRequest) (*entry, error) {
	k := c.writeKeyOf(req)
	for range maxLendAttempts {
		now := c.o.Now()
		if e, ok := c.writes.get(k); ok && contextEqual(e.extra, req.Context) && e.tryUse(now) {
			if e.refreshDue(now) {
				c.refreshWrite(k, e)
			}
			return e, nil
		}
		if c.closed.Load() {
			return nil, NewError(KindUnavailable, OpGenerateDataKey, ErrClosed)
		}
		c.waited.Add(1)
		// The flight outlives a caller that gives up, and the caller
		// owns its map: the flight gets its own copy.
		extra := cloneContext(req.Context)
		name := k.flightName(extra)
		e, err := wait(ctx, OpGenerateDataKey, c.sf.DoChan(name, func() (any, error) {
			return c.generate(k, extra, nil)
		}))
		if err != nil {
			return nil, err
		}
		if e.tryUseFresh() {
			return e, nil
		}
		// Others used the new key up (MaxObjects) before we could: go round.
	}
	return nil, NewError(KindUnavailable, OpGenerateDataKey,
		errors.New("bucket keys used up by concurrent writers faster than they could be fetched"))
}

// generate is the body of a bucket key flight: unless the cache already holds
// a usable key other than stale, get one from the provider and cache it.
// stale is the entry a background refresh replaces, nil for a miss.
func (c *Cache) generate(k writeKey, extra map[string]string, stale *entry) (*entry, error) {
	if cur, ok := c.writes.peek(k); ok && cur != stale && contextEqual(cur.extra, extra) && cur.usable(c.o.Now()) {
		return cur, nil
	}
	if !c.startCall() {
		return nil, NewError(KindUnavailable, OpGenerateDataKey, ErrClosed)
	}
	defer c.bg.Done()
	stats := c.acct.bucket(k.bucket)
	pctx, cancel := context.WithTimeout(c.ctx, c.o.ProviderTimeout)
	gk, err := c.callGenerate(pctx, stats, k.keyID, fullContext(k.bucket, extra))
	cancel()
	if err != nil {
		return nil, err
	}
	now := c.o.Now()
	e := &entry{
		plaintext:      gk.Plaintext,
		wrapped:        gk.Wrapped,
		keyID:          gk.KeyID,
		extra:          cloneContext(extra),
		expires:        now.Add(c.o.TTL),
		maxObjects:     c.o.MaxObjects,
		refreshObjects: c.o.refreshObjects(),
		stats:          stats,
	}
	if w := c.o.refreshWindow(c.o.TTL); w > 0 {
		e.refreshAt = e.expires.Add(-w)
	}
	seeds := c.unwrapSeeds(k, gk, extra, now)
	if err := c.insert(e, func() {
		c.writes.put(k, e)
		for _, s := range seeds {
			c.reads.put(s.k, s.e)
		}
	}); err != nil {
		for _, s := range seeds {
			wipe(s.e.plaintext)
		}
		return nil, NewError(KindUnavailable, OpGenerateDataKey, err)
	}
	return e, nil
}

// callGenerate makes one accounted GenerateDataKey call.
func (c *Cache) callGenerate(ctx context.Context, stats *counters, keyID string, encCtx map[string]string) (GeneratedKey, error) {
	start := time.Now()
	gk, err := c.p.GenerateDataKey(ctx, keyID, encCtx)
	if err == nil && len(gk.Plaintext) != 32 {
		wipe(gk.Plaintext)
		err = fmt.Errorf("%s returned a %d-byte data key, want 32", c.p.Name(), len(gk.Plaintext))
	}
	if err != nil {
		err = asError(OpGenerateDataKey, err)
	}
	c.acct.request(stats, opGen, err, time.Since(start))
	return gk, err
}

// refreshWrite replaces e in the background; on failure e keeps serving
// until it expires and a later request tries again.
func (c *Cache) refreshWrite(k writeKey, e *entry) {
	started := c.startBackground(func() {
		ch := c.sf.DoChan(k.flightName(e.extra), func() (any, error) {
			return c.generate(k, e.extra, e)
		})
		// A flight joined rather than started may hand back e itself: then
		// nothing was replaced and the refresh must be allowed again.
		if r := <-ch; r.Err != nil || r.Val.(*entry) == e {
			e.refreshFailed(c.o.Now().Add(c.refreshRetry(c.o.TTL)))
		}
	})
	if !started {
		e.refreshing.Store(false)
	}
}

// writeBaseline is the Disabled design: one GenerateDataKey per object, the
// key wiped when fn returns.
func (c *Cache) writeBaseline(ctx context.Context, req WriteRequest, fn func(Key) error) error {
	if !c.startCall() {
		return NewError(KindUnavailable, OpGenerateDataKey, ErrClosed)
	}
	stats := c.acct.bucket(req.Bucket)
	c.waited.Add(1)
	pctx, cancel := c.baselineContext(ctx)
	gk, err := c.callGenerate(pctx, stats, req.KeyID, fullContext(req.Bucket, req.Context))
	cancel()
	c.bg.Done()
	if err != nil {
		return err
	}
	defer wipe(gk.Plaintext)
	c.acct.encrypted(stats)
	return fn(Key(gk))
}
