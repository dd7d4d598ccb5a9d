// Package sigv4 authenticates client requests signed with AWS Signature
// Version 4 (header and presigned-URL auth, every S3 payload mode including
// aws-chunked with and without trailers), verifies what the client declared
// about the payload (SHA-256, chunk signatures, Content-MD5, x-amz-checksum-*)
// as the body streams, and re-signs requests for the backend.
//
// CONTRACT STUB: the signatures in this file are the API the proxy codes
// against. Implementations replace the bodies; see docs/ARCHITECTURE.md.
package sigv4

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Credentials looks up the secret of a client access key.
type Credentials interface {
	Secret(accessKey string) (secret string, ok bool)
}

// StaticCredentials is a fixed access key -> secret map.
type StaticCredentials map[string]string

// Secret implements Credentials.
func (s StaticCredentials) Secret(ak string) (string, bool) { v, ok := s[ak]; return v, ok }

// Verifier authenticates client requests for one region and service "s3".
type Verifier struct {
	Region      string
	Credentials Credentials
	Now         func() time.Time // [time.Now]
	MaxSkew     time.Duration    // header-auth clock skew allowed [15m]
}

// VerifyOptions vary the rules per operation.
type VerifyOptions struct {
	// AnyRegion accepts a credential scope for any region (ListBuckets,
	// GetBucketLocation, CreateBucket), as S3 does.
	AnyRegion bool
}

// Authenticated is a request whose signature verified.
type Authenticated struct {
	AccessKey string
	Presigned bool
	// Body yields the decoded payload (aws-chunked framing removed). As bytes
	// stream it checks the payload hash, chunk and trailer signatures, the
	// declared length, Content-MD5 and any x-amz-checksum-* (header or
	// trailer). If anything fails it returns a *s3err.Error in place of
	// io.EOF at the end (or earlier, as soon as the failure is known): callers
	// treat only io.EOF as a verified body.
	Body io.ReadCloser
	// ContentLength is the decoded payload length, or -1 if unknown.
	ContentLength int64
	// ChecksumAlgorithm is the x-amz-checksum-* algorithm the client asked
	// for ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"), or "".
	ChecksumAlgorithm string
	// Checksum returns the base64 checksum of the plaintext the client sent,
	// valid after Body returned io.EOF ("" when no algorithm).
	Checksum func() string
}

// Verify authenticates r. It reads r's headers and URL (the path exactly as
// received, from r.RequestURI, never cleaned) and wraps r.Body; it does not
// read the body itself. Failures are *s3err.Error with S3's codes.
func (v *Verifier) Verify(r *http.Request, o VerifyOptions) (*Authenticated, error) {
	panic("unimplemented")
}

// StripForUpstream removes from h every header that belongs to the client's
// signature or describes the plaintext payload and so must not reach the
// backend with a ciphertext body: Authorization, X-Amz-Content-Sha256,
// X-Amz-Date, X-Amz-Security-Token, X-Amz-Decoded-Content-Length,
// X-Amz-Trailer, X-Amz-Sdk-Checksum-Algorithm, X-Amz-Checksum-*,
// Content-MD5, and aws-chunked from Content-Encoding.
func StripForUpstream(h http.Header) { panic("unimplemented") }

// EscapePath encodes an S3 object path for a request URI as S3 expects:
// every byte but unreserved ones and '/' percent-encoded once.
func EscapePath(path string) string { panic("unimplemented") }

// PayloadMode is how Signer protects a streamed body.
type PayloadMode int

// Payload modes for upstream bodies.
const (
	// PayloadChunked signs the body as aws-chunked
	// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), chunk by chunk, unbuffered.
	PayloadChunked PayloadMode = iota
	// PayloadUnsignedTrailer sends STREAMING-UNSIGNED-PAYLOAD-TRAILER with an
	// x-amz-checksum-crc32c trailer over the body.
	PayloadUnsignedTrailer
	// PayloadUnsigned sends UNSIGNED-PAYLOAD, for backends that refuse
	// chunked uploads; the body is protected only by TLS.
	PayloadUnsigned
)

// Signer signs requests for the backend with the proxy's own credentials.
type Signer struct {
	Credentials aws.CredentialsProvider
	Region      string
	Mode        PayloadMode
	Now         func() time.Time // [time.Now]
}

// Sign signs req, whose body is body (nil for none), sent with its SHA-256.
// It sets req.Body, Content-Length, X-Amz-Date, X-Amz-Content-Sha256 and
// Authorization. Headers must be final.
func (s *Signer) Sign(ctx context.Context, req *http.Request, body []byte) error {
	panic("unimplemented")
}

// SignStream signs req for a streamed body of exactly size bytes, framing it
// per s.Mode without buffering it: it sets req.Body (and, for aws-chunked,
// Content-Encoding, X-Amz-Decoded-Content-Length and the framed
// Content-Length). If body fails, the request body fails too, so the
// backend sees an incomplete upload and stores nothing.
func (s *Signer) SignStream(ctx context.Context, req *http.Request, body io.Reader, size int64) error {
	panic("unimplemented")
}
