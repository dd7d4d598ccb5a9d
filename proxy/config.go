package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bucketkey/bucketkey/keycache"
	"github.com/bucketkey/bucketkey/sigv4"
)

// Config configures a Proxy. Fields marked required must be set.
type Config struct {
	Upstream            *url.URL                // required: the S3 endpoint, e.g. http://127.0.0.1:7070
	UpstreamRegion      string                  // required: region the backend expects in signatures
	UpstreamCredentials aws.CredentialsProvider // required: the proxy's own backend credentials
	UpstreamTransport   http.RoundTripper       // [DefaultTransport()]; start from DefaultTransport() to wrap it or set a CA
	UpstreamPayload     sigv4.PayloadMode       // how ciphertext bodies are signed [PayloadAuto: by Upstream's scheme]
	UpstreamTimeout     time.Duration           // per-request header timeout to the backend [2m]
	// BodyIdleTimeout is how long a read of a client's request body may
	// wait for bytes before the request fails with S3's 400
	// RequestTimeout [20s, as S3; negative: never].
	BodyIdleTimeout time.Duration

	Region            string            // region clients sign for [UpstreamRegion]
	ClientCredentials sigv4.Credentials // required: client access keys
	// Identities maps clients to backend identities of their own; a
	// client it does not map (or all, when nil) reaches the backend as
	// UpstreamCredentials.
	Identities Identities
	Keys       *keycache.Cache // required
	KMSKeyID   string          // required: default KMS key for new objects

	// AcceptKMSKeyIDs are KMS keys besides KMSKeyID that objects may name
	// (keys being rotated out) and writes may ask for
	// (x-amz-server-side-encryption-aws-kms-key-id). An object naming any
	// other key is refused before any KMS request: otherwise a backend
	// writer could wrap a bucket key under a KMS key of their own that the
	// proxy's role may also use, and forge objects that authenticate.
	AcceptKMSKeyIDs []string

	// Replicas declares replication: Replicas["b"] = ["a"] means bucket b
	// holds replicas of bucket a's objects, so objects whose key bucket is a
	// are readable through b.
	Replicas map[string][]string

	// MixedBuckets names the buckets that hold objects written before the
	// proxy (no envelope metadata) next to encrypted ones. A listing has no
	// metadata, so by default the proxy takes every entry whose size could
	// be a ciphertext size for an encrypted object and reports its
	// plaintext size and client ETag, which is wrong for a pre-proxy object
	// of such a size. In a mixed bucket it asks the backend instead: one
	// HEAD per such entry of ListObjects, ListObjectsV2 and
	// ListObjectVersions, so that listings agree with HEAD and GET for both
	// kinds (docs/ARCHITECTURE.md, "Listing sizes"). Other buckets cost no
	// extra request.
	MixedBuckets []string

	// AnonymousBuckets names the buckets whose unsigned requests are
	// forwarded to the backend unsigned, for its bucket policy and ACLs
	// to decide (AnonymousAll: every bucket). Objects are decrypted for
	// them as for anyone, once the backend has served them. Unsigned
	// requests for other buckets, and unsigned writes that would need a
	// bucket key, are refused with 403 AccessDenied (SECURITY.md).
	AnonymousBuckets []string
	AnonymousAll     bool

	// VirtualHostDomains enables virtual-hosted-style addressing: a request
	// to host "bucket.<domain>" addresses bucket.
	VirtualHostDomains []string

	// NoBucketKey makes responses report
	// x-amz-server-side-encryption-bucket-key-enabled: false. Set it when
	// Keys was built with Options.Disabled (the one-KMS-call-per-object
	// baseline), so that clients are told what really happened.
	NoBucketKey bool

	Logger   *slog.Logger // [slog.Default()]
	Observer Observer     // [none]
	Now      func() time.Time
}

// Observer receives one call per finished client request, for metrics.
// Operation is an S3 operation name ("PutObject", "GetObject", ...);
// bytesIn/bytesOut count plaintext body bytes. Implementations must be
// cheap and safe for concurrent use.
type Observer interface {
	ObserveRequest(operation string, status int, bytesIn, bytesOut int64, d time.Duration)
}

const (
	defaultUpstreamTimeout = 2 * time.Minute
	defaultBodyIdleTimeout = 20 * time.Second
)

// validate checks the required fields and fills in defaults, so that a
// misconfigured proxy fails at start-up with one clear error rather than on
// the first request.
func (c *Config) validate() error {
	var missing []string
	if c.Upstream == nil {
		missing = append(missing, "Upstream")
	}
	if c.UpstreamRegion == "" {
		missing = append(missing, "UpstreamRegion")
	}
	if c.UpstreamCredentials == nil {
		missing = append(missing, "UpstreamCredentials")
	}
	if c.ClientCredentials == nil {
		missing = append(missing, "ClientCredentials")
	}
	if c.Keys == nil {
		missing = append(missing, "Keys")
	}
	if c.KMSKeyID == "" {
		missing = append(missing, "KMSKeyID")
	}
	if len(missing) > 0 {
		return fmt.Errorf("proxy: missing required configuration: %s", strings.Join(missing, ", "))
	}
	if err := checkUpstreamURL(c.Upstream); err != nil {
		return err
	}
	if c.UpstreamTimeout < 0 {
		return errors.New("proxy: UpstreamTimeout must not be negative")
	}
	if c.UpstreamTimeout == 0 {
		c.UpstreamTimeout = defaultUpstreamTimeout
	}
	if c.BodyIdleTimeout == 0 {
		c.BodyIdleTimeout = defaultBodyIdleTimeout
	}
	switch c.UpstreamPayload {
	case sigv4.PayloadAuto, sigv4.PayloadChunked, sigv4.PayloadUnsignedTrailer, sigv4.PayloadUnsigned:
	default:
		return fmt.Errorf("proxy: unknown UpstreamPayload %d", c.UpstreamPayload)
	}
	if c.Region == "" {
		c.Region = c.UpstreamRegion
	}
	c.VirtualHostDomains = slices.Clone(c.VirtualHostDomains)
	for i, d := range c.VirtualHostDomains {
		d = strings.ToLower(strings.Trim(d, "."))
		if d == "" || strings.ContainsAny(d, "/:") {
			return fmt.Errorf("proxy: virtual host domain %q: want a bare DNS name such as s3.example.com", c.VirtualHostDomains[i])
		}
		c.VirtualHostDomains[i] = d
	}
	if err := c.checkNames(); err != nil {
		return err
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// checkNames checks that no key id or bucket name in the configuration is
// empty.
func (c *Config) checkNames() error {
	for _, id := range c.AcceptKMSKeyIDs {
		if strings.TrimSpace(id) == "" {
			return errors.New("proxy: AcceptKMSKeyIDs: empty key id")
		}
	}
	for _, b := range c.MixedBuckets {
		if b == "" {
			return errors.New("proxy: MixedBuckets: empty bucket name")
		}
	}
	for _, b := range c.AnonymousBuckets {
		if b == "" {
			return errors.New("proxy: AnonymousBuckets: empty bucket name")
		}
	}
	for b, srcs := range c.Replicas {
		if b == "" {
			return errors.New("proxy: Replicas: empty bucket name")
		}
		for _, s := range srcs {
			if s == "" {
				return fmt.Errorf("proxy: Replicas[%q]: empty source bucket name", b)
			}
		}
	}
	return nil
}

// checkUpstreamURL checks the backend's URL: http or https, a host, and
// nothing a request URL would misread (credentials, a query, a fragment).
func checkUpstreamURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("proxy: upstream %q: scheme must be http or https", u.Redacted())
	}
	if u.Host == "" {
		return fmt.Errorf("proxy: upstream %q: no host", u.Redacted())
	}
	if u.User != nil {
		return errors.New("proxy: upstream URL must not carry credentials; use UpstreamCredentials")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("proxy: upstream %q: must not have a query or fragment", u.Redacted())
	}
	return nil
}

// DefaultTransport is a transport tuned for one busy backend: many idle
// connections kept, no transparent decompression (the proxy needs the
// stored bytes exactly as stored), a write buffer that holds a small PUT
// whole. The proxy uses a new one when
// Config.UpstreamTransport is nil; callers that wrap or adjust it (metrics,
// a custom CA) start from it.
func DefaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	t.DisableCompression = true
	t.ExpectContinueTimeout = time.Second
	// A small PUT's headers and body in one write (inlinePutMax).
	t.WriteBufferSize = 16 << 10
	return t
}
