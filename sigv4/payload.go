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

// SignedStreaming reports whether x-amz-content-sha256 value v promises
// signed aws-chunked framing, whose chunk signatures an anonymous request
// cannot carry.
func SignedStreaming(v string) bool {
	switch v {
	case streamingSigned, streamingSignedTrailer, streamingECDSA, streamingECDSATrailer:
		return true
	}
	return false
}

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

// S3's answers to a request's checksum headers, in the order it checks them
// (tried against S3: the Swift s3api suite's input-error tests).
var (
	errMultipleChecksums  = s3err.InvalidRequest.With("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
	errHeaderAndTrailer   = s3err.InvalidRequest.With("Expecting a single x-amz-checksum- header")
	errChecksumType       = s3err.InvalidRequest.With("The algorithm type you specified in x-amz-checksum- header is invalid.")
	errTrailerUnsupported = s3err.InvalidRequest.With("The value specified in the x-amz-trailer header is not supported")
	errSDKAlgorithm       = s3err.InvalidRequest.With("Value for x-amz-sdk-checksum-algorithm header is invalid.")
	errSDKWithoutChecksum = s3err.InvalidRequest.With("x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.")
)

// requestChecksum finds the x-amz-checksum-* the client declared: in a
// header (with its value), or announced in x-amz-trailer (value to come).
// x-amz-sdk-checksum-algorithm only names it: S3 refuses it alone, or
// naming another algorithm. h must have canonical keys (canonicalHeader).
func requestChecksum(h http.Header, mode clientPayload) (alg checksumAlg, want []byte, inTrailer bool, err *s3err.Error) {
	alg, value, err := headerChecksum(h)
	if err != nil {
		return 0, nil, false, err
	}
	if alg != checksumNone {
		raw, ok := alg.Decode(value)
		if !ok {
			return 0, nil, false, s3err.InvalidRequest.With("Value for " + alg.Header() + " header is invalid.")
		}
		want = raw
	}
	if tr := h["X-Amz-Trailer"]; len(tr) > 0 {
		ta, terr := trailerChecksum(strings.Join(tr, ","))
		switch {
		case terr != nil:
			return 0, nil, false, terr
		case ta == checksumNone:
			// An empty x-amz-trailer announces nothing.
		case alg != checksumNone:
			return 0, nil, false, errHeaderAndTrailer
		case !mode.trailer():
			// Announced, but a payload that has no trailer section.
			return 0, nil, false, s3err.MalformedTrailerError
		default:
			alg, inTrailer = ta, true
		}
	}
	if sdk := h["X-Amz-Sdk-Checksum-Algorithm"]; len(sdk) > 0 {
		a := checksum.ByName(strings.TrimSpace(sdk[0]))
		switch {
		case len(sdk) > 1 || a == checksumNone || alg != checksumNone && a != alg:
			return 0, nil, false, errSDKAlgorithm
		case alg == checksumNone:
			return 0, nil, false, errSDKWithoutChecksum
		}
	}
	return alg, want, inTrailer, nil
}

// headerChecksum finds the one x-amz-checksum-<algorithm> header. The
// other x-amz-checksum- headers S3 defines (mode, type, algorithm) are
// not checksums; any other name is an algorithm S3 does not know.
func headerChecksum(h http.Header) (alg checksumAlg, value string, err *s3err.Error) {
	unknown := false
	for k, vals := range h {
		if len(k) <= len("X-Amz-Checksum-") || !strings.EqualFold(k[:len("X-Amz-Checksum-")], "X-Amz-Checksum-") {
			continue
		}
		a := checksum.ByHeader(k)
		switch {
		case a == checksumNone:
			switch strings.ToLower(k[len("X-Amz-Checksum-"):]) {
			case "mode", "type", "algorithm":
			default:
				unknown = true
			}
		case alg != checksumNone || len(vals) > 1:
			return 0, "", errMultipleChecksums
		default:
			alg, value = a, vals[0]
		}
	}
	if unknown {
		return 0, "", errChecksumType
	}
	return alg, value, nil
}

// trailerChecksum reads x-amz-trailer as S3 does: names separated by
// commas, empty names at the end dropped, every other one an
// x-amz-checksum-<algorithm>, one at most.
func trailerChecksum(v string) (checksumAlg, *s3err.Error) {
	names := strings.Split(v, ",")
	for len(names) > 0 && names[len(names)-1] == "" {
		names = names[:len(names)-1]
	}
	alg, n := checksumNone, 0
	for _, name := range names {
		a := checksum.ByHeader(strings.TrimSpace(name))
		if a == checksumNone {
			return 0, errTrailerUnsupported
		}
		alg, n = a, n+1
	}
	if n > 1 {
		return 0, errMultipleChecksums
	}
	return alg, nil
}
