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

// parseAuthorization parses an Authorization header value:
//
//	AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=<64 hex>
//
// It checks syntax only. It does not allocate on success.
func parseAuthorization(h string, service string) (authParams, *s3err.Error) {
	var a authParams
	alg, rest, _ := strings.Cut(strings.TrimLeft(h, " "), " ")
	switch alg {
	case algorithmHMAC:
	case algorithmECDSA:
		return a, errSigV4a
	case "AWS":
		return a, errUnsupportedMechanism
	default:
		return a, malformedHeader("the authorization algorithm is not AWS4-HMAC-SHA256.")
	}
	var haveCred, haveSigned, haveSig bool
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		part = strings.TrimSpace(part)
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return a, malformedHeader("expected Credential, SignedHeaders and Signature as name=value pairs.")
		}
		switch name {
		case "Credential":
			if haveCred {
				return a, malformedHeader("Credential appears twice.")
			}
			haveCred = true
			c, msg := parseCredential(value, service)
			if msg != "" {
				return a, malformedHeader(msg)
			}
			a.cred = c
		case "SignedHeaders":
			if haveSigned {
				return a, malformedHeader("SignedHeaders appears twice.")
			}
			haveSigned = true
			if msg := checkSignedHeaders(value); msg != "" {
				return a, malformedHeader(msg)
			}
			a.signedHeaders = value
		case "Signature":
			if haveSig {
				return a, malformedHeader("Signature appears twice.")
			}
			haveSig = true
			if !parseSignature(value, &a.signature) {
				return a, malformedHeader("the signature is not 64 lower-case hexadecimal characters.")
			}
		default:
			return a, malformedHeader("unexpected component " + strconv.Quote(name) + ".")
		}
	}
	if !haveCred || !haveSigned || !haveSig {
		return a, malformedHeader("it must contain Credential, SignedHeaders and Signature.")
	}
	return a, nil
}

// parseCredential parses <access key>/<date>/<region>/<service>/aws4_request.
// The access key is everything before the last four components. It returns a
// message describing the problem, or "".
func parseCredential(s string, service string) (credential, string) {
	var c credential
	rest := s
	var parts [4]string
	for i := 3; i >= 0; i-- {
		j := strings.LastIndexByte(rest, '/')
		if j < 0 {
			return c, "the Credential is not <access key>/<date>/<region>/<service>/aws4_request."
		}
		parts[i] = rest[j+1:]
		rest = rest[:j]
	}
	c.accessKey = rest
	c.date, c.region, c.service = parts[0], parts[1], parts[2]
	c.scope = s[len(rest)+1:]
	switch {
	case c.accessKey == "":
		return c, "the Credential has no access key."
	case parts[3] != scopeTerminal:
		return c, "the Credential should be scoped with a valid terminator: 'aws4_request'."
	case !validScopeDate(c.date):
		return c, "the Credential date is not a valid yyyyMMdd date."
	case c.region == "":
		return c, "the Credential has an empty region."
	case c.service != service:
		return c, "the Credential should be scoped to the correct service: '" + service + "'."
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
