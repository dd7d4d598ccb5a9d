package proxy

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketkey/bucketkey/checksum"
)

// checksumField returns the Checksum<ALGORITHM> field of the SDK struct
// *v (an input or output), whose fields are named for S3's elements.
func checksumField(v any, a checksum.Algorithm) reflect.Value {
	return reflect.ValueOf(v).Elem().FieldByName(a.XMLElement())
}

// sdkChecksum reads the checksum of algorithm a from an SDK output.
func sdkChecksum(v any, a checksum.Algorithm) string {
	return aws.ToString(checksumField(v, a).Interface().(*string))
}

// setSDKChecksum sets the checksum of algorithm a in an SDK input (nil
// for "" clears it).
func setSDKChecksum(v any, a checksum.Algorithm, value string) {
	var p *string
	if value != "" {
		p = &value
	}
	checksumField(v, a).Set(reflect.ValueOf(p))
}

// completedPart is a CompleteMultipartUpload part with its checksum of
// algorithm a.
func completedPart(n int32, etag *string, a checksum.Algorithm, v string) types.CompletedPart {
	p := types.CompletedPart{PartNumber: aws.Int32(n), ETag: etag}
	setSDKChecksum(&p, a, v)
	return p
}

// TestMultipartChecksums: a multipart upload with a declared checksum,
// through the proxy and directly against versitygw with aws-sdk-go-v2:
// parts are held to the algorithm and answer their plaintext checksum;
// CompleteMultipartUpload checks the parts' checksums (InvalidPart),
// answers the COMPOSITE or FULL_OBJECT checksum S3 computes, and checks
// the whole object's checksum the client sends (BadDigest). The s3
// manager's upload with ChecksumAlgorithm gets the same answer either
// way.
func TestMultipartChecksums(t *testing.T) {
	tp := newTestProxy(t)
	ctx := context.Background()
	direct := newBucketName()
	if _, err := tp.backend.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &direct}); err != nil {
		t.Fatal(err)
	}
	part1, part2 := randBytes(5<<20), randBytes(1000)
	whole := append(append([]byte(nil), part1...), part2...)
	for _, target := range []struct {
		name   string
		client *s3.Client
		bucket string
	}{{"proxy", tp.client, tp.newBucket(t)}, {"direct", tp.backend, direct}} {
		cl, bucket := target.client, target.bucket
		for _, c := range []struct {
			alg checksum.Algorithm
			sdk types.ChecksumAlgorithm
			typ types.ChecksumType
		}{
			{checksum.CRC32, types.ChecksumAlgorithmCrc32, types.ChecksumTypeFullObject},
			{checksum.CRC64NVME, types.ChecksumAlgorithmCrc64nvme, types.ChecksumTypeFullObject},
			{checksum.SHA256, types.ChecksumAlgorithmSha256, types.ChecksumTypeComposite},
		} {
			what := fmt.Sprintf("%s %s %s", target.name, c.alg, c.typ)
			key := "ck-" + c.alg.String()
			cr, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key, ChecksumAlgorithm: c.sdk, ChecksumType: c.typ})
			if err != nil {
				t.Fatalf("%s: CreateMultipartUpload: %v", what, err)
			}
			// Another algorithm than the upload's is refused.
			other := types.ChecksumAlgorithmCrc32c
			_, err = cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(part2), ChecksumAlgorithm: other})
			wantCode(t, what+": UploadPart of another algorithm", err, "InvalidRequest")
			var parts []types.CompletedPart
			var digests [][]byte
			for i, data := range [][]byte{part1, part2} {
				up, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(data), ChecksumAlgorithm: c.sdk})
				if err != nil {
					t.Fatalf("%s: UploadPart %d: %v", what, i+1, err)
				}
				d := c.alg.Sum(data)
				if got := sdkChecksum(up, c.alg); got != checksum.Encode(d) {
					t.Errorf("%s: UploadPart %d answered %s %q, want %q", what, i+1, c.alg, got, checksum.Encode(d))
				}
				digests = append(digests, d)
				parts = append(parts, completedPart(int32(i+1), up.ETag, c.alg, checksum.Encode(d)))
			}
			// ListParts names the upload's algorithm and type.
			lp, err := cl.ListParts(ctx, &s3.ListPartsInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId})
			if err != nil {
				t.Fatalf("%s: ListParts: %v", what, err)
			}
			if lp.ChecksumAlgorithm != c.sdk || lp.ChecksumType != c.typ || len(lp.Parts) != 2 {
				t.Errorf("%s: ListParts: algorithm %q type %q, %d parts", what, lp.ChecksumAlgorithm, lp.ChecksumType, len(lp.Parts))
			}
			want := checksum.Encode(c.alg.Sum(whole))
			if c.typ == types.ChecksumTypeComposite {
				want = checksum.Encode(c.alg.Sum(append(append([]byte(nil), digests[0]...), digests[1]...))) + "-2"
			}
			// A wrong part checksum, then a wrong whole-object checksum.
			bad := append([]types.CompletedPart(nil), parts...)
			bad[0] = completedPart(1, parts[0].ETag, c.alg, checksum.Encode(c.alg.Sum([]byte("other"))))
			_, err = cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: bad}})
			wantCode(t, what+": Complete with a wrong part checksum", err, "InvalidPart")
			in := &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}, ChecksumType: c.typ}
			setSDKChecksum(in, c.alg, checksum.Encode(c.alg.Sum([]byte("not the object"))))
			_, err = cl.CompleteMultipartUpload(ctx, in)
			wantCode(t, what+": Complete with a wrong object checksum", err, "BadDigest")
			setSDKChecksum(in, c.alg, "")
			out, err := cl.CompleteMultipartUpload(ctx, in)
			if err != nil {
				t.Fatalf("%s: CompleteMultipartUpload: %v", what, err)
			}
			if got := sdkChecksum(out, c.alg); got != want || out.ChecksumType != c.typ {
				t.Errorf("%s: Complete answered %s %q %s, want %q %s", what, c.alg, got, out.ChecksumType, want, c.typ)
			}
		}

		// The s3 manager, with a checksum algorithm (COMPOSITE CRC32).
		key := "managed"
		//lint:ignore SA1019 the upload manager is what deployed SDK users run
		res, err := manager.NewUploader(cl, func(u *manager.Uploader) { u.PartSize = 5 << 20 }).Upload(ctx, &s3.PutObjectInput{
			Bucket: &bucket, Key: &key, Body: bytes.NewReader(whole), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			t.Fatalf("%s: manager upload: %v", target.name, err)
		}
		want := checksum.Encode(checksum.CRC32.Sum(append(checksum.CRC32.Sum(part1), checksum.CRC32.Sum(part2)...))) + "-2"
		if got := aws.ToString(res.ChecksumCRC32); got != want {
			t.Errorf("%s: manager upload answered CRC32 %q, want %q", target.name, got, want)
		}
	}
}
