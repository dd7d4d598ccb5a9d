package e2e

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestCopySemantics: CopyObject as S3 does it, through the proxy, for a
// source the backend copies (single-part encrypted) and one the proxy
// streams (multipart): the website redirect location is never copied
// (only set when the copy request sets it); x-amz-tagging-directive is
// COPY or REPLACE, anything else is 400 InvalidArgument and writes
// nothing; COPY takes the source's tags whatever x-amz-tagging says,
// REPLACE the request's; REPLACE is held to the metadata limit before
// anything is written.
func TestCopySemantics(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		ctx := ctxFor(t, 2*time.Minute)
		small := randBytes(1000)
		if _, err := e.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("single"), Body: bytes.NewReader(small),
			WebsiteRedirectLocation: aws.String("/elsewhere"), Tagging: aws.String("src=1")}); err != nil {
			t.Fatal(err)
		}
		big := randBytes(5<<20 + 1)
		in := multipartUpload(t, e.client, b, "multi", big)
		if _, err := e.client.CompleteMultipartUpload(ctx, in); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: &b, Key: aws.String("multi"),
			Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("src"), Value: aws.String("1")}}}}); err != nil {
			t.Fatal(err)
		}
		redirectSupported := false
		if h, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("single")}); err == nil {
			redirectSupported = aws.ToString(h.WebsiteRedirectLocation) == "/elsewhere"
		}
		t.Logf("%s stores x-amz-website-redirect-location: %v", o.backend, redirectSupported)

		for _, src := range []string{"single", "multi"} {
			t.Run(src, func(t *testing.T) {
				ctx := ctxFor(t, 2*time.Minute)
				copyTo := func(dst string, in s3.CopyObjectInput) error {
					in.Bucket, in.Key, in.CopySource = &b, aws.String(dst), aws.String(b+"/"+src)
					_, err := e.client.CopyObject(ctx, &in)
					return err
				}
				head := func(key string) *s3.HeadObjectOutput {
					t.Helper()
					h, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: &key})
					if err != nil {
						t.Fatalf("HEAD %s: %v", key, err)
					}
					return h
				}
				tags := func(key string) string {
					t.Helper()
					out, err := e.client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: &b, Key: &key})
					if err != nil {
						t.Fatalf("GetObjectTagging %s: %v", key, err)
					}
					var s []string
					for _, tag := range out.TagSet {
						s = append(s, aws.ToString(tag.Key)+"="+aws.ToString(tag.Value))
					}
					return strings.Join(s, "&")
				}

				for _, d := range []types.MetadataDirective{types.MetadataDirectiveCopy, types.MetadataDirectiveReplace} {
					dst := src + "-redirect-" + string(d)
					if err := copyTo(dst, s3.CopyObjectInput{MetadataDirective: d}); err != nil {
						t.Fatalf("copy %s: %v", d, err)
					}
					if r := aws.ToString(head(dst).WebsiteRedirectLocation); r != "" {
						t.Errorf("copy with %s took the source's redirect location %q", d, r)
					}
				}
				if redirectSupported {
					dst := src + "-redirect-set"
					if err := copyTo(dst, s3.CopyObjectInput{WebsiteRedirectLocation: aws.String("/there")}); err != nil {
						t.Fatal(err)
					}
					if r := aws.ToString(head(dst).WebsiteRedirectLocation); r != "/there" {
						t.Errorf("copy that sets a redirect location has %q, want /there", r)
					}
				}

				if err := copyTo(src+"-tags-copy", s3.CopyObjectInput{Tagging: aws.String("req=1")}); err != nil {
					t.Fatal(err)
				}
				if got := tags(src + "-tags-copy"); got != "src=1" {
					t.Errorf("tagging directive COPY: tags %q, want the source's src=1", got)
				}
				if err := copyTo(src+"-tags-replace", s3.CopyObjectInput{TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("req=1")}); err != nil {
					t.Fatal(err)
				}
				if got := tags(src + "-tags-replace"); got != "req=1" {
					t.Errorf("tagging directive REPLACE: tags %q, want the request's req=1", got)
				}

				before := e.snapshot(b)
				for _, bad := range []string{"MERGE", "copy", "replace", ""} {
					req := e.newReq(ctx, http.MethodPut, "/"+b+"/"+src+"-bad", nil)
					req.Header.Set("X-Amz-Copy-Source", b+"/"+src)
					req.Header["X-Amz-Tagging-Directive"] = []string{bad}
					signReq(t, req, clientCreds, emptySHA256, time.Now())
					r := e.send(req)
					if bad == "" {
						continue // an empty header is no header to net/http's signer and to S3
					}
					if r.status != 400 || r.code != "InvalidArgument" || !strings.Contains(string(r.body), "Unknown tagging directive.") {
						t.Errorf("tagging directive %q: %s, want 400 InvalidArgument", bad, r)
					}
				}
				e.sameState("refused tagging directives", before, b)
				// x-amz-source-expected-bucket-owner is checked on the
				// source as the backend checks it directly (versitygw:
				// AccessDenied for another owner; MinIO ignores it).
				wrongOwner := func(c *s3.Client) string {
					_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b, Key: aws.String(src + "-owner"),
						CopySource: aws.String(b + "/" + src), ExpectedSourceBucketOwner: aws.String("999999999999")})
					return apiCode(err)
				}
				if direct, proxied := wrongOwner(e.backend), wrongOwner(e.client); direct != proxied {
					t.Errorf("copy from a source bucket of another owner: %q through the proxy, %q directly", proxied, direct)
				}
				before = e.snapshot(b)
				meta := map[string]string{"big": strings.Repeat("m", 2100)}
				err := copyTo(src+"-bigmeta", s3.CopyObjectInput{MetadataDirective: types.MetadataDirectiveReplace, Metadata: meta})
				if apiCode(err) != "MetadataTooLarge" {
					t.Errorf("COPY REPLACE with 2100 bytes of metadata: %v, want MetadataTooLarge", err)
				}
				e.sameState("a refused COPY REPLACE", before, b)
			})
		}
	})
}
