package e2e

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// multipartUpload uploads parts of data (5 MiB each but the last) to
// bucket/key through c and returns the upload ID and the Complete input.
func multipartUpload(t *testing.T, c *s3.Client, bucket, key string, data []byte) *s3.CompleteMultipartUploadInput {
	t.Helper()
	ctx := ctxFor(t, 2*time.Minute)
	cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	var parts []types.CompletedPart
	for i, off := int32(1), 0; off < len(data); i, off = i+1, off+5<<20 {
		end := min(off+5<<20, len(data))
		up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId,
			PartNumber: aws.Int32(i), Body: bytes.NewReader(data[off:end])})
		if err != nil {
			t.Fatalf("UploadPart %d: %v", i, err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(i), ETag: up.ETag})
	}
	return &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}
}

// TestCompleteMultipartUploadAgain: a CompleteMultipartUpload sent again
// after it succeeded (as SDKs do when the first answer is lost) succeeds
// with the object's ETag, as on S3; once the object under the key is
// another one, or after an abort, it is NoSuchUpload. The same steps run
// directly against the backend, to tell its behaviour from the proxy's.
func TestCompleteMultipartUploadAgain(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		data := randBytes(5<<20 + 1000)
		for _, side := range []struct {
			name string
			c    *s3.Client
		}{{"proxy", e.client}, {"direct", e.backend}} {
			t.Run(side.name, func(t *testing.T) {
				ctx := ctxFor(t, time.Minute)
				key := "again-" + side.name
				in := multipartUpload(t, side.c, b, key, data)
				first, err := side.c.CompleteMultipartUpload(ctx, in)
				if err != nil {
					t.Fatalf("CompleteMultipartUpload: %v", err)
				}
				again, err := side.c.CompleteMultipartUpload(ctx, in)
				if side.name == "direct" {
					// The backend's own answer, for the record: S3 answers
					// success, versitygw and MinIO may not.
					t.Logf("%s: Complete sent again: err %v", o.backend, err)
					return
				}
				if err != nil {
					t.Fatalf("CompleteMultipartUpload sent again: %v", err)
				}
				if aws.ToString(again.ETag) != aws.ToString(first.ETag) || aws.ToString(again.ETag) == "" {
					t.Errorf("ETag sent again %s, first %s", aws.ToString(again.ETag), aws.ToString(first.ETag))
				}
				if aws.ToString(again.Key) != key || aws.ToString(again.Bucket) != b {
					t.Errorf("answer names %s/%s", aws.ToString(again.Bucket), aws.ToString(again.Key))
				}
				head, err := side.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: &key})
				if err != nil || aws.ToString(head.ETag) != aws.ToString(first.ETag) {
					t.Fatalf("HEAD: ETag %s, err %v; Complete said %s", aws.ToString(head.ETag), err, aws.ToString(first.ETag))
				}
				mustEqual(t, "object", e.get(b, key), data)

				// Another object under the key: the upload is gone.
				e.put(b, key, []byte("something else"))
				_, err = side.c.CompleteMultipartUpload(ctx, in)
				if apiCode(err) != "NoSuchUpload" {
					t.Errorf("Complete after the key was overwritten: %v, want NoSuchUpload", err)
				}
				// An aborted upload never completes.
				ab := multipartUpload(t, side.c, b, key+"-aborted", data[:1000])
				if _, err := side.c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b, Key: ab.Key, UploadId: ab.UploadId}); err != nil {
					t.Fatal(err)
				}
				if _, err := side.c.CompleteMultipartUpload(ctx, ab); apiCode(err) != "NoSuchUpload" {
					t.Errorf("Complete after Abort: %v, want NoSuchUpload", err)
				}
			})
		}
	})
}

// TestEmptyMetadataValue: user metadata with an empty value
// ("x-amz-meta-a:") is stored and returned, on PutObject, CopyObject with
// REPLACE and CreateMultipartUpload, as S3 does.
func TestEmptyMetadataValue(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		for _, side := range []struct {
			name string
			c    *s3.Client
		}{{"proxy", e.client}, {"direct", e.backend}} {
			t.Run(side.name, func(t *testing.T) {
				ctx := ctxFor(t, time.Minute)
				meta := map[string]string{"empty": "", "full": "v"}
				check := func(what, key string) {
					t.Helper()
					h, err := side.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: &key})
					if err != nil {
						t.Fatalf("%s: HEAD: %v", what, err)
					}
					v, ok := h.Metadata["empty"]
					if side.name == "direct" {
						t.Logf("%s: %s: backend returns the empty entry: %v (metadata %v)", o.backend, what, ok, h.Metadata)
						return
					}
					if !ok || v != "" || h.Metadata["full"] != "v" {
						t.Errorf("%s: metadata %v, want %v", what, h.Metadata, meta)
					}
				}
				put := "put-" + side.name
				if _, err := side.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: &put, Body: bytes.NewReader([]byte("x")), Metadata: meta}); err != nil {
					t.Fatal(err)
				}
				check("PutObject", put)
				cp := "copy-" + side.name
				if _, err := side.c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b, Key: &cp, CopySource: aws.String(b + "/" + put),
					MetadataDirective: types.MetadataDirectiveReplace, Metadata: meta}); err != nil {
					t.Fatal(err)
				}
				check("CopyObject REPLACE", cp)
				cpc := "copy-copy-" + side.name
				if _, err := side.c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b, Key: &cpc, CopySource: aws.String(b + "/" + put)}); err != nil {
					t.Fatal(err)
				}
				check("CopyObject COPY", cpc)
				mp := "mp-" + side.name
				cr, err := side.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: &mp, Metadata: meta})
				if err != nil {
					t.Fatal(err)
				}
				up, err := side.c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &b, Key: &mp, UploadId: cr.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("y"))})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := side.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &b, Key: &mp, UploadId: cr.UploadId,
					MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag}}}}); err != nil {
					t.Fatal(err)
				}
				check("CreateMultipartUpload", mp)
			})
		}
		// The header as a client sends it, on the wire: "x-amz-meta-a:".
		ctx := ctxFor(t, time.Minute)
		h := http.Header{"X-Amz-Meta-A": {""}}
		if r := e.send(e.signedPut(ctx, "/"+b+"/raw", []byte("z"), h)); r.status != 200 {
			t.Fatalf("PUT with x-amz-meta-a: (empty): %s", r)
		}
		r := e.send(e.signed(ctx, http.MethodHead, "/"+b+"/raw"))
		if v, ok := r.header["X-Amz-Meta-A"]; r.status != 200 || !ok || len(v) != 1 || v[0] != "" {
			t.Errorf("HEAD: %d, x-amz-meta-a %q (present %v), want one empty value", r.status, v, ok)
		}
	})
}
