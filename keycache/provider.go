package keycache

import "context"

// Provider is a KMS: it makes and unwraps 256-bit data keys under a master
// key, bound to an encryption context. Implementations return *Error so the
// cache (and through it the proxy) can tell throttling from denial.
type Provider interface {
	// GenerateDataKey is KMS GenerateDataKey with KeySpec AES_256.
	GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string) (GeneratedKey, error)
	// Decrypt is KMS Decrypt of a blob GenerateDataKey returned, with the
	// same encryption context; keyID is passed so KMS can check it.
	Decrypt(ctx context.Context, keyID string, wrapped []byte, encCtx map[string]string) ([]byte, error)
	// Name names the provider for logs ("aws-kms", "local").
	Name() string
}

// Checker is implemented by providers with something remote to probe: Check
// is a cheap request that shows the KMS reachable and the key usable, for
// the readiness endpoint. Providers with nothing to probe (the local key)
// do not implement it.
type Checker interface {
	Check(ctx context.Context) error
}

// ContextKeyBucketARN is the encryption context key S3 uses for bucket keys.
// The cache sets it from the request's bucket; a client's extra context may
// not override it.
const ContextKeyBucketARN = "aws:s3:arn"

// BucketContext is the KMS encryption context S3 uses for bucket keys: the
// bucket's ARN.
func BucketContext(bucket string) map[string]string {
	return map[string]string{ContextKeyBucketARN: "arn:aws:s3:::" + bucket}
}

// fullContext is BucketContext(bucket) plus the client's extra context.
// Callers have checked that extra does not name ContextKeyBucketARN.
func fullContext(bucket string, extra map[string]string) map[string]string {
	m := make(map[string]string, 1+len(extra))
	for k, v := range extra {
		m[k] = v
	}
	m[ContextKeyBucketARN] = "arn:aws:s3:::" + bucket
	return m
}
