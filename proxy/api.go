// Package proxy is bucketkey's HTTP front: it authenticates S3 requests
// (sigv4), routes them by S3 operation (gorilla/mux), encrypts object bodies
// on the way in and decrypts them on the way out (envelope, with keys from
// keycache), and re-signs everything for the backend.
//
// CONTRACT STUB: the signatures in this file are the API cmd/bucketkey
// codes against. Implementations replace the bodies.
package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
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
	UpstreamTransport   http.RoundTripper       // [a tuned http.Transport]; set for a custom CA
	UpstreamPayload     sigv4.PayloadMode       // how streamed ciphertext is signed [PayloadChunked]
	UpstreamTimeout     time.Duration           // per-request header timeout to the backend [2m]

	Region            string            // region clients sign for [UpstreamRegion]
	ClientCredentials sigv4.Credentials // required: client access keys
	Keys              *keycache.Cache   // required
	KMSKeyID          string            // required: default KMS key for new objects

	// Replicas declares replication: Replicas["b"] = ["a"] means bucket b
	// holds replicas of bucket a's objects, so objects whose key bucket is a
	// are readable through b.
	Replicas map[string][]string

	// VirtualHostDomains enables virtual-hosted-style addressing: a request
	// to host "bucket.<domain>" addresses bucket.
	VirtualHostDomains []string

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

// Proxy is the S3 proxy handler.
type Proxy struct{}

// New validates cfg and returns a Proxy.
func New(cfg Config) (*Proxy, error) { panic("unimplemented") }

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) { panic("unimplemented") }

// CheckUpstream makes one cheap signed request to the backend (ListBuckets)
// and reports whether it answered, for readiness probes.
func (p *Proxy) CheckUpstream(ctx context.Context) error { panic("unimplemented") }
