package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bucketkey/bucketkey/checksum"
)

// PayloadMode is how Signer protects a body it sends.
type PayloadMode int

// Payload modes for upstream bodies.
const (
	// PayloadAuto is PayloadChunked over http and PayloadUnsignedTrailer
	// over https, as the AWS SDKs choose by transport: over TLS a payload
	// signature buys nothing the TLS record MACs (and the envelope's
	// AES-GCM tags) do not already give, and costs one more SHA-256 pass
	// over every byte at both ends.
	PayloadAuto PayloadMode = iota
	// PayloadChunked ("signed") signs the body: streamed, as aws-chunked
	// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), chunk by chunk, unbuffered; in
	// memory (SignBody), with its hex SHA-256.
	PayloadChunked
	// PayloadUnsignedTrailer sends STREAMING-UNSIGNED-PAYLOAD-TRAILER with an
	// x-amz-checksum-crc32c trailer over the body (in memory: UNSIGNED-PAYLOAD
	// with the same checksum in a header).
	PayloadUnsignedTrailer
	// PayloadUnsigned sends UNSIGNED-PAYLOAD, for backends that refuse
	// chunked uploads; the body is protected only by TLS.
	PayloadUnsigned
)

func (m PayloadMode) String() string {
	switch m {
	case PayloadAuto:
		return "auto"
	case PayloadChunked:
		return "signed"
	case PayloadUnsignedTrailer:
		return "unsigned-trailer"
	case PayloadUnsigned:
		return "unsigned"
	}
	return fmt.Sprintf("PayloadMode(%d)", int(m))
}

// ParsePayloadMode parses a mode's name (PayloadMode.String), or
// "chunked", the older name of "signed".
func ParsePayloadMode(s string) (PayloadMode, error) {
	for _, m := range []PayloadMode{PayloadAuto, PayloadChunked, PayloadUnsignedTrailer, PayloadUnsigned} {
		if s == m.String() {
			return m, nil
		}
	}
	if s == "chunked" {
		return PayloadChunked, nil
	}
	return 0, fmt.Errorf("payload mode %q: want auto, signed, unsigned-trailer or unsigned", s)
}

// For is the mode m stands for on a connection of URL scheme scheme:
// PayloadAuto's choice, any other mode itself.
func (m PayloadMode) For(scheme string) PayloadMode {
	if m != PayloadAuto {
		return m
	}
	if strings.EqualFold(scheme, "https") {
		return PayloadUnsignedTrailer
	}
	return PayloadChunked
}

// DefaultChunkSize is the aws-chunked chunk size SignStream uses unless
// Signer.ChunkSize says otherwise: S3 recommends at least 64 KiB.
const DefaultChunkSize = 64 << 10

// minChunkSize is S3's minimum size of every chunk but the last.
const minChunkSize = 8 << 10

// Signer signs requests for the backend with the proxy's own credentials.
type Signer struct {
	Credentials aws.CredentialsProvider
	Region      string
	Mode        PayloadMode      // [PayloadAuto]
	Now         func() time.Time // [time.Now]
	// ChunkSize is the aws-chunked chunk size of SignStream
	// [DefaultChunkSize]; at least 8 KiB.
	ChunkSize int

	keys keyCache // signing keys, per secret, day, region and service
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Sign signs req, whose body is body (nil for none), sent with its SHA-256.
// It sets req.Body, Content-Length, X-Amz-Date, X-Amz-Content-Sha256 and
// Authorization. Headers must be final.
//
// A non-empty body without a Content-MD5 header gets one (DeleteObjects
// requires it on older backends, and it costs nothing for small bodies).
// req.URL.RawPath is set to EscapePath(req.URL.Path) (unless URL.Opaque is
// set), so the path sent is the path signed.
func (s *Signer) Sign(ctx context.Context, req *http.Request, body []byte) error {
	sum := sha256.Sum256(body)
	if len(body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		if req.Header.Get("Content-Md5") == "" {
			req.Header.Set("Content-Md5", ContentMD5(body))
		}
	} else {
		req.Body = http.NoBody
		req.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	}
	req.ContentLength = int64(len(body))
	payload := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", payload)
	_, err := s.sign(ctx, req, payload, s.now())
	return err
}

// sign signs req's headers with payload as the payload hash and returns the
// credentials used.
func (s *Signer) sign(ctx context.Context, req *http.Request, payload string, t time.Time) (aws.Credentials, error) {
	if req.URL.Opaque == "" {
		req.URL.RawPath = EscapePath(req.URL.Path)
	}
	// net/http writes these from ContentLength/TransferEncoding; a copy in
	// the header map would only confuse the signature.
	req.Header.Del("Content-Length")
	req.Header.Del("Transfer-Encoding")
	id, ok := identityOf(ctx)
	if ok && id.anonymous {
		return aws.Credentials{}, nil
	}
	creds := id.creds
	if !ok {
		if s.Credentials == nil {
			return aws.Credentials{}, errors.New("sigv4: Signer has no credentials")
		}
		var err error
		if creds, err = s.Credentials.Retrieve(ctx); err != nil {
			return creds, fmt.Errorf("sigv4: retrieving upstream credentials: %w", err)
		}
	}
	s.signHeaders(req, creds, payload, s.Region, serviceS3, t)
	return creds, nil
}

// SignStream signs req for a streamed body of exactly size bytes, framing it
// per s.Mode without buffering it: it sets req.Body (and, for aws-chunked,
// Content-Encoding, X-Amz-Decoded-Content-Length and the framed
// Content-Length). It first deletes any Content-MD5, x-amz-checksum-*,
// x-amz-trailer and x-amz-sdk-checksum-algorithm in req's header: only the
// checksums it computes itself describe the body it sends. If body fails,
// the request body fails too, so the backend sees an incomplete upload and
// stores nothing.
//
// The request body reads body to its end before sending its own end: the
// last aws-chunked chunk (or, unsigned, the reader's EOF) waits until body
// returns io.EOF, and a body longer or shorter than size is an error. If body
// is an io.Closer it is closed with the request body.
func (s *Signer) SignStream(ctx context.Context, req *http.Request, body io.Reader, size int64) error {
	return s.SignStreamChecksum(ctx, req, body, size, checksum.None)
}

// SignStreamChecksum is SignStream sending the body's checksum of ck
// (checksum.None: the mode's default) in an aws-chunked trailer, which the
// backend verifies and keeps as the object's (or part's) checksum:
// PayloadChunked then sends STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER
// (the trailer signed), PayloadUnsignedTrailer a trailer of ck instead of
// CRC64NVME, the checksum S3 keeps for an object whose writer declared
// none; PayloadUnsigned has no trailer, and sends no checksum.
func (s *Signer) SignStreamChecksum(ctx context.Context, req *http.Request, body io.Reader, size int64, ck checksum.Algorithm) error {
	if size < 0 {
		return fmt.Errorf("sigv4: SignStream needs the body size, got %d", size)
	}
	chunk := s.ChunkSize
	if chunk == 0 {
		chunk = DefaultChunkSize
	}
	if chunk < minChunkSize {
		return fmt.Errorf("sigv4: ChunkSize %d is below S3's minimum of %d", chunk, minChunkSize)
	}
	t := s.now()
	req.GetBody = nil
	dropBodyDigests(req.Header)
	mode := s.Mode.For(req.URL.Scheme)
	if IsAnonymous(ctx) {
		mode = PayloadUnsigned // nothing to sign chunks with
	}
	switch mode {
	case PayloadUnsigned:
		req.Header.Set("X-Amz-Content-Sha256", unsignedPayload)
		req.ContentLength = size
		if size == 0 {
			// net/http sends a zero-length non-nil body as chunked; settle
			// the (empty) body now instead.
			if err := expectEOF(body); err != nil {
				return err
			}
			closeIf(body)
			req.Body = http.NoBody
		} else {
			req.Body = &exactReader{src: body, remaining: size}
		}
		_, err := s.sign(ctx, req, unsignedPayload, t)
		return err

	case PayloadChunked:
		setChunkedHeaders(req, size)
		payload := streamingSigned
		if ck != checksum.None {
			payload = streamingSignedTrailer
			req.Header.Set("X-Amz-Trailer", ck.Header())
			req.Header.Set("X-Amz-Sdk-Checksum-Algorithm", ck.String())
		}
		req.Header.Set("X-Amz-Content-Sha256", payload)
		req.ContentLength = chunkedLength(size, chunk, true, ck)
		creds, err := s.sign(ctx, req, payload, t)
		if err != nil {
			return err
		}
		seed, err := seedSignature(req.Header.Get("Authorization"))
		if err != nil {
			return err
		}
		req.Body = newChunkEncoder(body, size, chunk, s.chain(creds, t, &seed), ck)
		return nil

	case PayloadUnsignedTrailer:
		if ck == checksum.None {
			ck = checksumCRC64NVME
		}
		setChunkedHeaders(req, size)
		req.Header.Set("X-Amz-Content-Sha256", streamingUnsignedTrailer)
		req.Header.Set("X-Amz-Trailer", ck.Header())
		req.Header.Set("X-Amz-Sdk-Checksum-Algorithm", ck.String())
		req.ContentLength = chunkedLength(size, chunk, false, ck)
		req.Body = newChunkEncoder(body, size, chunk, nil, ck)
		_, err := s.sign(ctx, req, streamingUnsignedTrailer, t)
		return err
	}
	return fmt.Errorf("sigv4: unknown payload mode %v", s.Mode)
}

// chain is the chunk signer for a request signed with creds at t whose
// signature is seed: the string to sign built in place, under the signing
// key derived once per day, region and secret (s.keys), where the SDK's
// stream signer allocates the string and looks the key up per chunk.
func (s *Signer) chain(creds aws.Credentials, t time.Time, seed *[32]byte) *chainSigner {
	date := t.Format(amzDateLayout[:8])
	key := s.keys.get(creds.SecretAccessKey, date, s.Region, serviceS3)
	scope := date + "/" + s.Region + "/" + serviceS3 + "/" + scopeTerminal
	return newChainSigner(&key.key, t.Format(amzDateLayout), scope, seed)
}

// dropBodyDigests deletes, under any key case, the headers that describe a
// body's digest: Content-MD5, x-amz-checksum-*, x-amz-trailer and
// x-amz-sdk-checksum-algorithm. SignStream sends a body it did not see the
// client send (the proxy's ciphertext), so a digest copied from the
// client's request would at best fail the upload and at worst publish a
// checksum of the plaintext next to the ciphertext. Callers strip them
// too; this is the backstop, and SignStream sets its own afterwards.
func dropBodyDigests(h http.Header) {
	for k := range h {
		if strings.EqualFold(k, "Content-Md5") ||
			strings.EqualFold(k, "X-Amz-Trailer") ||
			strings.EqualFold(k, "X-Amz-Sdk-Checksum-Algorithm") ||
			len(k) >= len("X-Amz-Checksum-") && strings.EqualFold(k[:len("X-Amz-Checksum-")], "X-Amz-Checksum-") {
			delete(h, k)
		}
	}
}

// setChunkedHeaders declares an aws-chunked body of size decoded bytes.
func setChunkedHeaders(req *http.Request, size int64) {
	ce := "aws-chunked"
	if old := req.Header.Get("Content-Encoding"); old != "" && !strings.Contains(strings.ToLower(old), "aws-chunked") {
		ce += "," + old
	}
	req.Header.Set("Content-Encoding", ce)
	req.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(size))
}

// seedSignature extracts the signature from an Authorization header the SDK
// produced.
func seedSignature(authz string) ([32]byte, error) {
	var seed [32]byte
	i := strings.LastIndex(authz, "Signature=")
	if i < 0 {
		return seed, errors.New("sigv4: signed request has no signature")
	}
	if sig := authz[i+len("Signature="):]; !parseSignature(sig, &seed) {
		return seed, errors.New("sigv4: signed request has a malformed signature")
	}
	return seed, nil
}

// SignBody signs req for body, an in-memory body the proxy made itself
// (small ciphertext), sent as it is: a plain Content-Length, no
// aws-chunked framing, no chunk signatures. Per s.Mode: PayloadChunked
// signs body's hex SHA-256 (one hash, where chunks would cost one per
// chunk plus the backend's decoding); PayloadUnsignedTrailer sends
// UNSIGNED-PAYLOAD with the CRC64NVME in an x-amz-checksum-crc64nvme header,
// which the backend checks as it would the trailer; PayloadUnsigned sends
// UNSIGNED-PAYLOAD. Like SignStream, it first drops the client's body
// digests from req's header; unlike Sign, it adds no Content-MD5. It sets
// req.Body (reading b, which must not change until the request body is
// closed: the caller may wrap req.Body to learn when) and leaves
// req.GetBody nil.
func (s *Signer) SignBody(ctx context.Context, req *http.Request, b []byte) error {
	return s.SignBodyChecksum(ctx, req, b, checksum.None)
}

// SignBodyChecksum is SignBody sending b's checksum of ck in its
// x-amz-checksum-* header, in every mode (checksum.None: the mode's
// default, PayloadUnsignedTrailer's CRC64NVME), which the backend verifies
// and keeps as the object's checksum.
func (s *Signer) SignBodyChecksum(ctx context.Context, req *http.Request, b []byte, ck checksum.Algorithm) error {
	t := s.now()
	dropBodyDigests(req.Header)
	req.GetBody = nil
	req.ContentLength = int64(len(b))
	req.Body = http.NoBody
	if len(b) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	mode := s.Mode.For(req.URL.Scheme)
	if IsAnonymous(ctx) {
		mode = PayloadUnsigned
	}
	var payload string
	switch mode {
	case PayloadChunked:
		sum := sha256.Sum256(b)
		payload = hex.EncodeToString(sum[:])
	case PayloadUnsignedTrailer:
		payload = unsignedPayload
		if ck == checksum.None {
			ck = checksumCRC64NVME
		}
	case PayloadUnsigned:
		payload = unsignedPayload
	default:
		return fmt.Errorf("sigv4: unknown payload mode %v", s.Mode)
	}
	if ck != checksum.None {
		req.Header.Set(ck.CanonicalHeader(), checksum.Encode(ck.Sum(b)))
	}
	req.Header.Set("X-Amz-Content-Sha256", payload)
	_, err := s.sign(ctx, req, payload, t)
	return err
}
