package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestAbortIfMatchInitiatedTime: AbortMultipartUpload with
// x-amz-if-match-initiated-time aborts only the upload initiated then
// (412 PreconditionFailed otherwise, the upload kept), on every backend.
func TestAbortIfMatchInitiatedTime(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		ctx := ctxFor(t, time.Minute)
		cr, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("k")})
		if err != nil {
			t.Fatal(err)
		}
		l, err := e.backend.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b})
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
		if l, _ := e.backend.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b}); len(l.Uploads) != 1 {
			t.Fatalf("the refused abort removed the upload")
		}
		if err := abort(at); err != nil {
			t.Fatalf("abort with the initiated time: %v", err)
		}
		if l, _ := e.backend.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b}); len(l.Uploads) != 0 {
			t.Fatalf("the abort left %d uploads", len(l.Uploads))
		}
	})
}

// TestListMultipartUploadsPages: ListMultipartUploads through the proxy
// pages as the backend does directly (max-uploads, key and upload-id
// markers, prefix, delimiter), a proxy upload ID works as the
// upload-id-marker (it resumes where its backend ID does, and is echoed),
// and the listed IDs abort and list parts.
func TestListMultipartUploadsPages(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		ctx := ctxFor(t, time.Minute)
		ids := map[string]string{} // backend ID -> proxy ID
		for _, k := range []string{"a", "a", "b", "c/d", "c/e", "d"} {
			cr, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String(k)})
			if err != nil {
				t.Fatal(err)
			}
			id := aws.ToString(cr.UploadId)
			backendID, _, _ := strings.Cut(id, ".bk1.")
			ids[backendID] = id
		}
		pages := func(c *s3.Client, in s3.ListMultipartUploadsInput) []string {
			t.Helper()
			var out []string
			in.Bucket = &b
			for i := 0; i < 20; i++ {
				l, err := c.ListMultipartUploads(ctx, &in)
				if err != nil {
					// Compared with the same listing directly: a backend's
					// refusal is its own, and the proxy's must be the same.
					return append(out, "error "+apiCode(err))
				}
				var page []string
				for _, u := range l.Uploads {
					page = append(page, aws.ToString(u.Key)+" "+aws.ToString(u.UploadId))
				}
				for _, p := range l.CommonPrefixes {
					page = append(page, "prefix "+aws.ToString(p.Prefix))
				}
				out = append(out, strings.Join(page, ", "))
				if !aws.ToBool(l.IsTruncated) {
					return out
				}
				in.KeyMarker, in.UploadIdMarker = l.NextKeyMarker, l.NextUploadIdMarker
			}
			t.Fatal("listing does not end")
			return nil
		}
		for _, in := range []s3.ListMultipartUploadsInput{
			{},
			{MaxUploads: aws.Int32(2)},
			{MaxUploads: aws.Int32(1), Prefix: aws.String("c/")},
			{Delimiter: aws.String("/")},
			{Delimiter: aws.String("/"), MaxUploads: aws.Int32(1)},
			{KeyMarker: aws.String("b")},
		} {
			direct, proxied := pages(e.backend, in), pages(e.client, in)
			if strings.Join(direct, "\n") != strings.Join(proxied, "\n") {
				t.Errorf("%+v: through the proxy\n%s\ndirectly\n%s", in, strings.Join(proxied, "\n"), strings.Join(direct, "\n"))
			}
		}
		all, err := e.backend.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b})
		if err != nil || len(all.Uploads) != 6 {
			t.Fatalf("backend listing: %v, %d uploads", err, len(all.Uploads))
		}
		first := all.Uploads[0]
		// A proxy ID as upload-id-marker resumes where its backend ID
		// does directly (versitygw refuses an upload-id-marker of the
		// key-marker's own key: its quirk, the same through the proxy).
		want, werr := e.backend.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b, KeyMarker: first.Key, UploadIdMarker: first.UploadId})
		clientMarker := ids[aws.ToString(first.UploadId)]
		got, gerr := e.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b, KeyMarker: first.Key, UploadIdMarker: &clientMarker})
		switch {
		case apiCode(werr) != apiCode(gerr) || (werr == nil) != (gerr == nil):
			t.Errorf("proxy ID as upload-id-marker: %v; directly with the backend ID: %v", gerr, werr)
		case werr == nil && (len(got.Uploads) != len(want.Uploads) || aws.ToString(got.UploadIdMarker) != clientMarker):
			t.Errorf("proxy ID as upload-id-marker: %d uploads, marker %q; directly with the backend ID: %d", len(got.Uploads), aws.ToString(got.UploadIdMarker), len(want.Uploads))
		}
		t.Logf("%s: upload-id-marker of the key-marker's key: direct error %v", o.backend, werr)
		for _, u := range all.Uploads {
			if _, err := e.client.ListParts(ctx, &s3.ListPartsInput{Bucket: &b, Key: u.Key, UploadId: u.UploadId}); err != nil {
				t.Errorf("ListParts with the listed ID of %s: %v", aws.ToString(u.Key), err)
			}
			if _, err := e.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b, Key: u.Key, UploadId: u.UploadId}); err != nil {
				t.Errorf("abort with the listed ID of %s: %v", aws.ToString(u.Key), err)
			}
		}
	})
}
