package proxy

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// headerRecorder records a header of every backend request, by method and
// object key.
type headerRecorder struct {
	rt   http.RoundTripper
	mu   sync.Mutex
	seen []recordedRequest
}

type recordedRequest struct {
	method, key, query string
	owner, sourceOwner string
}

func (h *headerRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	h.mu.Lock()
	h.seen = append(h.seen, recordedRequest{r.Method, key, r.URL.RawQuery,
		r.Header.Get("X-Amz-Expected-Bucket-Owner"), r.Header.Get("X-Amz-Source-Expected-Bucket-Owner")})
	h.mu.Unlock()
	return h.rt.RoundTrip(r)
}

func (h *headerRecorder) take() []recordedRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.seen
	h.seen = nil
	return s
}

// TestCopySourceExpectedOwner (issue 12, item 6; failed before: the
// proxy's reads of the source carried no owner check):
// x-amz-source-expected-bucket-owner becomes x-amz-expected-bucket-owner on
// every read of a copy source the proxy makes itself (a server-side copy's
// HEAD, a streamed copy's and UploadPartCopy's reads, the tagging read), and
// is not sent on the streamed copy's PUT or UploadPart.
func TestCopySourceExpectedOwner(t *testing.T) {
	rec := &headerRecorder{rt: http.DefaultTransport}
	tp := newTestProxy(t, func(c *Config) { c.UpstreamTransport = rec })
	ctx := context.Background()
	b := tp.newBucket(t)
	tp.put(t, b, "single", randBytes(1000))
	tp.uploadParts(t, b, "mp", []int{5 << 20, 1000})
	cr, err := tp.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("dst")})
	if err != nil {
		t.Fatal(err)
	}
	rec.take()
	// versitygw checks owners: its buckets' owner is the root access key.
	owner := testenv.S3AccessKey
	cases := func(owner string) []struct {
		name string
		do   func() error
	} {
		return []struct {
			name string
			do   func() error
		}{
			{"server-side CopyObject", func() error {
				_, err := tp.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b, Key: aws.String("c1"), CopySource: aws.String(b + "/single"), ExpectedSourceBucketOwner: aws.String(owner)})
				return err
			}},
			{"streamed CopyObject", func() error {
				_, err := tp.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b, Key: aws.String("c2"), CopySource: aws.String(b + "/mp"), ExpectedSourceBucketOwner: aws.String(owner)})
				return err
			}},
			{"UploadPartCopy", func() error {
				_, err := tp.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: &b, Key: aws.String("dst"), UploadId: cr.UploadId, PartNumber: aws.Int32(1),
					CopySource: aws.String(b + "/single"), ExpectedSourceBucketOwner: aws.String(owner)})
				return err
			}},
		}
	}
	for _, c := range cases("999999999999") {
		wantCode(t, c.name+" with another owner", c.do(), "AccessDenied")
	}
	if _, err := backend().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("c2")}); err == nil {
		t.Error("a streamed copy from a source of another owner was written")
	}
	rec.take()
	for _, c := range cases(owner) {
		if err := c.do(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		reads := 0
		for _, r := range rec.take() {
			source := r.key == "single" || r.key == "mp"
			switch {
			case source && r.owner != owner:
				t.Errorf("%s: %s %s?%s without the source's expected owner", c.name, r.method, r.key, r.query)
			case source:
				reads++
			case r.method == http.MethodPut && r.sourceOwner != "" && !strings.HasPrefix(c.name, "server-side"):
				t.Errorf("%s: PUT %s?%s carries x-amz-source-expected-bucket-owner without a copy source", c.name, r.key, r.query)
			case r.method == http.MethodPut && r.sourceOwner != owner && strings.HasPrefix(c.name, "server-side"):
				t.Errorf("%s: the backend's copy lost x-amz-source-expected-bucket-owner", c.name)
			}
		}
		if reads == 0 {
			t.Errorf("%s: no read of the source", c.name)
		}
	}
}
