// Package s3err is the S3 error vocabulary shared by the proxy's layers: a
// typed error carrying S3's code and HTTP status, and its XML encoding.
//
// The lower packages (sigv4, keycache) return *s3err.Error for failures a
// client must see with a specific S3 code; the proxy writes them with Write.
// Anything else the proxy reports as 500 InternalError, without details, so
// that no internal message (which might name a key or a path) reaches a
// client.
package s3err

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

// Error is an S3 error: a code from S3's vocabulary, the HTTP status S3 uses
// for it, a human message, and optional extra elements some codes carry
// (Region for AuthorizationHeaderMalformed, ServerTime for
// RequestTimeTooSkewed, ...).
type Error struct {
	Code    string
	Message string
	Status  int
	// RetryAfter, when positive, is sent as a Retry-After header (seconds).
	RetryAfter time.Duration
	// Extra holds additional XML elements, in order, e.g. {"Region", "eu-west-1"}.
	Extra [][2]string
	// Err is the underlying cause, for logs and errors.Is; never sent to clients.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// With returns a copy of e with the message replaced.
func (e *Error) With(msg string) *Error {
	c := *e
	c.Message = msg
	return &c
}

// Wrap returns a copy of e whose cause is err.
func (e *Error) Wrap(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

// WithExtra returns a copy of e with an extra XML element appended.
func (e *Error) WithExtra(name, value string) *Error {
	c := *e
	c.Extra = append(append([][2]string(nil), e.Extra...), [2]string{name, value})
	return &c
}

// Is lets errors.Is(err, s3err.SignatureDoesNotMatch) match on the code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// As returns the *Error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

func def(code string, status int, msg string) *Error {
	return &Error{Code: code, Status: status, Message: msg}
}

// The codes the proxy uses, with S3's statuses and default messages.
var (
	AccessDenied                      = def("AccessDenied", 403, "Access Denied")
	AuthorizationHeaderMalformed      = def("AuthorizationHeaderMalformed", 400, "The authorization header is malformed.")
	AuthorizationQueryParametersError = def("AuthorizationQueryParametersError", 400, "Error parsing the X-Amz-Credential parameter.")
	BadDigest                         = def("BadDigest", 400, "The Content-MD5 or checksum you specified did not match what we received.")
	BucketAlreadyOwnedByYou           = def("BucketAlreadyOwnedByYou", 409, "Your previous request to create the named bucket succeeded and you already own it.")
	EntityTooLarge                    = def("EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed object size.")
	EntityTooSmall                    = def("EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed size")
	IncompleteBody                    = def("IncompleteBody", 400, "You did not provide the number of bytes specified by the Content-Length HTTP header")
	RequestTimeout                    = def("RequestTimeout", 400, "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.")
	InternalError                     = def("InternalError", 500, "We encountered an internal error. Please try again.")
	InvalidAccessKeyID                = def("InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records.")
	InvalidArgument                   = def("InvalidArgument", 400, "Invalid Argument")
	InvalidChunkSizeError             = def("InvalidChunkSizeError", 400, "Only the last chunk is allowed to have a size less than 8192 bytes")
	InvalidBucketName                 = def("InvalidBucketName", 400, "The specified bucket is not valid.")
	InvalidDigest                     = def("InvalidDigest", 400, "The Content-MD5 you specified was invalid.")
	InvalidObjectState                = def("InvalidObjectState", 403, "The operation is not valid for the current state of the object.")
	InvalidPart                       = def("InvalidPart", 400, "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
	InvalidPartNumber                 = def("InvalidPartNumber", 416, "The requested partnumber is not satisfiable.")
	InvalidPartOrder                  = def("InvalidPartOrder", 400, "The list of parts was not in ascending order. Parts must be ordered by part number.")
	InvalidRange                      = def("InvalidRange", 416, "The requested range is not satisfiable")
	InvalidRequest                    = def("InvalidRequest", 400, "Invalid Request.")
	KMSDisabled                       = def("KMS.DisabledException", 400, "The KMS key is disabled.")
	MalformedXML                      = def("MalformedXML", 400, "The XML you provided was not well-formed or did not validate against our published schema.")
	MetadataTooLarge                  = def("MetadataTooLarge", 400, "Your metadata headers exceed the maximum allowed metadata size")
	MethodNotAllowed                  = def("MethodNotAllowed", 405, "The specified method is not allowed against this resource.")
	MissingContentLength              = def("MissingContentLength", 411, "You must provide the Content-Length HTTP header.")
	MissingSecurityHeader             = def("MissingSecurityHeader", 400, "Your request was missing a required header.")
	NoSuchBucket                      = def("NoSuchBucket", 404, "The specified bucket does not exist.")
	NoSuchKey                         = def("NoSuchKey", 404, "The specified key does not exist.")
	NoSuchUpload                      = def("NoSuchUpload", 404, "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
	NotImplemented                    = def("NotImplemented", 501, "A header you provided implies functionality that is not implemented.")
	PreconditionFailed                = def("PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold.")
	RequestTimeTooSkewed              = def("RequestTimeTooSkewed", 403, "The difference between the request time and the current time is too large.")
	ServiceUnavailable                = def("ServiceUnavailable", 503, "Service is unable to handle request.")
	SignatureDoesNotMatch             = def("SignatureDoesNotMatch", 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	SlowDown                          = def("SlowDown", 503, "Please reduce your request rate.")
	XAmzContentSHA256Mismatch         = def("XAmzContentSHA256Mismatch", 400, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	InvalidEncryptionAlgorithmError   = def("InvalidEncryptionAlgorithmError", 400, "The encryption request you specified is not valid.")
	ExpiredToken                      = def("ExpiredToken", 400, "The provided token has expired.")
	RequestHeaderSectionTooLarge      = def("RequestHeaderSectionTooLarge", 400, "Your request header section exceeds the maximum allowed size.")
	KeyTooLongError                   = def("KeyTooLongError", 400, "Your key is too long.")
	ObjectTampered                    = def("InternalError", 500, "The stored object failed authentication and was not returned.")
	InvalidToken                      = def("InvalidToken", 400, "The provided token is malformed or otherwise invalid.")
	MalformedTrailerError             = def("MalformedTrailerError", 400, "The request contained trailing data that was not well-formed or did not conform to our published schema.")
)

// BadRequest is S3's answer to an object key whose "." and ".." segments
// climb out of the bucket ("../k", "a/../../k", "."): status 400 and no
// body. Its code and message are what botocore (the AWS CLI, boto3) reads
// from that answer, and what versitygw writes, so that a client which
// needs a body sees what it would make of S3's.
var BadRequest = def("400", 400, "Bad Request")

// Body encodes e as S3's error document, in S3's element order: Code,
// Message, the code's extra elements, RequestId, HostId (HostID of the
// request id). Like S3 today it names no Resource: the elements a code
// needs (BucketName, Key, UploadId, ...) are its extras.
func (e *Error) Body(requestID string) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<Error>")
	element(&b, "Code", e.Code)
	element(&b, "Message", e.Message)
	for _, kv := range e.Extra {
		element(&b, kv[0], kv[1])
	}
	element(&b, "RequestId", requestID)
	element(&b, "HostId", HostID(requestID))
	b.WriteString("</Error>")
	return b.Bytes()
}

func element(b *bytes.Buffer, name, value string) {
	b.WriteString("<" + name + ">")
	escapeText(b, value)
	b.WriteString("</" + name + ">")
}

// escapeText writes s as XML character data the way S3 does: only &, <
// and > (and \r, which a parser would otherwise read as \n) are escaped.
// xml.EscapeText also writes " and ' as &#34; and &#39;, which mean the
// same to a parser, but clients that match an error's text (a POST
// policy's failed condition, ["eq", "$key", "a"]) expect S3's bytes.
// A rune XML cannot carry (invalid UTF-8, a control character) becomes
// U+FFFD, as xml.EscapeText does, so the body stays well-formed.
func escapeText(b *bytes.Buffer, s string) {
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\r':
			b.WriteString("&#xD;")
		case r == utf8.RuneError && size == 1, !xmlChar(r):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
}

// xmlChar reports whether r may appear in XML 1.0 character data (the
// Char production of the XML specification).
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// InvalidArgumentFor is S3's InvalidArgument naming the argument at fault
// and its value (ArgumentName, ArgumentValue).
func InvalidArgumentFor(msg, name, value string) *Error {
	return InvalidArgument.With(msg).WithExtra("ArgumentName", name).WithExtra("ArgumentValue", value)
}

// The resource types S3 names in MethodNotAllowed.
const (
	ResourceService = "SERVICE"
	ResourceBucket  = "BUCKET"
	ResourceObject  = "OBJECT"
	ResourceUpload  = "UPLOAD"
)

// MethodNotAllowedOn is S3's 405 for a method a resource does not serve.
func MethodNotAllowedOn(method, resourceType string) *Error {
	return MethodNotAllowed.WithExtra("Method", method).WithExtra("ResourceType", resourceType)
}

// Write sends err to w as S3 error XML. Errors that are not *Error become
// 500 InternalError with the default message. HEAD requests get the status
// and headers but no body, as S3 does.
func Write(w http.ResponseWriter, r *http.Request, err error, requestID string) {
	e := As(err)
	if e == nil {
		e = InternalError
	}
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("x-amz-request-id", requestID)
	h.Set("x-amz-id-2", HostID(requestID))
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	if r != nil && r.Method == http.MethodHead {
		h.Del("Content-Type")
		w.WriteHeader(e.Status)
		return
	}
	body := e.Body(requestID)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// HostID is the host id S3 answers with a request id (the x-amz-id-2
// header, an error's HostId): opaque base64. Derived from the request
// id, it names the same request wherever it is written, without state.
func HostID(requestID string) string {
	// Built on the stack: every answer carries one (x-amz-id-2), so
	// only the result is allocated.
	var in [64]byte
	sum := sha256.Sum256(append(append(in[:0], "bucketkey host id "...), requestID...))
	var out [44]byte // base64.StdEncoding.EncodedLen(sha256.Size)
	base64.StdEncoding.Encode(out[:], sum[:])
	return string(out[:])
}
