package sigv4

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// Requests produced by real S3 clients, against a server (stubS3) whose
// handler authenticates with Verifier and reads every body to its end.

// clientKeys are object keys that stress path canonicalisation.
var clientKeys = []string{
	"plain.txt",
	"dir/sub dir/file with spaces+plus.bin",
	"unicode/ü/東京/😀",
	"a//b/./c/../d",
	"%2F-literal-percent%41",
	"punct/~!$&'()*,;=:@[]",
}

func payloadBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>8)
	}
	return b
}

func sdkClient(t *testing.T, srvURL string, hc *http.Client, sk string) *s3.Client {
	t.Helper()
	cfg := aws.Config{
		Region:      testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(testAK, sk, ""),
		HTTPClient:  hc,
		// What config.LoadDefaultConfig sets unless told otherwise: a CRC
		// checksum on every PutObject.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(srvURL)
		o.UsePathStyle = true
		o.RetryMaxAttempts = 1
	})
}

func TestAWSSDKClient(t *testing.T) {
	for _, tls := range []bool{false, true} {
		name := "http"
		if tls {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			stub, srv := newStub(t, tls, time.Now)
			c := sdkClient(t, srv.URL, srv.Client(), testSK)
			ctx := context.Background()
			modes := map[string]bool{}

			// PutObject with the SDK's default checksum (CRC32), then each
			// algorithm explicitly.
			algs := []types.ChecksumAlgorithm{"", types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256}
			for i, key := range clientKeys {
				for j, alg := range algs {
					data := payloadBody(1 + (i*len(algs)+j)*12345)
					in := &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key), Body: bytes.NewReader(data), ChecksumAlgorithm: alg}
					if _, err := c.PutObject(ctx, in); err != nil {
						t.Fatalf("PutObject %q %s: %v", key, alg, err)
					}
					rec := stub.next(t)
					if rec.err != nil || !bytes.Equal(rec.body, data) {
						t.Fatalf("PutObject %q %s: %v", key, alg, rec)
					}
					wantAlg := string(alg)
					if wantAlg == "" {
						wantAlg = "CRC32"
					}
					if rec.ckAlg != wantAlg || rec.ck == "" {
						t.Fatalf("PutObject %q: checksum %s:%q, want %s", key, rec.ckAlg, rec.ck, wantAlg)
					}
					modes[rec.payload] = true
				}
			}
			// Over HTTPS the SDK streams with a trailing checksum; over
			// plain HTTP it signs the payload hash and sends the checksum
			// as a header.
			hexOnly := true
			for m := range modes {
				hexOnly = hexOnly && len(m) == 64
			}
			if tls && !modes[streamingUnsignedTrailer] || !tls && !hexOnly {
				t.Fatalf("payload modes used: %v", modes)
			}

			// An unseekable body of known length (trailer over HTTPS only).
			if tls {
				data := payloadBody(300000)
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String("stream"), Body: io.MultiReader(bytes.NewReader(data)), ContentLength: aws.Int64(int64(len(data)))})
				if err != nil {
					t.Fatal(err)
				}
				if rec := stub.next(t); rec.err != nil || !bytes.Equal(rec.body, data) || rec.payload != streamingUnsignedTrailer {
					t.Fatalf("unseekable PutObject: %v", rec)
				}
			}

			// GetObject with a Range, HeadObject, ListObjectsV2 with an
			// awkward prefix, DeleteObjects (a checksummed XML body).
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String(clientKeys[1]), Range: aws.String("bytes=2-11")})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if want, _ := stub.object("/bucket/" + clientKeys[1]); !bytes.Equal(got, want[2:12]) {
				t.Fatalf("GetObject range: %q", got)
			}
			if rec := stub.next(t); rec.err != nil {
				t.Fatal(rec)
			}
			if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bucket"), Key: aws.String(clientKeys[2])}); err != nil {
				t.Fatal(err)
			}
			stub.next(t)
			if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bucket"), Prefix: aws.String("a b+c/ü=&?"), Delimiter: aws.String("/"), StartAfter: aws.String("~x y")}); err != nil {
				t.Fatal(err)
			}
			stub.next(t)
			_, err = c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("bucket"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String(clientKeys[0])}, {Key: aws.String(clientKeys[3])}}}})
			if err != nil {
				t.Fatal(err)
			}
			if rec := stub.next(t); rec.err != nil || rec.ckAlg == "" {
				t.Fatalf("DeleteObjects: %v", rec)
			}
			if _, err := c.ListBuckets(ctx, &s3.ListBucketsInput{}); err == nil {
				// The stub answers ListBuckets with an empty body the SDK
				// may or may not accept; what matters is authentication.
				_ = err
			}
			if rec := stub.next(t); rec.err != nil {
				t.Fatalf("ListBuckets: %v", rec)
			}

			// Presigned GET and PUT.
			pc := s3.NewPresignClient(c)
			pg, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String(clientKeys[2])}, s3.WithPresignExpires(10*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			resp := doPresigned(t, srv.Client(), "GET", pg.URL, pg.SignedHeader, nil)
			if want, _ := stub.object("/bucket/" + clientKeys[2]); resp.StatusCode != 200 || !bytes.Equal(readAll(t, resp), want) {
				t.Fatalf("presigned GET: %d", resp.StatusCode)
			}
			if rec := stub.next(t); !rec.presigned || rec.err != nil {
				t.Fatalf("presigned GET: %v", rec)
			}
			data := payloadBody(5000)
			pp, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String(clientKeys[5]), ContentLength: aws.Int64(int64(len(data)))})
			if err != nil {
				t.Fatal(err)
			}
			resp = doPresigned(t, srv.Client(), "PUT", pp.URL, pp.SignedHeader, data)
			resp.Body.Close()
			if rec := stub.next(t); resp.StatusCode != 200 || !rec.presigned || !bytes.Equal(rec.body, data) {
				t.Fatalf("presigned PUT: %d %v", resp.StatusCode, rec)
			}

			// A client with the wrong secret gets SignatureDoesNotMatch.
			bad := sdkClient(t, srv.URL, srv.Client(), "wrong-secret")
			_, err = bad.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String("x"), Body: bytes.NewReader([]byte("x"))})
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "SignatureDoesNotMatch" {
				t.Fatalf("wrong secret: %v", err)
			}
			stub.next(t)
		})
	}
}

func doPresigned(t *testing.T, hc *http.Client, method, u string, hdr http.Header, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if strings.EqualFold(k, "host") {
			continue
		}
		req.Header[k] = v
	}
	req.ContentLength = int64(len(body))
	if body == nil {
		req.Body = http.NoBody
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMinioGoClient(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tls      bool
		trailing bool
		want     string // the payload mode minio-go uses
	}{
		{"http streaming signature", false, false, streamingSigned},
		{"http streaming signature with trailer", false, true, streamingSignedTrailer},
		{"https unsigned trailer", true, true, streamingUnsignedTrailer},
		{"https", true, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stub, srv := newStub(t, tc.tls, time.Now)
			u, _ := url.Parse(srv.URL)
			mc, err := minio.New(u.Host, &minio.Options{
				Creds:           miniocreds.NewStaticV4(testAK, testSK, ""),
				Secure:          tc.tls,
				Region:          testRegion,
				Transport:       srv.Client().Transport,
				TrailingHeaders: tc.trailing,
				MaxRetries:      1,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			seen := map[string]bool{}
			algs := []minio.ChecksumType{minio.ChecksumCRC32C, minio.ChecksumCRC32, minio.ChecksumCRC64NVME, minio.ChecksumSHA1, minio.ChecksumSHA256}
			for i, key := range clientKeys {
				for j, size := range []int{1, 65536, 200001} {
					data := payloadBody(size + i)
					var opts minio.PutObjectOptions
					if tc.trailing {
						opts.Checksum = algs[(i*3+j)%len(algs)]
					}
					_, err := mc.PutObject(ctx, "bucket", key, bytes.NewReader(data), int64(len(data)), opts)
					if err != nil {
						t.Fatalf("PutObject %q %d: %v", key, size, err)
					}
					rec := stub.next(t)
					if rec.err != nil || !bytes.Equal(rec.body, data) {
						t.Fatalf("PutObject %q %d: %v", key, size, rec)
					}
					seen[rec.payload] = true
					if tc.trailing && (rec.ckAlg != opts.Checksum.String() || rec.ck == "") {
						t.Fatalf("PutObject %q %d: no trailing checksum: %v", key, size, rec)
					}
				}
			}
			if tc.want != "" && !seen[tc.want] {
				t.Fatalf("payload modes %v, want %s among them", seen, tc.want)
			}

			// A GET through minio-go and a presigned GET.
			obj, err := mc.GetObject(ctx, "bucket", clientKeys[1], minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(obj)
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := stub.object("/bucket/" + clientKeys[1]); !bytes.Equal(got, want) {
				t.Fatalf("GetObject: %d bytes", len(got))
			}
			for _, rec := range stub.drain() {
				if rec.err != nil {
					t.Fatalf("GetObject: %v", rec)
				}
			}
			pu, err := mc.PresignedGetObject(ctx, "bucket", clientKeys[2], time.Hour, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp := doPresigned(t, srv.Client(), "GET", pu.String(), nil, nil)
			if want, _ := stub.object("/bucket/" + clientKeys[2]); resp.StatusCode != 200 || !bytes.Equal(readAll(t, resp), want) {
				t.Fatalf("presigned GET: %d", resp.StatusCode)
			}
			if rec := stub.next(t); !rec.presigned || rec.err != nil {
				t.Fatalf("presigned GET: %v", rec)
			}
		})
	}
}
