package proxy

import (
	"fmt"

	"github.com/bucketkey/bucketkey/s3err"
)

// Refusals: objects the proxy will not serve because nothing the seal
// covers vouches for them (SECURITY.md, "Trust in what the backend
// stores").
const (
	// RefusedNoEnvelope: an object without envelope metadata in a bucket
	// not declared mixed (Config.MixedBuckets).
	RefusedNoEnvelope = "no_envelope"
	// RefusedKMSKey: an object (or a write) naming a KMS key that is
	// neither Config.KMSKeyID nor one of Config.AcceptKMSKeyIDs.
	RefusedKMSKey = "kms_key_not_accepted"
)

// RefusalObserver is an optional extension of Observer: a Config.Observer
// that implements it is told of every refusal, by reason (one of the
// Refused* constants). It must be cheap and safe for concurrent use.
type RefusalObserver interface {
	ObserveRefusal(reason string)
}

// errNoEnvelope is the answer for an object without envelope metadata
// outside the mixed buckets: 403 AccessDenied, as S3 answers a GET of an
// SSE-KMS object whose key the caller may not use. It is not a 500: the
// object is not broken, the proxy will not vouch for it, and retrying
// cannot help.
var errNoEnvelope = s3err.AccessDenied.With("The object is not encrypted by this proxy and its bucket is not declared mixed, so it was not returned.")

// refuse logs and counts a refusal of bucket/key for reason and returns
// the error to answer with. The log line names the object, never key
// material.
func (p *Proxy) refuse(rq *request, reason, bucket, key string, answer *s3err.Error, cause error) error {
	attrs := []any{"reason", reason, "bucket", bucket, "key", key}
	if rq != nil {
		attrs = append(attrs, "request_id", rq.id, "op", rq.op)
	}
	p.cfg.Logger.Warn("proxy: refused: not vouched for by the seal or the configuration", attrs...)
	if o, ok := p.cfg.Observer.(RefusalObserver); ok {
		o.ObserveRefusal(reason)
	}
	return answer.Wrap(fmt.Errorf("proxy: %s/%s: %s: %w", bucket, key, reason, cause))
}
