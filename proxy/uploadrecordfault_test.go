package proxy

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// fakeRecordRefusal is an injected fault: the backend's answer to the
// creation of an upload record is replaced by a 503 SlowDown (the
// record is still created at the backend when created is true: the
// answer is lost on its way back).
type fakeRecordRefusal struct {
	rt      http.RoundTripper
	created bool
}

func (f *fakeRecordRefusal) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost || !strings.Contains(r.URL.EscapedPath(), ".bucketkey-upload") {
		return f.rt.RoundTrip(r)
	}
	if f.created {
		resp, err := f.rt.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		drain(resp)
	}
	body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`
	return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/xml"}}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
}

// TestCreateRecordRefused: a CreateMultipartUpload whose upload record the
// backend refuses answers the backend's error and leaves no upload at the
// backend, neither the client's nor (its answer lost) the record.
func TestCreateRecordRefused(t *testing.T) {
	for _, created := range []bool{false, true} {
		tp := newTestProxy(t, func(c *Config) { c.UpstreamTransport = &fakeRecordRefusal{rt: http.DefaultTransport, created: created} })
		b := tp.newBucket(t)
		ctx := context.Background()
		_, err := tp.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("k")})
		if err == nil || !strings.Contains(err.Error(), "SlowDown") {
			t.Errorf("record created %v: CreateMultipartUpload: %v, want SlowDown", created, err)
		}
		l, err := tp.backend.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range l.Uploads {
			t.Errorf("record created %v: left at the backend: upload of %q", created, aws.ToString(u.Key))
		}
	}
}
