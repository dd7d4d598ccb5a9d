package proxy

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/bucketkey/bucketkey/keycache"
	"github.com/bucketkey/bucketkey/s3err"
)

// sseRequest is what a write asked of SSE-KMS.
type sseRequest struct {
	keyID      string            // KMS key for the object; "" for the proxy's default
	context    map[string]string // extra encryption context, nil if none
	rawContext string            // the header as sent, echoed in the response
}

// parseSSE reads a write's SSE headers. The proxy always encrypts, so:
//   - no header, or "aws:kms": SSE-KMS with the given or default key;
//   - "AES256" (SSE-S3) is accepted and served as SSE-KMS with the
//     default key: the client asked for encryption at rest and gets it
//     (the response says aws:kms, which is what happened);
//   - anything else ("aws:kms:dsse", a typo) is 400 InvalidArgument.
//
// A KMS key id or context without aws:kms is refused as S3 refuses it.
// The context is base64 JSON of string values; it may not redefine
// aws:s3:arn, which the proxy sets to the bucket (keycache.BucketContext).
func parseSSE(h http.Header, bucket string) (sseRequest, error) {
	var s sseRequest
	alg := strings.TrimSpace(h.Get("X-Amz-Server-Side-Encryption"))
	keyID := strings.TrimSpace(h.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"))
	rawCtx := strings.TrimSpace(h.Get("X-Amz-Server-Side-Encryption-Context"))
	switch alg {
	case "", "aws:kms":
	case "AES256":
		if keyID != "" || rawCtx != "" {
			return s, s3err.InvalidArgument.With("Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms")
		}
		return s, nil
	default:
		return s, s3err.InvalidArgument.With("The encryption method specified is not supported").WithExtra("ArgumentName", "x-amz-server-side-encryption").WithExtra("ArgumentValue", alg)
	}
	if alg == "" && (keyID != "" || rawCtx != "") {
		return s, s3err.InvalidArgument.With("Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms")
	}
	s.keyID = keyID
	if rawCtx != "" {
		js, err := base64.StdEncoding.DecodeString(rawCtx)
		if err != nil {
			return s, s3err.InvalidArgument.With("The encryption context is not valid base64.").Wrap(err)
		}
		var m map[string]string
		if err := json.Unmarshal(js, &m); err != nil {
			return s, s3err.InvalidArgument.With("The encryption context must be a JSON object of string values.").Wrap(err)
		}
		arn := keycache.BucketContext(bucket)["aws:s3:arn"]
		for k, v := range m {
			if k == "" {
				return s, s3err.InvalidArgument.With("The encryption context has an empty key.")
			}
			if k == "aws:s3:arn" {
				if v != arn {
					return s, s3err.InvalidArgument.With("The encryption context may not change aws:s3:arn.")
				}
				delete(m, k) // implied: every bucket key is bound to its bucket
			}
		}
		if len(m) > 0 {
			s.context = m
			s.rawContext = rawCtx
		}
	}
	return s, nil
}

// setSSEHeaders answers like S3 does for an SSE-KMS object under a bucket
// key: the algorithm, the KMS key (as KMS reported it) and whether a bucket
// key was used.
func (p *Proxy) setSSEHeaders(h http.Header, keyID string) {
	enabled := "true"
	if p.cfg.NoBucketKey {
		enabled = "false"
	}
	// One allocation for the three values (Header.Set makes one each).
	v := []string{"aws:kms", enabled, keyID}
	h["X-Amz-Server-Side-Encryption"] = v[0:1:1]
	h["X-Amz-Server-Side-Encryption-Bucket-Key-Enabled"] = v[1:2:2]
	if keyID != "" {
		h["X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"] = v[2:3:3]
	}
}
