package proxy

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/internal/testenv"
)

// TestPutGetRoundTrip: plaintext in = plaintext out across segment
// boundaries; HEAD reports plaintext sizes; the backend holds ciphertext of
// exactly CiphertextSize(n) bytes and none of the plaintext; responses say
// SSE-KMS with a bucket key and carry the client's plaintext checksum.
func TestPutGetRoundTrip(t *testing.T) {
	tp := newTestProxy(t)
	ctx := context.Background()
	bucket := tp.newBucket(t)
	for _, n := range []int{0, 1, 16, 64<<10 - 1, 64 << 10, 64<<10 + 1, 1<<20 + 1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data := randBytes(n)
			key := fmt.Sprintf("obj/%d", n)
			put := tp.put(t, bucket, key, data)
			if put.ServerSideEncryption != types.ServerSideEncryptionAwsKms {
				t.Errorf("PUT x-amz-server-side-encryption = %q, want aws:kms", put.ServerSideEncryption)
			}
			if !aws.ToBool(put.BucketKeyEnabled) {
				t.Error("PUT bucket-key-enabled not true")
			}
			if !contains(aws.ToString(put.SSEKMSKeyId), testenv.KMSKeyID) {
				t.Errorf("PUT kms key id = %q, want the ARN of %s", aws.ToString(put.SSEKMSKeyId), testenv.KMSKeyID)
			}
			if put.ChecksumCRC32 == nil && put.ChecksumCRC64NVME == nil && put.ChecksumCRC32C == nil {
				t.Error("PUT answered no checksum although the SDK sent one")
			}
			got, out := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &bucket, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
			mustEqual(t, "GET", got, data)
			if aws.ToInt64(out.ContentLength) != int64(n) {
				t.Errorf("GET Content-Length %d, want %d", aws.ToInt64(out.ContentLength), n)
			}
			if aws.ToString(out.ETag) != aws.ToString(put.ETag) {
				t.Errorf("GET ETag %s, PUT ETag %s", aws.ToString(out.ETag), aws.ToString(put.ETag))
			}
			head, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToInt64(head.ContentLength) != int64(n) {
				t.Errorf("HEAD Content-Length %d, want %d", aws.ToInt64(head.ContentLength), n)
			}
			if aws.ToString(head.ETag) != aws.ToString(put.ETag) || head.ServerSideEncryption != types.ServerSideEncryptionAwsKms {
				t.Errorf("HEAD ETag %s SSE %q, PUT ETag %s", aws.ToString(head.ETag), head.ServerSideEncryption, aws.ToString(put.ETag))
			}
			l, err := tp.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &key})
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Contents) != 1 || aws.ToString(l.Contents[0].ETag) != aws.ToString(put.ETag) || aws.ToInt64(l.Contents[0].Size) != int64(n) {
				t.Errorf("LIST %+v, want ETag %s size %d", l.Contents, aws.ToString(put.ETag), n)
			}
			// The checksum is the plaintext's the SDK sent (CRC32), recorded
			// in the envelope, never the backend's of the ciphertext.
			if head.ChecksumCRC64NVME != nil || aws.ToString(head.ChecksumCRC32) != checksum.Encode(checksum.CRC32.Sum(data)) || head.ChecksumType != types.ChecksumTypeFullObject {
				t.Errorf("HEAD checksums CRC32 %q CRC64NVME %q type %q, want the plaintext's CRC32", aws.ToString(head.ChecksumCRC32), aws.ToString(head.ChecksumCRC64NVME), head.ChecksumType)
			}
			for k := range head.Metadata {
				if isEnvelopeHeader("x-amz-meta-" + k) {
					t.Errorf("HEAD leaked envelope metadata %q", k)
				}
			}
			raw, sout := stored(t, bucket, key)
			want := new(envelope.DataKey).StoredSize(0, int64(n))
			if n == 0 {
				want = 0 // an empty object is stored empty
			}
			if int64(len(raw)) != want {
				t.Errorf("backend holds %d bytes, want %d", len(raw), want)
			}
			if n >= 16 && bytes.Contains(raw, data[:16]) {
				t.Error("backend bytes contain plaintext")
			}
			if _, err := envelope.ParseMetadata(metaHeader(sout.Metadata)); err != nil {
				t.Errorf("backend metadata: %v", err)
			}
		})
	}
}

// TestConcurrentClients: many clients writing and reading at once, under
// the race detector, all get their own bytes back.
func TestConcurrentClients(t *testing.T) {
	tp := newTestProxy(t)
	b := tp.newBucket(t)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for j := range 4 {
				key := fmt.Sprintf("c%d/%d", i, j)
				data := randBytes(1000*i + 100*j)
				if _, err := tp.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: &key, Body: bytes.NewReader(data)}); err != nil {
					errs <- err
					return
				}
				out, err := tp.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: &key})
				if err != nil {
					errs <- err
					return
				}
				got := new(bytes.Buffer)
				_, err = got.ReadFrom(out.Body)
				out.Body.Close()
				if err != nil || !bytes.Equal(got.Bytes(), data) {
					errs <- fmt.Errorf("%s: read back %d bytes (%v), want %d", key, got.Len(), err, len(data))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s := tp.keys.Stats(); s.Total.Actual > 4 {
		t.Errorf("%d KMS requests for 64 objects in one bucket: the bucket key is not shared", s.Total.Actual)
	}
}
