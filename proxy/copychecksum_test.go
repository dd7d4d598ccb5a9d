package proxy

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketkey/bucketkey/checksum"
)

// TestCopyObjectChecksum: CopyObject answers the copy's checksum in its
// CopyObjectResult (ChecksumCRC32C... and ChecksumType, as S3's API
// reference lists them), the plaintext's: the source's when the client
// names no algorithm, else one of x-amz-checksum-algorithm computed over
// the source's plaintext, which the copy then stores (HEAD answers it, and
// no other). An unknown algorithm is refused with S3's message before the
// copy to itself is judged.
func TestCopyObjectChecksum(t *testing.T) {
	tp := newTestProxy(t)
	bucket := tp.newBucket(t)
	ctx := context.Background()
	data := randBytes(200000) // several segments: the new checksum is computed over a streamed read
	crc32c := checksum.Encode(checksum.CRC32C.Sum(data))
	if _, err := tp.client.PutObject(ctx, putInputWithChecksum(bucket, "src", data, checksum.CRC32C, crc32c)); err != nil {
		t.Fatal(err)
	}

	kept, err := tp.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String("kept"), CopySource: aws.String(bucket + "/src")})
	if err != nil {
		t.Fatal(err)
	}
	if r := kept.CopyObjectResult; aws.ToString(r.ChecksumCRC32C) != crc32c || r.ChecksumType != types.ChecksumTypeFullObject {
		t.Errorf("copy: CRC32C %q type %q, want %q FULL_OBJECT", aws.ToString(r.ChecksumCRC32C), r.ChecksumType, crc32c)
	}

	sha1 := checksum.Encode(checksum.SHA1.Sum(data))
	for _, dst := range []string{"replaced", "src"} { // another key, and the source itself with REPLACE
		in := &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String(dst), CopySource: aws.String(bucket + "/src"), ChecksumAlgorithm: types.ChecksumAlgorithmSha1}
		if dst == "src" {
			in.MetadataDirective = types.MetadataDirectiveReplace
		}
		out, err := tp.client.CopyObject(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if r := out.CopyObjectResult; aws.ToString(r.ChecksumSHA1) != sha1 || r.ChecksumCRC32C != nil || r.ChecksumType != types.ChecksumTypeFullObject {
			t.Errorf("copy to %s with SHA1: %+v, want SHA1 %q only", dst, r, sha1)
		}
		head, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(dst), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(head.ChecksumSHA1) != sha1 || head.ChecksumCRC32C != nil {
			t.Errorf("HEAD %s: SHA1 %q CRC32C %q, want SHA1 %q only", dst, aws.ToString(head.ChecksumSHA1), aws.ToString(head.ChecksumCRC32C), sha1)
		}
	}

	resp := tp.rawRequest(t, http.MethodPut, "/"+bucket+"/src", http.Header{"X-Amz-Copy-Source": {bucket + "/src"}, "X-Amz-Checksum-Algorithm": {"BLAKE3"}}, nil)
	body := string(readAllClose(t, resp.Body))
	if resp.StatusCode != 400 || !strings.Contains(body, "<Code>InvalidRequest</Code><Message>Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, MD5, SHA1, SHA256, SHA512, XXHASH128, XXHASH3, XXHASH64]</Message>") {
		t.Errorf("unknown algorithm: %d %s", resp.StatusCode, body)
	}
}
