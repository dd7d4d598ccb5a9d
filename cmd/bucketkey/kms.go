package main

import (
	"context"
	"fmt"

	"github.com/bucketkey/bucketkey/keycache"
	"github.com/bucketkey/bucketkey/keycache/awskms"
	"github.com/bucketkey/bucketkey/keycache/localkey"
)

// kmsProviders is the table of key providers --kms-provider chooses from,
// by name. A new provider (Vault transit, GCP KMS, Azure Key Vault) is a
// package of its own under keycache/ implementing keycache.Provider (and
// keycache.Checker, if it has something remote to probe) and one row here;
// docs/ARCHITECTURE.md, "Adding a KMS provider".
var kmsProviders = map[string]func(ctx context.Context, r *resolved) (p keycache.Provider, keyID string, err error){
	"aws":   newAWSKMS,
	"local": newLocalKMS,
}

// defaultKMSProvider is the provider the other flags imply when
// --kms-provider is not given: local with --kms-local-key, else aws.
func defaultKMSProvider(c *serveConfig) string {
	if c.KMSLocalKey != "" {
		return "local"
	}
	return "aws"
}

// kmsProvider builds the key provider r names and returns it with the key id
// new objects use and its readiness probe (nil when the provider has
// nothing remote to probe).
func kmsProvider(ctx context.Context, r *resolved) (keycache.Provider, string, func(context.Context) error, error) {
	newProvider, ok := kmsProviders[r.KMSProvider]
	if !ok {
		return nil, "", nil, fmt.Errorf("--kms-provider %q: unknown", r.KMSProvider)
	}
	p, keyID, err := newProvider(ctx, r)
	if err != nil {
		return nil, "", nil, err
	}
	var check func(context.Context) error
	if c, ok := p.(keycache.Checker); ok {
		check = c.Check
	}
	return p, keyID, check, nil
}

// newLocalKMS is the local master key of --kms-local-key.
func newLocalKMS(_ context.Context, r *resolved) (keycache.Provider, string, error) {
	p, err := localkey.Open(r.KMSLocalKey, false)
	if err != nil {
		return nil, "", fmt.Errorf("--kms-local-key: %v", trimErr(err))
	}
	return p, p.KeyID(), nil
}

// newAWSKMS is AWS KMS (or a service speaking its API at --kms-endpoint).
// It also resolves the aliases among the accepted keys to key ARNs once at
// start-up: objects record the key ARN KMS reported, and the proxy reads
// only objects naming an accepted key, so without this an alias would be
// matched only after this process's first write under it.
func newAWSKMS(ctx context.Context, r *resolved) (keycache.Provider, string, error) {
	o := awskms.Options{Region: r.KMSRegion, Endpoint: r.KMSEndpoint, KeyID: r.KMSKeyID}
	p, err := awskms.New(ctx, o)
	if err != nil && o.Region == "" {
		// No region from the key's ARN or the SDK's chain: the backend's.
		o.Region = r.UpstreamRegion
		p, err = awskms.New(ctx, o)
	}
	if err != nil {
		return nil, "", fmt.Errorf("AWS KMS: %v", trimErr(err))
	}
	r.KMSAccept = append(r.KMSAccept, p.ResolveAliases(ctx, append([]string{r.KMSKeyID}, r.KMSAccept...))...)
	return p, r.KMSKeyID, nil
}
