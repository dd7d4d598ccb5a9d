package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/internal/devstore"
	"github.com/bucketkey/bucketkey/keycache/localkey"
	"github.com/bucketkey/bucketkey/sigv4"
)

// newUnitTestProxy is a testProxy for pure tests: its backend is
// internal/devstore on a temporary directory (in process, checking the
// proxy's signatures) and its keys come from the local key provider, so it
// needs no binary. Integration tests use newTestProxy (versitygw, local-kms).
func newUnitTestProxy(t testing.TB, opts ...proxyOption) *testProxy {
	t.Helper()
	const storeAK, storeSK = "AKIDDEVSTORETEST01", "devstore-test-secret-0123456789"
	store, err := devstore.New(t.TempDir(), devstore.Options{
		Credentials: sigv4.StaticCredentials{storeAK: storeSK},
	})
	if err != nil {
		t.Fatal(err)
	}
	backendSrv := httptest.NewServer(store)
	t.Cleanup(backendSrv.Close)
	local, err := localkey.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	up, _ := url.Parse(backendSrv.URL)
	return startTestProxy(t, up, "us-east-1", credentials.NewStaticCredentialsProvider(storeAK, storeSK, ""), local, local.KeyID(), opts...)
}

// TestUnitRoundTrip: PUT, GET, ranged GET, HEAD, multipart and LIST through
// the proxy over devstore and the local key provider (no binaries).
func TestUnitRoundTrip(t *testing.T) {
	tp := newUnitTestProxy(t)
	ctx := context.Background()
	b := tp.newBucket(t)
	for _, n := range []int{0, 1, 64 << 10, 64<<10 + 1, 1<<20 + 3} {
		data := randBytes(n)
		key := fmt.Sprintf("obj/%d", n)
		tp.put(t, b, key, data)
		mustEqual(t, "GET "+key, tp.get(t, b, key), data)
		head, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: &key})
		if err != nil || aws.ToInt64(head.ContentLength) != int64(n) {
			t.Fatalf("HEAD %s: %v, size %d, want %d", key, err, aws.ToInt64(head.ContentLength), n)
		}
		if n > 10 {
			got, _ := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &b, Key: &key, Range: aws.String("bytes=3-9")})
			mustEqual(t, "ranged GET "+key, got, data[3:10])
		}
	}
	data := tp.uploadParts(t, b, "mp", []int{5 << 20, 10})
	mustEqual(t, "multipart GET", tp.get(t, b, "mp"), data)
	got, _ := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &b, Key: aws.String("mp"), Range: aws.String("bytes=5242870-5242889")})
	mustEqual(t, "multipart ranged GET", got, data[5242870:5242890])
	list, err := tp.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Contents {
		out, err := tp.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if int64(len(body)) != aws.ToInt64(o.Size) {
			t.Errorf("LIST size of %s = %d, GET returns %d bytes", aws.ToString(o.Key), aws.ToInt64(o.Size), len(body))
		}
	}
}
