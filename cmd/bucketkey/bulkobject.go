package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/bucketkey/bucketkey/proxy"
)

// storedObject is what the backend says about one object: everything a
// rewrite in place must keep.
type storedObject struct {
	key, etag string
	size      int64
	// stored holds the x-amz-meta-* headers as stored, envelope included.
	stored    http.Header
	userMeta  map[string]string // the client's metadata, without the envelope's
	encrypted bool
	keyID     string // the KMS key of an encrypted object
	// parts is the stored part count of a multipart object (its ETag's
	// "-N"), 0 for a single-part object.
	parts int

	contentType, cacheControl, contentDisposition, contentEncoding, contentLanguage string
	expires                                                                         *time.Time
	websiteRedirect                                                                 string
	storageClass                                                                    types.StorageClass
}

// errGone: the object was deleted after it was listed.
var errGone = errors.New("deleted since it was listed")

// inspect HEADs key at the backend.
func (br *bulkRun) inspect(ctx context.Context, key string) (*storedObject, error) {
	out, err := br.backend.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(br.cmd.bucket), Key: aws.String(key)})
	if err != nil {
		if isStatus(err, http.StatusNotFound) {
			return nil, errGone
		}
		return nil, fmt.Errorf("HEAD: %w", err)
	}
	o := &storedObject{
		key: key, etag: aws.ToString(out.ETag), size: aws.ToInt64(out.ContentLength),
		stored: http.Header{}, userMeta: map[string]string{},
		contentType: aws.ToString(out.ContentType), cacheControl: aws.ToString(out.CacheControl),
		contentDisposition: aws.ToString(out.ContentDisposition), contentEncoding: aws.ToString(out.ContentEncoding),
		contentLanguage: aws.ToString(out.ContentLanguage), websiteRedirect: aws.ToString(out.WebsiteRedirectLocation),
		storageClass: out.StorageClass,
	}
	if s := aws.ToString(out.ExpiresString); s != "" {
		if t, err := http.ParseTime(s); err == nil {
			o.expires = &t
		}
	}
	for k, v := range out.Metadata {
		name := "X-Amz-Meta-" + k
		o.stored.Set(name, v)
		if !proxy.IsEnvelopeHeader(name) {
			o.userMeta[k] = v
		}
	}
	if o.keyID, o.encrypted, err = proxy.StoredKeyID(o.stored); err != nil {
		// A broken envelope is verify's business; rewriting it would hide it.
		return nil, fmt.Errorf("stored envelope: %w", err)
	}
	inner := strings.Trim(o.etag, `"`)
	if _, n, ok := strings.Cut(inner, "-"); ok {
		if o.parts, err = strconv.Atoi(n); err != nil || o.parts < 1 {
			return nil, fmt.Errorf("ETag %s: not a multipart ETag", o.etag)
		}
	}
	return o, nil
}

// tagging returns the object's tags as an x-amz-tagging value ("" if none).
func (br *bulkRun) tagging(ctx context.Context, key string) (string, error) {
	out, err := br.backend.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(br.cmd.bucket), Key: aws.String(key)})
	if err != nil {
		return "", fmt.Errorf("GetObjectTagging: %w", err)
	}
	v := url.Values{}
	for _, t := range out.TagSet {
		v.Add(aws.ToString(t.Key), aws.ToString(t.Value))
	}
	return v.Encode(), nil
}

// storageClass is the class to ask for on a rewrite: the object's, where
// the backend reported one other than STANDARD.
func (o *storedObject) storageClassOrEmpty() types.StorageClass {
	if o.storageClass == types.StorageClassStandard {
		return ""
	}
	return o.storageClass
}

// rewrite stores the object again through the proxy: every byte read
// through the proxy (decrypted if it is encrypted, as stored if it is not)
// and written through it (encrypted under a fresh data key), keeping key,
// user metadata, content headers, tags, storage class and, for a multipart
// object, its part layout. Reads are pinned to the ETag the HEAD saw
// (If-Match), and so is the write (If-Match on PutObject and
// CompleteMultipartUpload), so an object changed by someone else meanwhile
// is left as they wrote it: the backend answers 412 and the object fails.
func (br *bulkRun) rewrite(ctx context.Context, o *storedObject) (int64, error) {
	tags, err := br.tagging(ctx, o.key)
	if err != nil {
		return 0, err
	}
	b := aws.String(br.cmd.bucket)
	k := aws.String(o.key)
	if o.parts == 0 {
		get, err := br.proxied.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k, IfMatch: aws.String(o.etag)})
		if err != nil {
			return 0, changed(fmt.Errorf("GET: %w", err))
		}
		defer get.Body.Close()
		n := aws.ToInt64(get.ContentLength)
		if testBeforeWrite != nil {
			testBeforeWrite(o.key)
		}
		_, err = br.proxied.PutObject(ctx, &s3.PutObjectInput{
			Bucket: b, Key: k, Body: get.Body, ContentLength: aws.Int64(n),
			Metadata: o.userMeta, ContentType: nonEmpty(o.contentType), CacheControl: nonEmpty(o.cacheControl),
			ContentDisposition: nonEmpty(o.contentDisposition), ContentEncoding: nonEmpty(o.contentEncoding),
			ContentLanguage: nonEmpty(o.contentLanguage), Expires: o.expires,
			WebsiteRedirectLocation: nonEmpty(o.websiteRedirect), StorageClass: o.storageClassOrEmpty(),
			Tagging: nonEmpty(tags), IfMatch: aws.String(o.etag),
		})
		if err != nil {
			return 0, changed(fmt.Errorf("PUT: %w", err))
		}
		return n, nil
	}

	create, err := br.proxied.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: b, Key: k,
		Metadata: o.userMeta, ContentType: nonEmpty(o.contentType), CacheControl: nonEmpty(o.cacheControl),
		ContentDisposition: nonEmpty(o.contentDisposition), ContentEncoding: nonEmpty(o.contentEncoding),
		ContentLanguage: nonEmpty(o.contentLanguage), Expires: o.expires,
		WebsiteRedirectLocation: nonEmpty(o.websiteRedirect), StorageClass: o.storageClassOrEmpty(),
		Tagging: nonEmpty(tags),
	})
	if err != nil {
		return 0, fmt.Errorf("CreateMultipartUpload: %w", err)
	}
	id := create.UploadId
	completed := false
	defer abortUnless(ctx, br.proxied, b, k, id, &completed)
	var total int64
	var done []types.CompletedPart
	count := 1
	for part := 1; part <= count; part++ {
		get, err := br.proxied.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k, IfMatch: aws.String(o.etag), PartNumber: aws.Int32(int32(part))})
		if err != nil {
			return total, changed(fmt.Errorf("GET part %d: %w", part, err))
		}
		if part == 1 {
			// The client-visible part count: the proxy leaves out the
			// marker part of an encrypted object.
			count = int(aws.ToInt32(get.PartsCount))
			if count < 1 {
				count = 1
			}
		}
		n := aws.ToInt64(get.ContentLength)
		up, err := br.proxied.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: b, Key: k, UploadId: id, PartNumber: aws.Int32(int32(part)),
			Body: get.Body, ContentLength: aws.Int64(n),
		})
		get.Body.Close()
		if err != nil {
			return total, fmt.Errorf("UploadPart %d: %w", part, err)
		}
		total += n
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(part)), ETag: up.ETag})
	}
	if testBeforeWrite != nil {
		testBeforeWrite(o.key)
	}
	_, err = br.proxied.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: b, Key: k, UploadId: id, IfMatch: aws.String(o.etag),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	})
	if err != nil {
		return total, changed(fmt.Errorf("CompleteMultipartUpload: %w", err))
	}
	completed = true
	return total, nil
}

// testBeforeWrite, if set, runs between a rewrite's read and its write
// (tests replace the object there).
var testBeforeWrite func(key string)

// rewrapInPlace re-wraps an encrypted object's data key under keyID and
// stores the new envelope with a server-side copy in place: the object's
// bytes are never read by the command. A single-part object is one
// CopyObject (REPLACE metadata, tags kept, pinned with
// x-amz-copy-source-if-match); a multipart object is copied part by part
// with UploadPartCopy (byte ranges of its stored parts, the layout its
// decryption needs), pinned the same way, and completed with If-Match.
// It returns the KMS key id the new envelope records.
func (br *bulkRun) rewrapInPlace(ctx context.Context, o *storedObject, keyID string) (string, error) {
	env, newKeyID, err := br.srv.proxy.Rewrap(ctx, br.cmd.bucket, o.key, o.stored, keyID)
	if err != nil {
		return "", fmt.Errorf("rewrap: %w", err)
	}
	meta := make(map[string]string, len(o.userMeta)+len(env))
	for k, v := range o.userMeta {
		meta[k] = v
	}
	for k, v := range env {
		meta[strings.TrimPrefix(strings.ToLower(k), "x-amz-meta-")] = v
	}
	b, k := aws.String(br.cmd.bucket), aws.String(o.key)
	src := aws.String(br.cmd.bucket + "/" + strings.ReplaceAll(url.PathEscape(o.key), "%2F", "/"))
	if o.parts == 0 {
		_, err := br.backend.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: b, Key: k, CopySource: src, CopySourceIfMatch: aws.String(o.etag),
			MetadataDirective: types.MetadataDirectiveReplace, TaggingDirective: types.TaggingDirectiveCopy,
			Metadata: meta, ContentType: nonEmpty(o.contentType), CacheControl: nonEmpty(o.cacheControl),
			ContentDisposition: nonEmpty(o.contentDisposition), ContentEncoding: nonEmpty(o.contentEncoding),
			ContentLanguage: nonEmpty(o.contentLanguage), Expires: o.expires,
			WebsiteRedirectLocation: nonEmpty(o.websiteRedirect), StorageClass: o.storageClassOrEmpty(),
		})
		if err != nil {
			return "", changed(fmt.Errorf("CopyObject: %w", err))
		}
		return newKeyID, nil
	}
	tags, err := br.tagging(ctx, o.key)
	if err != nil {
		return "", err
	}
	create, err := br.backend.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: b, Key: k,
		Metadata: meta, ContentType: nonEmpty(o.contentType), CacheControl: nonEmpty(o.cacheControl),
		ContentDisposition: nonEmpty(o.contentDisposition), ContentEncoding: nonEmpty(o.contentEncoding),
		ContentLanguage: nonEmpty(o.contentLanguage), Expires: o.expires,
		WebsiteRedirectLocation: nonEmpty(o.websiteRedirect), StorageClass: o.storageClassOrEmpty(),
		Tagging: nonEmpty(tags),
	})
	if err != nil {
		return "", fmt.Errorf("CreateMultipartUpload: %w", err)
	}
	id := create.UploadId
	completed := false
	defer abortUnless(ctx, br.backend, b, k, id, &completed)
	var off int64
	var done []types.CompletedPart
	for part := 1; part <= o.parts; part++ {
		h, err := br.backend.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k, PartNumber: aws.Int32(int32(part)), IfMatch: aws.String(o.etag)})
		if err != nil {
			return "", changed(fmt.Errorf("HEAD part %d: %w", part, err))
		}
		n := aws.ToInt64(h.ContentLength)
		up, err := br.backend.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
			Bucket: b, Key: k, UploadId: id, PartNumber: aws.Int32(int32(part)),
			CopySource: src, CopySourceIfMatch: aws.String(o.etag),
			CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1)),
		})
		if err != nil {
			return "", changed(fmt.Errorf("UploadPartCopy %d: %w", part, err))
		}
		off += n
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(part)), ETag: up.CopyPartResult.ETag})
	}
	_, err = br.backend.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: b, Key: k, UploadId: id, IfMatch: aws.String(o.etag),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	})
	if err != nil {
		return "", changed(fmt.Errorf("CompleteMultipartUpload: %w", err))
	}
	completed = true
	return newKeyID, nil
}

// abortUnless aborts the multipart upload id unless *completed, so that a
// failed or interrupted rewrite leaves no upload behind.
func abortUnless(ctx context.Context, c *s3.Client, bucket, key, id *string, completed *bool) {
	if *completed {
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, _ = c.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: bucket, Key: key, UploadId: id})
}

// changed rewords a precondition failure: someone else changed the object
// while it was being rewritten, and it was left as they wrote it.
func changed(err error) error {
	if isStatus(err, http.StatusPreconditionFailed) {
		return fmt.Errorf("changed by someone else while it was rewritten; left as they wrote it (%w)", err)
	}
	return err
}

// isStatus reports whether err is an S3 answer with the HTTP status.
func isStatus(err error, status int) bool {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() == status {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch status {
		case http.StatusNotFound:
			return api.ErrorCode() == "NotFound" || api.ErrorCode() == "NoSuchKey"
		case http.StatusPreconditionFailed:
			return api.ErrorCode() == "PreconditionFailed"
		}
	}
	return false
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// sameKMSKey reports whether the key id an envelope records (a key ARN, as
// KMS reports it) is the key the user named (an id, an ARN, or the same
// ARN's key/ID suffix).
func sameKMSKey(recorded, named string) bool {
	return recorded == named || strings.HasSuffix(recorded, ":key/"+named) || strings.HasSuffix(recorded, "/"+named)
}
