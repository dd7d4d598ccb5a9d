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
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
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
	data := randBytes(200000)
	policy := minio.NewPostPolicy()
	for _, err := range []error{
		policy.SetBucket(bucket),
		policy.SetKey("mc/object"),
		policy.SetExpires(time.Now().UTC().Add(10 * time.Minute)),
		policy.SetContentType("application/octet-stream"),
		policy.SetContentLengthRange(1, 1<<20),
		policy.SetUserMetadata("tool", "minio-go"),
		policy.SetChecksum(minio.ChecksumCRC32C.ChecksumBytes(data)),
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
	// The form's checksum is the object's, as a PutObject's header
	// checksum: answered on request (minio-go's testPresignedPostPolicy).
	want := minio.ChecksumCRC32C.ChecksumBytes(data).Encoded()
	if got := resp.Header.Get("X-Amz-Checksum-Crc32c"); got != want {
		t.Errorf("POST answered x-amz-checksum-crc32c %q, want %q", got, want)
	}
	head, err := tp.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("mc/object"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ChecksumCRC32C) != want || head.ChecksumType != types.ChecksumTypeFullObject {
		t.Errorf("HEAD after POST: checksum %q type %q, want %q FULL_OBJECT", aws.ToString(head.ChecksumCRC32C), head.ChecksumType, want)
	}

	// A file other than the one the policy's checksum names: S3's 403,
	// its failed condition written with literal quotes, as S3 writes it
	// (minio-go's testPresignedPostPolicyWrongFile matches the text).
	other := randBytes(1000)
	var wrong [][2]string
	for _, f := range form {
		if f[0] == "x-amz-checksum-crc32c" {
			f[1] = minio.ChecksumCRC32C.ChecksumBytes(other).Encoded()
		}
		wrong = append(wrong, f)
	}
	ct, body = formBody(t, wrong, "object", other)
	resp, out = postTo(t, postURL.String(), ct, body)
	if resp.StatusCode != http.StatusForbidden || !bytes.Contains(out, []byte(`Policy Condition failed: ["eq", "$x-amz-checksum-crc32c", "`+want+`"]`)) {
		t.Errorf("POST of another file: %s %s", resp.Status, out)
	}

	// A small file without a checksum gets S3's default, CRC64NVME.
	small := minio.NewPostPolicy()
	for _, err := range []error{small.SetBucket(bucket), small.SetKey("mc/small"), small.SetExpires(time.Now().UTC().Add(10 * time.Minute))} {
		if err != nil {
			t.Fatal(err)
		}
	}
	postURL, fields, err = mc.PresignedPostPolicy(context.Background(), small)
	if err != nil {
		t.Fatal(err)
	}
	form = form[:0]
	for k, v := range fields {
		form = append(form, [2]string{k, v})
	}
	ct, body = formBody(t, form, "object", data[:3000])
	if resp, out := postTo(t, postURL.String(), ct, body); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("small POST: %s %s", resp.Status, out)
	}
	head, err = tp.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("mc/small"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	if want := minio.ChecksumCRC64NVME.ChecksumBytes(data[:3000]).Encoded(); aws.ToString(head.ChecksumCRC64NVME) != want || head.ChecksumType != types.ChecksumTypeFullObject {
		t.Errorf("HEAD after a POST without a checksum: CRC64NVME %q type %q, want %q FULL_OBJECT", aws.ToString(head.ChecksumCRC64NVME), head.ChecksumType, want)
	}
}
