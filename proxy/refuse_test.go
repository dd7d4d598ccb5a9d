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

	"github.com/bucketkey/bucketkey/internal/testenv"
	"github.com/bucketkey/bucketkey/keycache"
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

// kmsRequests is the number of KMS requests of op the proxy's cache made.
func (tp *testProxy) kmsRequests(op string) int64 {
	var n int64
	for _, c := range tp.keys.Stats().Total.Requests[op] {
		n += c
	}
	return n
}

// TestForeignKMSKeyRefused (issue 12, item 2; failed before: the forged
// object was decrypted and served with 200): an object whose bucket key a
// backend writer wrapped under a KMS key of their own (which the proxy's
// KMS role may also use), with the right encryption context, is refused
// with 403 before any KMS request, for GET, HEAD and as a copy source; a
// write asking for such a key is refused before GenerateDataKey. A proxy
// that accepts the key (--kms-accept-key-id, for a key being rotated out)
// reads it.
func TestForeignKMSKeyRefused(t *testing.T) {
	ctx := context.Background()
	obs := &refusalCounter{}
	tp := newTestProxy(t, func(c *Config) { c.Observer = obs })
	b := tp.newBucket(t)
	attacker := newTestProxy(t, func(c *Config) { c.KMSKeyID = testenv.KMSOtherKeyID })
	forged := []byte("forged, under the attacker's KMS key")
	attacker.put(t, b, "k", forged)
	tp.put(t, b, "own", []byte("x")) // warm: the proxy's own key is fine

	decrypts, generates := tp.kmsRequests(keycache.OpDecrypt), tp.kmsRequests(keycache.OpGenerateDataKey)
	_, err := tp.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("k")})
	wantCode(t, "GET", err, "AccessDenied")
	_, err = tp.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b, Key: aws.String("laundered"), CopySource: aws.String(b + "/k")})
	wantCode(t, "CopyObject", err, "AccessDenied")
	_, err = tp.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("w"), Body: strings.NewReader("x"),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(testenv.KMSOtherKeyID)})
	wantCode(t, "PUT naming the other key", err, "AccessDenied")
	_, err = tp.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("w"),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String("arn:aws:kms:" + testenv.Region + ":" + testenv.KMSAccount + ":key/" + testenv.KMSOtherKeyID)})
	wantCode(t, "CreateMultipartUpload naming the other key", err, "AccessDenied")
	if d, g := tp.kmsRequests(keycache.OpDecrypt)-decrypts, tp.kmsRequests(keycache.OpGenerateDataKey)-generates; d != 0 || g != 0 {
		t.Errorf("refusals made %d Decrypt and %d GenerateDataKey requests, want none", d, g)
	}
	if n := obs.count(RefusedKMSKey); n != 4 {
		t.Errorf("%d refusals counted, want 4", n)
	}
	// The proxy's own key by ARN or bare id is accepted.
	_, err = tp.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("w"), Body: strings.NewReader("x"),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(testenv.KMSKeyID)})
	if err != nil {
		t.Errorf("PUT naming the proxy's key: %v", err)
	}

	rotating := newTestProxy(t, func(c *Config) { c.AcceptKMSKeyIDs = []string{testenv.KMSOtherKeyID} })
	if got := rotating.get(t, b, "k"); !bytes.Equal(got, forged) {
		t.Errorf("accepted key: got %q", got)
	}
}

// TestUnitKeySet: which recorded key ids a set accepts.
func TestUnitKeySet(t *testing.T) {
	const arn = "arn:aws:kms:eu-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	s := newKeySet("1234abcd-12ab-34cd-56ef-1234567890ab", "arn:aws:kms:us-east-1:111122223333:key/rotated", "alias/app")
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{arn, true},
		{"1234abcd-12ab-34cd-56ef-1234567890ab", true},
		{"arn:aws:kms:us-east-1:111122223333:key/rotated", true},
		{"rotated", true},
		{"alias/app", true},
		{"arn:aws:kms:eu-west-2:444455556666:key/other", false},
		{"arn:aws:kms:eu-west-2:111122223333:alias/app", false}, // until learned
		{"arn:aws:s3:::key/1234abcd-12ab-34cd-56ef-1234567890ab", false},
		{"", false},
		{"other", false},
	} {
		if got := s.accepts(tt.id); got != tt.want {
			t.Errorf("accepts(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
	s.add("arn:aws:kms:eu-west-2:111122223333:key/learned")
	if !s.accepts("learned") || !s.accepts("arn:aws:kms:eu-west-2:111122223333:key/learned") {
		t.Error("a learned key ARN is not accepted")
	}
}
