package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bucketkey/bucketkey/admin"
	"github.com/bucketkey/bucketkey/keycache"
	"github.com/bucketkey/bucketkey/keycache/localkey"
	"github.com/bucketkey/bucketkey/sigv4"
)

// serveConfig is everything `bucketkey serve` can be told, before
// validation. Each field is a flag, an environment variable and a config
// file key (see settings).
type serveConfig struct {
	Config string

	Listen      string
	AdminListen string
	AdminToken  string // --admin-token-file
	AdminPprof  bool
	TLSCert     string
	TLSKey      string

	Upstream          string
	UpstreamRegion    string
	UpstreamAccessKey string
	UpstreamSecretKey string
	UpstreamCA        string
	UpstreamPayload   string

	ClientAccessKey string
	ClientSecretKey string
	Credentials     string

	KMSProvider string
	KMSKeyID    string
	KMSEndpoint string
	KMSRegion   string
	KMSLocalKey string
	KMSAccept   listFlag

	BucketKeyTTL         time.Duration
	BucketKeyMaxObjects  int64
	NoBucketKey          bool
	PartitionByAccessKey bool
	KMSPricePer10k       float64

	Replica           listFlag
	MixedBucket       listFlag
	VirtualHostDomain listFlag
	Anonymous         bool
	AnonymousBucket   listFlag

	LogFormat       string
	LogLevel        string
	ShutdownTimeout time.Duration
	DrainDelay      time.Duration
	BodyIdleTimeout time.Duration
}

const defaultUpstreamRegion = "us-east-1"

// serveFlags registers serve's settings on a new settings set.
func serveFlags(c *serveConfig) *settings {
	s := newSettings("serve")
	fs := s.fs
	fs.StringVar(&c.Config, "config", "", "read settings from a YAML or JSON `file` (keys are the flag names)")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "S3 listener `address`")
	fs.StringVar(&c.AdminListen, "admin-listen", "127.0.0.1:9090", "admin listener `address` (/metrics, /stats, /healthz, /readyz, live page); \"off\" disables it")
	fs.StringVar(&c.AdminToken, "admin-token-file", "", "require \"Authorization: Bearer <token>\" on the admin listener (all but /healthz and /readyz), the token read from this `file`")
	fs.BoolVar(&c.AdminPprof, "admin-pprof", false, "serve Go profiles on the admin listener under /debug/pprof/ (never cmdline)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "serve the S3 listener over TLS with this PEM certificate `file` (with --tls-key)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key `file` for --tls-cert")
	fs.StringVar(&c.Upstream, "upstream", "", "backend S3 endpoint `URL`, e.g. https://s3.eu-west-1.amazonaws.com (required)")
	fs.StringVar(&c.UpstreamRegion, "upstream-region", defaultUpstreamRegion, "`region` the backend expects in signatures; clients sign for it too")
	fs.StringVar(&c.UpstreamAccessKey, "upstream-access-key", "", "the proxy's own backend access `key` (else the AWS default credential chain)")
	fs.StringVar(&c.UpstreamSecretKey, "upstream-secret-key", "", "the proxy's own backend `secret` key")
	fs.StringVar(&c.UpstreamCA, "upstream-ca", "", "trust this PEM CA `file` for the backend (in addition to the system roots)")
	fs.StringVar(&c.UpstreamPayload, "upstream-payload", "auto", "how encrypted bodies are signed to the backend: `mode` auto (signed over http, unsigned-trailer over https), signed, unsigned-trailer or unsigned")
	fs.StringVar(&c.ClientAccessKey, "client-access-key", "", "access `key` clients sign with (with --client-secret-key)")
	fs.StringVar(&c.ClientSecretKey, "client-secret-key", "", "`secret` key for --client-access-key")
	fs.StringVar(&c.Credentials, "credentials", "", "client credentials `file`: one access-key:secret per line (or \"access-key secret backend-key backend-secret\" for a client with a backend identity of its own), or a JSON object; reloaded on SIGHUP")
	fs.StringVar(&c.KMSProvider, "kms-provider", "", "key `provider`: aws or local [local with --kms-local-key, else aws]")
	fs.StringVar(&c.KMSKeyID, "kms-key-id", "", "AWS KMS key `id`, ARN or alias for new objects (required unless --kms-local-key)")
	fs.StringVar(&c.KMSEndpoint, "kms-endpoint", "", "KMS endpoint `URL` (a VPC endpoint, local-kms) [the region's]")
	fs.StringVar(&c.KMSRegion, "kms-region", "", "KMS `region` [the region in --kms-key-id's ARN, else AWS_REGION, else --upstream-region]")
	fs.StringVar(&c.KMSLocalKey, "kms-local-key", "", "use a local master key `file` (64 hex characters, mode 0600) instead of AWS KMS")
	fs.Var(&c.KMSAccept, "kms-accept-key-id", "also accept objects (and writes) naming this KMS key `id` or ARN, e.g. a key being rotated out; objects naming any other key are refused (repeatable)")
	fs.DurationVar(&c.BucketKeyTTL, "bucket-key-ttl", keycache.DefaultTTL, "life of a bucket key")
	fs.Int64Var(&c.BucketKeyMaxObjects, "bucket-key-max-objects", keycache.DefaultMaxObjects, "objects one bucket key may protect before it is replaced")
	fs.BoolVar(&c.NoBucketKey, "no-bucket-key", false, "the baseline: one KMS call per object, no bucket keys")
	fs.BoolVar(&c.PartitionByAccessKey, "partition-by-access-key", false, "separate bucket keys per client access key")
	fs.Float64Var(&c.KMSPricePer10k, "kms-price-per-10k", admin.DefaultPricePer10k, "KMS request price in `dollars` per 10,000 requests, for the savings report")
	fs.Var(&c.Replica, "replica", "`B=A`: bucket B holds replicas of bucket A's objects (repeatable)")
	fs.BoolVar(&c.Anonymous, "anonymous", false, "forward unsigned requests for every bucket to the backend unsigned, for its bucket policies and ACLs to decide (see SECURITY.md)")
	fs.Var(&c.AnonymousBucket, "anonymous-bucket", "`bucket` whose unsigned requests are forwarded to the backend unsigned, for its bucket policy and ACLs to decide (repeatable; see SECURITY.md)")
	fs.Var(&c.MixedBucket, "mixed-bucket", "`bucket` that also holds objects written before the proxy: listings ask the backend about each entry (repeatable)")
	fs.Var(&c.VirtualHostDomain, "virtual-host-domain", "accept virtual-hosted-style requests to bucket.`domain` (repeatable)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log `format`: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM, how long in-flight requests may take to finish")
	fs.DurationVar(&c.BodyIdleTimeout, "body-idle-timeout", 20*time.Second, "fail a request with S3's 400 RequestTimeout when a read of its body waits this long for the client (0: never)")
	fs.DurationVar(&c.DrainDelay, "drain-delay", 0, "on SIGTERM, keep accepting requests this long with /readyz at 503 (and keep-alive off) before closing the listener, so load balancers stop routing here first")
	return s
}

// resolved is a validated serve configuration, with files read.
type resolved struct {
	Listen, AdminListen string
	AdminToken          []byte // nil: the admin listener asks for no token
	AdminPprof          bool
	TLS                 *tls.Config // nil: plain HTTP

	Upstream          *url.URL
	UpstreamRegion    string
	UpstreamAccessKey string
	UpstreamSecretKey string
	UpstreamRoots     *x509.CertPool // nil: system roots
	UpstreamPayload   sigv4.PayloadMode

	ClientCredentials sigv4.StaticCredentials // as loaded at start
	Clients           *clientKeys             // the live table, reloaded on SIGHUP

	KMSProvider string // a kmsProviders name
	KMSKeyID    string
	KMSEndpoint string
	KMSRegion   string
	KMSLocalKey string
	KMSAccept   []string // --kms-accept-key-id

	Cache keycache.Options
	// PricePer10k prices KMS requests in the savings report (admin.Cost).
	PricePer10k float64
	Replicas    map[string][]string
	Mixed       []string // buckets of --mixed-bucket
	// Anonymous opens every bucket to unsigned requests; AnonymousBuckets
	// some of them.
	Anonymous        bool
	AnonymousBuckets []string
	VHosts           []string

	LogFormat, LogLevel string
	ShutdownTimeout     time.Duration
	DrainDelay          time.Duration
	BodyIdleTimeout     time.Duration // negative: never
}

// bucketName is S3's rule for bucket names (general purpose buckets).
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// validate checks c and reads the files it names. Its errors are one line,
// name the setting and its sources, and never contain a secret.
func (c *serveConfig) validate(s *settings) (*resolved, error) {
	r := &resolved{
		Listen: c.Listen, AdminListen: c.AdminListen,
		UpstreamRegion:    c.UpstreamRegion,
		UpstreamAccessKey: c.UpstreamAccessKey, UpstreamSecretKey: c.UpstreamSecretKey,
		KMSKeyID: c.KMSKeyID, KMSEndpoint: c.KMSEndpoint, KMSRegion: c.KMSRegion, KMSLocalKey: c.KMSLocalKey,
		LogFormat: c.LogFormat, LogLevel: c.LogLevel, ShutdownTimeout: c.ShutdownTimeout, DrainDelay: c.DrainDelay,
		BodyIdleTimeout: c.BodyIdleTimeout,
	}
	for _, check := range []func(*resolved, *settings) error{
		c.validateListeners, c.validateUpstream, c.validateClients,
		c.validateKMS, c.validateCache, c.validateBuckets, c.validateLogging,
	} {
		if err := check(r, s); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// validateListeners checks the proxy and admin listeners, the admin token and the TLS pair.
func (c *serveConfig) validateListeners(r *resolved, s *settings) error {
	if err := checkAddr("listen", c.Listen); err != nil {
		return err
	}
	if c.AdminListen == "off" || c.AdminListen == "" {
		r.AdminListen = ""
	} else if err := checkAddr("admin-listen", c.AdminListen); err != nil {
		return err
	} else if c.AdminListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
		return fmt.Errorf("--admin-listen and --listen are both %s; give them different ports", c.Listen)
	}
	if c.AdminToken != "" {
		tok, err := os.ReadFile(c.AdminToken)
		if err != nil {
			return fmt.Errorf("--admin-token-file: %v", trimErr(err))
		}
		if r.AdminToken = bytes.TrimSpace(tok); len(r.AdminToken) < 16 || bytes.ContainsAny(r.AdminToken, " \t\r\n") {
			return fmt.Errorf("--admin-token-file %s: want one token of at least 16 characters", c.AdminToken)
		}
	}
	r.AdminPprof = c.AdminPprof
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together: set both or neither")
	}
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %v", err)
		}
		r.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return nil
}

// validateUpstream checks the backend URL, region, credentials, CA and payload mode.
func (c *serveConfig) validateUpstream(r *resolved, s *settings) error {
	if c.Upstream == "" {
		return fmt.Errorf("no backend: set %s (the S3 endpoint URL)", s.where("upstream"))
	}
	u, err := url.Parse(c.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--upstream %q: want an http:// or https:// URL with a host", redactURL(c.Upstream))
	}
	if u.User != nil {
		return errors.New("--upstream must not carry credentials; use --upstream-access-key/--upstream-secret-key")
	}
	r.Upstream = u
	if c.UpstreamRegion == "" {
		return fmt.Errorf("no backend region: set %s", s.where("upstream-region"))
	}
	if (c.UpstreamAccessKey == "") != (c.UpstreamSecretKey == "") {
		return errors.New("--upstream-access-key and --upstream-secret-key go together: set both, or neither to use the AWS default credential chain")
	}
	if c.UpstreamCA != "" {
		pem, err := os.ReadFile(c.UpstreamCA)
		if err != nil {
			return fmt.Errorf("--upstream-ca: %v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--upstream-ca %s: no PEM certificate in it", c.UpstreamCA)
		}
		r.UpstreamRoots = pool
	}
	mode, err := sigv4.ParsePayloadMode(c.UpstreamPayload)
	if err != nil {
		return fmt.Errorf("--upstream-payload: %v", err)
	}
	r.UpstreamPayload = mode
	return nil
}

// validateClients loads the client credentials from the flags and the credentials file.
func (c *serveConfig) validateClients(r *resolved, s *settings) error {
	if (c.ClientAccessKey == "") != (c.ClientSecretKey == "") {
		return errors.New("--client-access-key and --client-secret-key go together: set both")
	}
	r.Clients = &clientKeys{staticAK: c.ClientAccessKey, staticSK: c.ClientSecretKey, path: c.Credentials}
	if err := r.Clients.reload(); err != nil {
		return err
	}
	r.ClientCredentials = r.Clients.t.Load().secrets
	if len(r.ClientCredentials) == 0 {
		return fmt.Errorf("no client credentials: set --client-access-key and --client-secret-key, or %s", s.where("credentials"))
	}
	return nil
}

// validateKMS checks that exactly one KMS provider is configured.
func (c *serveConfig) validateKMS(r *resolved, s *settings) error {
	r.KMSProvider = c.KMSProvider
	if r.KMSProvider == "" {
		r.KMSProvider = defaultKMSProvider(c)
	}
	if _, ok := kmsProviders[r.KMSProvider]; !ok {
		return fmt.Errorf("--kms-provider %q: want %s", c.KMSProvider, strings.Join(slices.Sorted(maps.Keys(kmsProviders)), " or "))
	}
	switch {
	case r.KMSProvider == "local" && c.KMSLocalKey == "":
		return errors.New("--kms-provider local needs --kms-local-key FILE")
	case r.KMSProvider == "aws" && c.KMSLocalKey != "" && c.KMSProvider != "":
		return errors.New("--kms-provider aws and --kms-local-key: set one of them")
	case c.KMSLocalKey != "" && c.KMSKeyID != "" && c.KMSKeyID != localkey.Alias:
		return errors.New("--kms-key-id names an AWS KMS key and --kms-local-key a local master key: set one of them")
	case c.KMSLocalKey != "" && (c.KMSEndpoint != "" || c.KMSRegion != ""):
		return errors.New("--kms-endpoint and --kms-region configure AWS KMS; they do not apply with --kms-local-key")
	case c.KMSLocalKey == "" && c.KMSKeyID == "":
		return fmt.Errorf("no KMS key: set %s, or --kms-local-key FILE to run without AWS KMS", s.where("kms-key-id"))
	}
	if c.KMSEndpoint != "" {
		if ku, err := url.Parse(c.KMSEndpoint); err != nil || (ku.Scheme != "http" && ku.Scheme != "https") || ku.Host == "" {
			return fmt.Errorf("--kms-endpoint %q: want an http:// or https:// URL", redactURL(c.KMSEndpoint))
		}
	}
	for _, id := range c.KMSAccept {
		if id = strings.TrimSpace(id); id == "" || strings.ContainsAny(id, " \t") {
			return fmt.Errorf("--kms-accept-key-id %q: want a KMS key id, key ARN or alias", id)
		}
		r.KMSAccept = append(r.KMSAccept, id)
	}
	if c.KMSLocalKey == "" && r.KMSRegion == "" {
		r.KMSRegion = arnRegion(c.KMSKeyID) // else the SDK's chain, then the upstream region (see kmsProvider)
	}
	return nil
}

// validateCache checks the bucket-key cache limits and the KMS price.
func (c *serveConfig) validateCache(r *resolved, s *settings) error {
	if c.BucketKeyTTL <= 0 {
		return fmt.Errorf("--bucket-key-ttl %v: must be positive", c.BucketKeyTTL)
	}
	if c.BucketKeyMaxObjects <= 0 {
		return fmt.Errorf("--bucket-key-max-objects %d: must be positive", c.BucketKeyMaxObjects)
	}
	if c.KMSPricePer10k <= 0 {
		return fmt.Errorf("--kms-price-per-10k %v: must be positive", c.KMSPricePer10k)
	}
	r.PricePer10k = c.KMSPricePer10k
	r.Cache = keycache.Options{
		TTL:                  c.BucketKeyTTL,
		MaxObjects:           c.BucketKeyMaxObjects,
		PartitionByAccessKey: c.PartitionByAccessKey,
		Disabled:             c.NoBucketKey,
	}
	return nil
}

// validateBuckets checks the replica relations, anonymous and mixed buckets and virtual-host domains.
func (c *serveConfig) validateBuckets(r *resolved, s *settings) error {
	if len(c.Replica) > 0 {
		r.Replicas = map[string][]string{}
	}
	for _, rep := range c.Replica {
		b, a, ok := strings.Cut(rep, "=")
		if !ok || !bucketName.MatchString(b) || !bucketName.MatchString(a) {
			return fmt.Errorf("--replica %q: want REPLICA=SOURCE with two bucket names, e.g. photos-eu=photos", rep)
		}
		if a == b {
			return fmt.Errorf("--replica %q: a bucket does not replicate itself", rep)
		}
		r.Replicas[b] = append(r.Replicas[b], a)
	}
	r.Anonymous = c.Anonymous
	for _, b := range c.AnonymousBucket {
		if !bucketName.MatchString(b) {
			return fmt.Errorf("--anonymous-bucket %q: want a bucket name, e.g. public-assets", b)
		}
		r.AnonymousBuckets = append(r.AnonymousBuckets, b)
	}
	for _, b := range c.MixedBucket {
		if !bucketName.MatchString(b) {
			return fmt.Errorf("--mixed-bucket %q: want a bucket name, e.g. photos", b)
		}
		r.Mixed = append(r.Mixed, b)
	}
	for _, d := range c.VirtualHostDomain {
		d = strings.ToLower(strings.Trim(d, "."))
		if d == "" || strings.ContainsAny(d, "/: ") {
			return fmt.Errorf("--virtual-host-domain %q: want a bare DNS name such as s3.example.com", d)
		}
		r.VHosts = append(r.VHosts, d)
	}
	return nil
}

// validateLogging checks the log settings, the drain delay, the shutdown
// timeout and the body idle timeout.
func (c *serveConfig) validateLogging(r *resolved, s *settings) error {
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.DrainDelay < 0 {
		return fmt.Errorf("--drain-delay %v: must not be negative", c.DrainDelay)
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("--shutdown-timeout %v: must be positive", c.ShutdownTimeout)
	}
	switch {
	case c.BodyIdleTimeout < 0:
		return fmt.Errorf("--body-idle-timeout %v: must not be negative", c.BodyIdleTimeout)
	case c.BodyIdleTimeout == 0:
		r.BodyIdleTimeout = -1 // proxy.Config: never
	}
	return nil
}

func checkAddr(name, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("--%s %q: want host:port, e.g. 127.0.0.1:8080 or :8080", name, addr)
	}
	return nil
}

// arnRegion returns the region of a KMS key ARN, or "".
func arnRegion(id string) string {
	parts := strings.SplitN(id, ":", 6)
	if len(parts) == 6 && parts[0] == "arn" && parts[2] == "kms" {
		return parts[3]
	}
	return ""
}

// redactURL drops userinfo from a URL for messages.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		return "…" + s[i:]
	}
	return s
}
