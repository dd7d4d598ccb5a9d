package devstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/bucketkey/bucketkey/sigv4"
)

// newClient returns an aws-sdk-go-v2 client for a store started in a fresh
// directory, with bucket "dev".
func newClient(t *testing.T, o Options) (*s3.Client, *Store) {
	t.Helper()
	st, err := New(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateBucket("dev"); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateBucket("dev"); err != nil { // idempotent
		t.Fatal(err)
	}
	srv := httptest.NewServer(st)
	t.Cleanup(srv.Close)
	c := s3.New(s3.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("devstore-test", "devstore-test-secret", ""),
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
	})
	return c, st
}

func random(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func get(t *testing.T, c *s3.Client, in *s3.GetObjectInput) ([]byte, *s3.GetObjectOutput) {
	t.Helper()
	out, err := c.GetObject(context.Background(), in)
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, out
}

func TestPutGetHeadList(t *testing.T) {
	c, st := newClient(t, Options{})
	ctx := context.Background()
	body := random(t, 100_001)
	_, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("dev"), Key: aws.String("dir/obj"), Body: bytes.NewReader(body),
		Metadata: map[string]string{"bk-test": "v1"},
	})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	got, out := get(t, c, &s3.GetObjectInput{Bucket: aws.String("dev"), Key: aws.String("dir/obj")})
	if !bytes.Equal(got, body) {
		t.Fatalf("GET returned %d bytes, want the %d put", len(got), len(body))
	}
	if out.Metadata["bk-test"] != "v1" {
		t.Errorf("metadata = %v, want bk-test=v1", out.Metadata)
	}
	part, _ := get(t, c, &s3.GetObjectInput{Bucket: aws.String("dev"), Key: aws.String("dir/obj"), Range: aws.String("bytes=10-19")})
	if !bytes.Equal(part, body[10:20]) {
		t.Errorf("ranged GET = %x, want %x", part, body[10:20])
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dev"), Key: aws.String("dir/obj")})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	if aws.ToInt64(head.ContentLength) != int64(len(body)) {
		t.Errorf("HEAD Content-Length = %d, want %d", aws.ToInt64(head.ContentLength), len(body))
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("dev")})
	if err != nil {
		t.Fatalf("ListObjectsV2: %v", err)
	}
	if len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != "dir/obj" || aws.ToInt64(list.Contents[0].Size) != int64(len(body)) {
		t.Errorf("list = %+v, want one dir/obj of %d bytes", list.Contents, len(body))
	}
	// The bytes are on disk, under the directory, as put.
	disk, err := os.ReadFile(filepath.Join(st.Dir(), "buckets", "dev", "dir", "obj"))
	if err != nil || !bytes.Equal(disk, body) {
		t.Errorf("stored file differs from the body (err %v)", err)
	}
}

func TestResponseHidesStoredRequestHeaders(t *testing.T) {
	st, err := New(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateBucket("dev"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(st)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/dev/k", bytes.NewReader([]byte("hello")))
	req.Header.Set("X-Amz-Date", "20250101T000000Z")
	req.Header.Set("X-Amz-Checksum-Crc32", "AAAAAA==")
	req.Header.Set("X-Amz-Meta-Kept", "yes")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT status %d", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL + "/dev/k")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, h := range []string{"X-Amz-Date", "X-Amz-Checksum-Crc32"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("GET echoed request header %s: %q", h, v)
		}
	}
	if resp.Header.Get("X-Amz-Meta-Kept") != "yes" {
		t.Errorf("user metadata lost: %v", resp.Header)
	}
}

func TestMultipartPartNumber(t *testing.T) {
	c, _ := newClient(t, Options{})
	ctx := context.Background()
	b, k := aws.String("dev"), aws.String("big")
	sizes := []int{5 << 20, 5<<20 + 3, 1000} // non-uniform, as the proxy's ciphertext parts are
	create, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: k})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	var whole []byte
	var parts []types.CompletedPart
	for i, n := range sizes {
		data := random(t, n)
		whole = append(whole, data...)
		up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: k, UploadId: create.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(data)})
		if err != nil {
			t.Fatalf("UploadPart %d: %v", i+1, err)
		}
		parts = append(parts, types.CompletedPart{ETag: up.ETag, PartNumber: aws.Int32(int32(i + 1))})
	}
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: create.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	got, out := get(t, c, &s3.GetObjectInput{Bucket: b, Key: k})
	if !bytes.Equal(got, whole) {
		t.Fatalf("GET of the completed object differs")
	}
	if aws.ToString(out.ETag) != aws.ToString(done.ETag) {
		t.Errorf("GET ETag %s, Complete said %s", aws.ToString(out.ETag), aws.ToString(done.ETag))
	}
	for _, list := range []func() (string, error){
		func() (string, error) {
			l, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b, Prefix: k})
			if err != nil || len(l.Contents) != 1 {
				return "", fmt.Errorf("ListObjectsV2: %v, %d entries", err, len(l.Contents))
			}
			return aws.ToString(l.Contents[0].ETag), nil
		},
		func() (string, error) {
			l, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: b, Prefix: k})
			if err != nil || len(l.Contents) != 1 {
				return "", fmt.Errorf("ListObjects: %v, %d entries", err, len(l.Contents))
			}
			return aws.ToString(l.Contents[0].ETag), nil
		},
	} {
		etag, err := list()
		if err != nil {
			t.Fatal(err)
		}
		if etag != aws.ToString(done.ETag) {
			t.Errorf("listed ETag %s, Complete said %s", etag, aws.ToString(done.ETag))
		}
	}
	var off int64
	for i, n := range sizes {
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k, PartNumber: aws.Int32(int32(i + 1))})
		if err != nil {
			t.Fatalf("HEAD partNumber=%d: %v", i+1, err)
		}
		if aws.ToInt64(head.ContentLength) != int64(n) || aws.ToInt32(head.PartsCount) != int32(len(sizes)) {
			t.Errorf("HEAD partNumber=%d: length %d parts %d, want %d and %d", i+1, aws.ToInt64(head.ContentLength), aws.ToInt32(head.PartsCount), n, len(sizes))
		}
		wantRange := "bytes " + itoa(off) + "-" + itoa(off+int64(n)-1) + "/" + itoa(int64(len(whole)))
		if aws.ToString(head.ContentRange) != wantRange {
			t.Errorf("HEAD partNumber=%d: Content-Range %q, want %q", i+1, aws.ToString(head.ContentRange), wantRange)
		}
		if aws.ToString(head.ETag) != aws.ToString(done.ETag) {
			t.Errorf("HEAD partNumber=%d: ETag %s, want %s", i+1, aws.ToString(head.ETag), aws.ToString(done.ETag))
		}
		part, _ := get(t, c, &s3.GetObjectInput{Bucket: b, Key: k, PartNumber: aws.Int32(int32(i + 1))})
		if !bytes.Equal(part, whole[off:off+int64(n)]) {
			t.Errorf("GET partNumber=%d returned other bytes", i+1)
		}
		off += int64(n)
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k, PartNumber: aws.Int32(4)})
	if code := httpStatus(err); code != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("HEAD partNumber past the end: status %d (%v), want 416", code, err)
	}

	// Overwriting with a plain PUT makes it a single-part object again.
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: bytes.NewReader([]byte("small"))}); err != nil {
		t.Fatal(err)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k, PartNumber: aws.Int32(1)})
	if err != nil {
		t.Fatalf("HEAD partNumber=1 of a single-part object: %v", err)
	}
	if aws.ToInt64(head.ContentLength) != 5 || head.PartsCount != nil {
		t.Errorf("single-part HEAD partNumber=1: length %d, parts %v; want 5 and no parts count", aws.ToInt64(head.ContentLength), head.PartsCount)
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k, PartNumber: aws.Int32(2)})
	if code := httpStatus(err); code != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("single-part HEAD partNumber=2: status %d, want 416", code)
	}
}

func TestUnsupportedSubresourceDoesNotOverwrite(t *testing.T) {
	c, _ := newClient(t, Options{})
	ctx := context.Background()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("dev"), Key: aws.String("k"), Body: bytes.NewReader([]byte("keep me"))}); err != nil {
		t.Fatal(err)
	}
	_, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("dev"), Key: aws.String("k"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "NotImplemented" {
		t.Errorf("PutObjectTagging: %v, want NotImplemented", err)
	}
	got, _ := get(t, c, &s3.GetObjectInput{Bucket: aws.String("dev"), Key: aws.String("k")})
	if string(got) != "keep me" {
		t.Errorf("object became %q", got)
	}
}

func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestAuthenticatedStore: with credentials the store refuses unsigned and
// wrongly signed requests, and accepts aws-chunked bodies (the proxy's
// default upstream payload mode) on PutObject and UploadPart, storing the
// decoded bytes.
func TestAuthenticatedStore(t *testing.T) {
	const ak, sk = "devstore-ak", "devstore-secret-0123456789"
	st, err := New(t.TempDir(), Options{Credentials: sigv4.StaticCredentials{ak: sk}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateBucket("dev"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(st)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/dev/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous LIST: %d, want 403", resp.StatusCode)
	}
	bad := s3.New(s3.Options{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(ak, "wrong-secret", ""),
		BaseEndpoint: aws.String(srv.URL), UsePathStyle: true})
	if _, err := bad.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("dev")}); httpStatus(err) != http.StatusForbidden {
		t.Errorf("wrong secret: %v, want 403", err)
	}

	signer := &sigv4.Signer{Credentials: credentials.NewStaticCredentialsProvider(ak, sk, ""), Region: "us-east-1", Mode: sigv4.PayloadChunked}
	send := func(method, path string, body []byte) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if err := signer.SignStream(context.Background(), req, bytes.NewReader(body), int64(len(body))); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	body := random(t, 200_000)
	if resp := send(http.MethodPut, "/dev/chunked", body); resp.StatusCode != 200 {
		t.Fatalf("chunked PUT: %d", resp.StatusCode)
	}
	c := s3.New(s3.Options{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(ak, sk, ""),
		BaseEndpoint: aws.String(srv.URL), UsePathStyle: true})
	if got, _ := get(t, c, &s3.GetObjectInput{Bucket: aws.String("dev"), Key: aws.String("chunked")}); !bytes.Equal(got, body) {
		t.Errorf("chunked PUT stored %d bytes, not the decoded %d", len(got), len(body))
	}

	ctx := context.Background()
	create, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("dev"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	part := random(t, 5<<20)
	resp = send(http.MethodPut, "/dev/mp?partNumber=1&uploadId="+aws.ToString(create.UploadId), part)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("chunked UploadPart: %d", resp.StatusCode)
	}
	last := random(t, 10)
	up2, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("dev"), Key: aws.String("mp"), UploadId: create.UploadId, PartNumber: aws.Int32(2), Body: bytes.NewReader(last)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("dev"), Key: aws.String("mp"), UploadId: create.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
			{PartNumber: aws.Int32(1), ETag: aws.String(resp.Header.Get("ETag"))},
			{PartNumber: aws.Int32(2), ETag: up2.ETag},
		}}}); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dev"), Key: aws.String("mp"), PartNumber: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(head.ContentLength) != 5<<20 || aws.ToInt32(head.PartsCount) != 2 {
		t.Errorf("HEAD part 1 of the chunked upload: length %d, parts %d; want the decoded 5 MiB and 2", aws.ToInt64(head.ContentLength), aws.ToInt32(head.PartsCount))
	}
}

// TestOverwriteReplacesMetadata (issue 12, item 8; failed before: the old
// object's metadata was merged into the new one's): a PUT over an object,
// a copy onto it and a completed multipart upload over it leave exactly
// the new metadata, as S3 does.
func TestOverwriteReplacesMetadata(t *testing.T) {
	c, _ := newClient(t, Options{})
	ctx := context.Background()
	b, k := aws.String("dev"), aws.String("k")
	put := func(meta map[string]string) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader("x"), Metadata: meta}); err != nil {
			t.Fatal(err)
		}
	}
	want := func(what string, meta map[string]string) {
		t.Helper()
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k})
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(h.Metadata, meta) {
			t.Errorf("%s: metadata %v, want %v", what, h.Metadata, meta)
		}
	}
	put(map[string]string{"bk-ctx": "old", "bk-size": "1"})
	put(map[string]string{"bk-size": "1"})
	want("PUT without a field", map[string]string{"bk-size": "1"})
	put(nil)
	want("PUT without metadata", map[string]string{})

	put(map[string]string{"bk-size": "1", "a": "b"})
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: k, CopySource: aws.String("dev/k"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"bk-mp": "1"}}); err != nil {
		t.Fatal(err)
	}
	want("copy with REPLACE", map[string]string{"bk-mp": "1"})

	put(map[string]string{"bk-size": "1"})
	cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: k, Metadata: map[string]string{"bk-mp": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: k, UploadId: cr.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("part")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag}}}}); err != nil {
		t.Fatal(err)
	}
	want("multipart over a single-part object", map[string]string{"bk-mp": "1"})
}
