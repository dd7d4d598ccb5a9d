package sigv4

import (
	"context"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// identityKey is the context key of the backend identity a request is
// signed as.
type identityKey struct{}

// identity is how Signer signs the requests made under a context: with
// the given credentials, or not at all.
type identity struct {
	creds     aws.Credentials
	anonymous bool
}

// WithCredentials returns a context under which Signer signs as creds
// instead of its own Credentials: a client's mapped backend identity.
func WithCredentials(ctx context.Context, creds aws.Credentials) context.Context {
	return context.WithValue(ctx, identityKey{}, identity{creds: creds})
}

// WithAnonymous returns a context under which Signer does not sign: the
// request reaches the backend as an anonymous one, its body sent as is
// (UNSIGNED-PAYLOAD, never aws-chunked), so that the backend's bucket
// policy and ACLs decide.
func WithAnonymous(ctx context.Context) context.Context {
	return context.WithValue(ctx, identityKey{}, identity{anonymous: true})
}

// IsAnonymous reports whether ctx was made by WithAnonymous.
func IsAnonymous(ctx context.Context) bool {
	id, _ := ctx.Value(identityKey{}).(identity)
	return id.anonymous
}

func identityOf(ctx context.Context) (identity, bool) {
	id, ok := ctx.Value(identityKey{}).(identity)
	return id, ok
}

// Unsigned reports whether r carries no authentication at all: no
// Authorization header and no signature in its query (SigV4 or SigV2
// presigned). Such a request is anonymous; one with a signature that
// fails is not.
func Unsigned(r *http.Request) bool {
	if len(r.Header.Values("Authorization")) > 0 {
		return false
	}
	for k := range r.URL.Query() {
		switch strings.ToLower(k) {
		case "x-amz-algorithm", "x-amz-credential", "x-amz-signature", "awsaccesskeyid", "signature":
			return false
		}
	}
	return true
}
