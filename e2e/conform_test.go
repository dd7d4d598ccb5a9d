package e2e

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// This file holds the cases the versitygw conformance suite (versitygw
// test full-flow) found answered otherwise through the proxy than
// directly, each run through the proxy and against versitygw directly.

// TestConformEmptyDescribedBody: a request whose body is empty but
// described (aws-sdk-go-v2 sends x-amz-checksum-crc32 of nothing with an
// empty PutObjectLegalHold) is judged by its body and bucket, as S3 judges
// it: MalformedXML, NoSuchBucket; not refused for a missing digest.
func TestConformEmptyDescribedBody(t *testing.T) {
	e := newEnv(t, envOptions{})
	bucket := e.newBucket()
	for _, tg := range fidelityTargets(e) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := ctxFor(t, time.Minute)
			_, err := tg.client.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: &bucket, Key: aws.String("held")})
			if code := apiCode(err); code != "MalformedXML" {
				t.Errorf("empty PutObjectLegalHold: %s (%v), want MalformedXML", code, err)
			}
			_, err = tg.client.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: aws.String(bucket + "-none"), Key: aws.String("held")})
			if code := apiCode(err); code != "NoSuchBucket" {
				t.Errorf("empty PutObjectRetention, no such bucket: %s (%v), want NoSuchBucket", code, err)
			}
		})
	}
}

// TestConformSinglePartChecksum: part 1 of a single-part object is the
// whole object, and GET and HEAD with partNumber=1 and checksum mode
// answer its checksum, as for the whole object; an empty object too.
func TestConformSinglePartChecksum(t *testing.T) {
	e := newEnv(t, envOptions{})
	bucket := e.newBucket()
	for _, tg := range fidelityTargets(e) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := ctxFor(t, time.Minute)
			for _, size := range []int{0, 100} {
				key := fmt.Sprintf("single-%d", size)
				put, err := tg.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(randBytes(size)), ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
				if err != nil {
					t.Fatal(err)
				}
				want := aws.ToString(put.ChecksumSHA256)
				head, err := tg.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key, PartNumber: aws.Int32(1), ChecksumMode: types.ChecksumModeEnabled})
				if err != nil || want == "" || aws.ToString(head.ChecksumSHA256) != want {
					t.Errorf("HEAD %s partNumber=1: %v, SHA256 %q, want %q", key, err, aws.ToString(head.ChecksumSHA256), want)
				}
				get, err := tg.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key, PartNumber: aws.Int32(1), ChecksumMode: types.ChecksumModeEnabled})
				if err != nil {
					t.Fatal(err)
				}
				get.Body.Close()
				if aws.ToString(get.ChecksumSHA256) != want {
					t.Errorf("GET %s partNumber=1: SHA256 %q, want %q", key, aws.ToString(get.ChecksumSHA256), want)
				}
			}
		})
	}
}

// TestConformAttributesBucketFirst: GetObjectAttributes naming no
// attribute, of a bucket that does not exist, is NoSuchBucket: S3 checks
// the bucket before the attributes asked for.
func TestConformAttributesBucketFirst(t *testing.T) {
	e := newEnv(t, envOptions{})
	bucket := e.newBucket() + "-none"
	for _, tg := range fidelityTargets(e) {
		t.Run(tg.name, func(t *testing.T) {
			_, err := tg.client.GetObjectAttributes(ctxFor(t, time.Minute), &s3.GetObjectAttributesInput{Bucket: &bucket, Key: aws.String("obj"), ObjectAttributes: []types.ObjectAttributes{}})
			if code := apiCode(err); code != "NoSuchBucket" {
				t.Errorf("no attributes, no such bucket: %s (%v), want NoSuchBucket", code, err)
			}
		})
	}
}
