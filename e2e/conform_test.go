package e2e

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
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
