package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/keycache"
	"github.com/bucketkey/bucketkey/s3err"
	"github.com/bucketkey/bucketkey/sigv4"
)

// This file is the proxy's narrow interface for the bulk commands
// (bucketkey verify and rotate): the same read, key and seal paths a client
// request takes, for one object named by the command rather than by a
// client. Bulk writes (encrypt-existing, rotate --data-keys) go through the
// proxy's HTTP handler itself.

// Verdict is what VerifyObject found about one object.
type Verdict string

// Verdicts.
const (
	Authenticated Verdict = "authenticated"    // every byte and the envelope authenticated
	Legacy        Verdict = "legacy-plaintext" // no envelope: written before the proxy
	Tampered      Verdict = "tampered"         // a check failed (Verification.Check says which)
	Unreadable    Verdict = "unreadable"       // KMS refused to unwrap the bucket key, or the configuration does not accept its KMS key
	Missing       Verdict = "missing"          // gone since it was listed
)

// Verification is the outcome of VerifyObject.
type Verification struct {
	Verdict Verdict
	// Check names the check that failed, for Tampered and Unreadable.
	Check string
	KeyID string // the KMS key that wrapped the bucket key, if encrypted
	Bytes int64  // plaintext bytes read
}

// VerifyObject reads bucket/key through the envelope as a GET would,
// without serving it: the metadata, the key bucket binding, the KMS unwrap,
// the data key's seal, every segment, part end and the end tag. It returns
// an error only when it could not tell (the backend or KMS unavailable, a
// backend error).
func (p *Proxy) VerifyObject(ctx context.Context, bucket, key string) (Verification, error) {
	rq := p.internalRequest(bucket, key)
	var res *readResult
	err := retryChanged("The object changed repeatedly while it was verified. Please retry.", func() (err error) {
		res, err = p.readObject(ctx, rq, readSpec{bucket: bucket, key: key, header: make(http.Header)})
		return err
	})
	if err != nil {
		return classifyRead(err)
	}
	defer res.close()
	if res.passthrough != nil {
		switch st := res.passthrough.StatusCode; {
		case ok2xx(st):
			n, err := io.Copy(io.Discard, res.passthrough.Body)
			if err != nil {
				return Verification{}, fmt.Errorf("proxy: verify: reading %s: %w", key, err)
			}
			return Verification{Verdict: Legacy, Bytes: n}, nil
		case st == http.StatusNotFound:
			return Verification{Verdict: Missing}, nil
		default:
			return Verification{}, fmt.Errorf("proxy: verify: backend answered %s", res.passthrough.Status)
		}
	}
	v := Verification{KeyID: res.md.KeyID}
	n, err := io.Copy(io.Discard, res.body)
	v.Bytes = n
	if err == nil && n != res.rng.Length {
		err = fmt.Errorf("proxy: decrypted %d bytes, want %d: %w", n, res.rng.Length, envelope.ErrAuth)
	}
	if err != nil {
		c, cerr := classifyRead(err)
		c.KeyID, c.Bytes = v.KeyID, n
		return c, cerr
	}
	v.Verdict = Authenticated
	return v, nil
}

// classifyRead turns a failed read into a verdict, or returns it as an
// error when it says nothing about the object (unavailable, throttled).
func classifyRead(err error) (Verification, error) {
	switch keycache.KindOf(err) {
	case keycache.KindDenied:
		return Verification{Verdict: Unreadable, Check: "KMS Decrypt of the bucket key: " + err.Error()}, nil
	case keycache.KindInvalid:
		return Verification{Verdict: Tampered, Check: "KMS Decrypt of the bucket key (wrapped key or encryption context altered): " + err.Error()}, nil
	case 0:
	default:
		return Verification{}, err
	}
	switch {
	case errors.Is(err, envelope.ErrInvalidMetadata):
		return Verification{Verdict: Tampered, Check: "envelope metadata: " + err.Error()}, nil
	case errors.Is(err, envelope.ErrAuth):
		return Verification{Verdict: Tampered, Check: "authentication: " + err.Error()}, nil
	}
	if strings.Contains(err.Error(), RefusedKMSKey) {
		return Verification{Verdict: Unreadable, Check: "KMS key not accepted by the configuration (--kms-key-id, --kms-accept-key-id): " + err.Error()}, nil
	}
	if e := s3err.As(err); e != nil && e.Code == s3err.AccessDenied.Code {
		// mayRead: the envelope names another key bucket.
		return Verification{Verdict: Tampered, Check: "key bucket binding: " + err.Error()}, nil
	}
	return Verification{}, err
}

// Rewrap re-seals the data key of the encrypted object bucket/key, whose
// stored headers are stored (a backend HEAD answer), under the bucket's
// current bucket key for the KMS key keyID ("" for the proxy's default),
// keeping its encryption context. It returns the envelope metadata to
// store in place of the old (lower-case x-amz-meta-bk-* names), and the
// KMS key id it records (as KMS reported it); the body
// stays valid as it is, since it depends only on the data key. Storing it
// is the caller's (a metadata-only copy in place). Cost: a KMS Decrypt per
// distinct old bucket key and a GenerateDataKey per bucket-key window,
// both cached as for client requests.
func (p *Proxy) Rewrap(ctx context.Context, bucket, key string, stored http.Header, keyID string) (map[string]string, string, error) {
	md, err := envelope.ParseMetadata(stored)
	if err != nil {
		return nil, "", fmt.Errorf("proxy: rewrap %s: %w", key, err)
	}
	if err := p.mayRead(bucket, md); err != nil {
		return nil, "", err
	}
	rq := p.internalRequest(bucket, key)
	dk, err := p.openDataKey(ctx, rq, md, bucket, key, false)
	if err != nil {
		return nil, "", err
	}
	defer dk.Wipe()
	nmd, err := p.reseal(ctx, rq, md, dk, bucket, key, sseRequest{keyID: keyID, context: md.Context})
	if err != nil {
		return nil, "", err
	}
	return nmd.Headers(), nmd.KeyID, nil
}

// StoredKeyID returns the KMS key id recorded in an object's stored
// headers, and whether it has an envelope at all.
func StoredKeyID(stored http.Header) (keyID string, encrypted bool, err error) {
	md, err := envelope.ParseMetadata(stored)
	if errors.Is(err, envelope.ErrNotEncrypted) {
		return "", false, nil
	}
	if err != nil {
		return "", true, err
	}
	return md.KeyID, true, nil
}

// IsEnvelopeHeader reports whether name is one of the envelope's metadata
// headers (x-amz-meta-bk-*), which only the proxy writes.
func IsEnvelopeHeader(name string) bool { return isEnvelopeHeader(name) }

// internalRequest is the bookkeeping of a request the proxy makes on its
// own behalf: no client, no access key (bucket keys are not partitioned).
func (p *Proxy) internalRequest(bucket, key string) *request {
	return &request{p: p, bucket: bucket, key: key, op: "Bulk", auth: &sigv4.Authenticated{}}
}
