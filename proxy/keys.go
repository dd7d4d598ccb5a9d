package proxy

import (
	"context"
	"errors"
	"fmt"

	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/keycache"
	"github.com/bucketkey/bucketkey/s3err"
)

// sealNew starts a new object (or multipart upload) named key in bucket: it
// borrows the bucket's current bucket key and seals a fresh data key under
// it. The caller wipes the returned data key.
func (p *Proxy) sealNew(ctx context.Context, rq *request, bucket, key string, sse sseRequest, multipart bool, size int64) (*envelope.Metadata, *envelope.DataKey, error) {
	keyID, err := p.writeKeyID(rq, bucket, key, sse)
	if err != nil {
		return nil, nil, err
	}
	var md *envelope.Metadata
	var dk *envelope.DataKey
	err = p.cfg.Keys.WithBucketKey(ctx, keycache.WriteRequest{
		Bucket:    bucket,
		KeyID:     keyID,
		Context:   sse.context,
		AccessKey: rq.auth.AccessKey,
	}, func(k keycache.Key) error {
		p.kmsKeys.add(k.KeyID) // what KMS reported for an accepted key
		var err error
		md, dk, err = envelope.Seal(bucketKey(k, bucket, sse), key, multipart, size)
		return err
	})
	if errors.Is(err, envelope.ErrInvalidMetadata) {
		// Only the client's context can be out of bounds.
		return nil, nil, s3err.InvalidArgument.With("The encryption context is too large.").Wrap(err)
	}
	if err != nil {
		return nil, nil, err
	}
	return md, dk, nil
}

// reseal re-seals an object's data key for a new name (CopyObject): the
// destination bucket's current bucket key, the destination name, the
// destination's encryption context.
func (p *Proxy) reseal(ctx context.Context, rq *request, src *envelope.Metadata, dk *envelope.DataKey, bucket, key string, sse sseRequest) (*envelope.Metadata, error) {
	keyID, err := p.writeKeyID(rq, bucket, key, sse)
	if err != nil {
		return nil, err
	}
	var md *envelope.Metadata
	err = p.cfg.Keys.WithBucketKey(ctx, keycache.WriteRequest{
		Bucket:    bucket,
		KeyID:     keyID,
		Context:   sse.context,
		AccessKey: rq.auth.AccessKey,
	}, func(k keycache.Key) error {
		p.kmsKeys.add(k.KeyID) // what KMS reported for an accepted key
		var err error
		md, err = src.Reseal(dk, bucketKey(k, bucket, sse), key)
		return err
	})
	if err != nil {
		return nil, err
	}
	return md, nil
}

// bucketKey describes the bucket key the cache lent for bucket, with the
// client's encryption context, for envelope.Seal and Reseal.
func bucketKey(k keycache.Key, bucket string, sse sseRequest) envelope.BucketKey {
	return envelope.BucketKey{Plaintext: k.Plaintext, KeyID: k.KeyID, Wrapped: k.Wrapped, Bucket: bucket, Context: sse.context}
}

// openDataKey unwraps md's bucket key (cached) and opens the data key of
// the object named key, read through bucket. verify says the read only
// checks the seal (HEAD): it is not counted as an object read.
func (p *Proxy) openDataKey(ctx context.Context, rq *request, md *envelope.Metadata, bucket, key string, verify bool) (*envelope.DataKey, error) {
	if !p.kmsKeys.accepts(md.KeyID) {
		return nil, p.refuse(rq, RefusedKMSKey, bucket, key, errKMSKeyNotAccepted,
			fmt.Errorf("object names KMS key %q", md.KeyID))
	}
	var dk *envelope.DataKey
	err := p.cfg.Keys.WithUnwrappedKey(ctx, keycache.ReadRequest{
		KeyBucket: md.KeyBucket,
		KeyID:     md.KeyID,
		Wrapped:   md.WrappedKey,
		Context:   md.Context,
		AccessKey: rq.auth.AccessKey,
		Bucket:    bucket,
		Verify:    verify,
	}, func(bucketKey []byte) error {
		d, err := md.Open(bucketKey, key)
		dk = d
		return err
	})
	if err != nil {
		return nil, err
	}
	return dk, nil
}

// errKMSKeyNotAccepted answers an object or a write naming a KMS key that
// is neither the proxy's key nor an accepted one (Config.AcceptKMSKeyIDs),
// as S3 answers a request for a KMS key the caller may not use.
var errKMSKeyNotAccepted = s3err.AccessDenied.With("The KMS key is not one this proxy is configured to use.")

// writeKeyID returns the KMS key a write uses: the one it asked for, if
// accepted, or the proxy's.
func (p *Proxy) writeKeyID(rq *request, bucket, key string, sse sseRequest) (string, error) {
	if sse.keyID == "" {
		return p.cfg.KMSKeyID, nil
	}
	if !p.kmsKeys.accepts(sse.keyID) {
		return "", p.refuse(rq, RefusedKMSKey, bucket, key, errKMSKeyNotAccepted,
			fmt.Errorf("write asks for KMS key %q", sse.keyID))
	}
	return sse.keyID, nil
}

// mayRead applies the binding policy (docs/ARCHITECTURE.md, "Replication"):
// bucket serves objects keyed to itself, or to a bucket it is declared to
// replicate.
func (p *Proxy) mayRead(bucket string, md *envelope.Metadata) error {
	if md.KeyBucket == bucket || p.replicas[bucket][md.KeyBucket] {
		return nil
	}
	return s3err.AccessDenied.Wrap(fmt.Errorf("proxy: object keyed to another bucket, and %q is not declared a replica of it", bucket))
}
