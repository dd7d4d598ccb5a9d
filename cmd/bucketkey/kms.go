package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/bucketkey/bucketkey/keycache"
)

// kmsProvider builds the key provider r asks for and returns it with the key
// id new objects use and a readiness probe (nil when there is nothing remote
// to probe).
func kmsProvider(ctx context.Context, r *resolved) (keycache.Provider, string, func(context.Context) error, error) {
	if r.KMSLocalKey != "" {
		p, err := keycache.NewLocal(r.KMSLocalKey, false)
		if err != nil {
			return nil, "", nil, fmt.Errorf("--kms-local-key: %v", trimErr(err))
		}
		return p, p.KeyID(), nil, nil
	}
	o := keycache.KMSOptions{Region: r.KMSRegion, Endpoint: r.KMSEndpoint}
	p, err := keycache.NewKMS(ctx, o)
	if err != nil && o.Region == "" {
		// No region from the key's ARN or the SDK's chain: the backend's.
		o.Region = r.UpstreamRegion
		p, err = keycache.NewKMS(ctx, o)
	}
	if err != nil {
		return nil, "", nil, fmt.Errorf("AWS KMS: %v", trimErr(err))
	}
	client, err := kmsClient(ctx, o)
	if err != nil {
		return nil, "", nil, err
	}
	r.KMSAccept = append(r.KMSAccept, resolveAliases(ctx, client, append([]string{r.KMSKeyID}, r.KMSAccept...))...)
	return p, r.KMSKeyID, kmsCheck(client, r.KMSKeyID), nil
}

// isAlias reports whether a KMS key id is an alias ("alias/name" or an
// alias ARN).
func isAlias(id string) bool {
	return strings.HasPrefix(id, "alias/") || (strings.HasPrefix(id, "arn:") && strings.Contains(id, ":alias/"))
}

// resolveAliases returns the key ARNs of the aliases among ids, asking KMS
// (DescribeKey) once at start-up. Objects record the key ARN KMS reported,
// and the proxy reads only objects naming an accepted key: without this, an
// alias would be matched only after this process's first write under it.
// An alias KMS does not resolve now (no kms:DescribeKey, KMS unreachable)
// is skipped: objects under it become readable after the first write under
// the alias, or at once with its key ARN in --kms-accept-key-id.
func resolveAliases(ctx context.Context, client *kms.Client, ids []string) []string {
	var arns []string
	for _, id := range ids {
		if !isAlias(id) {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		out, err := client.DescribeKey(cctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
		cancel()
		if err == nil && out.KeyMetadata != nil && out.KeyMetadata.Arn != nil {
			arns = append(arns, aws.ToString(out.KeyMetadata.Arn))
		}
	}
	return arns
}

// kmsClient is a KMS client for the proxy's own checks (not its key
// cache's).
func kmsClient(ctx context.Context, o keycache.KMSOptions) (*kms.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(o.Region))
	if err != nil {
		return nil, fmt.Errorf("AWS KMS: %v", trimErr(err))
	}
	return kms.NewFromConfig(cfg, func(ko *kms.Options) {
		if o.Endpoint != "" {
			ko.BaseEndpoint = aws.String(o.Endpoint)
		}
	}), nil
}

// kmsCheck returns a readiness probe for AWS KMS: DescribeKey on the
// configured key. It costs one KMS request per probe run (admin caches the
// result for a few seconds) and proves KMS is reachable and the key exists
// and is enabled. A key policy that refuses DescribeKey still proves KMS
// answered, so AccessDenied counts as reachable.
func kmsCheck(client *kms.Client, keyID string) func(context.Context) error {
	return func(ctx context.Context) error {
		out, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
		if err != nil {
			var api smithy.APIError
			if errors.As(err, &api) && api.ErrorCode() == "AccessDeniedException" {
				return nil
			}
			return fmt.Errorf("KMS DescribeKey %s: %v", keyID, trimErr(err))
		}
		if md := out.KeyMetadata; md != nil && !md.Enabled {
			return fmt.Errorf("KMS key %s is not enabled (state %s)", keyID, md.KeyState)
		}
		return nil
	}
}
