package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketkey/bucketkey/envelope"
)

// TestDevEndToEnd runs `bucketkey dev` in-process on free ports and talks
// to it with aws-sdk-go-v2 as a user would: PUT, GET, ranged GET, HEAD,
// LIST and a multipart upload, then checks that the store on disk holds
// only ciphertext, that /stats counted the savings, and that shutdown logs
// one savings line.
func TestDevEndToEnd(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := newSyncBuffer(), newSyncBuffer()
	ready := make(chan devInfo, 1)
	done := make(chan struct{})
	var code int
	go func() {
		defer close(done)
		code = runDev(ctx, []string{"--dir", dir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, stdout, stderr,
			func(i devInfo) { ready <- i })
	}()
	var info devInfo
	select {
	case info = <-ready:
	case <-done:
		t.Fatalf("dev exited with %d:\n%s%s", code, stdout.String(), stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("dev not ready after 60s")
	}
	banner := stdout.String()
	envFile := filepath.Join(info.Dir, "env")
	for _, want := range []string{"\n  . " + envFile + "\n", "\n  aws --endpoint-url " + info.Endpoint + " s3 cp ./README.md s3://dev/\n"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks the ready-to-paste line %q:\n%s", want, banner)
		}
	}
	if strings.Contains(banner, info.SecretKey) {
		t.Errorf("banner shows the secret key:\n%s", banner)
	}
	envBody, err := os.ReadFile(envFile)
	if fi, serr := os.Stat(envFile); err != nil || serr != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("env file: %v %v; want a 0600 file", err, serr)
	}
	for _, want := range []string{"export AWS_ACCESS_KEY_ID=" + info.AccessKey + "\n", "export AWS_SECRET_ACCESS_KEY=" + info.SecretKey + "\n", "export AWS_DEFAULT_REGION=us-east-1\n"} {
		if !strings.Contains(string(envBody), want) {
			t.Errorf("env file lacks %q", want)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "master.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("master key: %v, mode %v; want a 0600 file", err, fi.Mode())
	}

	c := s3Client(info.Endpoint, info.AccessKey, info.SecretKey, "us-east-1")
	bg := context.Background()
	small := randomBytes(1<<20 + 1)
	if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: aws.String("dev"), Key: aws.String("dir/small.bin"), Body: bytes.NewReader(small),
		Metadata: map[string]string{"color": "blue"}}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if got := getBytes(t, c, &s3.GetObjectInput{Bucket: aws.String("dev"), Key: aws.String("dir/small.bin")}); !bytes.Equal(got, small) {
		t.Fatalf("GET returned %d bytes, not the %d put", len(got), len(small))
	}
	if got := getBytes(t, c, &s3.GetObjectInput{Bucket: aws.String("dev"), Key: aws.String("dir/small.bin"), Range: aws.String("bytes=65530-65545")}); !bytes.Equal(got, small[65530:65546]) {
		t.Errorf("ranged GET across a segment boundary differs")
	}
	head, err := c.HeadObject(bg, &s3.HeadObjectInput{Bucket: aws.String("dev"), Key: aws.String("dir/small.bin")})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	if aws.ToInt64(head.ContentLength) != int64(len(small)) || head.Metadata["color"] != "blue" {
		t.Errorf("HEAD: length %d metadata %v", aws.ToInt64(head.ContentLength), head.Metadata)
	}

	big := randomBytes(12<<20 + 7)
	multipartUpload(t, c, "dev", "big.bin", big, 5<<20)
	if got := getBytes(t, c, &s3.GetObjectInput{Bucket: aws.String("dev"), Key: aws.String("big.bin")}); !bytes.Equal(got, big) {
		t.Fatalf("GET of the multipart object differs (%d bytes)", len(got))
	}
	lo, hi := 5<<20-10, 5<<20+10 // across the first part boundary
	if got := getBytes(t, c, &s3.GetObjectInput{Bucket: aws.String("dev"), Key: aws.String("big.bin"), Range: aws.String("bytes=" + itoa(lo) + "-" + itoa(hi))}); !bytes.Equal(got, big[lo:hi+1]) {
		t.Errorf("ranged GET across a part boundary differs")
	}

	list, err := c.ListObjectsV2(bg, &s3.ListObjectsV2Input{Bucket: aws.String("dev")})
	if err != nil {
		t.Fatalf("ListObjectsV2: %v", err)
	}
	sizes := map[string]int64{}
	for _, o := range list.Contents {
		sizes[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
	}
	if sizes["dir/small.bin"] != int64(len(small)) || sizes["big.bin"] != int64(len(big)) {
		t.Errorf("LIST sizes %v, want plaintext sizes %d and %d", sizes, len(small), len(big))
	}

	// The store on disk holds ciphertext only.
	for key, plain := range map[string][]byte{"dir/small.bin": small, "big.bin": big} {
		stored, err := os.ReadFile(filepath.Join(dir, "s3", "buckets", "dev", filepath.FromSlash(key)))
		if err != nil {
			t.Fatalf("stored %s: %v", key, err)
		}
		if len(stored) <= len(plain) || bytes.Contains(stored, plain[1000:1032]) || bytes.Contains(stored, plain[len(plain)-32:]) {
			t.Errorf("store holds plaintext of %s (%d stored bytes)", key, len(stored))
		}
	}
	if n := int64(len(small)); func() int64 {
		fi, _ := os.Stat(filepath.Join(dir, "s3", "buckets", "dev", "dir", "small.bin"))
		return fi.Size()
	}() != new(envelope.DataKey).StoredSize(0, n) {
		t.Errorf("stored size is not CiphertextSize(%d)", n)
	}

	st := getStats(t, info.Admin)
	if st.Total.ObjectsEncrypted < 2 || st.Total.KMSRequests["GenerateDataKey"]["ok"] != 1 || st.Total.BaselineRequestsTotal <= st.Total.KMSRequestsTotal {
		t.Errorf("/stats: %+v; want one GenerateDataKey for bucket dev and a saving", st.Total)
	}
	if _, ok := st.Buckets["dev"]; !ok {
		t.Errorf("/stats has no bucket dev: %v", st.Buckets)
	}
	if code := httpStatus(t, info.Admin+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d", code)
	}

	cancel()
	<-done
	if code != exitOK {
		t.Errorf("dev exited %d", code)
	}
	logs := stderr.String()
	if n := strings.Count(logs, `msg="bucketkey stopped"`); n != 1 {
		t.Fatalf("%d shutdown lines, want 1:\n%s", n, logs)
	}
	line := stderr.waitFor(t, `msg="bucketkey stopped"`, nil, time.Second)
	for _, want := range []string{"kms_requests=1 ", "objects_encrypted=", "saved_percent=", "cost_dollars=3e-06"} {
		if !strings.Contains(line, want) {
			t.Errorf("shutdown line lacks %q: %s", want, line)
		}
	}
	for _, secret := range []string{info.SecretKey} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain the client secret")
		}
	}
}

func TestDevCredentialsPersist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials")
	ak, sk, err := devCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v mode %v, want 0600", err, fi.Mode())
	}
	ak2, sk2, err := devCredentials(path)
	if err != nil || ak2 != ak || sk2 != sk {
		t.Errorf("second run got other credentials (err %v)", err)
	}
	if len(sk) < 30 || !strings.HasPrefix(ak, "BKDEV") {
		t.Errorf("weak or odd credentials: %q / %d-char secret", ak, len(sk))
	}
}

func TestDevPortInUse(t *testing.T) {
	var stdout, stderr bytes.Buffer
	hold, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	code := runDev(context.Background(), []string{"--dir", t.TempDir(), "--listen", hold.Addr().String(), "--admin-listen", "127.0.0.1:0"}, &stdout, &stderr, nil)
	if code != exitFail || !strings.Contains(stderr.String(), "address already in use") || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want 1 and one line about the port", code, stderr.String())
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// multipartUpload uploads body in parts of partSize (the last shorter), as
// the SDK upload managers do.
func multipartUpload(t *testing.T, c *s3.Client, bucket, key string, body []byte, partSize int) {
	t.Helper()
	ctx := context.Background()
	create, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	var parts []types.CompletedPart
	for n, off := int32(1), 0; off < len(body); n, off = n+1, off+partSize {
		end := min(off+partSize, len(body))
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: create.UploadId,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(body[off:end])})
		if err != nil {
			t.Fatalf("UploadPart %d: %v", n, err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
		UploadId: create.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
}
