package zzscratch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

func TestScratchVersity(t *testing.T) {
	p := testenv.S3(t)
	ctx := context.Background()
	c := s3.New(s3.Options{Region: testenv.Region, BaseEndpoint: aws.String(p.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(testenv.S3AccessKey, testenv.S3SecretKey, "")})
	must := func(err error) { t.Helper(); if err != nil { t.Fatal(err) } }
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")})
	must(err)
	cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("mp"), Metadata: map[string]string{"bk-x": "1"}})
	must(err)
	fmt.Println("uploadid", *cr.UploadId)
	var parts []types.CompletedPart
	for i, n := range []int{5<<20 + 7, 1000} {
		up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("mp"), UploadId: cr.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(make([]byte, n))})
		must(err)
		fmt.Printf("part %d etag %s crc %v\n", i+1, *up.ETag, aws.ToString(up.ChecksumCRC32))
		parts = append(parts, types.CompletedPart{ETag: up.ETag, PartNumber: aws.Int32(int32(i + 1)), ChecksumCRC32: up.ChecksumCRC32})
	}
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("bkt"), Key: aws.String("mp"), UploadId: cr.UploadId})
	must(err)
	fmt.Printf("listparts %d\n", len(lp.Parts))
	co, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("mp"), UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	must(err)
	fmt.Println("complete etag", *co.ETag)
	raw := func(method, path string, hdr map[string]string) {
		req, _ := http.NewRequest(method, p.URL+path, nil)
		for k, v := range hdr { req.Header.Set(k, v) }
		_ = signRaw(req)
		resp, err := http.DefaultClient.Do(req)
		must(err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s %s %v -> %d len=%d\n", method, path, hdr, resp.StatusCode, len(b))
		for k, v := range resp.Header { fmt.Printf("   %s: %s\n", k, strings.Join(v, ",")) }
		if len(b) < 600 { fmt.Printf("   body: %s\n", b) }
	}
	raw("HEAD", "/bkt/mp?partNumber=1", nil)
	raw("HEAD", "/bkt/mp?partNumber=2", nil)
	raw("GET", "/bkt/mp?partNumber=2", nil)
	raw("HEAD", "/bkt/mp?partNumber=3", nil)
	raw("HEAD", "/bkt/mp", map[string]string{"If-Match": "\"nope\""})
	raw("HEAD", "/bkt/mp", map[string]string{"If-None-Match": *co.ETag})
	raw("GET", "/bkt/mp", map[string]string{"If-None-Match": *co.ETag})
	raw("GET", "/bkt/mp", map[string]string{"Range": "bytes=0-3", "If-Match": "\"nope\""})
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("single"), Body: strings.NewReader("hello world")})
	must(err)
	raw("HEAD", "/bkt/single?partNumber=1", nil)
	raw("GET", "/bkt/single?partNumber=1", nil)
	raw("HEAD", "/bkt/single?partNumber=2", map[string]string{"x-amz-checksum-mode": "ENABLED"})
	raw("GET", "/bkt/single", map[string]string{"x-amz-checksum-mode": "ENABLED"})
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("bkt"), Key: aws.String("mpcopy"), CopySource: aws.String("bkt/mp")})
	must(err)
	raw("HEAD", "/bkt/mpcopy?partNumber=1", nil)
	raw("GET", "/bkt/?list-type=2", nil)
	raw("GET", "/bkt/?versions", nil)
	raw("GET", "/bkt/?uploads", nil)
	raw("GET", "/bkt/?location", nil)
	raw("GET", "/", nil)
}
