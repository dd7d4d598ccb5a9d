package keycache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"time"
)

// ReadRequest names a wrapped bucket key an object read needs.
type ReadRequest struct {
	KeyBucket string // the bucket named in the key's encryption context
	KeyID     string
	Wrapped   []byte
	Context   map[string]string // extra encryption context recorded with the object
	AccessKey string
	// Bucket is the bucket the object is read from, for accounting (it
	// differs from KeyBucket for replicas and copies).
	Bucket string
	// Verify marks a read that only checks the object's seal (a HEAD): the
	// key is unwrapped as for any read, but no object read is counted, as
	// a one-call-per-object design makes no KMS call for a HEAD.
	Verify bool
}

// readKey names an unwrapped key in the cache: the blob (hashed; entries keep
// the blob and a hit compares it) and everything Decrypt is checked against,
// so a request with another key id or context cannot hit an entry another
// request's Decrypt filled.
type readKey struct {
	blob                     uint64
	keyBucket, keyID, access string
	ctxHash                  uint64
}

func (c *Cache) readKeyOf(req ReadRequest) readKey {
	k := readKey{
		blob:      maphash.Bytes(c.seed, req.Wrapped),
		keyBucket: req.KeyBucket,
		keyID:     req.KeyID,
		ctxHash:   hashContext(c.seed, req.Context),
	}
	if c.o.PartitionByAccessKey {
		k.access = req.AccessKey
	}
	return k
}

func (k readKey) flightName(wrapped []byte, extra map[string]string) string {
	b := make([]byte, 0, 64+len(wrapped)+len(k.keyBucket)+len(k.keyID)+len(k.access))
	b = append(b, 'r')
	b = appendString(b, string(wrapped))
	b = appendString(b, k.keyBucket)
	b = appendString(b, k.keyID)
	b = appendString(b, k.access)
	return string(AppendCanonicalContext(b, extra))
}

// WithUnwrappedKey calls fn with the plaintext of req.Wrapped, from the
// unwrap cache or one provider Decrypt (coalesced). It counts one object
// read (baseline: one Decrypt) when fn is called, unless req.Verify. The plaintext is valid only
// during fn.
//
// Keys this cache generated are already in the unwrap cache (under the key id
// the provider reported and the one requested), so reading back what this
// proxy wrote costs no Decrypt while the key lives.
func (c *Cache) WithUnwrappedKey(ctx context.Context, req ReadRequest, fn func(plaintext []byte) error) error {
	if req.KeyBucket == "" || len(req.Wrapped) == 0 {
		return NewError(KindInvalid, OpDecrypt, errors.New("no key bucket or wrapped key"))
	}
	if len(req.Context) > 0 {
		if err := checkContext(OpDecrypt, req.Context); err != nil {
			return err
		}
	}
	bucket := req.Bucket
	if bucket == "" {
		bucket = req.KeyBucket
	}
	if c.o.Disabled {
		return c.readBaseline(ctx, req, bucket, fn)
	}
	e, err := c.borrowRead(ctx, req, bucket)
	if err != nil {
		return err
	}
	defer e.release()
	stats := e.lastStats.Load()
	if stats == nil || stats.name != bucket {
		stats = c.acct.bucket(bucket)
		e.lastStats.Store(stats)
	}
	if !req.Verify {
		c.acct.decrypted(stats)
	}
	return fn(e.plaintext)
}

func (c *Cache) borrowRead(ctx context.Context, req ReadRequest, bucket string) (*entry, error) {
	k := c.readKeyOf(req)
	for range maxLendAttempts {
		now := c.o.Now()
		if e, ok := c.reads.get(k); ok && bytes.Equal(e.wrapped, req.Wrapped) &&
			contextEqual(e.extra, req.Context) && e.tryUse(now) {
			if e.refreshDue(now) {
				c.refreshRead(k, e)
			}
			return e, nil
		}
		if c.closed.Load() {
			return nil, NewError(KindUnavailable, OpDecrypt, ErrClosed)
		}
		c.waited.Add(1)
		wrapped := bytes.Clone(req.Wrapped) // the flight may outlive the request
		extra := cloneContext(req.Context)
		e, err := wait(ctx, OpDecrypt, c.sf.DoChan(k.flightName(wrapped, extra), func() (any, error) {
			return c.unwrap(k, wrapped, extra, bucket, nil)
		}))
		if err != nil {
			return nil, err
		}
		if e.tryUseFresh() {
			return e, nil
		}
	}
	return nil, NewError(KindUnavailable, OpDecrypt, errors.New("unwrapped key retired while waiting"))
}

// unwrap is the body of a Decrypt flight, like generate.
func (c *Cache) unwrap(k readKey, wrapped []byte, extra map[string]string, bucket string, stale *entry) (*entry, error) {
	if cur, ok := c.reads.peek(k); ok && cur != stale && bytes.Equal(cur.wrapped, wrapped) &&
		contextEqual(cur.extra, extra) && cur.usable(c.o.Now()) {
		return cur, nil
	}
	if !c.startCall() {
		return nil, NewError(KindUnavailable, OpDecrypt, ErrClosed)
	}
	defer c.bg.Done()
	stats := c.acct.bucket(bucket)
	pctx, cancel := context.WithTimeout(c.ctx, c.o.ProviderTimeout)
	pt, err := c.callDecrypt(pctx, stats, k.keyID, wrapped, fullContext(k.keyBucket, extra))
	cancel()
	if err != nil {
		return nil, err
	}
	e := c.newReadEntry(pt, wrapped, extra, c.o.Now())
	e.lastStats.Store(stats)
	if err := c.insert(e, func() { c.reads.put(k, e) }); err != nil {
		return nil, NewError(KindUnavailable, OpDecrypt, err)
	}
	return e, nil
}

func (c *Cache) newReadEntry(pt, wrapped []byte, extra map[string]string, now time.Time) *entry {
	e := &entry{
		plaintext: pt,
		wrapped:   wrapped,
		extra:     extra,
		expires:   now.Add(c.o.UnwrapTTL),
	}
	if w := c.o.refreshWindow(c.o.UnwrapTTL); w > 0 {
		e.refreshAt = e.expires.Add(-w)
	}
	return e
}

// callDecrypt makes one accounted Decrypt call.
func (c *Cache) callDecrypt(ctx context.Context, stats *counters, keyID string, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	start := time.Now()
	pt, err := c.p.Decrypt(ctx, keyID, wrapped, encCtx)
	if err == nil && len(pt) != 32 {
		wipe(pt)
		err = fmt.Errorf("%s returned a %d-byte key, want 32", c.p.Name(), len(pt))
	}
	if err != nil {
		err = asError(OpDecrypt, err)
	}
	c.acct.request(stats, opDec, err, time.Since(start))
	return pt, err
}

// refreshRead re-unwraps a hot key in the background before it expires, so
// steady reads never wait on Decrypt.
func (c *Cache) refreshRead(k readKey, e *entry) {
	started := c.startBackground(func() {
		stats := e.lastStats.Load()
		bucket := k.keyBucket
		if stats != nil {
			bucket = stats.name
		}
		ch := c.sf.DoChan(k.flightName(e.wrapped, e.extra), func() (any, error) {
			return c.unwrap(k, e.wrapped, e.extra, bucket, e)
		})
		// A flight joined rather than started may hand back e itself: then
		// nothing was replaced and the refresh must be allowed again.
		if r := <-ch; r.Err != nil || r.Val.(*entry) == e {
			e.refreshFailed(c.o.Now().Add(c.refreshRetry(c.o.UnwrapTTL)))
		}
	})
	if !started {
		e.refreshing.Store(false)
	}
}

type seed struct {
	k readKey
	e *entry
}

// unwrapSeeds are unwrap cache entries for a key just generated, so reads of
// objects this cache wrote need no Decrypt: one under the key id the
// provider reported, one under the id requested if it differs (an alias).
// Each has its own copy of the key, wiped on its own schedule.
func (c *Cache) unwrapSeeds(k writeKey, gk GeneratedKey, extra map[string]string, now time.Time) []seed {
	ids := []string{gk.KeyID}
	if k.keyID != gk.KeyID {
		ids = append(ids, k.keyID)
	}
	seeds := make([]seed, 0, len(ids))
	for _, id := range ids {
		rk := readKey{
			blob:      maphash.Bytes(c.seed, gk.Wrapped),
			keyBucket: k.bucket,
			keyID:     id,
			access:    k.access,
			ctxHash:   k.ctxHash,
		}
		e := c.newReadEntry(bytes.Clone(gk.Plaintext), gk.Wrapped, cloneContext(extra), now)
		seeds = append(seeds, seed{rk, e})
	}
	return seeds
}

// readBaseline is the Disabled design: one Decrypt per object.
func (c *Cache) readBaseline(ctx context.Context, req ReadRequest, bucket string, fn func([]byte) error) error {
	if !c.startCall() {
		return NewError(KindUnavailable, OpDecrypt, ErrClosed)
	}
	stats := c.acct.bucket(bucket)
	c.waited.Add(1)
	pctx, cancel := c.baselineContext(ctx)
	pt, err := c.callDecrypt(pctx, stats, req.KeyID, req.Wrapped, fullContext(req.KeyBucket, req.Context))
	cancel()
	c.bg.Done()
	if err != nil {
		return err
	}
	defer wipe(pt)
	if !req.Verify {
		c.acct.decrypted(stats)
	}
	return fn(pt)
}
