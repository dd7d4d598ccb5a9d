package e2e

import (
	"bytes"
	"maps"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestAbortIfMatchInitiatedTime: AbortMultipartUpload with
// x-amz-if-match-initiated-time aborts only the upload initiated then
// (412 PreconditionFailed otherwise, the upload kept), on every backend;
// a date in the future is no condition, as S3 ignores it.
func TestAbortIfMatchInitiatedTime(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		ctx := ctxFor(t, time.Minute)
		cr, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("k")})
		if err != nil {
			t.Fatal(err)
		}
		l, err := e.backend.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b, Prefix: aws.String("k")})
		if err != nil || len(l.Uploads) != 1 {
			t.Fatalf("backend ListMultipartUploads: %v, %d uploads", err, len(l.Uploads))
		}
		at := aws.ToTime(l.Uploads[0].Initiated)
		abort := func(when time.Time) error {
			_, err := e.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b, Key: aws.String("k"),
				UploadId: cr.UploadId, IfMatchInitiatedTime: aws.Time(when)})
			return err
		}
		if err := abort(at.Add(-time.Hour)); apiCode(err) != "PreconditionFailed" {
			t.Fatalf("abort with another initiated time: %v, want PreconditionFailed", err)
		}
		if l, _ := e.backend.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b}); len(l.Uploads) != 2 {
			t.Fatalf("the refused abort removed the upload or its record: %d backend uploads, want 2", len(l.Uploads))
		}
		if err := abort(at); err != nil {
			t.Fatalf("abort with the initiated time: %v", err)
		}
		cr, err = e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("k")})
		if err != nil {
			t.Fatal(err)
		}
		if err := abort(time.Now().AddDate(1, 0, 0)); err != nil {
			t.Fatalf("abort with a future initiated time (ignored by S3): %v", err)
		}
		if l, _ := e.backend.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b}); len(l.Uploads) != 0 {
			t.Fatalf("the abort left %d backend uploads (its record included)", len(l.Uploads))
		}
	})
}

// TestListMultipartUploadsPages (issue 10, group 7): ListMultipartUploads
// through the proxy lists exactly the upload IDs CreateMultipartUpload
// gave (with or without a declared checksum), never the proxy's upload
// records, and pages as S3 does: every page but the last holds
// max-uploads entries, the next markers (client IDs) resume the listing,
// with prefix and delimiter too; what it lists, in order, is the backend's
// own listing without the records. An upload found in the listing
// resumes with the listed ID (UploadPart, ListParts, Complete), and
// Complete and Abort leave no record behind.
func TestListMultipartUploadsPages(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		ctx := ctxFor(t, 2*time.Minute)
		given := map[string]string{} // client ID -> key
		for i, k := range []string{"a", "a", "b", "c/d", "c/e", "d", "-x", "z"} {
			in := &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String(k)}
			if i == 1 {
				in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32c
			}
			cr, err := e.client.CreateMultipartUpload(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			given[aws.ToString(cr.UploadId)] = k
		}
		// The backend's listing without records, its IDs as clients were
		// given them: what every listing through the proxy must page.
		clientOf := map[string]string{}
		for id := range given {
			backendID, _, _ := strings.Cut(strings.Replace(id, ".bk2.", ".bk1.", 1), ".bk1.")
			clientOf[backendID] = id
		}
		pages := func(c *s3.Client, in s3.ListMultipartUploadsInput) (entries []string, sizes []int) {
			t.Helper()
			in.Bucket = &b
			for i := 0; i < 50; i++ {
				l, err := c.ListMultipartUploads(ctx, &in)
				if err != nil {
					// versitygw refuses an upload-id-marker with a
					// key-marker (it drops the marker's key first): the
					// backend's answer, the same through the proxy.
					return append(entries, "error "+apiCode(err)), sizes
				}
				for _, u := range l.Uploads {
					entries = append(entries, aws.ToString(u.Key)+" "+aws.ToString(u.UploadId))
				}
				for _, p := range l.CommonPrefixes {
					entries = append(entries, "prefix "+aws.ToString(p.Prefix))
				}
				sizes = append(sizes, len(l.Uploads)+len(l.CommonPrefixes))
				if m := aws.ToString(l.NextUploadIdMarker); c == e.client && m != "" && given[m] == "" {
					t.Errorf("%+v: NextUploadIdMarker %q is not an ID CreateMultipartUpload gave", in, m)
				}
				if !aws.ToBool(l.IsTruncated) {
					return entries, sizes
				}
				in.KeyMarker, in.UploadIdMarker = l.NextKeyMarker, l.NextUploadIdMarker
			}
			t.Fatal("listing does not end")
			return nil, nil
		}
		expected := func(in s3.ListMultipartUploadsInput) []string {
			direct, _ := pages(e.backend, in)
			var out []string
			for _, d := range direct {
				if strings.Contains(d, ".bucketkey-upload/") {
					continue
				}
				if k, id, ok := strings.Cut(d, " "); ok && k != "prefix" {
					if c, ok := clientOf[id]; ok {
						d = k + " " + c
					}
				}
				out = append(out, d)
			}
			return out
		}
		all, _ := pages(e.client, s3.ListMultipartUploadsInput{})
		listed := map[string]string{}
		for _, en := range all {
			k, id, _ := strings.Cut(en, " ")
			listed[id] = k
		}
		if !maps.Equal(listed, given) {
			t.Fatalf("through the proxy the listing is\n%s\nwant the IDs CreateMultipartUpload gave: %v", strings.Join(all, "\n"), given)
		}
		// The same listing in one page, which the pages must add up to;
		// versitygw refuses an upload-id-marker that is not an ID of the
		// key after key-marker, so there paging may end in its error.
		unpaged := func(in s3.ListMultipartUploadsInput) []string {
			in.MaxUploads, in.KeyMarker, in.UploadIdMarker = nil, nil, nil
			return expected(in)
		}
		for _, in := range []s3.ListMultipartUploadsInput{
			{},
			{MaxUploads: aws.Int32(1)},
			{MaxUploads: aws.Int32(2)},
			{MaxUploads: aws.Int32(1), Prefix: aws.String("c/")},
			{Delimiter: aws.String("/")},
			{Delimiter: aws.String("/"), MaxUploads: aws.Int32(1)},
			{KeyMarker: aws.String("b")},
			{Prefix: aws.String(".bucketkey-upload/")},
		} {
			got, sizes := pages(e.client, in)
			want := expected(in)
			if in.MaxUploads != nil {
				want = unpaged(in)
				if n := len(got) - 1; o.backend == "versitygw" && n >= 0 && got[n] == "error InvalidArgument" {
					got, want = got[:n], want[:min(n, len(want))]
				}
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%+v: through the proxy\n%s\nwant\n%s", in, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if n := aws.ToInt32(in.MaxUploads); n > 0 {
				for i, size := range sizes[:max(len(sizes)-1, 0)] {
					if size != int(n) {
						t.Errorf("%+v: page %d holds %d entries, want %d (pages %v)", in, i, size, n, sizes)
					}
				}
			}
		}
		// A page that ends in the common prefix c/: versitygw's
		// NextUploadIdMarker names c/e's upload, which is not on the page;
		// pages checks it is the ID Create gave. (What follows is the
		// backend's: versitygw lists c/ again on the next page.)
		pages(e.client, s3.ListMultipartUploadsInput{Delimiter: aws.String("/"), MaxUploads: aws.Int32(1), KeyMarker: aws.String("b")})
		// Resume the upload of "b" from the listing.
		var bID string
		for id, k := range listed {
			if k == "b" {
				bID = id
			}
		}
		data := randBytes(1000)
		up, err := e.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &b, Key: aws.String("b"), UploadId: &bID, PartNumber: aws.Int32(1), Body: bytes.NewReader(data)})
		if err != nil {
			t.Fatalf("UploadPart with the listed ID: %v", err)
		}
		if _, err := e.client.ListParts(ctx, &s3.ListPartsInput{Bucket: &b, Key: aws.String("b"), UploadId: &bID}); err != nil {
			t.Errorf("ListParts with the listed ID: %v", err)
		}
		if _, err := e.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &b, Key: aws.String("b"), UploadId: &bID,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag}}}}); err != nil {
			t.Fatalf("Complete with the listed ID: %v", err)
		}
		mustEqual(t, "the upload resumed from the listing", e.get(b, "b"), data)
		for id, k := range listed {
			if k == "b" {
				continue
			}
			if _, err := e.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b, Key: aws.String(k), UploadId: aws.String(id)}); err != nil {
				t.Errorf("abort with the listed ID of %s: %v", k, err)
			}
		}
		if l, err := e.backend.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b}); err != nil || len(l.Uploads)+len(l.CommonPrefixes) != 0 {
			t.Errorf("after Complete and Abort the backend lists %d uploads (records included), want 0 (%v)", len(l.Uploads), err)
		}
	})
}

// TestUploadRecordsReserved: a client cannot name a key under the proxy's
// upload records (forge or abort one): 400 InvalidArgument, nothing
// reaches the backend; and a backend ID works wherever the client ID does.
func TestUploadRecordsReserved(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		ctx := ctxFor(t, time.Minute)
		k := aws.String(".bucketkey-upload/x/.bk1.AAAA")
		if _, err := e.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: k, Body: bytes.NewReader(nil)}); apiCode(err) != "InvalidArgument" {
			t.Errorf("PutObject under the records: %v, want InvalidArgument", err)
		}
		if _, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: k}); apiCode(err) != "InvalidArgument" {
			t.Errorf("CreateMultipartUpload under the records: %v, want InvalidArgument", err)
		}
		if l, err := e.backend.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b}); err != nil || len(l.Uploads) != 0 {
			t.Errorf("refused requests left %d uploads (%v)", len(l.Uploads), err)
		}
		cr, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("k")})
		if err != nil {
			t.Fatal(err)
		}
		backendID, _, _ := strings.Cut(aws.ToString(cr.UploadId), ".bk1.")
		data := randBytes(100)
		up, err := e.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &b, Key: aws.String("k"), UploadId: &backendID, PartNumber: aws.Int32(1), Body: bytes.NewReader(data)})
		if err != nil {
			t.Fatalf("UploadPart with the backend ID: %v", err)
		}
		if _, err := e.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &b, Key: aws.String("k"), UploadId: cr.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag}}}}); err != nil {
			t.Fatalf("Complete: %v", err)
		}
		mustEqual(t, "the object", e.get(b, "k"), data)
		if l, err := e.backend.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b}); err != nil || len(l.Uploads) != 0 {
			t.Errorf("Complete left %d backend uploads (its record?) (%v)", len(l.Uploads), err)
		}
	})
}

// TestListMultipartUploadsChecksums (issue 10, groups 2 and 7):
// ListMultipartUploads names each upload's checksum algorithm and type as
// CreateMultipartUpload declared them (S3's default type when none was
// given), for every algorithm S3 accepts, and none for an upload that
// declared none, on every backend, though the backend's uploads hold only
// ciphertext parts.
func TestListMultipartUploadsChecksums(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		ctx := ctxFor(t, time.Minute)
		type declared struct {
			alg types.ChecksumAlgorithm
			typ types.ChecksumType
		}
		want := map[string]declared{}
		for i, d := range []declared{
			{types.ChecksumAlgorithmCrc32, types.ChecksumTypeComposite},
			{types.ChecksumAlgorithmCrc32c, types.ChecksumTypeFullObject},
			{types.ChecksumAlgorithmCrc64nvme, ""}, // FULL_OBJECT by default
			{types.ChecksumAlgorithmSha1, ""},      // COMPOSITE by default
			{types.ChecksumAlgorithmSha256, types.ChecksumTypeComposite},
			{types.ChecksumAlgorithmSha512, types.ChecksumTypeComposite},
			{types.ChecksumAlgorithmMd5, types.ChecksumTypeComposite},
			{types.ChecksumAlgorithmXxhash64, types.ChecksumTypeComposite},
			{types.ChecksumAlgorithmXxhash3, types.ChecksumTypeComposite},
			{types.ChecksumAlgorithmXxhash128, types.ChecksumTypeComposite},
			{"", ""},
		} {
			k := "obj-" + string(rune('a'+i))
			cr, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: &k,
				ChecksumAlgorithm: d.alg, ChecksumType: d.typ})
			if err != nil {
				t.Fatalf("%s: %v", d.alg, err)
			}
			if d.typ == "" && d.alg != "" {
				d.typ = types.ChecksumTypeComposite
				if d.alg == types.ChecksumAlgorithmCrc64nvme {
					d.typ = types.ChecksumTypeFullObject
				}
			}
			if cr.ChecksumAlgorithm != d.alg || cr.ChecksumType != d.typ {
				t.Errorf("%s: CreateMultipartUpload answers %q %q, want %q %q", k, cr.ChecksumAlgorithm, cr.ChecksumType, d.alg, d.typ)
			}
			want[aws.ToString(cr.UploadId)] = d
		}
		l, err := e.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]declared{}
		for _, u := range l.Uploads {
			got[aws.ToString(u.UploadId)] = declared{u.ChecksumAlgorithm, u.ChecksumType}
		}
		if !maps.Equal(got, want) {
			t.Errorf("ListMultipartUploads lists\n%v\nwant\n%v", got, want)
		}
	})
}

// TestListMultipartUploadsDelimiterInRecords: a delimiter that occurs in
// the records' prefix (".bucketkey-upload/") folds no client key into a
// common prefix of the records' (".", ".bucketkey-", ".buck"): S3 lists
// no common prefix no client upload has. One a client key shares stays
// listed, and the page the records' prefix shortened is filled.
func TestListMultipartUploadsDelimiterInRecords(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		ctx := ctxFor(t, time.Minute)
		for _, k := range []string{"a b+c%d", "é/x"} {
			if _, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String(k)}); err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range []string{".", "-", "k", "d/"} {
			for _, enc := range []types.EncodingType{"", types.EncodingTypeUrl} {
				l, err := e.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b, Delimiter: aws.String(d), EncodingType: enc})
				if err != nil {
					t.Fatal(err)
				}
				var ps []string
				for _, p := range l.CommonPrefixes {
					ps = append(ps, aws.ToString(p.Prefix))
				}
				if len(ps) != 0 || len(l.Uploads) != 2 {
					t.Errorf("delimiter %q encoding %q: common prefixes %q and %d uploads, want none and 2", d, enc, ps, len(l.Uploads))
				}
			}
		}
		if o.backend != "versitygw" {
			return // MinIO lists no common prefixes of uploads
		}
		if _, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String(".z")}); err != nil {
			t.Fatal(err)
		}
		l, err := e.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b, Delimiter: aws.String(".")})
		if err != nil || len(l.CommonPrefixes) != 1 || aws.ToString(l.CommonPrefixes[0].Prefix) != "." || len(l.Uploads) != 2 {
			t.Errorf("with .z: %v, %+v, want the prefix . and 2 uploads", err, l)
		}
		l, err = e.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b, Delimiter: aws.String("-"), MaxUploads: aws.Int32(1)})
		if err != nil || len(l.CommonPrefixes) != 0 || len(l.Uploads) != 1 || aws.ToString(l.Uploads[0].Key) != ".z" {
			t.Errorf("delimiter - max-uploads 1: %v, %+v, want the upload of .z", err, l)
		}
	})
}

// TestUploadRecordsOtherReplica: a second proxy (a replica, or the proxy
// restarted: no cache) lists the ID Create gave, and an Abort with the ID
// it listed leaves nothing at the backend, the record included.
func TestUploadRecordsOtherReplica(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e, other := newEnv(t, o), newEnv(t, o)
		b := e.newBucket()
		ctx := ctxFor(t, time.Minute)
		cr, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("k")})
		if err != nil {
			t.Fatal(err)
		}
		l, err := other.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b})
		if err != nil || len(l.Uploads) != 1 {
			t.Fatalf("the other replica lists %+v (%v), want one upload", l, err)
		}
		id := l.Uploads[0].UploadId
		if aws.ToString(id) != aws.ToString(cr.UploadId) {
			t.Errorf("the other replica lists %q, want the ID Create gave %q", aws.ToString(id), aws.ToString(cr.UploadId))
		}
		if _, err := other.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b, Key: aws.String("k"), UploadId: id}); err != nil {
			t.Fatal(err)
		}
		if l, err := e.backend.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b}); err != nil || len(l.Uploads) != 0 {
			t.Errorf("after Abort the backend lists %d uploads (the record?) (%v)", len(l.Uploads), err)
		}
	})
}

// TestListMultipartUploadsURLEncoded: with encoding-type=url, keys with
// spaces, "+", "%" and non-ASCII are listed as the backend lists them
// (the same keys, the records left out), each under the ID Create gave. (Paging one by one is the backend's: versitygw refuses the
// next markers, MinIO ignores max-uploads.)
func TestListMultipartUploadsURLEncoded(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		ctx := ctxFor(t, time.Minute)
		given := map[string]string{}
		for _, k := range []string{"a b", "a+b", "a%2Bb", "é", "-", ".a", "x&<y>"} {
			cr, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String(k)})
			if err != nil {
				t.Fatal(err)
			}
			given[aws.ToString(cr.UploadId)] = k
		}
		keys := func(c *s3.Client) (map[string]string, []string) {
			l, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b, EncodingType: types.EncodingTypeUrl})
			if err != nil {
				t.Fatal(err)
			}
			ids := map[string]string{}
			var ks []string
			for _, u := range l.Uploads {
				k, err := url.QueryUnescape(aws.ToString(u.Key))
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(k, ".bucketkey-upload/") {
					ids[aws.ToString(u.UploadId)] = k
					ks = append(ks, k)
				}
			}
			return ids, ks
		}
		listed, got := keys(e.client)
		_, want := keys(e.backend)
		// Keys as the backend encodes them (versitygw leaves "+" and "%"
		// unescaped), compared with the backend's below.
		for id, k := range given {
			if _, ok := listed[id]; !ok {
				t.Errorf("the upload of %q is not listed under the ID Create gave", k)
			}
		}
		for id, k := range listed {
			if given[id] == "" {
				t.Errorf("%q is listed under %.50s..., not an ID Create gave", k, id)
			}
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("keys through the proxy %q, at the backend %q", got, want)
		}
	})
}
