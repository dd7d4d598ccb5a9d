package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestListSizes: ListObjects v1, v2 and ListObjectVersions report
// plaintext sizes, without a request per object.
func TestListSizes(t *testing.T) {
	obs := &countingObserver{}
	tp := newTestProxy(t, func(c *Config) { c.Observer = obs })
	ctx := context.Background()
	b := tp.newBucket(t)
	want := map[string]int64{}
	for _, n := range []int{0, 1, 65535, 65536, 65537, 1<<20 + 1} {
		key := fmt.Sprintf("o%07d", n)
		tp.put(t, b, key, randBytes(n))
		want[key] = int64(n)
	}
	tp.uploadParts(t, b, "mp", []int{5 << 20, 5 << 20, 12345})
	want["mp"] = 10<<20 + 12345

	check := func(api string, got map[string]int64) {
		t.Helper()
		for k, n := range want {
			if got[k] != n {
				t.Errorf("%s: %s size %d, want %d", api, k, got[k], n)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d objects, want %d", api, len(got), len(want))
		}
	}
	before := obs.count("GetObject") + obs.count("HeadObject")
	v1, err := tp.client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: &b})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, o := range v1.Contents {
		got[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
	}
	check("ListObjects", got)

	got = map[string]int64{}
	p := s3.NewListObjectsV2Paginator(tp.client, &s3.ListObjectsV2Input{Bucket: &b, MaxKeys: aws.Int32(3)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			got[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
		}
	}
	check("ListObjectsV2 (paginated)", got)

	vs, err := tp.client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &b})
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]int64{}
	for _, o := range vs.Versions {
		got[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
	}
	check("ListObjectVersions", got)
	if after := obs.count("GetObject") + obs.count("HeadObject"); after != before {
		t.Errorf("listing made %d object requests", after-before)
	}

	// The other bucket-level reads pass through.
	if _, err := tp.client.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: &b}); err != nil {
		t.Errorf("GetBucketLocation: %v", err)
	}
	lb, err := tp.client.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, bk := range lb.Buckets {
		found = found || aws.ToString(bk.Name) == b
	}
	if !found {
		t.Errorf("ListBuckets does not list %s", b)
	}
	if _, err := tp.client.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: &b, Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}}); err != nil {
		t.Errorf("PutBucketTagging: %v", err)
	}
	tags, err := tp.client.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: &b})
	if err != nil || len(tags.TagSet) != 1 {
		t.Errorf("GetBucketTagging: %v %v", tags, err)
	}
	if _, err := tp.client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: &b, Key: aws.String("mp"), Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}}); err != nil {
		t.Errorf("PutObjectTagging: %v", err)
	}
	if ot, err := tp.client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: &b, Key: aws.String("mp")}); err != nil || len(ot.TagSet) != 1 {
		t.Errorf("GetObjectTagging: %v %v", ot, err)
	}
	if _, err := tp.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b}); err != nil {
		t.Errorf("HeadBucket: %v", err)
	}
}

// TestLogAndObserver: one log line and one observation per request, with
// the operation, and no secret in the log.
func TestLogAndObserver(t *testing.T) {
	obs := &countingObserver{}
	tp := newTestProxy(t, func(c *Config) { c.Observer = obs })
	b := tp.newBucket(t)
	tp.put(t, b, "k", []byte("hello"))
	_ = tp.get(t, b, "k")
	if obs.count("PutObject") != 1 || obs.count("GetObject") != 1 || obs.count("CreateBucket") != 1 {
		t.Errorf("observations %v", obs.snapshot())
	}
	if obs.bytes("PutObject") != [2]int64{5, 0} || obs.bytes("GetObject") != [2]int64{0, 5} {
		t.Errorf("bytes: put %v get %v", obs.bytes("PutObject"), obs.bytes("GetObject"))
	}
	log := tp.log.String()
	for _, secret := range []string{clientSecretKey, "Signature=", "hello"} {
		if strings.Contains(log, secret) {
			t.Errorf("log contains %q", secret)
		}
	}
	var ops []string
	for line := range strings.SplitSeq(strings.TrimSpace(log), "\n") {
		var rec struct {
			Op        string `json:"op"`
			Status    int    `json:"status"`
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.RequestID == "" || rec.Status == 0 {
			t.Errorf("log line %q lacks request id or status", line)
		}
		ops = append(ops, rec.Op)
	}
	if strings.Join(ops, ",") != "CreateBucket,PutObject,GetObject" {
		t.Errorf("logged ops %v", ops)
	}
}

// countingObserver records observations.
type countingObserver struct {
	mu  sync.Mutex
	ops map[string]int
	io  map[string][2]int64
}

func (o *countingObserver) ObserveRequest(op string, status int, in, out int64, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ops == nil {
		o.ops, o.io = map[string]int{}, map[string][2]int64{}
	}
	o.ops[op]++
	v := o.io[op]
	o.io[op] = [2]int64{v[0] + in, v[1] + out}
}

func (o *countingObserver) count(op string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ops[op]
}

func (o *countingObserver) bytes(op string) [2]int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.io[op]
}

func (o *countingObserver) snapshot() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := map[string]int{}
	for k, v := range o.ops {
		m[k] = v
	}
	return m
}
