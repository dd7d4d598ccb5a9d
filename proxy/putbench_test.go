package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/sigv4"
)

// BenchmarkPut is PutObject alone through the proxy (SDK defaults, CRC32
// request checksums), in each upstream payload mode: 4 KiB objects from
// 16 goroutines, the small-object path (sealed in memory, one hex
// x-amz-content-sha256 upstream), and 64 MiB objects, the streamed path.
// The test process holds the client and the proxy (the backend is
// versitygw, another process), so compare profiles and allocs/op, and
// CPU per byte (-cpuprofile, or `time` of a -benchtime Nx run), not wall
// time on a shared machine:
//
//	go test -run '^$' -bench 'BenchmarkPut$' -benchmem -cpuprofile put.prof ./proxy
func BenchmarkPut(b *testing.B) {
	modes := []sigv4.PayloadMode{sigv4.PayloadChunked, sigv4.PayloadUnsignedTrailer, sigv4.PayloadUnsigned}
	for _, mode := range modes {
		tp := newTestProxy(b, func(c *Config) { c.UpstreamPayload = mode })
		bucket := tp.newBucket(b)
		b.Run(fmt.Sprintf("%v/4KiB-c16", mode), func(b *testing.B) { benchPutSmall(b, tp.client, bucket, 4<<10) })
		b.Run(fmt.Sprintf("%v/64MiB", mode), func(b *testing.B) { benchPutLarge(b, tp.client, bucket, 64<<20) })
	}
}

// benchPutSmall PUTs size-byte objects from 16 goroutines per core.
func benchPutSmall(b *testing.B, c *s3.Client, bucket string, size int) {
	data := randBytes(size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.SetParallelism(8) // 16 on 2 cores, as `bucketkey bench` c=16
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for i := 0; pb.Next(); i++ {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{
				Bucket: &bucket, Key: aws.String(fmt.Sprintf("small-%d", i%64)),
				Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(size)),
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// benchPutLarge PUTs one size-byte object per iteration.
func benchPutLarge(b *testing.B, c *s3.Client, bucket string, size int64) {
	ctx := context.Background()
	src := newPattern(size)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			b.Fatal(err)
		}
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("large"), Body: src, ContentLength: aws.Int64(size)}); err != nil {
			b.Fatal(err)
		}
	}
}
