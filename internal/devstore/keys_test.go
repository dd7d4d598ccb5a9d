package devstore

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// TestStoreFolderMarkerKeys: keys the file-backed store cannot hold (a
// folder marker "dir/", empty or dot segments, "dir" beside "dir/file")
// are refused with NotImplemented, and listings keep working. Before the
// fix, PUT "dir/" stored the file "dir" and every ListObjectsV2 answered
// InternalError.
func TestStoreFolderMarkerKeys(t *testing.T) {
	type put struct {
		key  string
		code string // "" for success
	}
	tests := []struct {
		name string
		puts []put
		list []string // keys ListObjectsV2 answers afterwards
	}{
		{"folder marker alone", []put{{"dir/", "NotImplemented"}}, nil},
		{"folder marker then file", []put{{"dir/", "NotImplemented"}, {"dir/file", ""}}, []string{"dir/file"}},
		{"file then folder marker", []put{{"dir/file", ""}, {"dir/", "NotImplemented"}}, []string{"dir/file"}},
		{"object then file under it", []put{{"dir", ""}, {"dir/file", "NotImplemented"}}, []string{"dir"}},
		{"file then object of its directory", []put{{"a/dir/file", ""}, {"a/dir", "NotImplemented"}, {"a", "NotImplemented"}}, []string{"a/dir/file"}},
		{"empty and dot segments", []put{{"a//b", "NotImplemented"}, {"a/./b", "NotImplemented"}, {"a/../b", "NotImplemented"}, {"/a", "NotImplemented"}}, nil},
		{"siblings", []put{{"dir", ""}, {"dir2/file", ""}, {"dir.x", ""}}, []string{"dir", "dir.x", "dir2/file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newClient(t, Options{})
			ctx := context.Background()
			for _, p := range tc.puts {
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("dev"), Key: aws.String(p.key), Body: bytes.NewReader([]byte("x"))})
				var api smithy.APIError
				switch {
				case p.code == "" && err != nil:
					t.Fatalf("PutObject %q: %v", p.key, err)
				case p.code != "" && (!errors.As(err, &api) || api.ErrorCode() != p.code):
					t.Fatalf("PutObject %q: %v, want %s", p.key, err, p.code)
				}
				if p.code != "" { // a refused key was not stored under another name
					_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dev"), Key: aws.String(p.key)})
					if httpStatus(err) != 404 {
						t.Errorf("HEAD %q after a refused PUT: %v, want 404", p.key, err)
					}
				}
			}
			out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("dev")})
			if err != nil {
				t.Fatalf("ListObjectsV2: %v", err)
			}
			var keys []string
			for _, o := range out.Contents {
				keys = append(keys, aws.ToString(o.Key))
			}
			if !slices.Equal(keys, tc.list) {
				t.Errorf("listed %q, want %q", keys, tc.list)
			}
		})
	}
}

// TestStoreUnstorableKeyReadDelete: reading or deleting a key the store
// cannot hold answers as for a missing key and leaves the object gofakes3
// would have mapped it to ("dir/" to "dir") alone.
func TestStoreUnstorableKeyReadDelete(t *testing.T) {
	c, _ := newClient(t, Options{})
	ctx := context.Background()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("dev"), Key: aws.String("dir"), Body: bytes.NewReader([]byte("keep"))}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dev"), Key: aws.String("dir/")}); httpStatus(err) != 404 {
		t.Errorf("HEAD dir/: %v, want 404", err)
	}
	_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("dev"), Key: aws.String("dir/")})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "NoSuchKey" {
		t.Errorf("GET dir/: %v, want NoSuchKey", err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("dev"), Key: aws.String("dir/")}); err != nil {
		t.Errorf("DELETE dir/: %v", err)
	}
	got, _ := get(t, c, &s3.GetObjectInput{Bucket: aws.String("dev"), Key: aws.String("dir")})
	if string(got) != "keep" {
		t.Errorf("dir = %q after DELETE dir/, want keep", got)
	}
}
