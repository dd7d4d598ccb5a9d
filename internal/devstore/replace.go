package devstore

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"strings"
	"sync"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"
)

// replacingBackend is gofakes3's afero backend with S3's overwrite: a
// PutObject (a PUT, a copy, a completed multipart upload) replaces the
// object's metadata. gofakes3 merges it with the old object's instead
// (gofakes3.MergeMetadata), so an overwrite without a field the old object
// had (an encryption context, a recorded size) kept the stale one, and the
// proxy refused the object. After the put, the metadata file is rewritten
// with exactly the new metadata.
//
// gofakes3 also merges the source's metadata into a copy's whatever its
// directive; for a copy with x-amz-metadata-directive: REPLACE, the Store
// records the names the request itself sets (replaceCopies), and the copy
// keeps only those.
type replacingBackend struct {
	*s3afero.MultiBucketBackend
	metaFs        afero.Fs  // the backend's metadata directory
	replaceCopies *sync.Map // "bucket/key" -> map[string]bool: the names a REPLACE copy may keep
}

// PutObject implements gofakes3.Backend.
func (b replacingBackend) PutObject(bucket, object string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	exact := maps.Clone(meta)
	res, err := b.MultiBucketBackend.PutObject(bucket, object, meta, input, size, cond)
	if err != nil {
		return res, err
	}
	if err := b.replaceMeta(bucket, object, exact); err != nil {
		return res, fmt.Errorf("devstore: replace metadata of %s/%s: %w", bucket, object, err)
	}
	return res, nil
}

// replaceMeta sets the Meta field of the backend's metadata file for
// bucket/object (s3afero's metaStore layout: metadata/<bucket>/<object,
// slashes as underscores>-<FNV-128a of the object name, hex>), keeping
// its other fields.
func (b replacingBackend) replaceMeta(bucket, object string, meta map[string]string) error {
	h := fnv.New128a()
	h.Write([]byte(object))
	name := strings.NewReplacer("/", "_", `\`, "_").Replace(object) + "-" + hex.EncodeToString(h.Sum(nil))
	path := filepath.Join(bucket, name)
	raw, err := afero.ReadFile(b.metaFs, path)
	if err != nil {
		return err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	if meta == nil {
		meta = map[string]string{}
	}
	if doc["Meta"], err = json.Marshal(meta); err != nil {
		return err
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return afero.WriteFile(b.metaFs, path, out, 0o600)
}

// CopyObject implements gofakes3.Backend through this PutObject (the
// embedded backend's would call its own).
func (b replacingBackend) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	if keep, ok := b.replaceCopies.Load(dstBucket + "/" + dstKey); ok {
		meta = maps.Clone(meta)
		maps.DeleteFunc(meta, func(k string, _ string) bool { return !keep.(map[string]bool)[k] })
	}
	return gofakes3.CopyObject(b, srcBucket, srcKey, dstBucket, dstKey, meta)
}

// copyReplaceNames are the metadata names gofakes3 takes from a request
// (its metadataHeaders): x-amz-*, three content headers, and the time.
func copyReplaceNames(h http.Header) map[string]bool {
	keep := map[string]bool{"Last-Modified": true}
	for k := range h {
		if strings.HasPrefix(k, "X-Amz-") || k == "Content-Type" || k == "Content-Disposition" || k == "Content-Encoding" {
			keep[k] = true
		}
	}
	return keep
}
