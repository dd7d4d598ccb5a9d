package proxy

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestBackendErrorsOnWrite: a backend that refuses a streamed upload
// early (no such bucket) is answered with its error, not a hang.
func TestBackendErrorsOnWrite(t *testing.T) {
	tp := newTestProxy(t)
	ctx := context.Background()
	for _, n := range []int{10, 4 << 20} {
		_, err := tp.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("no-such-bucket-x"), Key: aws.String("k"), Body: bytes.NewReader(randBytes(n))})
		wantCode(t, fmt.Sprintf("PUT %d bytes into a missing bucket", n), err, "NoSuchBucket")
	}
	_, err := tp.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("no-such-bucket-x"), Key: aws.String("k")})
	wantCode(t, "CreateMultipartUpload in a missing bucket", err, "NoSuchBucket")
	if err := tp.CheckUpstream(ctx); err != nil {
		t.Errorf("CheckUpstream against a live backend: %v", err)
	}
}
