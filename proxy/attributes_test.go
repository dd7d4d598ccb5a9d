package proxy

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/envelope"
)

// attributes asks GetObjectAttributes through c for the object's size,
// ETag and parts, and returns the size and the ETag, quoted as HEAD
// quotes it (S3 names it unquoted here).
func attributes(t *testing.T, c *s3.Client, bucket, key string) (int64, string, *s3.GetObjectAttributesOutput) {
	t.Helper()
	out, err := c.GetObjectAttributes(context.Background(), &s3.GetObjectAttributesInput{
		Bucket: &bucket, Key: &key,
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectSize, types.ObjectAttributesEtag, types.ObjectAttributesObjectParts},
	})
	if err != nil {
		t.Fatalf("GetObjectAttributes %s: %v", key, err)
	}
	return aws.ToInt64(out.ObjectSize), `"` + strings.Trim(aws.ToString(out.ETag), `"`) + `"`, out
}

// TestGetObjectAttributes: sizes are plaintext; the checksum is the
// plaintext's the SDK sent (recorded in the envelope), no ciphertext's.
func TestGetObjectAttributes(t *testing.T) {
	tp := newTestProxy(t)
	b := tp.newBucket(t)
	data := randBytes(70000)
	tp.put(t, b, "k", data)
	out, err := tp.client.GetObjectAttributes(context.Background(), &s3.GetObjectAttributesInput{
		Bucket: &b, Key: aws.String("k"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectSize, types.ObjectAttributesEtag, types.ObjectAttributesChecksum},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(out.ObjectSize) != 70000 || out.Checksum == nil || aws.ToString(out.Checksum.ChecksumCRC32) != checksum.Encode(checksum.CRC32.Sum(data)) || aws.ToString(out.ETag) == "" {
		t.Errorf("attributes: size %d checksum %+v etag %q", aws.ToInt64(out.ObjectSize), out.Checksum, aws.ToString(out.ETag))
	}
}

// TestGetObjectAttributesInvalidMetadata: an object with envelope
// metadata that does not parse is refused, as HEAD and GET refuse it; its
// stored size and ETag are not passed through as a pre-proxy object's.
func TestGetObjectAttributesInvalidMetadata(t *testing.T) {
	tp := newTestProxy(t)
	b := tp.newBucket(t)
	if _, err := backend().PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &b, Key: aws.String("bad"), Body: bytes.NewReader(randBytes(1000)),
		Metadata: map[string]string{"bk-v": "1"}, // and nothing else
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := tp.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &b, Key: aws.String("bad")}); err == nil {
		t.Fatal("HEAD of an object with invalid envelope metadata succeeded")
	}
	_, err := tp.client.GetObjectAttributes(context.Background(), &s3.GetObjectAttributesInput{
		Bucket: &b, Key: aws.String("bad"), ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectSize, types.ObjectAttributesEtag},
	})
	wantCode(t, "GetObjectAttributes of an object with invalid envelope metadata", err, "InternalError")
}

// TestGetObjectAttributesReplaced: the HEAD is pinned to the ETag the
// attributes name. An encrypted object replaced by a pre-proxy one between
// the two requests (a backend write from the fault seam, just before the
// HEAD is sent) fails the pin, and the proxy asks again: the answer is the
// new object's, passed through, not the new size taken for the old
// object's ciphertext.
func TestGetObjectAttributesReplaced(t *testing.T) {
	up := &upstreamRecorder{rt: http.DefaultTransport}
	tp, b := newMixedProxy(t, func(c *Config) { c.UpstreamTransport = up })
	tp.put(t, b, "k", randBytes(5000))
	var replaced atomic.Bool
	up.mu.Lock()
	up.onHead = func(key string) error {
		if key != "k" || !replaced.CompareAndSwap(false, true) {
			return nil
		}
		// The proxy's request fails if the write does, and so the test.
		_, err := backend().PutObject(context.Background(), &s3.PutObjectInput{Bucket: &b, Key: aws.String("k"), Body: bytes.NewReader(randBytes(1000))})
		return err
	}
	up.mu.Unlock()
	before, _ := up.snapshot()
	got, etag, _ := attributes(t, tp.client, b, "k")
	bsize, betag, _ := attributes(t, backend(), b, "k")
	if !replaced.Load() || got != 1000 || etag != betag || bsize != 1000 {
		t.Errorf("replaced=%v: GetObjectAttributes size %d ETag %s, backend %d %s; want the new object's 1000 bytes", replaced.Load(), got, etag, bsize, betag)
	}
	if d := up.since(before); d[http.MethodGet] != 2 || d[http.MethodHead] != 2 {
		t.Errorf("backend requests %v, want two GETs and two HEADs (one retry)", d)
	}
}

// TestUnitAttributesRules: the edits of an encrypted object's attributes, on
// the elements versitygw does not answer (ObjectParts): the read's
// plaintext size, the client ETag, the data part count without the
// marker part, the parts' plaintext sizes, and no checksums anywhere.
func TestUnitAttributesRules(t *testing.T) {
	part := envelope.CiphertextSize(5<<20) + envelope.PartOverhead
	res := &readResult{size: 10 << 20, layout: envelope.Layout{Multipart: true, Parts: []int64{envelope.CiphertextSize(5 << 20), envelope.CiphertextSize(5 << 20)}, Marker: true}}
	in := `<GetObjectAttributesResponse><ETag>0123456789abcdef0123456789abcdef</ETag>` +
		`<Checksum><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Checksum>` +
		`<ObjectParts><TotalPartsCount>3</TotalPartsCount><Part><PartNumber>1</PartNumber><Size>` + strconv.FormatInt(part, 10) + `</Size><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part></ObjectParts>` +
		`<ObjectSize>` + strconv.FormatInt(2*part+envelope.MarkerSize, 10) + `</ObjectSize></GetObjectAttributesResponse>`
	want := `<GetObjectAttributesResponse><ETag>0123456789abcdef0123456789abcdef-0</ETag>` +
		`<ObjectParts><TotalPartsCount>2</TotalPartsCount><Part><PartNumber>1</PartNumber><Size>5242880</Size></Part></ObjectParts>` +
		`<ObjectSize>10485760</ObjectSize></GetObjectAttributesResponse>`
	got, err := rewriteXML([]byte(in), attributesRules(res)...)
	if err != nil || string(got) != want {
		t.Errorf("attributes of an encrypted multipart object (%v):\n got %s\nwant %s", err, got, want)
	}
}

// TestGetObjectAttributes: sizes are plaintext, no checksum leaks.
func TestGetObjectAttributes(t *testing.T) {
	tp := newTestProxy(t)
	b := tp.newBucket(t)
	tp.put(t, b, "k", randBytes(70000))
	out, err := tp.client.GetObjectAttributes(context.Background(), &s3.GetObjectAttributesInput{
		Bucket: &b, Key: aws.String("k"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectSize, types.ObjectAttributesEtag, types.ObjectAttributesChecksum},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(out.ObjectSize) != 70000 || out.Checksum != nil || aws.ToString(out.ETag) == "" {
		t.Errorf("attributes: size %d checksum %+v etag %q", aws.ToInt64(out.ObjectSize), out.Checksum, aws.ToString(out.ETag))
	}
}
