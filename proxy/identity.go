package proxy

import (
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bucketkey/bucketkey/sigv4"
)

// Identities maps client access keys to the backend identities their
// requests are re-signed as, so that the backend's own permissions (bucket
// owners, ACLs, bucket policies naming a user, ListBuckets,
// x-amz-expected-bucket-owner) apply per client. Implementations must be
// safe for concurrent use; they may change their answers at any time (a
// reloaded credentials file).
type Identities interface {
	// BackendIdentity returns the backend credentials of a client, or
	// false for a client that uses the proxy's own UpstreamCredentials.
	BackendIdentity(accessKey string) (aws.Credentials, bool)
}

// withIdentity makes the backend requests of rq go out as the backend
// identity its client is mapped to (Config.Identities), if any: every
// backend request is built from rq.r's context.
func (p *Proxy) withIdentity(rq *request) error {
	if p.cfg.Identities == nil || rq.auth == nil || rq.anonymous {
		return nil
	}
	creds, ok := p.cfg.Identities.BackendIdentity(rq.auth.AccessKey)
	if !ok {
		return nil
	}
	rq.r = rq.r.WithContext(sigv4.WithCredentials(rq.r.Context(), creds))
	return nil
}
