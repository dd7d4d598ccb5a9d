package proxy

import (
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/bucketkey/bucketkey/s3err"
)

// FuzzCheckCompleteParts feeds the CompleteMultipartUpload parser (a
// client's XML body) arbitrary bytes: it must not panic, and whatever it
// accepts names parts 1..N in order.
func FuzzCheckCompleteParts(f *testing.F) {
	f.Add([]byte(`<CompleteMultipartUpload><Part><ETag>"e"</ETag><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>01</PartNumber></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><CompleteMultipartUpload>&a;</CompleteMultipartUpload>`))
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		err := checkCompleteParts(doc)
		if err == nil {
			return
		}
		if e := s3err.As(err); e == nil || e.Status != http.StatusBadRequest {
			t.Fatalf("checkCompleteParts error %v is not a 400 S3 error", err)
		}
	})
}

// FuzzParseSSE feeds the SSE request headers (the KMS key id and the
// base64 JSON encryption context) arbitrary values: no panic, every refusal
// a 400, and an accepted context never redefines the bucket's ARN.
func FuzzParseSSE(f *testing.F) {
	ctx := base64.StdEncoding.EncodeToString([]byte(`{"team":"a"}`))
	f.Add("aws:kms", "alias/x", ctx)
	f.Add("aws:kms", "", base64.StdEncoding.EncodeToString([]byte(`{"aws:s3:arn":"arn:aws:s3:::other"}`)))
	f.Add("AES256", "", "")
	f.Add("", "k", "")
	f.Add("aws:kms", "", "not base64")
	f.Add("aws:kms", "", base64.StdEncoding.EncodeToString([]byte(`{"a":1}`)))
	f.Fuzz(func(t *testing.T, alg, keyID, rawCtx string) {
		h := http.Header{}
		h.Set("X-Amz-Server-Side-Encryption", alg)
		h.Set("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", keyID)
		h.Set("X-Amz-Server-Side-Encryption-Context", rawCtx)
		s, err := parseSSE(h, "bucket")
		if err != nil {
			if e := s3err.As(err); e == nil || e.Status != http.StatusBadRequest {
				t.Fatalf("parseSSE error %v is not a 400 S3 error", err)
			}
			return
		}
		if _, ok := s.context["aws:s3:arn"]; ok {
			t.Fatalf("accepted context %v keeps aws:s3:arn", s.context)
		}
	})
}
