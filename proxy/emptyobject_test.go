package proxy

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/sigv4"
)

// emptyMD5ETag is S3's ETag of an empty object: the MD5 of nothing.
const emptyMD5ETag = `"d41d8cd98f00b204e9800998ecf8427e"`

// TestEmptyObjectStoredEmpty: an empty object (a folder marker "dir/", the
// way rclone, s3fs, Hadoop s3a and the console make folders, or any empty
// file) is stored as an empty body with its envelope in the metadata, and
// reads back as S3 answers it: size 0, the MD5 of nothing as ETag.
func TestEmptyObjectStoredEmpty(t *testing.T) {
	tp := newTestProxy(t)
	bucket := tp.newBucket(t)
	ctx := context.Background()
	for _, key := range []string{"dir/", "empty.txt", "a/b/c/"} {
		t.Run(key, func(t *testing.T) {
			put := tp.put(t, bucket, key, nil)
			if aws.ToString(put.ETag) != emptyMD5ETag {
				t.Errorf("PutObject ETag %s, want %s", aws.ToString(put.ETag), emptyMD5ETag)
			}
			raw, out := stored(t, bucket, key)
			if len(raw) != 0 {
				t.Fatalf("backend holds %d bytes for an empty object", len(raw))
			}
			if _, err := envelope.ParseMetadata(metaHeader(out.Metadata)); err != nil {
				t.Fatalf("backend metadata: %v", err)
			}
			got, gout := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
			if len(got) != 0 || aws.ToInt64(gout.ContentLength) != 0 || aws.ToString(gout.ETag) != emptyMD5ETag {
				t.Fatalf("GET: %d bytes, Content-Length %d, ETag %s", len(got), aws.ToInt64(gout.ContentLength), aws.ToString(gout.ETag))
			}
			head, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
			if err != nil || aws.ToInt64(head.ContentLength) != 0 || aws.ToString(head.ETag) != emptyMD5ETag {
				t.Fatalf("HEAD: %v, %+v", err, head)
			}
			if head.ServerSideEncryption != types.ServerSideEncryptionAwsKms {
				t.Errorf("HEAD: server-side encryption %q", head.ServerSideEncryption)
			}
		})
	}
	list, err := tp.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Contents {
		if aws.ToInt64(o.Size) != 0 || aws.ToString(o.ETag) != emptyMD5ETag {
			t.Errorf("list entry %s: size %d, ETag %s", aws.ToString(o.Key), aws.ToInt64(o.Size), aws.ToString(o.ETag))
		}
	}
	// Tagging and DELETE act on the folder marker as on any object.
	key := "dir/"
	tags := &types.Tagging{TagSet: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}
	if _, err := tp.client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: &bucket, Key: &key, Tagging: tags}); err != nil {
		t.Fatalf("PutObjectTagging dir/: %v", err)
	}
	gt, err := tp.client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: &bucket, Key: &key})
	if err != nil || len(gt.TagSet) != 1 || aws.ToString(gt.TagSet[0].Value) != "v" {
		t.Fatalf("GetObjectTagging dir/: %v %+v", err, gt)
	}
	if _, err := tp.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
		t.Fatalf("DeleteObject dir/: %v", err)
	}
	if _, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key}); apiCode(err) != "NotFound" {
		t.Fatalf("HEAD dir/ after DELETE: %v", err)
	}
}

// TestEmptyObjectChecksums: the checksum of an empty PutObject is verified
// (a wrong one stores nothing) and answered.
func TestEmptyObjectChecksums(t *testing.T) {
	tp := newTestProxy(t)
	bucket := tp.newBucket(t)
	ctx := context.Background()
	for _, alg := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256} {
		key := "dir-" + string(alg) + "/"
		out, err := tp.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(nil), ChecksumAlgorithm: alg})
		if err != nil {
			t.Fatalf("PutObject %s: %v", alg, err)
		}
		if out.ChecksumCRC32 == nil && out.ChecksumCRC32C == nil && out.ChecksumCRC64NVME == nil && out.ChecksumSHA1 == nil && out.ChecksumSHA256 == nil {
			t.Errorf("PutObject %s: no checksum in the answer", alg)
		}
	}
	resp := tp.rawRequest(t, http.MethodPut, "/"+bucket+"/bad/", http.Header{"X-Amz-Checksum-Crc32": {"AAAAAQ=="}}, nil)
	body := readAllClose(t, resp.Body)
	if resp.StatusCode != 400 || errorCode(body) != "BadDigest" {
		t.Fatalf("empty PUT with a wrong CRC32: %d %s", resp.StatusCode, body)
	}
	if _, err := backend().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("bad/")}); err == nil {
		t.Fatal("an empty PUT refused for its checksum left an object")
	}
}

// TestEmptyObjectTampered: the envelope of an empty object is
// authenticated: metadata of another name, or of a non-empty object, over
// an empty body, fails; an empty body under metadata recording a size
// fails.
func TestEmptyObjectTampered(t *testing.T) {
	tp := newTestProxy(t)
	bucket := tp.newBucket(t)
	ctx := context.Background()
	tp.put(t, bucket, "e1/", nil)
	tp.put(t, bucket, "full", []byte("not empty"))
	_, e1 := stored(t, bucket, "e1/")
	_, full := stored(t, bucket, "full")

	plantRaw(t, bucket, "moved/", nil, e1.Metadata)   // another name
	plantRaw(t, bucket, "shrunk", nil, full.Metadata) // an empty body, size 9 recorded
	for _, key := range []string{"moved/", "shrunk"} {
		_, err := tp.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(key)})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() == "" {
			t.Fatalf("GET %s: %v, want an error", key, err)
		}
	}
}

// TestEmptyObjectOldFormat: an empty object written before empty bodies
// (its 16-byte stream: one empty final segment) stays readable. (Not at
// "old/": versitygw refuses data in a folder marker, which is why empty
// objects are stored empty.)
func TestEmptyObjectOldFormat(t *testing.T) {
	tp := newTestProxy(t)
	bucket := tp.newBucket(t)
	ctx := context.Background()
	tp.put(t, bucket, "old", nil)
	_, out := stored(t, bucket, "old")
	md, err := envelope.ParseMetadata(metaHeader(out.Metadata))
	if err != nil {
		t.Fatal(err)
	}
	rq := &request{auth: &sigv4.Authenticated{AccessKey: clientAccessKey}}
	dk, err := tp.openDataKey(ctx, rq, md, bucket, "old", false)
	if err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	w, err := envelope.NewWriter(&stream, dk, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	dk.Wipe()
	if stream.Len() != 16 {
		t.Fatalf("old empty stream is %d bytes", stream.Len())
	}
	plantRaw(t, bucket, "old", stream.Bytes(), out.Metadata)
	got, gout := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("old")})
	if len(got) != 0 || aws.ToInt64(gout.ContentLength) != 0 {
		t.Fatalf("GET of an old empty object: %d bytes, Content-Length %d", len(got), aws.ToInt64(gout.ContentLength))
	}
	head, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("old")})
	if err != nil || aws.ToInt64(head.ContentLength) != 0 {
		t.Fatalf("HEAD of an old empty object: %v %+v", err, head)
	}
	// A flipped bit in the old stream fails.
	bad := bytes.Clone(stream.Bytes())
	bad[3] ^= 1
	plantRaw(t, bucket, "old", bad, out.Metadata)
	if _, err := tp.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("old")}); err == nil {
		t.Fatal("GET of a tampered old empty object succeeded")
	}
}

// plantRaw stores body with user metadata md at the backend directly.
func plantRaw(t testing.TB, bucket, key string, body []byte, md map[string]string) {
	t.Helper()
	if _, err := backend().PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &bucket, Key: &key, Body: bytes.NewReader(body), Metadata: md,
	}); err != nil {
		t.Fatalf("plant %s: %v", key, err)
	}
}

// TestFolderMarkersAsBackend: "dir/" and "dir" answer through the proxy
// exactly as they do directly from the backend (versitygw maps keys to
// files: "dir/" is a directory, which refuses data, and "dir" is then a
// name it cannot hold as a file).
func TestFolderMarkersAsBackend(t *testing.T) {
	tp := newTestProxy(t)
	pb := tp.newBucket(t)
	db := tp.newBucket(t)
	ctx := context.Background()
	direct := backend()
	type answer struct {
		code string
		size int64
	}
	do := func(c *s3.Client, bucket string, op func(c *s3.Client, bucket string) (int64, error)) answer {
		n, err := op(c, bucket)
		return answer{apiCode(err), n}
	}
	steps := []struct {
		name string
		op   func(c *s3.Client, bucket string) (int64, error)
	}{
		{"PUT dir/", func(c *s3.Client, b string) (int64, error) {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("dir/"), Body: bytes.NewReader(nil)})
			return 0, err
		}},
		{"PUT dir/ with data", func(c *s3.Client, b string) (int64, error) {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("data/"), Body: strings.NewReader("x")})
			return 0, err
		}},
		{"HEAD dir/", func(c *s3.Client, b string) (int64, error) {
			o, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("dir/")})
			if err != nil {
				return 0, err
			}
			return aws.ToInt64(o.ContentLength), nil
		}},
		{"HEAD dir", func(c *s3.Client, b string) (int64, error) {
			o, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("dir")})
			if err != nil {
				return 0, err
			}
			return aws.ToInt64(o.ContentLength), nil
		}},
		{"GET dir", func(c *s3.Client, b string) (int64, error) {
			o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("dir")})
			if err != nil {
				return 0, err
			}
			o.Body.Close()
			return aws.ToInt64(o.ContentLength), nil
		}},
		{"PUT dir/f", func(c *s3.Client, b string) (int64, error) {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("dir/f"), Body: strings.NewReader("file")})
			return 0, err
		}},
		{"GET dir/", func(c *s3.Client, b string) (int64, error) {
			o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("dir/")})
			if err != nil {
				return 0, err
			}
			o.Body.Close()
			return aws.ToInt64(o.ContentLength), nil
		}},
		{"GET dir/ partNumber 1", func(c *s3.Client, b string) (int64, error) {
			o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("dir/"), PartNumber: aws.Int32(1)})
			if err != nil {
				return 0, err
			}
			o.Body.Close()
			return aws.ToInt64(o.ContentLength), nil
		}},
		{"HEAD dir/ partNumber 1", func(c *s3.Client, b string) (int64, error) {
			o, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("dir/"), PartNumber: aws.Int32(1)})
			if err != nil {
				return 0, err
			}
			return aws.ToInt64(o.ContentLength), nil
		}},
		{"LIST dir/", func(c *s3.Client, b string) (int64, error) {
			o, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b, Prefix: aws.String("dir")})
			if err != nil {
				return 0, err
			}
			return int64(len(o.Contents)), nil
		}},
		{"DELETE dir/ with a file in it", func(c *s3.Client, b string) (int64, error) {
			_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b, Key: aws.String("dir/")})
			return 0, err
		}},
		{"DELETE dir/f", func(c *s3.Client, b string) (int64, error) {
			_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b, Key: aws.String("dir/f")})
			return 0, err
		}},
		{"DELETE dir/", func(c *s3.Client, b string) (int64, error) {
			_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b, Key: aws.String("dir/")})
			return 0, err
		}},
		{"HEAD dir/ deleted", func(c *s3.Client, b string) (int64, error) {
			_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("dir/")})
			return 0, err
		}},
	}
	for _, s := range steps {
		want := do(direct, db, s.op)
		got := do(tp.client, pb, s.op)
		t.Logf("%s: backend %+v, proxy %+v", s.name, want, got)
		if got != want {
			t.Errorf("%s: through the proxy %+v, directly %+v", s.name, got, want)
		}
	}
}
