package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/bucketkey/bucketkey/s3err"
)

// uploadParts does a multipart upload by hand with the given part sizes
// and returns the data.
func (tp *testProxy) uploadParts(t testing.TB, bucket, key string, sizes []int) []byte {
	t.Helper()
	ctx := context.Background()
	cr, err := tp.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	var parts []types.CompletedPart
	for i, n := range sizes {
		data := randBytes(n)
		all = append(all, data...)
		up, err := tp.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: &bucket, Key: &key, UploadId: cr.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(data),
		})
		if err != nil {
			t.Fatalf("UploadPart %d: %v", i+1, err)
		}
		parts = append(parts, types.CompletedPart{ETag: up.ETag, PartNumber: aws.Int32(int32(i + 1)), ChecksumCRC32: up.ChecksumCRC32})
	}
	lp, err := tp.client.ListParts(ctx, &s3.ListPartsInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId})
	if err != nil {
		t.Fatal(err)
	}
	if len(lp.Parts) != len(sizes) {
		t.Fatalf("ListParts: %d parts, want %d", len(lp.Parts), len(sizes))
	}
	for i, p := range lp.Parts {
		if aws.ToInt64(p.Size) != int64(sizes[i]) {
			t.Errorf("ListParts part %d size %d, want plaintext %d", i+1, aws.ToInt64(p.Size), sizes[i])
		}
		if p.ChecksumCRC32 != nil || p.ChecksumCRC64NVME != nil {
			t.Errorf("ListParts part %d has a checksum", i+1)
		}
	}
	if aws.ToString(lp.UploadId) != aws.ToString(cr.UploadId) {
		t.Errorf("ListParts UploadId %q, want the proxy's %q", aws.ToString(lp.UploadId), aws.ToString(cr.UploadId))
	}
	if _, err := tp.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &bucket, Key: &key, UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}); err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	return all
}

// checkRanges reads ranges of an object and compares them with data.
func (tp *testProxy) checkRanges(t *testing.T, bucket, key string, data []byte, ranges []string) {
	t.Helper()
	for _, rg := range ranges {
		got, out := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &bucket, Key: &key, Range: aws.String(rg)})
		r, ok, err := parseRange(rg, int64(len(data)))
		if err != nil || !ok {
			t.Fatalf("test range %q: %v %v", rg, ok, err)
		}
		want := data[r.Start : r.Start+r.Length]
		mustEqual(t, "range "+rg, got, want)
		wantCR := fmt.Sprintf("bytes %d-%d/%d", r.Start, r.Start+r.Length-1, len(data))
		if aws.ToString(out.ContentRange) != wantCR {
			t.Errorf("range %s: Content-Range %q, want %q", rg, aws.ToString(out.ContentRange), wantCR)
		}
	}
}

// TestMultipartUploadManager uploads 40 MiB with the SDK's upload manager
// (5 MiB parts, concurrent, checksums on) and reads it whole, by ranges
// across part boundaries, and by part number.
func TestMultipartUploadManager(t *testing.T) {
	tp := newTestProxy(t)
	ctx := context.Background()
	bucket := tp.newBucket(t)
	data := randBytes(40 << 20)
	//lint:ignore SA1019 the upload manager is what deployed SDK users run (and what the task names)
	up := manager.NewUploader(tp.client, func(u *manager.Uploader) { u.PartSize = 5 << 20; u.Concurrency = 4 })
	//lint:ignore SA1019 see above
	if _, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("big"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "GET", tp.get(t, bucket, "big"), data)

	head, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(head.ContentLength) != int64(len(data)) {
		t.Errorf("HEAD size %d, want %d", aws.ToInt64(head.ContentLength), len(data))
	}
	const p = 5 << 20
	tp.checkRanges(t, bucket, "big", data, []string{
		"bytes=0-0", fmt.Sprintf("bytes=%d-%d", p-10, p+10), fmt.Sprintf("bytes=%d-%d", p-1, 3*p), "bytes=-100",
		fmt.Sprintf("bytes=%d-", 8*p-1), fmt.Sprintf("bytes=%d-", 7*p), "bytes=-6000000",
	})
	// Part numbers.
	for _, k := range []int32{1, 4, 8} {
		got, out := getAll(t, tp.client, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("big"), PartNumber: aws.Int32(k)})
		start := int(k-1) * p
		mustEqual(t, fmt.Sprintf("part %d", k), got, data[start:start+p])
		if aws.ToInt32(out.PartsCount) != 8 {
			t.Errorf("part %d: parts count %d, want 8", k, aws.ToInt32(out.PartsCount))
		}
		want := fmt.Sprintf("bytes %d-%d/%d", start, start+p-1, len(data))
		if aws.ToString(out.ContentRange) != want {
			t.Errorf("part %d: Content-Range %q, want %q", k, aws.ToString(out.ContentRange), want)
		}
	}
	// The SDK's download manager (ranged GETs in parallel), into a
	// buffer of the object's size: one that grows copies itself on every
	// write past its end, which under -race took over ten minutes.
	buf := manager.NewWriteAtBuffer(make([]byte, len(data)))
	//lint:ignore SA1019 the download manager is what deployed SDK users run
	if _, err := manager.NewDownloader(tp.client, func(d *manager.Downloader) { d.PartSize = 7 << 20 }).Download(ctx, buf,
		&s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("big")}); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "download manager", buf.Bytes(), data)

	// Listing: the size algebra is exact for 64 KiB-aligned parts.
	l, err := tp.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Contents) != 1 || aws.ToInt64(l.Contents[0].Size) != int64(len(data)) {
		t.Errorf("ListObjectsV2: %+v, want one object of %d bytes", l.Contents, len(data))
	}
}

// TestMultipartNonUniform: misaligned non-last parts decrypt whole, by
// range and by part number; ListParts sizes are exact.
func TestMultipartNonUniform(t *testing.T) {
	tp := newTestProxy(t)
	bucket := tp.newBucket(t)
	sizes := []int{5<<20 + 1000, 5<<20 + 7, 6<<20 - 3, 3000}
	data := tp.uploadParts(t, bucket, "odd", sizes)
	mustEqual(t, "GET", tp.get(t, bucket, "odd"), data)
	rng := rand.New(rand.NewPCG(1, 2))
	ranges := []string{
		fmt.Sprintf("bytes=%d-%d", sizes[0]-5, sizes[0]+5),
		fmt.Sprintf("bytes=%d-%d", sizes[0]+sizes[1]-1, sizes[0]+sizes[1]),
		"bytes=-3001", "bytes=0-", fmt.Sprintf("bytes=%d-", len(data)-1),
	}
	for range 6 {
		a := rng.IntN(len(data))
		b := a + rng.IntN(len(data)-a)
		ranges = append(ranges, fmt.Sprintf("bytes=%d-%d", a, b))
	}
	tp.checkRanges(t, bucket, "odd", data, ranges)
	start := 0
	for i, n := range sizes {
		got, _ := getAll(t, tp.client, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("odd"), PartNumber: aws.Int32(int32(i + 1))})
		mustEqual(t, fmt.Sprintf("part %d", i+1), got, data[start:start+n])
		start += n
	}
	head, err := tp.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("odd")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(head.ContentLength) != int64(len(data)) {
		t.Errorf("HEAD size %d, want %d", aws.ToInt64(head.ContentLength), len(data))
	}
}

// TestMultipartRules: gaps are refused; upload IDs are bound to their
// object and upload; bare backend IDs can abort; an upload ID's part data
// written for one key cannot be used on another.
func TestMultipartRules(t *testing.T) {
	tp := newTestProxy(t)
	ctx := context.Background()
	bucket := tp.newBucket(t)
	cr, err := tp.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	if cr.ServerSideEncryption != types.ServerSideEncryptionAwsKms {
		t.Errorf("CreateMultipartUpload SSE %q", cr.ServerSideEncryption)
	}
	id := aws.ToString(cr.UploadId)
	if !strings.Contains(id, ".bk1.") {
		t.Fatalf("upload id %q carries no key material", id)
	}
	var parts []types.CompletedPart
	for _, n := range []int32{1, 3} {
		up, err := tp.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: aws.String("k"), UploadId: cr.UploadId, PartNumber: aws.Int32(n), Body: bytes.NewReader(randBytes(5 << 20))})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{ETag: up.ETag, PartNumber: aws.Int32(n)})
	}
	_, err = tp.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("k"), UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	wantCode(t, "Complete with a gap", err, "InvalidPart")

	// The upload ID used for another key fails (its key material is
	// sealed to "k").
	_, err = tp.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: aws.String("other"), UploadId: cr.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("x"))})
	wantCode(t, "UploadPart on another key", err, "NoSuchUpload")

	// Key material grafted onto another upload of the same key fails.
	cr2, err := tp.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	b1, _, _ := strings.Cut(id, ".bk1.")
	b2, km2, _ := strings.Cut(aws.ToString(cr2.UploadId), ".bk1.")
	_, err = tp.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: aws.String("k"), UploadId: aws.String(b1 + ".bk1." + km2), PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("x"))})
	wantCode(t, "grafted upload id", err, "NoSuchUpload")
	// A bare backend ID finds its key material in the upload's companion
	// (uploadrecord.go) and uploads ...
	if _, err = tp.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: aws.String("k"), UploadId: aws.String(b2), PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("x"))}); err != nil {
		t.Fatalf("bare upload id: %v", err)
	}

	// ... and ListMultipartUploads shows the IDs Create gave, which abort.
	lu, err := tp.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(lu.Uploads) != 2 {
		t.Fatalf("ListMultipartUploads: %d uploads, want 2", len(lu.Uploads))
	}
	for _, u := range lu.Uploads {
		if got := aws.ToString(u.UploadId); got != aws.ToString(cr.UploadId) && got != aws.ToString(cr2.UploadId) {
			t.Fatalf("listed upload id %q is not one Create gave", got)
		}
		if _, err := tp.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: u.Key, UploadId: u.UploadId}); err != nil {
			t.Fatalf("abort with listed id: %v", err)
		}
	}
	lu, err = tp.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(lu.Uploads) != 0 {
		t.Fatalf("after abort: %d uploads", len(lu.Uploads))
	}
	// Abort with the proxy's ID form.
	cr3, err := tp.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("k3")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tp.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: aws.String("k3"), UploadId: cr3.UploadId}); err != nil {
		t.Fatalf("abort with proxy id: %v", err)
	}
}

// wantCode fails unless err is an S3 API error with code.
func wantCode(t testing.TB, what string, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("%s: error %v, want S3 error %s", what, err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("%s: error code %s (%v), want %s", what, ae.ErrorCode(), err, code)
	}
}

// TestMultipartEnd: the end tag's placement is invisible to clients.
// Whether the last part carries it (less than 5 MiB) or a marker part
// follows (5 MiB or more), reads, sizes, part counts and part reads are
// those of the client's parts; and a part under 5 MiB that is not the
// last is refused at Complete, as S3 refuses it.
func TestMultipartEnd(t *testing.T) {
	tp := newTestProxy(t)
	ctx := context.Background()
	bucket := tp.newBucket(t)
	for _, sizes := range [][]int{
		{5 << 20, 5 << 20},      // marker part
		{6 << 20, 5<<20 - 1},    // tag in the last part, stored larger than 5 MiB
		{5<<20 + 1, 1},          // tag in a tiny last part
		{minPartSize},           // one part, marker
		{5 << 20, 5<<20 + 7, 0}, // empty last part
	} {
		key := fmt.Sprintf("end-%v", sizes)
		data := tp.uploadParts(t, bucket, key, sizes)
		mustEqual(t, key+" GET", tp.get(t, bucket, key), data)
		head, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
		if err != nil || aws.ToInt64(head.ContentLength) != int64(len(data)) {
			t.Fatalf("%s: HEAD size %d, %v", key, aws.ToInt64(head.ContentLength), err)
		}
		start := 0
		for i, n := range sizes {
			got, out := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &bucket, Key: &key, PartNumber: aws.Int32(int32(i + 1))})
			mustEqual(t, fmt.Sprintf("%s part %d", key, i+1), got, data[start:start+n])
			if aws.ToInt32(out.PartsCount) != int32(len(sizes)) {
				t.Errorf("%s part %d: parts count %d", key, i+1, aws.ToInt32(out.PartsCount))
			}
			start += n
		}
		_, err = tp.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key, PartNumber: aws.Int32(int32(len(sizes) + 1))})
		wantCode(t, key+" GET of the part after the last", err, "InvalidPartNumber")
		if len(data) > 0 {
			tp.checkRanges(t, bucket, key, data, []string{"bytes=0-0", "bytes=-1", fmt.Sprintf("bytes=%d-", len(data)/2)})
		}
		attrs, err := tp.client.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{
			Bucket: &bucket, Key: &key,
			ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectSize, types.ObjectAttributesObjectParts},
		})
		if err != nil {
			t.Fatal(err)
		}
		// Exact, as HEAD's, whatever the part sizes (listings are only
		// exact when the parts but the last are 64 KiB-aligned).
		if got := aws.ToInt64(attrs.ObjectSize); got != int64(len(data)) || attrs.ETag != nil {
			t.Errorf("%s: GetObjectAttributes size %d (want %d), ETag %v not asked for", key, got, len(data), attrs.ETag)
		}
		if attrs.ObjectParts != nil && aws.ToInt32(attrs.ObjectParts.TotalPartsCount) != int32(len(sizes)) {
			t.Errorf("%s: GetObjectAttributes parts count %d", key, aws.ToInt32(attrs.ObjectParts.TotalPartsCount))
		}
	}
	// Listing sizes: exact, as the parts above are 64 KiB-aligned but the last.
	l, err := tp.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("end-[5242880 5242880]")})
	if err != nil || len(l.Contents) != 1 || aws.ToInt64(l.Contents[0].Size) != 10<<20 {
		t.Errorf("listing: %+v, %v", l.Contents, err)
	}

	// A part under 5 MiB of plaintext anywhere but last: EntityTooSmall,
	// even where its ciphertext would pass the backend's rule.
	key := "small-middle"
	cr, err := tp.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i, n := range []int{5<<20 - 1, 5 << 20} {
		up, err := tp.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(randBytes(n))})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{ETag: up.ETag, PartNumber: aws.Int32(int32(i + 1))})
	}
	_, err = tp.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	wantCode(t, "Complete with a small middle part", err, "EntityTooSmall")
	// A wrong ETag: InvalidPart.
	parts[0].ETag = aws.String(`"00000000000000000000000000000000"`)
	_, err = tp.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	wantCode(t, "Complete with a wrong ETag", err, "InvalidPart")
}

func TestUnitCheckCompleteParts(t *testing.T) {
	doc := func(nums ...int) []byte {
		s := "<CompleteMultipartUpload>"
		for _, n := range nums {
			s += fmt.Sprintf("<Part><ETag>\"e\"</ETag><PartNumber>%d</PartNumber></Part>", n)
		}
		return []byte(s + "</CompleteMultipartUpload>")
	}
	cases := []struct {
		doc  []byte
		code string
	}{
		{doc(1), ""},
		{doc(1, 2, 3), ""},
		{doc(), "MalformedXML"},
		{doc(2), "InvalidPart"},
		{doc(1, 3), "InvalidPart"},
		{doc(1, 2, 2), "InvalidPartOrder"},
		{doc(2, 1), "InvalidPartOrder"},
		{[]byte("<nope"), "MalformedXML"},
	}
	for i, c := range cases {
		err := checkCompleteParts(c.doc, "u")
		if c.code == "" && err != nil || c.code != "" && (s3err.As(err) == nil || s3err.As(err).Code != c.code) {
			t.Errorf("case %d: %v, want %q", i, err, c.code)
		}
	}
}
