package keycache

import "time"

// Options configure a Cache. Zero values take the defaults in brackets.
type Options struct {
	TTL          time.Duration // life of a bucket key [5m]
	MaxObjects   int64         // objects one bucket key may protect [1,000,000]
	MaxEntries   int           // bucket keys cached at once [10,000]
	UnwrapTTL    time.Duration // life of an unwrapped key [TTL]
	MaxUnwrapped int           // unwrapped keys cached at once [10,000]
	// RefreshAhead replaces a key this long before expiry, in the background,
	// when it is used [TTL/10]; a bucket key is also replaced ahead when 90%
	// of MaxObjects are used. The window is capped at half the key's life.
	// Negative disables refresh-ahead: then the request that finds a key
	// expired waits for the provider.
	RefreshAhead         time.Duration
	PartitionByAccessKey bool // separate bucket keys per client access key
	Disabled             bool // the baseline: one KMS call per object, no cache
	// Now is the clock for TTLs and Stats.Since [time.Now]; tests inject one.
	// Provider call durations are measured with the real clock.
	Now func() time.Time

	// ProviderTimeout bounds one provider call, the SDK's retries included
	// [30s]. Calls run detached from the request that caused them (they fill
	// the cache for everyone waiting), so this is their only deadline; each
	// waiting request still gives up when its own context ends.
	ProviderTimeout time.Duration
	// MaxBuckets bounds the buckets Stats reports separately [MaxEntries];
	// the rest are added up under OtherBuckets, so clients cannot grow the
	// accounting without bound by naming buckets.
	MaxBuckets int
	// OnKMSRequest, if set, is called after every provider call with the
	// operation ("GenerateDataKey", "Decrypt"), the outcome ("ok",
	// "throttled", "denied", "unavailable", "invalid") and its duration, so
	// the proxy can feed histograms. It runs on the calling goroutine and
	// must be quick.
	OnKMSRequest func(op, outcome string, d time.Duration)
}

// Defaults.
const (
	DefaultTTL             = 5 * time.Minute
	DefaultMaxObjects      = 1_000_000
	DefaultMaxEntries      = 10_000
	DefaultProviderTimeout = 30 * time.Second
)

// OtherBuckets names, in Stats.Buckets, the sum of the buckets beyond
// Options.MaxBuckets. No S3 bucket name contains parentheses.
const OtherBuckets = "(other)"

func (o Options) withDefaults() Options {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.MaxObjects <= 0 {
		o.MaxObjects = DefaultMaxObjects
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.UnwrapTTL <= 0 {
		o.UnwrapTTL = o.TTL
	}
	if o.MaxUnwrapped <= 0 {
		o.MaxUnwrapped = DefaultMaxEntries
	}
	if o.RefreshAhead == 0 {
		o.RefreshAhead = o.TTL / 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ProviderTimeout <= 0 {
		o.ProviderTimeout = DefaultProviderTimeout
	}
	if o.MaxBuckets <= 0 {
		o.MaxBuckets = o.MaxEntries
	}
	return o
}

// refreshWindow is how long before expires a key of the given life is
// refreshed: RefreshAhead capped at half the life, 0 when disabled.
func (o Options) refreshWindow(life time.Duration) time.Duration {
	if o.RefreshAhead < 0 {
		return 0
	}
	return min(o.RefreshAhead, life/2)
}

// refreshObjects is the use count at which a bucket key is refreshed ahead:
// 90% of MaxObjects (at least one object early), 0 when disabled.
func (o Options) refreshObjects() int64 {
	if o.RefreshAhead < 0 || o.MaxObjects < 2 {
		return 0
	}
	return o.MaxObjects - max(1, o.MaxObjects/10)
}
