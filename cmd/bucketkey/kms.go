package main

import (
	"context"
	"errors"
	"fmt"

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
	check, err := kmsCheck(ctx, o, r.KMSKeyID)
	if err != nil {
		return nil, "", nil, err
	}
	return p, r.KMSKeyID, check, nil
}

// kmsCheck returns a readiness probe for AWS KMS: DescribeKey on the
// configured key. It costs one KMS request per probe run (admin caches the
// result for a few seconds) and proves KMS is reachable and the key exists
// and is enabled. A key policy that refuses DescribeKey still proves KMS
// answered, so AccessDenied counts as reachable.
func kmsCheck(ctx context.Context, o keycache.KMSOptions, keyID string) (func(context.Context) error, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(o.Region))
	if err != nil {
		return nil, fmt.Errorf("AWS KMS: %v", trimErr(err))
	}
	client := kms.NewFromConfig(cfg, func(ko *kms.Options) {
		if o.Endpoint != "" {
			ko.BaseEndpoint = aws.String(o.Endpoint)
		}
	})
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
	}, nil
}
