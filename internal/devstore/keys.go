package devstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bucketkey/bucketkey/s3err"
)

// The store keeps each object as the file buckets/<bucket>/<key>, so it
// can hold only keys that name a file: gofakes3 joins the key to the
// bucket's path, which drops a trailing "/" ("dir/", a folder marker,
// became the file "dir", its metadata recorded under "dir/" where a
// listing, finding "dir", never looked: every later listing failed with
// InternalError) and collapses empty, "." and ".." segments. And a key
// cannot be both a file and the directory of longer keys ("dir" and
// "dir/file"). S3 allows all of these at once; the store refuses the
// write with NotImplemented instead of storing it under another name.

// storableKey reports why the store cannot hold key, or nil.
func storableKey(key string) error {
	for _, seg := range strings.Split(key, "/") {
		switch seg {
		case "", ".", "..":
			return s3err.NotImplemented.With(fmt.Sprintf(
				"devstore stores objects as files and cannot hold key %q: a key ending in \"/\" (folder marker) or with an empty, \".\" or \"..\" segment", key))
		}
	}
	return nil
}

// writableKey reports why the store cannot write key in bucket, or nil:
// an unstorable key, or one that conflicts with an object stored as a
// file where key needs a directory ("dir" when writing "dir/file") or
// with objects stored under key as a directory ("dir/file" when writing
// "dir").
func (s *Store) writableKey(bucket, key string) error {
	if err := storableKey(key); err != nil {
		return err
	}
	file, isDir, err := s.stored(bucket, key)
	switch {
	case err != nil:
		return err
	case file != "":
		return s3err.NotImplemented.With(fmt.Sprintf(
			"devstore stores objects as files and cannot hold both %q and %q", file, key))
	case isDir:
		return s3err.NotImplemented.With(fmt.Sprintf(
			"devstore stores objects as files and cannot hold both %q and keys beginning %q", key, key+"/"))
	}
	return nil
}

// readableKey reports whether key can name an object in bucket: a
// storable key with no object stored as a file where it needs a directory
// (gofakes3 would answer InternalError for "dir/file" when "dir" exists).
func (s *Store) readableKey(bucket, key string) bool {
	if storableKey(key) != nil {
		return false
	}
	file, _, err := s.stored(bucket, key)
	return err != nil || file == ""
}

// stored looks at the files of key's path in bucket: file is the proper
// prefix of key stored as an object (a file), if any; isDir is whether
// key itself is a directory (of longer keys).
func (s *Store) stored(bucket, key string) (file string, isDir bool, err error) {
	if storableKey(bucket) != nil || strings.ContainsAny(bucket, `\`) {
		return "", false, nil // gofakes3 answers for bad bucket names
	}
	root := filepath.Join(s.dir, "buckets", bucket)
	segs := strings.Split(key, "/")
	for i := range segs {
		name := strings.Join(segs[:i+1], "/")
		fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(name)))
		if errors.Is(err, fs.ErrNotExist) {
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("devstore: check key %q: %w", key, err)
		}
		if i < len(segs)-1 && !fi.IsDir() {
			return name, false, nil
		}
		if i == len(segs)-1 {
			return "", fi.IsDir(), nil
		}
	}
	return "", false, nil
}
