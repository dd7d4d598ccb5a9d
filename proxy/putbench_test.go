package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/envelope"
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
	benchLarge(b, size, func(src io.ReadSeeker) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("large"), Body: src, ContentLength: aws.Int64(size)})
		return err
	})
}

// benchLarge calls put with size bytes of a pattern per iteration and
// reports, besides the usual, the process's CPU seconds per GiB.
func benchLarge(b *testing.B, size int64, put func(io.ReadSeeker) error) {
	src := newPattern(size)
	b.SetBytes(size)
	b.ReportAllocs()
	start := processCPU()
	for b.Loop() {
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			b.Fatal(err)
		}
		if err := put(src); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((processCPU()-start).Seconds()/(float64(b.N)*float64(size)/(1<<30)), "cpu-s/GiB")
}

// BenchmarkPutChunkSize is a 64 MiB PutObject through the proxy, signed
// aws-chunked upstream, with upstream chunks of one sealed segment (the
// proxy's, sealedSegment) against sigv4's 64 KiB default,
// which splits every segment across two chunks (two pipe reads and
// wake-ups per segment). cpu-s/GiB is the test process's CPU (client and
// proxy; versitygw is another process) per GiB, the figure to compare:
//
//	go test -run '^$' -bench BenchmarkPutChunkSize -count 6 ./proxy
func BenchmarkPutChunkSize(b *testing.B) {
	tp := newTestProxy(b, func(c *Config) { c.UpstreamPayload = sigv4.PayloadChunked })
	bucket := tp.newBucket(b)
	for _, chunk := range []int{sigv4.DefaultChunkSize, sealedSegment} {
		b.Run(fmt.Sprintf("chunk=%d", chunk), func(b *testing.B) {
			tp.signer.ChunkSize = chunk // no request in flight between runs
			benchPutLarge(b, tp.client, bucket, 64<<20)
		})
	}
}

// BenchmarkPutHandler is the proxy's handler alone serving a 4 KiB
// PutObject as aws-sdk-go-v2 sends it over http, replayed (the SDK's
// request is captured once, then served again and again with a fresh
// body), in front of versitygw: allocs/op are the proxy's per PUT, its
// backend transport's included, plus the replay's own few (a request,
// a header clone, a reader, a recorder), and cpu-µs/op the test
// process's CPU time per PUT. "crc32" is the SDK's default (a
// hex SHA-256 and an x-amz-checksum-crc32 header); "no-checksum" sends
// none, so the proxy reads the body whole first to record its CRC64NVME,
// as it does for a trailer's checksum. For allocations and the
// per-request profile, not throughput:
//
//	go test -run '^$' -bench BenchmarkPutHandler -benchmem -memprofile mem.prof ./proxy
func BenchmarkPutHandler(b *testing.B) {
	tp := newTestProxy(b)
	bucket := tp.newBucket(b)
	const size = 4 << 10
	data := randBytes(size)
	for _, v := range []struct {
		name string
		calc aws.RequestChecksumCalculation
	}{{"crc32", aws.RequestChecksumCalculationWhenSupported}, {"no-checksum", aws.RequestChecksumCalculationWhenRequired}} {
		req, body := captureRequest(b, tp.srv.URL, func(c *s3.Client) error {
			_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
				Bucket: &bucket, Key: aws.String("handler"),
				Body: bytes.NewReader(data), ContentLength: aws.Int64(size),
			}, func(o *s3.Options) { o.RequestChecksumCalculation = v.calc })
			return err
		})
		b.Run(fmt.Sprintf("%dKiB-%s", size>>10, v.name), func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			start := processCPU()
			for b.Loop() {
				w := httptest.NewRecorder()
				tp.ServeHTTP(w, replay(req, body))
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
			b.ReportMetric(float64((processCPU()-start).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// captureRequest returns the request (and its body) that call makes
// through an SDK client of endpoint, which gets a bare 200 in answer.
func captureRequest(b *testing.B, endpoint string, call func(*s3.Client) error) (*http.Request, []byte) {
	b.Helper()
	var got *http.Request
	var body []byte
	c := newS3Client(endpoint, clientAccessKey, clientSecretKey, func(o *s3.Options) {
		o.HTTPClient = doFunc(func(r *http.Request) (*http.Response, error) {
			var err error
			if r.Body != nil {
				if body, err = io.ReadAll(r.Body); err != nil {
					return nil, err
				}
			}
			got = r
			return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
		})
	})
	if err := call(c); err != nil {
		b.Fatal(err)
	}
	return got, body
}

type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// replay is r as a server receives it, with body.
func replay(r *http.Request, body []byte) *http.Request {
	s := httptest.NewRequest(r.Method, r.URL.RequestURI(), bytes.NewReader(body))
	s.Host = r.URL.Host
	s.Header = r.Header.Clone()
	s.ContentLength = int64(len(body))
	return s
}

// BenchmarkUpstreamChunks is a streamed upload's pipeline without the
// network, as putEncrypted runs it: 64 MiB of plaintext through
// sealReader (envelope.NewWriter) into the body that SignStream frames as
// signed aws-chunked, read to its end as the transport reads it, with
// chunks of one sealed segment (the proxy's) and of sigv4's 64 KiB.
// cpu-s/GiB is the process's CPU per GiB of plaintext:
//
//	go test -run '^$' -bench BenchmarkUpstreamChunks -count 6 ./proxy
func BenchmarkUpstreamChunks(b *testing.B) {
	const size = 64 << 20
	bk := randBytes(32)
	_, dk, err := envelope.Seal(envelope.BucketKey{Plaintext: bk, KeyID: "k", Wrapped: []byte("w"), Bucket: "bkt"}, "obj", false, size)
	if err != nil {
		b.Fatal(err)
	}
	defer dk.Wipe()
	for _, chunk := range []int{sigv4.DefaultChunkSize, sealedSegment} {
		b.Run(fmt.Sprintf("chunk=%d", chunk), func(b *testing.B) {
			s := &sigv4.Signer{Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"}, nil
			}), Region: "us-east-1", Mode: sigv4.PayloadChunked, ChunkSize: chunk}
			benchLarge(b, size, func(src io.ReadSeeker) error {
				req, err := http.NewRequest(http.MethodPut, "http://127.0.0.1:1/bkt/obj", nil)
				if err != nil {
					return err
				}
				body, err := newSealReader(encryptedPut{dk: dk, plaintext: src, size: size}, func() {})
				if err != nil {
					return err
				}
				defer body.abandon()
				if err := s.SignStream(context.Background(), req, body, dk.StoredSize(0, size)); err != nil {
					return err
				}
				// As the transport reads a body: io.Copy's 32 KiB buffer.
				if n, err := io.CopyBuffer(io.Discard, onlyReader{req.Body}, make([]byte, 32<<10)); err != nil || n != req.ContentLength {
					return fmt.Errorf("%d of %d bytes: %v", n, req.ContentLength, err)
				}
				return nil
			})
		})
	}
}
