package proxy

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// refusalCounter is an Observer that counts refusals by reason.
type refusalCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *refusalCounter) ObserveRequest(string, int, int64, int64, time.Duration) {}

func (r *refusalCounter) ObserveRefusal(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[reason]++
}

func (r *refusalCounter) count(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[reason]
}

// TestNoEnvelopeRefused (issue 12, item 1; failed before: the replaced
// object was served with 200 and copied into an encrypted one): an
// encrypted object replaced at the backend by one without an envelope is
// refused by every read, HEAD, GetObjectAttributes, CopyObject and
// UploadPartCopy outside a mixed bucket, with 403 AccessDenied, a log line
// and a count; a listing still names it. A proxy that declares the bucket
// mixed passes it through.
func TestNoEnvelopeRefused(t *testing.T) {
	obs := &refusalCounter{}
	tp := newTestProxy(t, func(c *Config) { c.Observer = obs })
	ctx := context.Background()
	b := tp.newBucket(t)
	tp.put(t, b, "k", randBytes(1000))
	evil := []byte("attacker content, not sealed by anyone")
	restore(t, b, "k", evil, map[string]string{"m": "1"})

	_, err := tp.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("k")})
	wantCode(t, "GET", err, "AccessDenied")
	_, err = tp.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("k"), Range: aws.String("bytes=0-3")})
	wantCode(t, "ranged GET", err, "AccessDenied")
	_, err = tp.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("k"), PartNumber: aws.Int32(1)})
	wantCode(t, "GET part 1", err, "AccessDenied")
	_, err = tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("k")})
	wantCode(t, "HEAD", err, "Forbidden")
	_, err = tp.client.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: &b, Key: aws.String("k"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectSize}})
	wantCode(t, "GetObjectAttributes", err, "AccessDenied")
	for _, replace := range []types.MetadataDirective{types.MetadataDirectiveCopy, types.MetadataDirectiveReplace} {
		_, err = tp.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b, Key: aws.String("laundered"), CopySource: aws.String(b + "/k"), MetadataDirective: replace})
		wantCode(t, "CopyObject "+string(replace), err, "AccessDenied")
	}
	if _, err := backend().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("laundered")}); err == nil {
		t.Error("a refused copy left a destination behind")
	}
	cr, err := tp.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tp.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: &b, Key: aws.String("mp"), UploadId: cr.UploadId, PartNumber: aws.Int32(1), CopySource: aws.String(b + "/k")})
	wantCode(t, "UploadPartCopy", err, "AccessDenied")

	if n := obs.count(RefusedNoEnvelope); n < 8 {
		t.Errorf("%d refusals counted, want at least 8", n)
	}
	if log := tp.log.String(); strings.Count(log, `"reason":"no_envelope"`) < 8 || !contains(log, `"key":"k"`) {
		t.Errorf("refusals not logged: %s", log)
	}
	// Listings name it (they cannot tell without a HEAD per entry).
	l, err := tp.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b})
	if err != nil || len(l.Contents) != 1 {
		t.Fatalf("list: %v %v", l, err)
	}

	// Declared mixed: served as stored.
	mixed := newTestProxy(t, func(c *Config) { c.MixedBuckets = []string{b} })
	if got := mixed.get(t, b, "k"); !bytes.Equal(got, evil) {
		t.Errorf("mixed bucket: got %q", got)
	}
}
