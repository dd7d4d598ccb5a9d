package sigv4

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/s3err"
)

// Payload hash values of x-amz-content-sha256 other than a hex SHA-256.
const (
	unsignedPayload          = "UNSIGNED-PAYLOAD"
	streamingSigned          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	streamingECDSA           = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
	streamingECDSATrailer    = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"
)

// clientPayload is how a client request protects its body (its
// x-amz-content-sha256 value); PayloadMode is the other direction: how
// Signer protects the body it sends upstream.
type clientPayload uint8

const (
	payloadSHA256 clientPayload = iota
	payloadUnsigned
	payloadChunkedSigned
	payloadChunkedSignedTrailer
	payloadChunkedUnsignedTrailer
)

func (m clientPayload) chunked() bool { return m >= payloadChunkedSigned }
func (m clientPayload) trailer() bool {
	return m == payloadChunkedSignedTrailer || m == payloadChunkedUnsignedTrailer
}

// parsePayload classifies an x-amz-content-sha256 value.
func parsePayload(s string, sum *[32]byte) (clientPayload, *s3err.Error) {
	switch s {
	case unsignedPayload:
		return payloadUnsigned, nil
	case streamingSigned:
		return payloadChunkedSigned, nil
	case streamingSignedTrailer:
		return payloadChunkedSignedTrailer, nil
	case streamingUnsignedTrailer:
		return payloadChunkedUnsignedTrailer, nil
	case streamingECDSA, streamingECDSATrailer:
		return 0, errSigV4a
	}
	if len(s) == 64 {
		if _, err := hex.Decode(sum[:], []byte(s)); err == nil {
			return payloadSHA256, nil
		}
	}
	return 0, s3err.InvalidArgumentFor("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.", "x-amz-content-sha256", s)
}

// wrapBody builds the verifying body reader for the payload mode. h is r's
// header with canonical keys (canonicalHeader).
//
// Every mode goes through here, so this is where the body gets its
// holdBack: no mode can release its final bytes before its checks pass.
func (v *Verifier) wrapBody(r *http.Request, h http.Header, mode clientPayload, wantSHA *[32]byte, key *[32]byte, p *authParams) (*verifiedBody, int64, *s3err.Error) {
	src := r.Body
	if src == nil {
		src = http.NoBody
	}
	vb := &verifiedBody{}
	vb.hold.src = &vb.br
	b := &vb.br
	*b = bodyReader{src: src, body: src, want: r.ContentLength}
	length := r.ContentLength

	if mode == payloadSHA256 {
		if r.ContentLength == 0 || src == http.NoBody {
			// No body: settle the hash now rather than at a read that
			// the caller might never make.
			if *wantSHA != emptySHA256 {
				return nil, 0, sha256Mismatch(wantSHA, &emptySHA256)
			}
			b.want = 0
		} else {
			b.sha = newSHA256()
			b.wantSHA = *wantSHA
		}
	}
	if r.Method == http.MethodPut && !mode.chunked() && r.ContentLength < 0 {
		return nil, 0, s3err.MissingContentLength
	}

	d, derr := parseBodyHeaders(h, mode)
	if derr != nil {
		return nil, 0, derr
	}
	if d.ck != checksumNone {
		b.ck = d.ck.New()
		b.ckAlg = d.ck
		b.ckWant = d.ckWant
	}
	if d.hasMD5 {
		b.md5 = newMD5()
		b.wantMD5 = d.md5
	}
	if mode.chunked() {
		var chain *chainSigner
		if mode == payloadChunkedSigned || mode == payloadChunkedSignedTrailer {
			chain = newChainSigner(key, p.amzDate, p.cred.scope, &p.signature)
		}
		trailerCk := checksumNone
		if d.inTrailer {
			trailerCk = d.ck
		}
		b.dec = newChunkDecoder(src, d.decoded, chain, mode.trailer(), trailerCk)
		if v.minChunk > 0 {
			b.dec.minChunk = v.minChunk
		}
		b.src = b.dec
		b.want = -1 // the decoder enforces the decoded length
		length = d.decoded
	}
	return vb, length, nil
}

// bodyHeaders is what a request's headers declare about its body besides
// the payload mode.
type bodyHeaders struct {
	ck        checksumAlg // the x-amz-checksum-* algorithm, or checksumNone
	ckWant    []byte      // its value from the header; nil if in the trailer or not sent
	inTrailer bool        // the value comes in the aws-chunked trailer
	hasMD5    bool        // Content-MD5 was sent
	md5       [16]byte
	decoded   int64 // x-amz-decoded-content-length for streaming modes, else -1
}

// parseBodyHeaders reads the digest and length headers of a request whose
// payload mode is mode: x-amz-checksum-*, x-amz-trailer,
// x-amz-sdk-checksum-algorithm, Content-MD5 and, for streaming modes,
// x-amz-decoded-content-length. h must have canonical keys
// (canonicalHeader).
func parseBodyHeaders(h http.Header, mode clientPayload) (bodyHeaders, *s3err.Error) {
	d := bodyHeaders{decoded: -1}
	var err *s3err.Error
	d.ck, d.ckWant, d.inTrailer, err = requestChecksum(h, mode)
	if err != nil {
		return bodyHeaders{}, err
	}
	if md := h["Content-Md5"]; len(md) > 0 {
		raw, derr := base64.StdEncoding.DecodeString(md[0])
		if len(md) > 1 || derr != nil || len(raw) != len(d.md5) {
			return bodyHeaders{}, s3err.InvalidDigest.WithExtra("Content-MD5", md[0])
		}
		d.hasMD5 = true
		copy(d.md5[:], raw)
	}
	if mode.chunked() {
		dl := h["X-Amz-Decoded-Content-Length"]
		if len(dl) != 1 {
			return bodyHeaders{}, s3err.MissingContentLength.Wrap(errors.New("sigv4: no x-amz-decoded-content-length"))
		}
		// Digits only, as for X-Amz-Expires: strconv alone takes a sign.
		n, perr := strconv.ParseInt(dl[0], 10, 64)
		if perr != nil || n < 0 || !allDigits(dl[0]) {
			// S3 answers as for a missing one.
			return bodyHeaders{}, s3err.MissingContentLength.Wrap(errors.New("sigv4: x-amz-decoded-content-length is not a non-negative integer"))
		}
		d.decoded = n
	}
	return d, nil
}

var errMultipleChecksums = s3err.InvalidRequest.With("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")

// requestChecksum finds the x-amz-checksum-* the client declared: in a
// header (with its value), or announced in x-amz-trailer (value to come),
// or just named by x-amz-sdk-checksum-algorithm (computed, nothing to
// compare with). h must have canonical keys (canonicalHeader).
func requestChecksum(h http.Header, mode clientPayload) (alg checksumAlg, want []byte, inTrailer bool, err *s3err.Error) {
	for _, a := range checksum.All {
		vals := h[a.CanonicalHeader()]
		if len(vals) == 0 {
			continue
		}
		if alg != checksumNone || len(vals) > 1 {
			return 0, nil, false, errMultipleChecksums
		}
		raw, ok := a.Decode(vals[0])
		if !ok {
			return 0, nil, false, s3err.InvalidRequest.With("Value for " + a.Header() + " header is invalid.")
		}
		alg, want = a, raw
	}
	if tr := h["X-Amz-Trailer"]; len(tr) > 0 {
		if !mode.trailer() {
			return 0, nil, false, s3err.InvalidRequest.With("x-amz-trailer is only valid with a STREAMING-*-TRAILER x-amz-content-sha256.")
		}
		for _, list := range tr {
			for _, name := range strings.Split(list, ",") {
				name = strings.TrimSpace(name)
				if name == "" {
					continue
				}
				a := checksum.ByHeader(name)
				if a == checksumNone {
					return 0, nil, false, s3err.InvalidRequest.With("The trailer " + name + " is not supported; only x-amz-checksum-* trailers are.")
				}
				if alg != checksumNone {
					return 0, nil, false, s3err.InvalidRequest.With("Expecting a single x-amz-checksum- header or trailer. Multiple checksum Types are not allowed.")
				}
				alg, inTrailer = a, true
			}
		}
	}
	if sdk := h["X-Amz-Sdk-Checksum-Algorithm"]; len(sdk) > 0 {
		a := checksum.ByName(strings.TrimSpace(sdk[0]))
		switch {
		case len(sdk) > 1 || a == checksumNone:
			return 0, nil, false, s3err.InvalidRequest.With("Value for x-amz-sdk-checksum-algorithm header is invalid.")
		case alg != checksumNone && a != alg:
			return 0, nil, false, s3err.InvalidRequest.With("Value for x-amz-sdk-checksum-algorithm header is invalid; it does not match the x-amz-checksum- header or trailer.")
		}
		alg = a
	}
	return alg, want, inTrailer, nil
}
