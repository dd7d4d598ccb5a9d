package proxy

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketkey/bucketkey/internal/testenv"
	"github.com/bucketkey/bucketkey/sigv4"
)

// TestCreateWithoutRecordPermission: a client whose backend identity may
// write only its own prefix (a bucket policy on bucket/bob/*) still makes
// multipart uploads through the proxy: the record it may not write is
// left out, and the upload works by the ID the client was given.
// (versitygw: MinIO applies bucket policies to anonymous requests only.)
func TestCreateWithoutRecordPermission(t *testing.T) {
	needServers(t)
	tag := newBucketName()
	users := []testenv.User{
		{AccessKey: "alice-be-" + tag, SecretKey: "alice-backend-secret-0123456789"},
		{AccessKey: "bob-be-" + tag, SecretKey: "bob-backend-secret-0123456789ab"},
	}
	gw := testenv.BackendWithUsers(t, testenv.Versitygw, users)
	up, _ := url.Parse(gw.URL)
	tp := newTestProxy(t, func(c *Config) {
		c.Upstream = up
		c.ClientCredentials = sigv4.StaticCredentials{"client-alice": "client-alice-secret", "client-bob": "client-bob-secret", clientAccessKey: clientSecretKey}
		c.Identities = &mapIdentities{m: map[string]aws.Credentials{
			"client-alice": {AccessKeyID: users[0].AccessKey, SecretAccessKey: users[0].SecretKey},
			"client-bob":   {AccessKeyID: users[1].AccessKey, SecretAccessKey: users[1].SecretKey},
		}}
	})
	alice := newS3Client(tp.srv.URL, "client-alice", "client-alice-secret")
	bob := newS3Client(tp.srv.URL, "client-bob", "client-bob-secret")
	ctx := context.Background()
	bucket := "alice-" + tag
	if _, err := alice.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["` + users[1].AccessKey +
		`"]},"Action":["s3:PutObject","s3:GetObject","s3:AbortMultipartUpload","s3:ListMultipartUploadParts"],"Resource":["arn:aws:s3:::` + bucket + `/bob/*"]}]}`
	if _, err := alice.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: &bucket, Policy: &policy}); err != nil {
		t.Fatal(err)
	}
	key := aws.String("bob/k")
	cr, err := bob.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: key})
	if err != nil {
		t.Fatalf("bob's CreateMultipartUpload under his prefix: %v", err)
	}
	data := randBytes(1000)
	part, err := bob.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: key, UploadId: cr.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("UploadPart: %v", err)
	}
	if _, err := bob.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: key, UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}}); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	got, _ := getAll(t, bob, &s3.GetObjectInput{Bucket: &bucket, Key: key})
	mustEqual(t, "bob's multipart object", got, data)
	if !strings.Contains(tp.log.String(), "upload record refused") {
		t.Error("the refused record is not logged")
	}
}

// completeAnswerLost is an injected fault on the proxy's backend
// transport: the first CompleteMultipartUpload of a client upload
// completes at the backend, then its answer is lost once the client has
// given up (the proxy's request is cancelled), as when an SDK times out
// and retries. completed is closed when the backend has completed.
type completeAnswerLost struct {
	rt        http.RoundTripper
	once      atomic.Bool
	completed chan struct{}
}

func (f *completeAnswerLost) RoundTrip(r *http.Request) (*http.Response, error) {
	isComplete := r.Method == http.MethodPost && r.URL.Query().Has("uploadId") && !strings.Contains(r.URL.EscapedPath(), companionPrefix)
	if !isComplete || !f.once.CompareAndSwap(false, true) {
		return f.rt.RoundTrip(r)
	}
	resp, err := f.rt.RoundTrip(r.WithContext(context.WithoutCancel(r.Context())))
	if err == nil {
		drain(resp)
	}
	close(f.completed)
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// TestCompleteRetryRemovesRecord: a Complete whose answer the client did
// not wait for, retried, is answered as the completion, and the upload's
// record is gone from the backend afterwards.
func TestCompleteRetryRemovesRecord(t *testing.T) {
	lost := &completeAnswerLost{rt: DefaultTransport(), completed: make(chan struct{})}
	tp := newTestProxy(t, func(c *Config) { c.UpstreamTransport = lost })
	b := tp.newBucket(t)
	ctx := context.Background()
	key := aws.String("k")
	cr, err := tp.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	part, err := tp.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &b, Key: key, UploadId: cr.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("hello"))})
	if err != nil {
		t.Fatal(err)
	}
	in := &s3.CompleteMultipartUploadInput{Bucket: &b, Key: key, UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}}
	first, giveUp := context.WithCancel(ctx)
	go func() {
		<-lost.completed
		giveUp() // the client stops waiting once the backend has completed
	}()
	if _, err := tp.client.CompleteMultipartUpload(first, in); err == nil {
		t.Fatal("the first Complete got its answer")
	}
	if _, err := tp.client.CompleteMultipartUpload(ctx, in); err != nil {
		t.Fatalf("retried Complete: %v", err)
	}
	l, err := tp.backend.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range l.Uploads {
		t.Errorf("left at the backend: %s", aws.ToString(u.Key))
	}
}

// TestReadRecordsPages: a proxy without the records in its cache reads
// them by pages (key-marker alone: versitygw refuses an upload-id-marker
// with it) and lists every upload by the ID Create gave. (versitygw:
// MinIO lists no records by prefix, README "Multipart uploads".)
func TestReadRecordsPages(t *testing.T) {
	old := recordsPerPage
	recordsPerPage = 3
	t.Cleanup(func() { recordsPerPage = old })
	tp := newTestProxy(t)
	b := tp.newBucket(t)
	ctx := context.Background()
	given := map[string]bool{}
	for range 8 {
		cr, err := tp.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("x")})
		if err != nil {
			t.Fatal(err)
		}
		given[aws.ToString(cr.UploadId)] = true
	}
	other := newTestProxy(t)
	// With a prefix, the backend's page holds no records: they are read
	// from their own key range.
	l, err := other.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b, Prefix: aws.String("x")})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range l.Uploads {
		if !given[aws.ToString(u.UploadId)] {
			t.Errorf("listed %s, not an ID Create gave", aws.ToString(u.UploadId))
		}
	}
	if len(l.Uploads) != len(given) {
		t.Errorf("listed %d uploads, want %d", len(l.Uploads), len(given))
	}
	if strings.Contains(other.log.String(), "upload records not read") {
		t.Errorf("records not read: %s", other.log.String())
	}
}
