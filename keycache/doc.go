// Package keycache is where bucketkey gets keys and counts what it saved:
// KMS providers (AWS KMS and a local master key), the time-bounded
// per-bucket key cache whose concurrent misses coalesce into one KMS call,
// the cache of unwrapped bucket keys for reads, and the savings accounting
// against a one-KMS-call-per-object design.
//
// # Bucket keys
//
// WithBucketKey lends the current bucket key for (bucket, KMS key id, extra
// encryption context, and the client's access key with
// PartitionByAccessKey). The KMS encryption context is BucketContext(bucket)
// plus the client's extra context, which may not name "aws:s3:arn". A key
// serves at most Options.TTL and Options.MaxObjects objects, whichever ends
// first; then the next write gets a new one. Misses for the same key
// coalesce into one provider call (singleflight), which runs detached from
// the requests waiting on it (each still gives up when its own context ends)
// and is bounded by Options.ProviderTimeout. A key in use near the end of its
// life (RefreshAhead before expiry, or 90% of MaxObjects) is replaced by one
// background call while requests keep using the old one, so in steady state
// no request waits on KMS; the price is that a key in continuous use lives
// TTL-RefreshAhead, about 11% more GenerateDataKey calls at the defaults.
// Stats.Waited counts the requests that did wait. A request that waited for
// a new key uses it even if the TTL ran out meanwhile. At most MaxEntries
// keys are cached (LRU).
//
// # Unwrapped keys
//
// WithUnwrappedKey lends the plaintext of a wrapped bucket key, keyed by the
// wrapped blob, key id, key bucket, extra context (and access key when
// partitioned): at most one Decrypt per blob per UnwrapTTL, refreshed ahead
// like bucket keys when read continuously. A request naming another key id
// or context never hits an entry filled for a different one; it goes to the
// provider, which refuses it. Keys this cache generated are put in the unwrap
// cache at once, so reading back recent writes costs no Decrypt.
//
// # Key lending and wiping
//
// Keys are lent to callbacks and valid only during them. Entries are
// reference counted: eviction, replacement, expiry sweeps and Close retire an
// entry, and its key bytes are zeroed as soon as no callback holds it. Key
// and GeneratedKey print redacted; errors carry provider error codes and
// messages, never key bytes.
//
// # Failure semantics
//
// Providers return *Error with a Kind the proxy maps to S3 errors:
//
//	KindThrottled    KMS throttling (ThrottlingException, LimitExceeded):  503 SlowDown, Retry-After
//	KindUnavailable  unreachable, timeout, 5xx, cache closed:              503 ServiceUnavailable, Retry-After
//	KindDenied       AccessDenied, Disabled, NotFound, KMSInvalidState,
//	                 IncorrectKey, bad credentials:                         403 AccessDenied
//	KindInvalid      InvalidCiphertext (tampered blob or wrong context):    403 AccessDenied
//
// When the provider throttles, is unreachable or denies:
//   - Cached keys keep serving until they expire (TTL, MaxObjects): the hot
//     path never calls the provider. A failed background refresh leaves the
//     old key in place and is retried while the key is used, at most once a
//     second (sooner only for refresh windows under 4s).
//   - A cold or expired entry fails with *Error of the provider's kind once
//     the SDK's bounded retries (awskms.Options.MaxAttempts, MaxBackoff) are
//     spent; there is no retry loop of the cache's own, and a request whose
//     context ends stops waiting at once (the error wraps the context's).
//     Errors are not cached: concurrent misses share one failing call, and
//     the next miss asks again.
//   - Recovery is automatic: the first miss after the provider is back fills
//     the cache.
//
// # Accounting
//
// Every provider call is counted per bucket and in total by operation and
// outcome (and reported to Options.OnKMSRequest); the baseline is one
// GenerateDataKey per object written and one Decrypt per object read (counted
// when the key is lent). The cache counts requests; what they cost is
// reporting (admin.Cost, at --kms-price-per-10k).
// PartitionByAccessKey costs show as extra GenerateDataKey and Decrypt calls.
// Disabled makes the cache behave as the baseline (one call per object,
// nothing cached) so both designs can be measured side by side. Stats
// reports at most MaxBuckets buckets by name; the rest are summed under
// OtherBuckets.
//
// # Providers
//
// Providers live in packages of their own, so that a third (Vault
// transit, GCP KMS, Azure Key Vault) is one new package and one row in
// cmd/bucketkey/kms.go (docs/ARCHITECTURE.md, "Adding a KMS provider"):
//
//   - keycache/awskms: AWS KMS, or a service speaking its API (local-kms,
//     a VPC endpoint), with the SDK's retryer; Check probes the key.
//   - keycache/localkey: a 256-bit master key in a file (hex, mode 0600,
//     created in dev mode) that wraps data keys with AES-256-GCM under a
//     per-blob key derived with HKDF-SHA256; the AAD binds the blob header,
//     the key id and AppendCanonicalContext. Its Close wipes the master
//     key; close the Cache over it first.
//
// A provider returns *Error (NewError gives it the Retry-After its kind
// deserves) and implements Checker if it has something remote to probe.
package keycache
