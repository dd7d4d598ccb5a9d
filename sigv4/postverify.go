package sigv4

import (
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/bucketkey/bucketkey/s3err"
)

// PostForm is what a POST Object form says before its file: fields by
// lower-case name (S3 compares field names case-insensitively; each name
// once), and the file's size.
type PostForm struct {
	Fields map[string]string
	Size   int64
}

// ErrPostAnonymous is the cause of the AccessDenied VerifyPost returns for
// a form that carries none of the signature fields: an anonymous upload,
// which the caller refuses or lets the backend judge. errors.Is(err,
// ErrPostAnonymous) tells it from the policy's AccessDenied answers
// (errors.Is with s3err.AccessDenied matches every AccessDenied).
var ErrPostAnonymous = errors.New("sigv4: POST form without signature fields")

// missingPostField is S3's answer to a form without a required field.
func missingPostField(name string) *s3err.Error {
	return s3err.InvalidArgument.
		With("Bucket POST must contain a field named '"+name+"'.  If it is specified, please check the order of the fields.").
		WithExtra("ArgumentName", name).
		WithExtra("ArgumentValue", "")
}

// maxPostSignatureAge is how old a POST form's x-amz-date may be.
const maxPostSignatureAge = time.Hour

func postArgument(name, value, msg string) *s3err.Error {
	return s3err.InvalidArgument.With(msg).WithExtra("ArgumentName", name).WithExtra("ArgumentValue", value)
}

// VerifyPost authenticates a SigV4 browser-based upload (POST Object): the
// signature fields, then the signature over the policy field as sent,
// then the policy itself against the form (Check). It returns the
// authenticated caller with Body reading file (size bytes) and verifying
// any Content-MD5 or x-amz-checksum-* field against it, as Verify does for
// headers; the caller substitutes ${filename} in the key field first.
//
// A form with none of the signature fields is ErrPostAnonymous. Errors are
// *s3err.Error with S3's codes, in S3's order: missing fields (400
// InvalidArgument), the credential and signature (403), the policy
// document (400 InvalidPolicyDocument), its conditions (403 AccessDenied,
// 400 EntityTooSmall/EntityTooLarge).
func (v *Verifier) VerifyPost(f PostForm, bucket string, file io.Reader) (*Authenticated, error) {
	a, err := v.verifyPost(f, bucket, file)
	if err != nil {
		return nil, err
	}
	return a, nil
}

func (v *Verifier) verifyPost(f PostForm, bucket string, file io.Reader) (*Authenticated, *s3err.Error) {
	fl := f.Fields
	if _, ok := fl["x-amz-security-token"]; ok {
		return nil, errSessionToken
	}
	anySig := false
	for _, n := range []string{"x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature", "awsaccesskeyid", "signature"} {
		if _, ok := fl[n]; ok {
			anySig = true
		}
	}
	if !anySig {
		return nil, s3err.AccessDenied.Wrap(ErrPostAnonymous)
	}
	if _, ok := fl["awsaccesskeyid"]; ok {
		return nil, errUnsupportedMechanism
	}
	// S3 names the fields as its POST documentation does, in lower case.
	for _, n := range []string{"x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature", "policy"} {
		if _, ok := fl[n]; !ok {
			return nil, missingPostField(n)
		}
	}
	if alg := fl["x-amz-algorithm"]; alg != algorithmHMAC {
		return nil, postArgument("X-Amz-Algorithm", alg, "Only AWS4-HMAC-SHA256 is supported")
	}
	credText := fl["x-amz-credential"]
	cred, msg := parseCredential(credText, v.scopeService())
	if msg != "" {
		return nil, postArgument("x-amz-credential", credText, msg)
	}
	if cred.region != v.Region {
		return nil, postArgument("x-amz-credential", credText, "the region '"+cred.region+"' is wrong; expecting '"+v.Region+"'").WithExtra("Region", v.Region)
	}
	amzDate := fl["x-amz-date"]
	signed, ok := parseAmzDate(amzDate)
	if !ok {
		return nil, postArgument("X-Amz-Date", amzDate, "X-Amz-Date must be formated via ISO8601 Long format")
	}
	if v.now().Sub(signed) > maxPostSignatureAge {
		// S3 refuses a form signed over an hour ago as an expired
		// policy, whatever the policy's own expiration.
		return nil, errPolicyExpired
	}
	if amzDate[:8] != cred.date {
		return nil, postArgument("x-amz-credential", credText, "Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	secret, ok := v.Credentials.Secret(cred.accessKey)
	if !ok {
		return nil, s3err.InvalidAccessKeyID.WithExtra("AWSAccessKeyId", cred.accessKey)
	}
	policy := fl["policy"]
	if !hmac.Equal([]byte(PostSignature(secret, cred.date, cred.region, policy)), []byte(fl["x-amz-signature"])) {
		return nil, s3err.SignatureDoesNotMatch.
			WithExtra("AWSAccessKeyId", cred.accessKey).
			WithExtra("StringToSign", policy).
			WithExtra("SignatureProvided", fl["x-amz-signature"]).
			WithExtra("StringToSignBytes", spacedHex([]byte(policy)))
	}
	p, perr := ParsePostPolicy(policy)
	if perr != nil {
		return nil, perr
	}
	if err := p.Check(fl, bucket, f.Size, v.now()); err != nil {
		return nil, err
	}
	return v.postBody(fl, file, f.Size, cred.accessKey)
}

// postBody wraps the file in the same verifying reader as a PutObject's
// body: its length, and the Content-MD5 or x-amz-checksum-* fields.
func (v *Verifier) postBody(fl map[string]string, file io.Reader, size int64, ak string) (*Authenticated, *s3err.Error) {
	h := make(http.Header)
	for name, val := range fl {
		if name == "content-md5" || strings.HasPrefix(name, "x-amz-checksum-") || name == "x-amz-sdk-checksum-algorithm" {
			h[http.CanonicalHeaderKey(name)] = []string{val}
		}
	}
	r := &http.Request{Method: http.MethodPost, Body: io.NopCloser(file), ContentLength: size, Header: h}
	var none [32]byte
	body, length, err := v.wrapBody(r, h, payloadUnsigned, &none, &none, &authParams{})
	if err != nil {
		return nil, err
	}
	auth := &Authenticated{AccessKey: ak, Body: body, ContentLength: length, Checksum: body.br.checksum}
	if body.br.ckAlg != checksumNone {
		auth.ChecksumAlgorithm = body.br.ckAlg.String()
	}
	return auth, nil
}

// PostSignature is the SigV4 signature of a POST policy: the hex
// HMAC-SHA256 of the base64 policy text, as sent, under the signing key
// of secret for date (yyyymmdd), region and service s3.
func PostSignature(secret, date, region, policyB64 string) string {
	k := deriveKey(secret, date, region, serviceS3)
	sig := hmacSHA256(k[:], policyB64)
	return hex.EncodeToString(sig[:])
}
