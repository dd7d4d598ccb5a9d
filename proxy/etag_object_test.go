package proxy

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestETagConsistency: an encrypted single-part object has one ETag, not
// MD5-shaped, in PUT, HEAD, GET, every listing, GetObjectAttributes,
// conditional reads and copy conditions; its parts and multipart objects
// too; an object written before the proxy keeps the backend's ETag.
func TestETagConsistency(t *testing.T) {
	tp, b := newMixedProxy(t) // mixed: the pre-proxy subtest
	ctx := context.Background()
	data := randBytes(100 << 10)
	etag := aws.ToString(tp.put(t, b, "obj", data).ETag)
	_, st := stored(t, b, "obj")
	if want := strings.TrimSuffix(aws.ToString(st.ETag), `"`) + `-0"`; etag != want || len(etag) != 36 {
		t.Fatalf("PUT ETag %s, want %s (the backend's %s with -0)", etag, want, aws.ToString(st.ETag))
	}

	seen := map[string]string{}
	head, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("obj")})
	if err != nil {
		t.Fatal(err)
	}
	seen["HEAD"] = aws.ToString(head.ETag)
	_, get := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &b, Key: aws.String("obj")})
	seen["GET"] = aws.ToString(get.ETag)
	_, part := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &b, Key: aws.String("obj"), PartNumber: aws.Int32(1)})
	seen["GET partNumber=1"] = aws.ToString(part.ETag)
	_, rng := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &b, Key: aws.String("obj"), Range: aws.String("bytes=70000-70009")})
	seen["GET range"] = aws.ToString(rng.ETag)
	l2, err := tp.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b})
	if err != nil || len(l2.Contents) != 1 {
		t.Fatalf("ListObjectsV2: %v %+v", err, l2)
	}
	seen["ListObjectsV2"] = aws.ToString(l2.Contents[0].ETag)
	l1, err := tp.client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: &b})
	if err != nil || len(l1.Contents) != 1 {
		t.Fatalf("ListObjects: %v %+v", err, l1)
	}
	seen["ListObjects"] = aws.ToString(l1.Contents[0].ETag)
	lv, err := tp.client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &b})
	if err != nil || len(lv.Versions) != 1 {
		t.Fatalf("ListObjectVersions: %v %+v", err, lv)
	}
	seen["ListObjectVersions"] = aws.ToString(lv.Versions[0].ETag)
	attrs, err := tp.client.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{
		Bucket: &b, Key: aws.String("obj"), ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesEtag},
	})
	if err != nil {
		t.Fatal(err)
	}
	seen["GetObjectAttributes"] = `"` + strings.Trim(aws.ToString(attrs.ETag), `"`) + `"`
	for what, e := range seen {
		if e != etag {
			t.Errorf("%s ETag %s, PUT said %s", what, e, etag)
		}
	}

	// Conditional reads, whole and ranged, GET and HEAD. (Lists of tags
	// are mapped too, TestUnitETagLists, but versitygw compares a list as one
	// tag.)
	other := `"0123456789abcdef0123456789abcdef-0"`
	conds := []struct {
		name   string
		h      http.Header
		status int
	}{
		{"If-Match", http.Header{"If-Match": {etag}}, 200},
		{"If-Match unquoted", http.Header{"If-Match": {strings.Trim(etag, `"`)}}, 200},
		{"If-Match mismatch", http.Header{"If-Match": {other}}, 412},
		{"If-None-Match", http.Header{"If-None-Match": {etag}}, 304},
		{"If-None-Match *", http.Header{"If-None-Match": {"*"}}, 304},
		{"If-None-Match mismatch", http.Header{"If-None-Match": {other}}, 200},
	}
	for _, c := range conds {
		for _, method := range []string{"GET", "HEAD"} {
			for _, ranged := range []bool{false, true} {
				h, want := c.h.Clone(), c.status
				if ranged {
					h.Set("Range", "bytes=0-9")
					if want == 200 {
						want = 206
					}
				}
				resp := tp.rawRequest(t, method, "/"+b+"/obj", h, nil)
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Errorf("%s %s ranged=%v: status %d, want %d", method, c.name, ranged, resp.StatusCode, want)
					continue
				}
				if want != 412 && resp.Header.Get("ETag") != etag {
					t.Errorf("%s %s ranged=%v: %d with ETag %q, want %s", method, c.name, ranged, want, resp.Header.Get("ETag"), etag)
				}
			}
		}
	}

	// Copy conditions, and the copy's own ETag.
	cp, err := tp.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: &b, Key: aws.String("copy"), CopySource: aws.String(b + "/obj"), CopySourceIfMatch: aws.String(etag),
	})
	if err != nil {
		t.Fatalf("CopyObject if-match: %v", err)
	}
	copyTag := aws.ToString(cp.CopyObjectResult.ETag)
	if h, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("copy")}); err != nil || aws.ToString(h.ETag) != copyTag || !strings.HasSuffix(copyTag, `-0"`) {
		t.Errorf("copy: result ETag %s, HEAD %v %v", copyTag, h, err)
	}
	for _, in := range []*s3.CopyObjectInput{
		{CopySourceIfMatch: aws.String(other)},
		{CopySourceIfNoneMatch: aws.String(etag)},
	} {
		in.Bucket, in.Key, in.CopySource = &b, aws.String("never"), aws.String(b+"/obj")
		_, err := tp.client.CopyObject(ctx, in)
		wantCode(t, "CopyObject failing condition", err, "PreconditionFailed")
	}

	t.Run("multipart", func(t *testing.T) { testMultipartETags(t, tp, b, etag) })
	t.Run("pre-proxy object", func(t *testing.T) { testPlainETags(t, tp, b) })
}

// testMultipartETags: part ETags (UploadPart, UploadPartCopy, ListParts)
// are client ETags that Complete accepts; the object's multipart ETag is
// the same in Complete, HEAD, LIST and conditions.
func testMultipartETags(t *testing.T, tp *testProxy, b, srcETag string) {
	ctx := context.Background()
	key := aws.String("mp")
	cr, err := tp.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	up, err := tp.client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: &b, Key: key, UploadId: cr.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(randBytes(5 << 20)),
	})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := tp.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
		Bucket: &b, Key: key, UploadId: cr.UploadId, PartNumber: aws.Int32(2),
		CopySource: aws.String(b + "/obj"), CopySourceIfMatch: aws.String(srcETag),
	})
	if err != nil {
		t.Fatal(err)
	}
	partTags := []string{aws.ToString(up.ETag), aws.ToString(pc.CopyPartResult.ETag)}
	lp, err := tp.client.ListParts(ctx, &s3.ListPartsInput{Bucket: &b, Key: key, UploadId: cr.UploadId})
	if err != nil || len(lp.Parts) != 2 {
		t.Fatalf("ListParts: %v %+v", err, lp)
	}
	var parts []types.CompletedPart
	for i, tag := range partTags {
		if !strings.HasSuffix(tag, `-0"`) || aws.ToString(lp.Parts[i].ETag) != tag {
			t.Errorf("part %d: ETag %s, ListParts %s", i+1, tag, aws.ToString(lp.Parts[i].ETag))
		}
		parts = append(parts, types.CompletedPart{ETag: aws.String(tag), PartNumber: aws.Int32(int32(i + 1))})
	}
	done, err := tp.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &b, Key: key, UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		t.Fatalf("Complete with client part ETags: %v", err)
	}
	etag := aws.ToString(done.ETag)
	if !strings.HasSuffix(etag, `-2"`) {
		t.Errorf("multipart ETag %s, want the backend's -2", etag)
	}
	head, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: key})
	if err != nil || aws.ToString(head.ETag) != etag {
		t.Errorf("HEAD ETag %v (%v), Complete said %s", head, err, etag)
	}
	l, err := tp.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b, Prefix: key})
	if err != nil || len(l.Contents) != 1 || aws.ToString(l.Contents[0].ETag) != etag {
		t.Errorf("LIST %+v (%v), Complete said %s", l, err, etag)
	}
	resp := tp.rawRequest(t, "GET", "/"+b+"/mp", http.Header{"If-None-Match": {etag}}, nil)
	resp.Body.Close()
	if resp.StatusCode != 304 || resp.Header.Get("ETag") != etag {
		t.Errorf("If-None-Match: %d ETag %q, want 304 %s", resp.StatusCode, resp.Header.Get("ETag"), etag)
	}
}

// testPlainETags: an object the backend holds without envelope metadata
// keeps its ETag (the MD5 of what it holds) in HEAD, GET, LIST (its size
// is none a ciphertext can have) and conditions.
func testPlainETags(t *testing.T, tp *testProxy, b string) {
	ctx := context.Background()
	put, err := backend().PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("plain"), Body: strings.NewReader("hello")})
	if err != nil {
		t.Fatal(err)
	}
	etag := aws.ToString(put.ETag)
	if etag != `"5d41402abc4b2a76b9719d911017c592"` {
		t.Fatalf("backend ETag %s is not the MD5 of the content", etag)
	}
	head, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("plain")})
	if err != nil || aws.ToString(head.ETag) != etag {
		t.Errorf("HEAD %v (%v), want ETag %s", head, err, etag)
	}
	_, get := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &b, Key: aws.String("plain")})
	if aws.ToString(get.ETag) != etag {
		t.Errorf("GET ETag %s, want %s", aws.ToString(get.ETag), etag)
	}
	l, err := tp.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b, Prefix: aws.String("plain")})
	if err != nil || len(l.Contents) != 1 || aws.ToString(l.Contents[0].ETag) != etag {
		t.Errorf("LIST %+v (%v), want ETag %s", l, err, etag)
	}
	resp := tp.rawRequest(t, "HEAD", "/"+b+"/plain", http.Header{"If-None-Match": {etag}}, nil)
	resp.Body.Close()
	if resp.StatusCode != 304 || resp.Header.Get("ETag") != etag {
		t.Errorf("If-None-Match: %d ETag %q, want 304 %s", resp.StatusCode, resp.Header.Get("ETag"), etag)
	}
}
