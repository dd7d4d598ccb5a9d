// Package keycache is where bucketkey gets keys and counts what it saved:
// KMS providers (AWS KMS and a local master key), the time-bounded
// per-bucket key cache whose concurrent misses coalesce into one KMS call,
// the cache of unwrapped bucket keys for reads, and the savings accounting
// against a one-KMS-call-per-object design.
//
// CONTRACT STUB: the signatures in this file are the API the proxy codes
// against. Implementations replace the bodies; see docs/ARCHITECTURE.md.
package keycache

import (
	"context"
	"time"
)

// GeneratedKey is a fresh data key from a provider.
type GeneratedKey struct {
	Plaintext []byte // 32 bytes; the caller owns it and wipes it
	Wrapped   []byte // the provider's ciphertext blob
	KeyID     string // the key id as the provider reports it (an ARN for KMS)
}

// Provider is a KMS: it makes and unwraps 256-bit data keys under a master
// key, bound to an encryption context.
type Provider interface {
	// GenerateDataKey is KMS GenerateDataKey with KeySpec AES_256.
	GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string) (GeneratedKey, error)
	// Decrypt is KMS Decrypt of a blob GenerateDataKey returned, with the
	// same encryption context; keyID is passed so KMS can check it.
	Decrypt(ctx context.Context, keyID string, wrapped []byte, encCtx map[string]string) ([]byte, error)
	// Name names the provider for logs ("aws-kms", "local").
	Name() string
}

// ErrorKind classifies provider failures so the proxy can map them.
type ErrorKind int

// Failure kinds.
const (
	KindUnavailable ErrorKind = iota + 1 // unreachable, 5xx, timeout: 503 ServiceUnavailable
	KindThrottled                        // KMS throttling: 503 SlowDown with Retry-After
	KindDenied                           // access denied, disabled or wrong key: 403 AccessDenied
	KindInvalid                          // the blob or context is not valid (tampered metadata): 403 AccessDenied
)

// Error is a provider or cache failure. It never includes key material.
type Error struct {
	Kind       ErrorKind
	Op         string // "GenerateDataKey" or "Decrypt"
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string { return "keycache: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// BucketContext is the KMS encryption context S3 uses for bucket keys: the
// bucket's ARN.
func BucketContext(bucket string) map[string]string {
	return map[string]string{"aws:s3:arn": "arn:aws:s3:::" + bucket}
}

// Options configure a Cache. Zero values take the defaults in brackets.
type Options struct {
	TTL                  time.Duration // life of a bucket key [5m]
	MaxObjects           int64         // objects one bucket key may protect [1,000,000]
	MaxEntries           int           // bucket keys cached at once [10,000]
	UnwrapTTL            time.Duration // life of an unwrapped key [TTL]
	MaxUnwrapped         int           // unwrapped keys cached at once [10,000]
	RefreshAhead         time.Duration // replace a bucket key this long before expiry, in the background [TTL/10]
	PartitionByAccessKey bool          // separate bucket keys per client access key
	Disabled             bool          // the baseline: one KMS call per object, no cache
	PricePer10k          float64       // KMS request price in dollars per 10,000 [0.03]
	Now                  func() time.Time
}

// Cache hands out bucket keys and unwrapped keys. It is safe for concurrent use.
type Cache struct{}

// New returns a cache over p.
func New(p Provider, o Options) *Cache { panic("unimplemented") }

// WriteRequest names the bucket key an object write needs.
type WriteRequest struct {
	Bucket    string            // the bucket written to; names the KMS encryption context
	KeyID     string            // KMS key id
	Context   map[string]string // extra encryption context from the client, or nil
	AccessKey string            // the client's access key, for PartitionByAccessKey
}

// Key is a bucket key lent to a callback. Plaintext is valid only during the
// callback: the cache zeroes it when the key is evicted or replaced.
type Key struct {
	Plaintext []byte
	Wrapped   []byte
	KeyID     string // as the provider reported it
}

// WithBucketKey calls fn with the current bucket key for req, fetching one
// from the provider on a miss (concurrent misses coalesce into one call).
// It counts one object written (baseline: one GenerateDataKey).
func (c *Cache) WithBucketKey(ctx context.Context, req WriteRequest, fn func(Key) error) error {
	panic("unimplemented")
}

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
}

// WithUnwrappedKey calls fn with the plaintext of req.Wrapped, from the
// unwrap cache or one provider Decrypt (coalesced). It counts one object
// read (baseline: one Decrypt).
func (c *Cache) WithUnwrappedKey(ctx context.Context, req ReadRequest, fn func(plaintext []byte) error) error {
	panic("unimplemented")
}

// Stats returns a snapshot of the savings accounting.
func (c *Cache) Stats() Stats { panic("unimplemented") }

// Close stops background refreshes and wipes every cached key.
func (c *Cache) Close() { panic("unimplemented") }

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

// Savings derives totals from Counts at a price.
type Savings struct {
	Counts
	Actual        int64   // real KMS requests, all outcomes
	BaselineTotal int64   // one-call-per-object requests
	Saved         int64   // BaselineTotal - Actual (may be negative)
	Ratio         float64 // Saved / BaselineTotal, 0 when BaselineTotal is 0
	CostActual    float64 // dollars
	CostBaseline  float64 // dollars
}

// Stats is the accounting snapshot, in total and per bucket.
type Stats struct {
	Since            time.Time
	PricePer10k      float64
	Total            Savings
	Buckets          map[string]Savings
	CachedBucketKeys int
	CachedUnwrapped  int
}
