package sigv4

import (
	"strconv"
	"strings"
	"time"

	"github.com/bucketkey/bucketkey/s3err"
)

const (
	algorithmHMAC  = "AWS4-HMAC-SHA256"
	algorithmECDSA = "AWS4-ECDSA-P256-SHA256"
	scopeTerminal  = "aws4_request"
	serviceS3      = "s3"

	// maxPresignExpires is S3's upper bound for X-Amz-Expires: one week.
	maxPresignExpires = 604800
)

// credential is the parsed Credential= / X-Amz-Credential value:
// <access key>/<yyyymmdd>/<region>/<service>/aws4_request.
type credential struct {
	accessKey string
	date      string
	region    string
	service   string
	// scope is "<date>/<region>/<service>/aws4_request", a substring of the
	// credential, used as is in the string to sign.
	scope string
}

// authParams is what a request says about its own signature, before any of
// it is checked against the request or the credentials.
type authParams struct {
	presigned     bool
	cred          credential
	signedHeaders string // "host;x-amz-date", validated: sorted, lowercase, unique
	signature     [32]byte
	// badSignature is a signature that is not 64 lower-case hex digits:
	// it can match nothing, and is reported as SignatureDoesNotMatch.
	badSignature string
	// For presigned URLs only (header auth takes these from headers).
	amzDate string
	expires time.Duration
	// payload is X-Amz-Content-Sha256 from the query of a presigned URL, or "".
	payload string
}

// Error constructors for the two auth mechanisms: S3 reports a malformed
// Authorization header and malformed query parameters with different codes.
func malformedHeader(msg string) *s3err.Error {
	return s3err.AuthorizationHeaderMalformed.With("The authorization header is malformed; " + msg)
}

func malformedQuery(msg string) *s3err.Error {
	return s3err.AuthorizationQueryParametersError.With(msg)
}

// errUnsupportedMechanism is what S3 answers to SigV2 and other schemes in
// regions that only take SigV4. It is deliberately not InvalidArgument:
// s3cmd reacts to InvalidArgument by falling back to SigV2.
var errUnsupportedMechanism = s3err.InvalidRequest.With("The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")

var errSigV4a = s3err.NotImplemented.With("Signature Version 4A (AWS4-ECDSA-P256-SHA256) is not implemented.")

// S3's messages for a malformed Authorization header (after "The
// authorization header is malformed; ").
const (
	msgMissingComponents = "the authorization header requires three components: Credential, SignedHeaders, and Signature."
	msgMalformedCred     = `the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`
)

// parseAuthorization parses an Authorization header value:
//
//	AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=<64 hex>
//
// It checks syntax only, and answers as S3 does: InvalidArgument for a
// header that is not "<algorithm> <components>" or names an unknown
// algorithm, AuthorizationHeaderMalformed for bad components.
func parseAuthorization(h string, service string) (authParams, *s3err.Error) {
	var a authParams
	alg, rest, ok := strings.Cut(h, " ")
	if !ok || alg == "" || strings.TrimSpace(rest) == "" {
		return a, s3err.InvalidArgumentFor("Authorization header is invalid -- one and only one ' ' (space) required.", "Authorization", h)
	}
	switch alg {
	case algorithmHMAC:
	case algorithmECDSA:
		return a, errSigV4a
	case "AWS":
		return a, errUnsupportedMechanism
	default:
		return a, s3err.InvalidArgumentFor("Unsupported Authorization Type", "Authorization", alg)
	}
	var cred, signed, sig string
	var haveCred, haveSigned, haveSig bool
	n := 0
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		part = strings.TrimSpace(part)
		n++
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return a, malformedHeader("the authorization component " + strconv.Quote(part) + " is malformed.")
		}
		switch name {
		case "Credential":
			cred, haveCred = value, true
		case "SignedHeaders":
			signed, haveSigned = value, true
		case "Signature":
			sig, haveSig = value, true
		}
	}
	switch {
	case n != 3:
		return a, malformedHeader(msgMissingComponents)
	case !haveCred:
		return a, malformedHeader("missing Credential.")
	case !haveSigned:
		return a, malformedHeader("missing SignedHeaders.")
	case !haveSig:
		return a, malformedHeader("missing Signature.")
	}
	c, msg := parseCredential(cred, service)
	if msg != "" {
		return a, malformedHeader(msg)
	}
	a.cred = c
	if msg := checkSignedHeaders(signed); msg != "" {
		return a, malformedHeader(msg)
	}
	a.signedHeaders = signed
	if !parseSignature(sig, &a.signature) {
		// S3 compares the signature it computes with this one.
		a.badSignature = sig
	}
	return a, nil
}

// parseCredential parses <access key>/<date>/<region>/<service>/aws4_request:
// exactly five components, as S3 reads it (an access key has no slash).
// It checks, in S3's order, the terminator, the service, then the date,
// and returns S3's message for the first problem, or "".
func parseCredential(s string, service string) (credential, string) {
	var c credential
	var parts [5]string
	rest := s
	for i := range parts {
		var found bool
		parts[i], rest, found = strings.Cut(rest, "/")
		if found != (i < 4) || parts[i] == "" {
			return c, msgMalformedCred
		}
	}
	c.accessKey, c.date, c.region, c.service = parts[0], parts[1], parts[2], parts[3]
	c.scope = s[len(c.accessKey)+1:]
	switch {
	case parts[4] != scopeTerminal:
		return c, "incorrect terminal " + strconv.Quote(parts[4]) + `. This endpoint uses "aws4_request".`
	case c.service != service:
		return c, "incorrect service " + strconv.Quote(c.service) + ". This endpoint belongs to " + strconv.Quote(service) + "."
	case !validScopeDate(c.date):
		return c, "incorrect date format " + strconv.Quote(c.date) + `. This date in the credential must be in the format "yyyyMMdd".`
	}
	return c, ""
}

// checkSignedHeaders validates a SignedHeaders list: non-empty lowercase
// header names, strictly ascending (which also rules out duplicates), as
// every SigV4 signer produces them. Whether required headers are in it is
// checked later, against the request.
func checkSignedHeaders(s string) string {
	if s == "" {
		return "SignedHeaders is empty."
	}
	prev := ""
	for rest := s; ; {
		name, more, found := strings.Cut(rest, ";")
		if name == "" {
			return "SignedHeaders contains an empty header name."
		}
		for i := 0; i < len(name); i++ {
			if c := name[i]; !isTokenChar(c) || ('A' <= c && c <= 'Z') {
				return "SignedHeaders must be lowercase header names."
			}
		}
		if prev != "" && name <= prev {
			return "SignedHeaders must be sorted and unique."
		}
		prev = name
		if !found {
			return ""
		}
		rest = more
	}
}

// signedHeaderSet iterates over a validated SignedHeaders list.
func hasSignedHeader(list, name string) bool {
	for rest := list; rest != ""; {
		var h string
		h, rest, _ = strings.Cut(rest, ";")
		if h == name {
			return true
		}
	}
	return false
}

// hasSignedHeaderFold is hasSignedHeader with a case-insensitive name.
func hasSignedHeaderFold(list, name string) bool {
	for rest := list; rest != ""; {
		var h string
		h, rest, _ = strings.Cut(rest, ";")
		if strings.EqualFold(h, name) {
			return true
		}
	}
	return false
}

// parseSignature decodes a signature (of the Authorization header, the
// presigned query or a chunk) into out: exactly 64 lower-case hex digits.
// S3 compares signatures as strings, in that spelling; so does the proxy,
// so that one signature has one spelling.
func parseSignature[T string | []byte](s T, out *[32]byte) bool {
	if len(s) != 2*len(out) {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	for i := range out {
		out[i] = unhex(s[2*i])<<4 | unhex(s[2*i+1])
	}
	return true
}

// isTokenChar reports whether c may appear in an HTTP header name (RFC 9110
// token).
func isTokenChar(c byte) bool { return tokenChars[c] }

var tokenChars = func() (t [256]bool) {
	for c := 0x21; c < 0x7f; c++ {
		t[c] = !strings.ContainsRune("\"(),/:;<=>?@[\\]{}", rune(c))
	}
	return t
}()
