package proxy

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/s3err"
)

func TestUnitUserMetadataSize(t *testing.T) {
	cases := []struct {
		name string
		h    http.Header
		want int
	}{
		{"none", http.Header{"Content-Type": {"text/plain"}}, 0},
		{"key and value, prefix not counted", http.Header{"X-Amz-Meta-Color": {"blue"}}, len("color") + len("blue")},
		// S3 (and versitygw) join a header sent twice with a comma.
		{"repeated header is one entry", http.Header{"X-Amz-Meta-A": {"1", "22"}}, len("a") + len("1,22")},
		{"non-canonical spelling", http.Header{"x-amz-meta-k": {"v"}}, 2},
		{"other x-amz headers", http.Header{"X-Amz-Metadata-Directive": {"REPLACE"}, "X-Amz-Meta": {"v"}}, 0},
		{"several", http.Header{"X-Amz-Meta-A": {"bb"}, "X-Amz-Meta-Ccc": {""}}, 3 + 3},
	}
	for _, c := range cases {
		if got := userMetadataSize(c.h); got != c.want {
			t.Errorf("%s: userMetadataSize = %d, want %d", c.name, got, c.want)
		}
	}
}

func TestUnitHeaderSectionSize(t *testing.T) {
	r, err := http.NewRequest(http.MethodGet, "http://h.example/b/k", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header = http.Header{"X-A": {"1", "22"}}
	want := len("Host: h.example\r\n") + len("X-A: 1\r\n") + len("X-A: 22\r\n")
	if got := headerSectionSize(r); got != want {
		t.Errorf("headerSectionSize = %d, want %d", got, want)
	}
}

// TestUnitSetMetadataLimit: the client's metadata and the envelope's share
// S3's 2 KB; the proxy refuses the sum with MetadataTooLarge, and accepts it
// up to the last byte.
func TestUnitSetMetadataLimit(t *testing.T) {
	md := &envelope.Metadata{
		Version: 1, KeyID: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		KeyBucket: "bucket", WrappedKey: make([]byte, 184), Salt: make([]byte, 32), SealedKey: make([]byte, 48), Size: 5,
	}
	env := 0
	for k, v := range md.Headers() {
		env += metadataEntrySize(k, v)
	}
	room := maxUserMetadata - env - len("big")
	if room < 1000 {
		t.Fatalf("the envelope takes %d of %d bytes", env, maxUserMetadata)
	}
	for _, c := range []struct {
		value int
		ok    bool
	}{{room, true}, {room + 1, false}, {3000, false}} {
		h := http.Header{"X-Amz-Meta-Big": {strings.Repeat("m", c.value)}}
		err := setMetadata(h, md)
		if c.ok && err != nil {
			t.Errorf("%d bytes of user metadata: %v", c.value, err)
		}
		if !c.ok && s3err.As(err) == nil || !c.ok && s3err.As(err).Code != "MetadataTooLarge" {
			t.Errorf("%d bytes of user metadata: got %v, want MetadataTooLarge", c.value, err)
		}
	}
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// TestUploadSizeLimit: a PutObject or UploadPart over S3's 5 GiB gets S3's
// EntityTooLarge (with ProposedSize and MaxSizeAllowed) before any key is
// fetched or the body read, and stores nothing.
func TestUploadSizeLimit(t *testing.T) {
	tp := newTestProxy(t)
	b := tp.newBucket(t)
	const n = maxUploadSize + 1
	for _, path := range []string{"/" + b + "/big", "/" + b + "/big?partNumber=1&uploadId=x"} {
		req, err := http.NewRequest(http.MethodPut, tp.srv.URL+path, io.LimitReader(zeros{}, n))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = n
		req.Header.Set("Expect", "100-continue")
		resp := signedRaw(t, req)
		body := readAllClose(t, resp.Body)
		var e struct{ Code, Message, ProposedSize, MaxSizeAllowed string }
		if err := xml.Unmarshal(body, &e); err != nil || resp.StatusCode != http.StatusBadRequest || e.Code != "EntityTooLarge" ||
			e.Message != "Your proposed upload exceeds the maximum allowed size" || e.ProposedSize != "5368709121" || e.MaxSizeAllowed != "5368709120" {
			t.Errorf("PUT %s of 5 GiB + 1: %s %s", path, resp.Status, body)
		}
	}
	if n := tp.keys.Stats().Total.Actual; n != 0 {
		t.Errorf("%d KMS calls for refused uploads", n)
	}
	if _, err := tp.backend.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &b, Key: aws.String("big")}); err == nil {
		t.Error("the refused upload left an object")
	}
}

// TestCopySourceSizeLimit: a CopyObject whose source is over S3's 5 GiB
// gets S3's InvalidRequest and stores nothing, where the proxy would
// otherwise read it and write it as one PUT. The source is a sparse 6 GiB
// file put straight into versitygw's posix directory (an object without
// envelope metadata in a mixed bucket), so no 6 GiB is written.
func TestCopySourceSizeLimit(t *testing.T) {
	tp, b := newMixedProxy(t)
	f, err := os.Create(filepath.Join(backendS3.Dir, "data", b, "big"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(6 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ctx := context.Background()
	_, err = tp.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b, Key: aws.String("copy"), CopySource: aws.String(b + "/big")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidRequest" ||
		ae.ErrorMessage() != "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120" {
		t.Fatalf("CopyObject of 6 GiB: %v", err)
	}
	if _, err := tp.backend.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("copy")}); err == nil {
		t.Error("the refused copy left an object")
	}
}

func TestUnitCheckCopySourceSize(t *testing.T) {
	for n, ok := range map[int64]bool{0: true, maxUploadSize: true, maxUploadSize + 1: false} {
		if err := checkCopySourceSize(n); (err == nil) != ok {
			t.Errorf("checkCopySourceSize(%d) = %v", n, err)
		}
	}
}
