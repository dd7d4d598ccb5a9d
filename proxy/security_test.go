package proxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// restore writes raw bytes with metadata straight to the backend, as an
// attacker with write access to the bucket (not to the proxy) could.
func restore(t testing.TB, bucket, key string, raw []byte, meta map[string]string) {
	t.Helper()
	if _, err := backend().PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &bucket, Key: &key, Body: bytes.NewReader(raw), Metadata: meta,
	}); err != nil {
		t.Fatal(err)
	}
}

// TestTampering: flipped, truncated, swapped or re-bound ciphertext never
// comes back as a complete 200: a failure in the first segment is a 500
// before any byte; a later one breaks the transfer.
func TestTampering(t *testing.T) {
	tp := newTestProxy(t)
	ctx := context.Background()
	b := tp.newBucket(t)

	// First segment: a clean 500.
	tp.put(t, b, "small", randBytes(1000))
	raw, out := stored(t, b, "small")
	raw[500] ^= 1
	restore(t, b, "small", raw, out.Metadata)
	_, err := tp.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("small")})
	wantCode(t, "flipped byte, small object", err, "InternalError")

	// Truncated: the recorded size disagrees with the stored one.
	tp.put(t, b, "trunc", randBytes(5000))
	raw, out = stored(t, b, "trunc")
	restore(t, b, "trunc", raw[:len(raw)-1], out.Metadata)
	_, err = tp.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("trunc")})
	wantCode(t, "truncated object", err, "InternalError")

	// A later segment: headers went out, the body breaks.
	data := randBytes(300 << 10)
	tp.put(t, b, "big", data)
	raw, out = stored(t, b, "big")
	raw[200<<10] ^= 0x80
	restore(t, b, "big", raw, out.Metadata)
	resp := tp.rawRequest(t, "GET", "/"+b+"/big", nil, nil)
	got, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if rerr == nil || len(got) >= len(data) {
		t.Fatalf("flipped byte in segment 4: status %d, read %d of %d bytes, err %v: want a broken transfer", resp.StatusCode, len(got), len(data), rerr)
	}
	mustEqual(t, "bytes before the bad segment", got, data[:len(got)])
	// A range that avoids the bad segment still reads.
	tp.checkRanges(t, b, "big", data, []string{"bytes=0-1000"})

	// A multipart object rebuilt at the backend with one flipped byte in
	// part 2: reading fails, and so does a copy (streamed: the source does
	// not authenticate, which is not the client's fault).
	mpData := tp.uploadParts(t, b, "mp", []int{5 << 20, 70000})
	_, mpOut := stored(t, b, "mp")
	var parts [][]byte
	for k := int32(1); k <= 2; k++ {
		p, _ := getAll(t, backend(), &s3.GetObjectInput{Bucket: &b, Key: aws.String("mp"), PartNumber: aws.Int32(k)})
		parts = append(parts, p)
	}
	parts[1][100] ^= 1
	rebuildMultipart(t, b, "mp", parts, mpOut.Metadata)
	resp = tp.rawRequest(t, "GET", "/"+b+"/mp", nil, nil)
	got, rerr = io.ReadAll(resp.Body)
	resp.Body.Close()
	if rerr == nil && resp.StatusCode == 200 {
		t.Fatalf("tampered multipart object read completely (%d bytes)", len(got))
	}
	tp.checkRanges(t, b, "mp", mpData, []string{"bytes=0-99"})
	_, err = tp.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b, Key: aws.String("mp-copy"), CopySource: aws.String(b + "/mp")})
	wantCode(t, "copy of a tampered multipart object", err, "InternalError")
	if _, err := backend().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("mp-copy")}); err == nil {
		t.Error("copy of a tampered object was stored")
	}

	// Bytes and metadata of one object moved to another name: bound to
	// the name, so refused.
	tp.put(t, b, "a", []byte("object a"))
	raw, out = stored(t, b, "a")
	restore(t, b, "moved", raw, out.Metadata)
	_, err = tp.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("moved")})
	wantCode(t, "object moved to another name", err, "InternalError")

	// Metadata edited to name another key bucket: refused.
	meta := testenv.EnvelopeFields(out.Metadata)
	meta["bk-kb"] = "some-other-bucket"
	restore(t, b, "rebound", raw, testenv.PackEnvelope(meta))
	_, err = tp.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("rebound")})
	wantCode(t, "metadata naming another key bucket", err, "AccessDenied")
}

// rebuildMultipart stores parts as a multipart object straight at the
// backend, with the given metadata.
func rebuildMultipart(t testing.TB, bucket, key string, parts [][]byte, meta map[string]string) {
	t.Helper()
	ctx := context.Background()
	be := backend()
	cr, err := be.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key, Metadata: meta})
	if err != nil {
		t.Fatal(err)
	}
	var done []types.CompletedPart
	for i, p := range parts {
		up, err := be.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, types.CompletedPart{ETag: up.ETag, PartNumber: aws.Int32(int32(i + 1))})
	}
	if _, err := be.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
		t.Fatal(err)
	}
}

// TestReplication: a replica's bytes and metadata (copied at the backend,
// as S3 replication does) are readable only through a proxy that declares
// the replica relation.
func TestReplication(t *testing.T) {
	tp := newTestProxy(t)
	ctx := context.Background()
	a, b := tp.newBucket(t), tp.newBucket(t)
	data := randBytes(200 << 10)
	tp.put(t, a, "k", data)
	mp := tp.uploadParts(t, a, "mp", []int{5 << 20, 100})
	for _, key := range []string{"k", "mp"} {
		if _, err := backend().CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b, Key: aws.String(key), CopySource: aws.String(a + "/" + key)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := tp.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("k")})
	wantCode(t, "replica without declaration", err, "AccessDenied")
	_, err = tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("k")})
	if err == nil {
		t.Error("HEAD of an undeclared replica succeeded")
	}
	other := newTestProxy(t, func(c *Config) { c.Replicas = map[string][]string{b: {"unrelated"}} })
	_, err = other.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("k")})
	wantCode(t, "replica of an undeclared source", err, "AccessDenied")

	rp := newTestProxy(t, func(c *Config) { c.Replicas = map[string][]string{b: {a}} })
	mustEqual(t, "replica", rp.get(t, b, "k"), data)
	rp.checkRanges(t, b, "k", data, []string{"bytes=70000-140000"})
	// The multipart object lost its parts in the backend copy (versitygw
	// copies into one part), so only the single-part replica is checked
	// whole; its metadata still names its key bucket.
	_, out := stored(t, b, "mp")
	if testenv.EnvelopeFields(out.Metadata)["bk-kb"] != a {
		t.Errorf("replica key bucket %q", testenv.EnvelopeFields(out.Metadata)["bk-kb"])
	}
	_ = mp
	// The source stays readable through both.
	mustEqual(t, "source", rp.get(t, a, "k"), data)
}

// TestAuthentication: nothing reaches the backend without a valid
// signature; failures are S3's codes.
func TestAuthentication(t *testing.T) {
	tp := newTestProxy(t)
	ctx := context.Background()
	b := tp.newBucket(t)
	bad := newS3Client(tp.srv.URL, clientAccessKey, "wrong-secret")
	_, err := bad.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("x"), Body: strings.NewReader("data")})
	wantCode(t, "wrong secret", err, "SignatureDoesNotMatch")
	unknown := newS3Client(tp.srv.URL, "AKIDUNKNOWN", "whatever")
	_, err = unknown.ListBuckets(ctx, &s3.ListBucketsInput{})
	wantCode(t, "unknown key", err, "InvalidAccessKeyId")
	resp, err := http.Get(tp.srv.URL + "/" + b + "/x")
	if err != nil {
		t.Fatal(err)
	}
	body := readAllClose(t, resp.Body)
	if resp.StatusCode != 403 || !bytes.Contains(body, []byte("AccessDenied")) {
		t.Errorf("anonymous GET: %d %s", resp.StatusCode, body)
	}
	if _, err := backend().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("x")}); err == nil {
		t.Error("an unauthenticated PUT reached the backend")
	}
	// A client may not plant envelope metadata.
	_, err = tp.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("planted"), Body: strings.NewReader("data"), Metadata: map[string]string{"bk-kb": "evil", "ok": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	_, out := stored(t, b, "planted")
	if testenv.EnvelopeFields(out.Metadata)["bk-kb"] != b || out.Metadata["ok"] != "1" {
		t.Errorf("stored metadata %v", out.Metadata)
	}
}

// TestFailedUploadStoresNothing: a body that fails its Content-MD5 or its
// checksum is refused with BadDigest and leaves no object behind.
func TestFailedUploadStoresNothing(t *testing.T) {
	tp := newTestProxy(t)
	ctx := context.Background()
	b := tp.newBucket(t)
	body := randBytes(200 << 10)
	for name, h := range map[string]http.Header{
		"content-md5": {"Content-Md5": {base64.StdEncoding.EncodeToString(make([]byte, 16))}},
		"crc32":       {"X-Amz-Checksum-Crc32": {"AAAAAA=="}},
	} {
		resp := tp.rawRequest(t, "PUT", "/"+b+"/bad-"+name, h, body)
		rb := readAllClose(t, resp.Body)
		if resp.StatusCode != 400 || !bytes.Contains(rb, []byte("BadDigest")) {
			t.Errorf("%s: %d %s, want 400 BadDigest", name, resp.StatusCode, rb)
		}
		if _, err := backend().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("bad-" + name)}); err == nil {
			t.Errorf("%s: an object was stored", name)
		}
	}
	// A PUT without a length is refused.
	req, _ := http.NewRequest("PUT", tp.srv.URL+"/"+b+"/nolen", io.NopCloser(strings.NewReader("x")))
	req.ContentLength = -1
	resp := signedRaw(t, req)
	readAllClose(t, resp.Body)
	if resp.StatusCode != 411 {
		t.Errorf("PUT without length: %d", resp.StatusCode)
	}
}

// TestSSERequestHeaders: a per-request KMS key and encryption context are
// honoured, stored and needed to read; AES256 is served as SSE-KMS;
// unknown algorithms are refused.
func TestSSERequestHeaders(t *testing.T) {
	tp := newTestProxy(t, func(c *Config) { c.AcceptKMSKeyIDs = []string{testenv.KMSOtherKeyID} })
	ctx := context.Background()
	b := tp.newBucket(t)
	ectx := base64.StdEncoding.EncodeToString([]byte(`{"project":"x"}`))
	out, err := tp.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &b, Key: aws.String("other-key"), Body: strings.NewReader("secret"),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(testenv.KMSOtherKeyID),
		SSEKMSEncryptionContext: aws.String(ectx), BucketKeyEnabled: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aws.ToString(out.SSEKMSKeyId), testenv.KMSOtherKeyID) {
		t.Errorf("key id %q, want %s", aws.ToString(out.SSEKMSKeyId), testenv.KMSOtherKeyID)
	}
	if aws.ToString(out.SSEKMSEncryptionContext) != ectx {
		t.Errorf("context echo %q", aws.ToString(out.SSEKMSEncryptionContext))
	}
	got, gout := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &b, Key: aws.String("other-key")})
	if string(got) != "secret" || !strings.Contains(aws.ToString(gout.SSEKMSKeyId), testenv.KMSOtherKeyID) {
		t.Errorf("GET %q key %q", got, aws.ToString(gout.SSEKMSKeyId))
	}
	_, sout := stored(t, b, "other-key")
	if !strings.Contains(testenv.EnvelopeFields(sout.Metadata)["bk-kid"], testenv.KMSOtherKeyID) || testenv.EnvelopeFields(sout.Metadata)["bk-ctx"] == "" {
		t.Errorf("stored metadata %v", sout.Metadata)
	}

	if _, err := tp.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("aes"), Body: strings.NewReader("x"), ServerSideEncryption: types.ServerSideEncryptionAes256}); err != nil {
		t.Errorf("AES256: %v", err)
	}
	_, err = tp.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("dsse"), Body: strings.NewReader("x"), ServerSideEncryption: types.ServerSideEncryptionAwsKmsDsse})
	wantCode(t, "aws:kms:dsse", err, "InvalidArgument")
	_, err = tp.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("badctx"), Body: strings.NewReader("x"), ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSEncryptionContext: aws.String("not base64!")})
	wantCode(t, "bad context", err, "InvalidArgument")
	_, err = tp.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("badkey"), Body: strings.NewReader("x"), ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String("no-such-key")})
	var apiErr interface{ ErrorCode() string }
	if !errors.As(err, &apiErr) || (apiErr.ErrorCode() != "AccessDenied" && apiErr.ErrorCode() != "KMS.NotFoundException") {
		t.Errorf("unknown KMS key: %v", err)
	}
}

// TestPresigned: presigned GET and PUT URLs work through the proxy.
func TestPresigned(t *testing.T) {
	tp := newTestProxy(t)
	ctx := context.Background()
	b := tp.newBucket(t)
	pc := s3.NewPresignClient(tp.client)
	data := randBytes(70000)
	preq, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("p")})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(preq.Method, preq.URL, bytes.NewReader(data))
	for k, v := range preq.SignedHeader {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readAllClose(t, resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %d", resp.StatusCode)
	}
	greq, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("p")})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(greq.URL)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "presigned GET", readAllClose(t, resp.Body), data)
	raw, _ := stored(t, b, "p")
	if bytes.Contains(raw, data[:32]) {
		t.Error("presigned PUT stored plaintext")
	}
}

// TestVirtualHostedStyle: "<bucket>.<domain>" addressing works like path
// style.
func TestVirtualHostedStyle(t *testing.T) {
	tp := newTestProxy(t, func(c *Config) { c.VirtualHostDomains = []string{"s3.bucketkey.test"} })
	ctx := context.Background()
	b := tp.newBucket(t)
	addr := strings.TrimPrefix(tp.srv.URL, "http://")
	_, port, _ := net.SplitHostPort(addr)
	dial := &net.Dialer{}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dial.DialContext(ctx, network, addr)
	}}}
	vc := newS3Client("http://s3.bucketkey.test:"+port, clientAccessKey, clientSecretKey, func(o *s3.Options) {
		o.UsePathStyle = false
		o.HTTPClient = hc
	})
	data := randBytes(100 << 10)
	if _, err := vc.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("dir/with space+plus%"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	got, _ := getAll(t, vc, &s3.GetObjectInput{Bucket: &b, Key: aws.String("dir/with space+plus%")})
	mustEqual(t, "virtual-hosted GET", got, data)
	// The same object through path style.
	mustEqual(t, "path-style GET", tp.get(t, b, "dir/with space+plus%"), data)
	l, err := vc.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Contents) != 1 || aws.ToInt64(l.Contents[0].Size) != int64(len(data)) {
		t.Errorf("virtual-hosted list %+v", l.Contents)
	}
}

// TestOddKeys: keys that escaping would change reach the backend as the
// client named them. (Keys with dot segments, which the backend's path
// handling may resolve, are refused: TestRefusedKeysNeverReachBackend.)
func TestOddKeys(t *testing.T) {
	tp := newTestProxy(t)
	b := tp.newBucket(t)
	for _, key := range []string{"a//b", "a/.b/..c/d.", "sp ace", "plus+sign", "pct%41", "uni/ü€", "q?mark", "hash#x", "semi;colon=eq&amp", "~tilde*star'quote(paren)!"} {
		data := []byte("data of " + key)
		tp.put(t, b, key, data)
		mustEqual(t, key, tp.get(t, b, key), data)
		if _, err := tp.client.CopyObject(context.Background(), &s3.CopyObjectInput{Bucket: &b, Key: aws.String("copy/" + key), CopySource: aws.String(url.PathEscape(b + "/" + key))}); err != nil {
			t.Errorf("copy of %q: %v", key, err)
		} else {
			mustEqual(t, "copy of "+key, tp.get(t, b, "copy/"+key), data)
		}
		if _, err := backend().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &b, Key: aws.String(key)}); err != nil {
			t.Errorf("key %q not stored under its name: %v", key, err)
		}
	}
}
