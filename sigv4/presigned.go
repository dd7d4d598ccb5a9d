package sigv4

import (
	"strconv"
	"time"

	"github.com/bucketkey/bucketkey/s3err"
)

// The presigned-URL query parameters.
const (
	qAlgorithm     = "X-Amz-Algorithm"
	qCredential    = "X-Amz-Credential"
	qDate          = "X-Amz-Date"
	qExpires       = "X-Amz-Expires"
	qSignedHeaders = "X-Amz-SignedHeaders"
	qSignature     = "X-Amz-Signature"
	qContentSHA256 = "X-Amz-Content-Sha256"
	qSecurityToken = "X-Amz-Security-Token"
)

var errMissingQueryParams = malformedQuery("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")

// isPresigned reports whether the query carries query-string authentication.
func isPresigned(q []queryParam) bool {
	for _, p := range q {
		switch p.key {
		case qAlgorithm, qCredential, qSignature:
			return true
		}
	}
	return false
}

// isPresignedV2 reports whether the query carries SigV2 query-string
// authentication (AWSAccessKeyId, Signature), which S3 refuses as an
// unsupported mechanism rather than taking the request as anonymous.
func isPresignedV2(q []queryParam) bool {
	var key, sig bool
	for _, p := range q {
		key = key || p.key == "AWSAccessKeyId"
		sig = sig || p.key == "Signature"
	}
	return key && sig
}

// parsePresigned extracts and checks the X-Amz-* authentication parameters
// of a presigned URL. Each must appear exactly once.
func parsePresigned(q []queryParam, service string) (authParams, *s3err.Error) {
	a := authParams{presigned: true}
	var vals [7]string
	var seen [7]bool
	for _, p := range q {
		i := -1
		switch p.key {
		case qAlgorithm:
			i = 0
		case qCredential:
			i = 1
		case qDate:
			i = 2
		case qExpires:
			i = 3
		case qSignedHeaders:
			i = 4
		case qSignature:
			i = 5
		case qContentSHA256:
			i = 6
		default:
			continue
		}
		if seen[i] {
			return a, malformedQuery("Query-string authentication parameter " + p.key + " appears more than once.")
		}
		seen[i] = true
		v, ok := unescapeQuery(p.value)
		if !ok {
			return a, malformedQuery("Query-string authentication parameter " + p.key + " is not correctly URL-encoded.")
		}
		vals[i] = v
	}
	for i := 0; i < 6; i++ {
		if !seen[i] {
			return a, errMissingQueryParams
		}
	}
	switch vals[0] {
	case algorithmHMAC:
	case algorithmECDSA:
		return a, malformedQuery(`X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`)
	default:
		return a, malformedQuery(`X-Amz-Algorithm only supports "AWS4-HMAC-SHA256 and AWS4-ECDSA-P256-SHA256"`)
	}
	c, msg := parseCredential(vals[1], service)
	if msg != "" {
		return a, malformedQuery("Error parsing the X-Amz-Credential parameter; " + msg)
	}
	a.cred = c
	a.amzDate = vals[2]
	if _, ok := parseAmzDate(a.amzDate); !ok {
		return a, malformedQuery(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`)
	}
	// Digits only: strconv would also take a sign ("+5"), which S3 does
	// not, and the signed value must mean one thing to every verifier.
	exp, err := strconv.ParseInt(vals[3], 10, 64)
	switch {
	case len(vals[3]) > 0 && vals[3][0] == '-':
		return a, malformedQuery("X-Amz-Expires must be non-negative")
	case err != nil || !allDigits(vals[3]):
		return a, malformedQuery("X-Amz-Expires should be a number")
	case exp < 1:
		return a, malformedQuery("X-Amz-Expires must be at least 1 second.")
	case exp > maxPresignExpires:
		return a, malformedQuery("X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds")
	}
	a.expires = time.Duration(exp) * time.Second
	if msg := checkSignedHeaders(vals[4]); msg != "" {
		return a, malformedQuery("X-Amz-SignedHeaders is malformed: " + msg)
	}
	a.signedHeaders = vals[4]
	if !parseSignature(vals[5], &a.signature) {
		a.badSignature = vals[5]
	}
	if seen[6] {
		a.payload = vals[6]
		if a.payload == "" {
			return a, malformedQuery("X-Amz-Content-Sha256 is empty.")
		}
	}
	return a, nil
}

// allDigits reports whether s is a non-empty run of ASCII decimal digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
