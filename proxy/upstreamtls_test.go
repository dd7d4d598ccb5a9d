package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/internal/testenv"
	"github.com/bucketkey/bucketkey/sigv4"
)

// payloadRecorder records the x-amz-content-sha256 of every PUT the proxy
// sends upstream, then "+<algorithm>" for an x-amz-checksum-<algorithm>
// header, "+trailer:<algorithm>" for one in the trailer, and
// "+<Content-Encoding>".
type payloadRecorder struct {
	http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (r *payloadRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut {
		v := req.Header.Get("X-Amz-Content-Sha256")
		if len(v) == 64 && !strings.ContainsAny(v, "-") {
			v = "hex"
		}
		for _, a := range checksum.All {
			if req.Header.Get(a.CanonicalHeader()) != "" {
				v += "+" + strings.ToLower(a.String())
			}
		}
		if tr := req.Header.Get("X-Amz-Trailer"); tr != "" {
			v += "+trailer:" + strings.TrimPrefix(tr, "x-amz-checksum-")
		}
		if req.Header.Get("Content-Encoding") != "" {
			v += "+" + req.Header.Get("Content-Encoding")
		}
		r.mu.Lock()
		r.seen = append(r.seen, v)
		r.mu.Unlock()
	}
	return r.RoundTripper.RoundTrip(req)
}

func (r *payloadRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.seen
	r.seen = nil
	return s
}

// TestUpstreamPayloadModesTLS runs every upstream payload mode against
// versitygw and MinIO serving HTTPS (a test CA, trusted by the proxy's
// transport): small objects (sealed in memory, sent whole) and large ones
// (streamed) and both kinds of parts are sent as the mode says, read back
// byte-identical, and uploads with a wrong checksum are still refused and
// leave nothing behind.
func TestUpstreamPayloadModesTLS(t *testing.T) {
	needServers(t) // local-kms
	want := map[sigv4.PayloadMode]payloadWant{
		sigv4.PayloadAuto:            wantTrailer, // over https
		sigv4.PayloadChunked:         wantSigned,
		sigv4.PayloadUnsignedTrailer: wantTrailer,
		sigv4.PayloadUnsigned:        wantUnsigned,
	}
	for _, name := range testenv.Backends() {
		t.Run(name, func(t *testing.T) {
			be := testenv.BackendTLS(t, name)
			roots, err := be.TLS.Roots()
			if err != nil {
				t.Fatal(err)
			}
			for _, mode := range []sigv4.PayloadMode{sigv4.PayloadAuto, sigv4.PayloadChunked, sigv4.PayloadUnsignedTrailer, sigv4.PayloadUnsigned} {
				t.Run(mode.String(), func(t *testing.T) {
					tr := DefaultTransport()
					tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
					rec := &payloadRecorder{RoundTripper: tr}
					tp := newTestProxy(t, func(c *Config) {
						c.Upstream, _ = url.Parse(be.URL)
						c.UpstreamTransport = rec
						c.UpstreamPayload = mode
					})
					checkPayloadMode(t, tp, rec, want[mode])
				})
			}
		})
	}
}

// payloadWant is how a mode sends PutObjects (with the SDK's CRC32, which
// the proxy sends the backend over the ciphertext: see upstreamChecksum)
// and parts of an upload that declared no checksum (the mode's default),
// in memory (small) and streamed (large).
type payloadWant struct{ smallPut, largePut, smallPart, largePart string }

var (
	wantSigned = payloadWant{
		"hex+crc32", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER+trailer:crc32+aws-chunked",
		"hex", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD+aws-chunked",
	}
	wantTrailer = payloadWant{
		"UNSIGNED-PAYLOAD+crc32", "STREAMING-UNSIGNED-PAYLOAD-TRAILER+trailer:crc32+aws-chunked",
		"UNSIGNED-PAYLOAD+crc64nvme", "STREAMING-UNSIGNED-PAYLOAD-TRAILER+trailer:crc64nvme+aws-chunked",
	}
	wantUnsigned = payloadWant{"UNSIGNED-PAYLOAD+crc32", "UNSIGNED-PAYLOAD", "UNSIGNED-PAYLOAD", "UNSIGNED-PAYLOAD"}
)

// checkPayloadMode writes through tp and checks what rec saw.
func checkPayloadMode(t *testing.T, tp *testProxy, rec *payloadRecorder, want payloadWant) {
	ctx := context.Background()
	b := tp.newBucket(t)
	rec.take()
	for _, c := range []struct {
		n    int
		want string
	}{{4 << 10, want.smallPut}, {64 << 10, want.smallPut}, {1<<20 + 1, want.largePut}} {
		data := randBytes(c.n)
		tp.put(t, b, "k", data)
		mustEqual(t, fmt.Sprintf("GET of %d bytes", c.n), tp.get(t, b, "k"), data)
		if got := rec.take(); len(got) != 1 || got[0] != c.want {
			t.Errorf("PUT of %d bytes went upstream as %q, want %q", c.n, got, c.want)
		}
	}
	data := tp.uploadParts(t, b, "mp", []int{5 << 20, 10})
	mustEqual(t, "multipart GET", tp.get(t, b, "mp"), data)
	if got := rec.take(); len(got) != 2 || got[0] != want.largePart || got[1] != want.smallPart {
		t.Errorf("UploadPart 5 MiB, 10 B went upstream as %q, want [%q %q]", got, want.largePart, want.smallPart)
	}
	for _, n := range []int{4 << 10, 1<<20 + 1} {
		key := fmt.Sprintf("bad-%d", n)
		_, err := tp.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &b, Key: &key, Body: bytes.NewReader(randBytes(n)),
			ChecksumCRC32: aws.String("AAAAAA=="),
		})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "BadDigest" {
			t.Fatalf("PutObject of %d bytes with a wrong CRC32: %v, want BadDigest", n, err)
		}
		if _, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: &key}); err == nil {
			t.Errorf("refused PutObject of %d bytes left an object", n)
		}
	}
	cr, err := tp.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("mpbad")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tp.client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: &b, Key: aws.String("mpbad"), UploadId: cr.UploadId, PartNumber: aws.Int32(1),
		Body: bytes.NewReader(randBytes(10)), ChecksumCRC32: aws.String("AAAAAA=="),
	})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "BadDigest" {
		t.Fatalf("UploadPart with a wrong CRC32: %v, want BadDigest", err)
	}
	lp, err := tp.client.ListParts(ctx, &s3.ListPartsInput{Bucket: &b, Key: aws.String("mpbad"), UploadId: cr.UploadId})
	if err != nil {
		t.Fatal(err)
	}
	if len(lp.Parts) != 0 {
		t.Errorf("refused UploadPart left %d parts", len(lp.Parts))
	}
}
