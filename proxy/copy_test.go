package proxy

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/internal/testenv"
)

// TestCopyObject: same- and cross-bucket copies with both metadata
// directives decrypt to the source's plaintext; the backend copied the
// bytes (the ciphertext at the destination is the source's, byte for
// byte) and only the metadata changed; the copy is bound to its new name.
func TestCopyObject(t *testing.T) {
	tp := newTestProxy(t)
	ctx := context.Background()
	b1, b2 := tp.newBucket(t), tp.newBucket(t)
	data := randBytes(300<<10 + 5)
	if _, err := tp.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &b1, Key: aws.String("src"), Body: bytes.NewReader(data),
		Metadata: map[string]string{"color": "red"}, ContentType: aws.String("text/x-source"),
		Tagging: aws.String("team=blue"),
	}); err != nil {
		t.Fatal(err)
	}
	srcRaw, srcStored := stored(t, b1, "src")
	cases := []struct {
		name, bucket, key string
		directive         types.MetadataDirective
	}{
		{"same bucket COPY", b1, "dst-copy", types.MetadataDirectiveCopy},
		{"same bucket REPLACE", b1, "dst-replace", types.MetadataDirectiveReplace},
		{"cross bucket COPY", b2, "dst-copy", types.MetadataDirectiveCopy},
		{"cross bucket REPLACE", b2, "dst/replace", types.MetadataDirectiveReplace},
		{"onto itself REPLACE", b1, "src", types.MetadataDirectiveReplace},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := &s3.CopyObjectInput{
				Bucket: aws.String(c.bucket), Key: aws.String(c.key),
				CopySource: aws.String(b1 + "/src"), MetadataDirective: c.directive,
			}
			if c.directive == types.MetadataDirectiveReplace {
				in.Metadata = map[string]string{"color": "green"}
				in.ContentType = aws.String("text/x-replaced")
			}
			out, err := tp.client.CopyObject(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if out.ServerSideEncryption != types.ServerSideEncryptionAwsKms || out.CopyObjectResult == nil || aws.ToString(out.CopyObjectResult.ETag) == "" {
				t.Errorf("CopyObject answer: SSE %q result %+v", out.ServerSideEncryption, out.CopyObjectResult)
			}
			got, gout := getAll(t, tp.client, &s3.GetObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(c.key)})
			mustEqual(t, "copy", got, data)
			wantColor, wantType := "red", "text/x-source"
			if c.directive == types.MetadataDirectiveReplace {
				wantColor, wantType = "green", "text/x-replaced"
			}
			if gout.Metadata["color"] != wantColor || aws.ToString(gout.ContentType) != wantType {
				t.Errorf("metadata %v content type %q, want color %s type %s", gout.Metadata, aws.ToString(gout.ContentType), wantColor, wantType)
			}
			raw, dst := stored(t, c.bucket, c.key)
			mustEqual(t, "backend-copied ciphertext", raw, srcRaw)
			if testenv.EnvelopeFields(dst.Metadata)["bk-sk"] == testenv.EnvelopeFields(srcStored.Metadata)["bk-sk"] || testenv.EnvelopeFields(dst.Metadata)["bk-kb"] != c.bucket {
				t.Errorf("destination metadata not resealed: key bucket %q", testenv.EnvelopeFields(dst.Metadata)["bk-kb"])
			}
			if c.directive == types.MetadataDirectiveCopy {
				tags, err := tp.client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(c.bucket), Key: aws.String(c.key)})
				if err != nil {
					t.Fatal(err)
				}
				if len(tags.TagSet) != 1 || aws.ToString(tags.TagSet[0].Key) != "team" {
					t.Errorf("tags not copied: %+v", tags.TagSet)
				}
			}
		})
	}
	// Copying onto itself without changing anything is refused, as by S3.
	_, err := tp.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b1, Key: aws.String("src"), CopySource: aws.String(b1 + "/src")})
	wantCode(t, "copy onto itself", err, "InvalidRequest")

	// Copy-source conditions: a failing one is 412, before anything is
	// copied.
	_, err = tp.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b1, Key: aws.String("never"), CopySource: aws.String(b1 + "/src"), CopySourceIfMatch: aws.String(`"nope"`)})
	wantCode(t, "copy-source-if-match", err, "PreconditionFailed")
	_, err = tp.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b1, Key: aws.String("never"), CopySource: aws.String(b1 + "/src"), CopySourceIfNoneMatch: srcStored.ETag})
	wantCode(t, "copy-source-if-none-match", err, "PreconditionFailed")
	_, err = tp.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b1, Key: aws.String("never"), CopySource: aws.String(b1 + "/missing")})
	wantCode(t, "copy of a missing source", err, "NoSuchKey")
}

// TestCopyStreamed: sources the backend cannot copy for the proxy (objects
// without envelope metadata, multipart-encrypted objects) are streamed
// through it and come out encrypted and readable.
func TestCopyStreamed(t *testing.T) {
	tp, b := newMixedProxy(t)
	ctx := context.Background()
	legacy := randBytes(70000)
	if _, err := backend().PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("legacy"), Body: bytes.NewReader(legacy), Metadata: map[string]string{"m": "1"}}); err != nil {
		t.Fatal(err)
	}
	mp := tp.uploadParts(t, b, "mp", []int{5<<20 + 3, 1000})
	for _, src := range []struct {
		key  string
		data []byte
	}{{"legacy", legacy}, {"mp", mp}} {
		dst := "copy-of-" + src.key
		if _, err := tp.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b, Key: aws.String(dst), CopySource: aws.String(b + "/" + src.key)}); err != nil {
			t.Fatalf("copy %s: %v", src.key, err)
		}
		got, out := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &b, Key: aws.String(dst)})
		mustEqual(t, "copy of "+src.key, got, src.data)
		if out.ServerSideEncryption != types.ServerSideEncryptionAwsKms {
			t.Errorf("copy of %s not encrypted", src.key)
		}
		raw, _ := stored(t, b, dst)
		if int64(len(raw)) != new(envelope.DataKey).StoredSize(0, int64(len(src.data))) || bytes.Contains(raw, src.data[:64]) {
			t.Errorf("copy of %s: stored %d bytes, want ciphertext", src.key, len(raw))
		}
		if src.key == "legacy" && out.Metadata["m"] != "1" {
			t.Errorf("copy of legacy lost metadata: %v", out.Metadata)
		}
	}
}

// TestUploadPartCopy: parts copied from encrypted and legacy sources, with
// and without a source range, make an object that decrypts to the
// expected bytes.
func TestUploadPartCopy(t *testing.T) {
	tp, b := newMixedProxy(t)
	ctx := context.Background()
	enc := randBytes(6 << 20)
	tp.put(t, b, "enc", enc)
	legacy := randBytes(5<<20 + 77)
	if _, err := backend().PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("legacy"), Body: bytes.NewReader(legacy)}); err != nil {
		t.Fatal(err)
	}
	cr, err := tp.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("assembled")})
	if err != nil {
		t.Fatal(err)
	}
	type partSpec struct {
		src  string
		rng  string
		want []byte
	}
	specs := []partSpec{
		{"enc", "", enc},
		{"enc", "bytes=1000-5243879", enc[1000:5243880]},
		{"legacy", "", legacy},
		{"legacy", "bytes=3-5242882", legacy[3:5242883]},
		{"enc", "bytes=65530-65545", enc[65530:65546]},
	}
	var parts []types.CompletedPart
	var want []byte
	for i, s := range specs {
		in := &s3.UploadPartCopyInput{Bucket: &b, Key: aws.String("assembled"), UploadId: cr.UploadId, PartNumber: aws.Int32(int32(i + 1)), CopySource: aws.String(b + "/" + s.src)}
		if s.rng != "" {
			in.CopySourceRange = aws.String(s.rng)
		}
		out, err := tp.client.UploadPartCopy(ctx, in)
		if err != nil {
			t.Fatalf("UploadPartCopy %d (%s %s): %v", i+1, s.src, s.rng, err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.CopyPartResult.ETag, PartNumber: aws.Int32(int32(i + 1))})
		want = append(want, s.want...)
	}
	_, err = tp.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: &b, Key: aws.String("assembled"), UploadId: cr.UploadId, PartNumber: aws.Int32(9), CopySource: aws.String(b + "/enc"), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", len(enc), len(enc)+5))})
	wantCode(t, "UploadPartCopy out of range", err, "InvalidArgument")
	if _, err := tp.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &b, Key: aws.String("assembled"), UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "assembled", tp.get(t, b, "assembled"), want)
}

// TestDelete: DeleteObject and DeleteObjects (whose body needs its
// Content-MD5 re-described for the backend) remove objects.
func TestDelete(t *testing.T) {
	tp := newTestProxy(t)
	ctx := context.Background()
	b := tp.newBucket(t)
	for i := range 4 {
		tp.put(t, b, fmt.Sprintf("d%d", i), []byte("x"))
	}
	if _, err := tp.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b, Key: aws.String("d0")}); err != nil {
		t.Fatal(err)
	}
	out, err := tp.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &b, Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("d1")}, {Key: aws.String("d2")}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Deleted) != 2 || len(out.Errors) != 0 {
		t.Errorf("DeleteObjects: %d deleted, %d errors", len(out.Deleted), len(out.Errors))
	}
	l, err := tp.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Contents) != 1 || aws.ToString(l.Contents[0].Key) != "d3" {
		t.Errorf("after deletes: %d objects", len(l.Contents))
	}
	if _, err := tp.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b, Key: aws.String("d3")}); err != nil {
		t.Fatal(err)
	}
	if _, err := tp.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &b}); err != nil {
		t.Fatalf("DeleteBucket: %v", err)
	}
	if _, err := tp.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b}); err == nil {
		t.Error("HeadBucket after DeleteBucket succeeded")
	}
	_ = http.MethodGet
}

func TestUnitParseCopySource(t *testing.T) {
	cases := []struct {
		in   string
		want copySource
		ok   bool
	}{
		{"b/k", copySource{bucket: "b", key: "k"}, true},
		{"/b/dir/a%20b%3Fc", copySource{bucket: "b", key: "dir/a b?c"}, true},
		{"b/k?versionId=v%2B1", copySource{bucket: "b", key: "k", versionID: "v+1"}, true},
		{"b/a//b", copySource{bucket: "b", key: "a//b"}, true},
		{"b", copySource{}, false},
		{"b/", copySource{}, false},
		{"/", copySource{}, false},
		{"b/%zz", copySource{}, false},
		{"arn:aws:s3:us-east-1:1:accesspoint/ap/object/k", copySource{}, false},
		// What the backend would resolve to another path is refused, as in
		// the request's own address.
		{"b/x/../k", copySource{}, false},
		{"b/./k", copySource{}, false},
		{"..%2Fother/k", copySource{}, false},
		{"b%2F../k", copySource{}, false},
		{"b/" + strings.Repeat("k", 1025), copySource{}, false},
		{"b/" + strings.Repeat("k", 1024), copySource{bucket: "b", key: strings.Repeat("k", 1024)}, true},
		{"b/a..b", copySource{bucket: "b", key: "a..b"}, true},
	}
	for _, c := range cases {
		got, err := parseCopySource(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("parseCopySource(%q) = %+v, %v", c.in, got, err)
		}
		if c.ok {
			back, err := parseCopySource(got.header())
			if err != nil || back != got {
				t.Errorf("header() of %+v does not parse back: %+v %v", got, back, err)
			}
		}
	}
}

func FuzzParseCopySource(f *testing.F) {
	f.Add("b/k?versionId=1")
	f.Add("/b/a%20b")
	f.Fuzz(func(t *testing.T, v string) {
		c, err := parseCopySource(v)
		if err != nil {
			return
		}
		back, err := parseCopySource(c.header())
		if err != nil || back != c {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", v, c, c.header(), back, err)
		}
	})
}
