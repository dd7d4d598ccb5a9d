package proxy

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// TestPostObjectMinioGo: minio-go's PresignedPostPolicy, its fields sent
// in a form with the file last, as its documentation shows, in front of
// each backend.
func TestPostObjectMinioGo(t *testing.T) { forEachBackend(t, postObjectMinioGo) }

func postObjectMinioGo(t *testing.T, tp *testProxy) {
	bucket := tp.newBucket(t)
	u, _ := url.Parse(tp.srv.URL)
	mc, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(clientAccessKey, clientSecretKey, ""),
		Region: testenv.Region, BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	policy := minio.NewPostPolicy()
	for _, err := range []error{
		policy.SetBucket(bucket),
		policy.SetKey("mc/object"),
		policy.SetExpires(time.Now().UTC().Add(10 * time.Minute)),
		policy.SetContentType("application/octet-stream"),
		policy.SetContentLengthRange(1, 1<<20),
		policy.SetUserMetadata("tool", "minio-go"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	postURL, fields, err := mc.PresignedPostPolicy(context.Background(), policy)
	if err != nil {
		t.Fatal(err)
	}
	var form [][2]string
	for k, v := range fields {
		form = append(form, [2]string{k, v})
	}
	data := randBytes(200000)
	ct, body := formBody(t, form, "object", data)
	resp, out := postTo(t, postURL.String(), ct, body)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("minio-go presigned POST: %s %s", resp.Status, out)
	}
	got, gout := getAll(t, tp.client, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("mc/object")})
	mustEqual(t, "GET after minio-go POST", got, data)
	if gout.Metadata["tool"] != "minio-go" {
		t.Errorf("metadata %v", gout.Metadata)
	}
	raw, _ := storedIn(t, tp.backend, bucket, "mc/object")
	if bytes.Equal(raw, data) {
		t.Fatal("stored plaintext")
	}
}
