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

// TestGetObjectAttributesExact: GetObjectAttributes reports what
// HeadObject reports, for objects the size algebra of listings gets
// wrong: a pre-proxy object whose size is a ciphertext size (listed as
// 16 bytes smaller, with a "-0" ETag) is passed through as the backend
// answers, single-part or multipart; an encrypted multipart object with
// an unaligned part gets its exact size, where the algebra is 16 bytes
// off. A single-part object costs one HEAD besides the attributes.
func TestGetObjectAttributesExact(t *testing.T) {
	up := &upstreamRecorder{rt: http.DefaultTransport}
	tp, b := newMixedProxy(t, func(c *Config) { c.UpstreamTransport = up })

	putLegacy(t, b, "legacy-1000", randBytes(1000))
	putLegacyMultipart(t, b, "legacy-mp", []int{5 << 20, 1444})
	tp.put(t, b, "enc", randBytes(70000))
	tp.put(t, b, "enc-empty", nil)
	want := map[string]int64{"legacy-1000": 1000, "legacy-mp": 5<<20 + 1444, "enc": 70000, "enc-empty": 0}
	want["enc-mp"] = int64(len(tp.uploadParts(t, b, "enc-mp", []int{5<<20 + 7, 1000})))
	// The premise: the listing algebra, on what the backend says, is
	// wrong for these.
	for _, key := range []string{"legacy-1000", "legacy-mp", "enc-mp"} {
		c, etag, _ := attributes(t, backend(), b, key)
		n, err := envelope.PlaintextSize(c, 0)
		if m, ok := multipartETagParts(etag); ok {
			n, err = envelope.PlaintextSize(c, m)
		}
		if err != nil || n == want[key] {
			t.Fatalf("%s: the algebra says %d bytes (%v) of %d stored, so the object tests nothing", key, n, err, c)
		}
	}

	for key, size := range want {
		head := tp.heads(t, b, []string{key})[key]
		before, _ := up.snapshot()
		got, etag, out := attributes(t, tp.client, b, key)
		if got != size || got != head.size || etag != head.etag {
			t.Errorf("%s: GetObjectAttributes size %d ETag %s; HEAD size %d ETag %s; plaintext %d bytes", key, got, etag, head.size, head.etag, size)
		}
		if out.Checksum != nil {
			t.Errorf("%s: GetObjectAttributes has a checksum: %+v", key, out.Checksum)
		}
		// versitygw answers no ObjectParts; TestAttributesRules has them.
		if key == "enc-mp" && out.ObjectParts != nil && aws.ToInt32(out.ObjectParts.TotalPartsCount) != 2 {
			t.Errorf("%s: GetObjectAttributes parts %+v, want 2 parts (no marker part)", key, out.ObjectParts)
		}
		if strings.HasPrefix(key, "legacy") {
			// Passed through: what the backend itself answers.
			bsize, betag, _ := attributes(t, backend(), b, key)
			if got != bsize || etag != betag {
				t.Errorf("%s: GetObjectAttributes size %d ETag %s through the proxy, %d %s at the backend", key, got, etag, bsize, betag)
			}
		}
		if !strings.HasSuffix(key, "-mp") {
			if d := up.since(before); d[http.MethodGet] != 1 || d[http.MethodHead] != 1 || len(d) != 2 {
				t.Errorf("%s: GetObjectAttributes sent %v to the backend, want one GET and one HEAD", key, d)
			}
		}
	}

	// The ETag not asked for is not answered, though the proxy needs it.
	out, err := tp.client.GetObjectAttributes(context.Background(), &s3.GetObjectAttributesInput{
		Bucket: &b, Key: aws.String("legacy-1000"), ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectSize},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(out.ObjectSize) != 1000 || out.ETag != nil {
		t.Errorf("size only: size %d, ETag %v not asked for", aws.ToInt64(out.ObjectSize), out.ETag)
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

// TestAttributesRules: the edits of an encrypted object's attributes, on
// the elements versitygw does not answer (ObjectParts): the read's
// plaintext size, the client ETag, the data part count without the
// marker part, the parts' plaintext sizes, and no checksums anywhere.
func TestUnitAttributesRules(t *testing.T) {
	part := new(envelope.DataKey).StoredSize(1, 5<<20)
	const markerSize = 32 // a marker part: 16-byte header, 16-byte end tag (docs/FORMAT.md)
	res := &readResult{size: 10 << 20, layout: envelope.Layout{Multipart: true, Parts: []int64{new(envelope.DataKey).StoredSize(0, 5<<20), new(envelope.DataKey).StoredSize(0, 5<<20)}, Marker: true}}
	in := `<GetObjectAttributesResponse><ETag>0123456789abcdef0123456789abcdef</ETag>` +
		`<Checksum><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Checksum>` +
		`<ObjectParts><TotalPartsCount>3</TotalPartsCount><Part><PartNumber>1</PartNumber><Size>` + strconv.FormatInt(part, 10) + `</Size><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part></ObjectParts>` +
		`<ObjectSize>` + strconv.FormatInt(2*part+markerSize, 10) + `</ObjectSize></GetObjectAttributesResponse>`
	want := `<GetObjectAttributesResponse><ETag>0123456789abcdef0123456789abcdef-0</ETag>` +
		`<ObjectParts><TotalPartsCount>2</TotalPartsCount><Part><PartNumber>1</PartNumber><Size>5242880</Size></Part></ObjectParts>` +
		`<ObjectSize>10485760</ObjectSize></GetObjectAttributesResponse>`
	got, err := rewriteXML([]byte(in), attributesRules(res)...)
	if err != nil || string(got) != want {
		t.Errorf("attributes of an encrypted multipart object (%v):\n got %s\nwant %s", err, got, want)
	}
	// A single-part object that the backend lists as one part (MinIO).
	single := &readResult{size: 5}
	in = `<GetObjectAttributesResponse><ObjectParts><TotalPartsCount>1</TotalPartsCount><Part><PartNumber>1</PartNumber><Size>21</Size></Part></ObjectParts><ObjectSize>21</ObjectSize></GetObjectAttributesResponse>`
	want = `<GetObjectAttributesResponse><ObjectParts><TotalPartsCount>1</TotalPartsCount><Part><PartNumber>1</PartNumber><Size>5</Size></Part></ObjectParts><ObjectSize>5</ObjectSize></GetObjectAttributesResponse>`
	if got, err := rewriteXML([]byte(in), attributesRules(single)...); err != nil || string(got) != want {
		t.Errorf("attributes of an encrypted single-part object listed as one part (%v):\n got %s\nwant %s", err, got, want)
	}
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

// TestUnitAttributesRootName: a GetObjectAttributes answer whose root the
// backend spelt in another case (MinIO) gets S3's name, so that the
// proxy's rules apply to it; other documents are left alone.
func TestUnitAttributesRootName(t *testing.T) {
	const decl = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
	for in, want := range map[string]string{
		decl + `<getObjectAttributesResponse><ObjectSize>17</ObjectSize></getObjectAttributesResponse>`: decl + `<GetObjectAttributesResponse><ObjectSize>17</ObjectSize></GetObjectAttributesResponse>`,
		`<getObjectAttributesResponse xmlns="x"><ETag>e</ETag></getObjectAttributesResponse>`:           `<GetObjectAttributesResponse xmlns="x"><ETag>e</ETag></GetObjectAttributesResponse>`,
		`<GetObjectAttributesResponse><ETag>e</ETag></GetObjectAttributesResponse>`:                     `<GetObjectAttributesResponse><ETag>e</ETag></GetObjectAttributesResponse>`,
		`<Error><Code>NoSuchKey</Code></Error>`:                                                         `<Error><Code>NoSuchKey</Code></Error>`,
		`<getObjectAttributesResponseX></getObjectAttributesResponseX>`:                                 `<getObjectAttributesResponseX></getObjectAttributesResponseX>`,
		`<getObjectAttributesResponse>`:                                                                 `<getObjectAttributesResponse>`,
		``:                                                                                              ``,
	} {
		if got := string(withRootName([]byte(in), "GetObjectAttributesResponse")); got != want {
			t.Errorf("%q:\n got %q\nwant %q", in, got, want)
		}
	}
}
