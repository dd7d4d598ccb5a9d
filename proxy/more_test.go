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
	"github.com/bucketkey/bucketkey/sigv4"
)

// TestUpstreamPayloadModes: every way of signing streamed ciphertext for
// the backend stores objects that read back.
func TestUpstreamPayloadModes(t *testing.T) {
	for _, mode := range []sigv4.PayloadMode{sigv4.PayloadChunked, sigv4.PayloadUnsignedTrailer, sigv4.PayloadUnsigned} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			tp := newTestProxy(t, func(c *Config) { c.UpstreamPayload = mode })
			b := tp.newBucket(t)
			for _, n := range []int{0, 1<<20 + 1} {
				data := randBytes(n)
				tp.put(t, b, "k", data)
				mustEqual(t, "GET", tp.get(t, b, "k"), data)
			}
			data := tp.uploadParts(t, b, "mp", []int{5 << 20, 10})
			mustEqual(t, "multipart GET", tp.get(t, b, "mp"), data)
		})
	}
}

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

// TestGetObjectAttributes: sizes are plaintext; the checksum is the
// plaintext's the SDK sent (recorded in the envelope), no ciphertext's.
func TestGetObjectAttributes(t *testing.T) {
	tp := newTestProxy(t)
	b := tp.newBucket(t)
	data := randBytes(70000)
	tp.put(t, b, "k", data)
	out, err := tp.client.GetObjectAttributes(context.Background(), &s3.GetObjectAttributesInput{
		Bucket: &b, Key: aws.String("k"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectSize, types.ObjectAttributesEtag, types.ObjectAttributesChecksum},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(out.ObjectSize) != 70000 || out.Checksum == nil || aws.ToString(out.Checksum.ChecksumCRC32) != checksum.Encode(checksum.CRC32.Sum(data)) || aws.ToString(out.ETag) == "" {
		t.Errorf("attributes: size %d checksum %+v etag %q", aws.ToInt64(out.ObjectSize), out.Checksum, aws.ToString(out.ETag))
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

// TestObjectHeadersKept: the object's own headers (content type and
// encoding, cache control, user metadata) survive encryption.
func TestObjectHeadersKept(t *testing.T) {
	tp := newTestProxy(t)
	ctx := context.Background()
	b := tp.newBucket(t)
	data := randBytes(3000)
	if _, err := tp.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &b, Key: aws.String("h"), Body: bytes.NewReader(data),
		ContentType: aws.String("application/x-test"), ContentEncoding: aws.String("gzip"),
		CacheControl: aws.String("max-age=60"), ContentDisposition: aws.String(`attachment; filename="x"`),
		Metadata: map[string]string{"owner": "me"},
	}); err != nil {
		t.Fatal(err)
	}
	got, out := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &b, Key: aws.String("h")})
	mustEqual(t, "GET", got, data)
	if aws.ToString(out.ContentType) != "application/x-test" || aws.ToString(out.ContentEncoding) != "gzip" ||
		aws.ToString(out.CacheControl) != "max-age=60" || aws.ToString(out.ContentDisposition) != `attachment; filename="x"` || out.Metadata["owner"] != "me" {
		t.Errorf("headers: type %q encoding %q cache %q disposition %q meta %v", aws.ToString(out.ContentType), aws.ToString(out.ContentEncoding),
			aws.ToString(out.CacheControl), aws.ToString(out.ContentDisposition), out.Metadata)
	}
	// response-* overrides apply to decrypted reads.
	_, out = getAll(t, tp.client, &s3.GetObjectInput{Bucket: &b, Key: aws.String("h"), ResponseContentType: aws.String("text/x-override"), Range: aws.String("bytes=0-9")})
	if aws.ToString(out.ContentType) != "text/x-override" {
		t.Errorf("response-content-type override: %q", aws.ToString(out.ContentType))
	}
}
