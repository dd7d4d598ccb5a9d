package awskms

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/bucketkey/bucketkey/keycache"
)

// Options configure the AWS KMS provider. Zero values take the defaults in
// brackets.
type Options struct {
	// Region of the KMS key [the SDK's default chain: AWS_REGION, profile].
	Region string
	// Endpoint overrides the KMS endpoint, for KMS-compatible services
	// (local-kms, a VPC endpoint) [the region's endpoint].
	Endpoint string
	// AccessKey, SecretKey and SessionToken are static credentials; when
	// AccessKey is empty the SDK's default chain finds credentials
	// (environment, shared files, web identity, ECS, EC2 instance role).
	AccessKey    string
	SecretKey    string
	SessionToken string
	// MaxAttempts bounds the SDK's attempts per request, first included [3].
	MaxAttempts int
	// MaxBackoff bounds the SDK's jittered exponential backoff between
	// attempts [20s]. Keep it well under the cache's ProviderTimeout.
	MaxBackoff time.Duration
	// HTTPClient replaces the SDK's HTTP client [the SDK's].
	HTTPClient *http.Client
	// KeyID is the key new objects use, which Check probes (required for
	// Check).
	KeyID string
}

// KMS is a Provider over AWS KMS (or a service speaking its API) with the
// SDK's standard retryer: throttling, 5xx and connection errors are retried
// with jittered exponential backoff before an *Error reaches the cache.
type KMS struct {
	client *kms.Client
	keyID  string
}

// New returns a KMS provider. It loads the SDK's default configuration
// (shared files, environment) and fails if no region can be found.
func New(ctx context.Context, o Options) (*KMS, error) {
	var opts []func(*config.LoadOptions) error
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, o.SessionToken)))
	}
	if o.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(o.HTTPClient))
	}
	opts = append(opts, config.WithRetryer(func() aws.Retryer {
		return retry.NewStandard(func(so *retry.StandardOptions) {
			if o.MaxAttempts > 0 {
				so.MaxAttempts = o.MaxAttempts
			}
			if o.MaxBackoff > 0 {
				so.MaxBackoff = o.MaxBackoff
			}
		})
	}))
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("keycache: load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("keycache: no AWS region for KMS (set Options.Region or AWS_REGION)")
	}
	client := kms.NewFromConfig(cfg, func(ko *kms.Options) {
		if o.Endpoint != "" {
			ko.BaseEndpoint = aws.String(o.Endpoint)
		}
	})
	return &KMS{client: client, keyID: o.KeyID}, nil
}

// Name is "aws-kms".
func (k *KMS) Name() string { return "aws-kms" }

// GenerateDataKey calls KMS GenerateDataKey with KeySpec AES_256.
func (k *KMS) GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string) (keycache.GeneratedKey, error) {
	out, err := k.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(keyID),
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: encCtx,
	})
	if err != nil {
		return keycache.GeneratedKey{}, mapKMSError(keycache.OpGenerateDataKey, err)
	}
	if len(out.Plaintext) != 32 || len(out.CiphertextBlob) == 0 {
		clear(out.Plaintext)
		return keycache.GeneratedKey{}, keycache.NewError(keycache.KindUnavailable, keycache.OpGenerateDataKey,
			fmt.Errorf("KMS returned a %d-byte key and a %d-byte blob", len(out.Plaintext), len(out.CiphertextBlob)))
	}
	return keycache.GeneratedKey{Plaintext: out.Plaintext, Wrapped: out.CiphertextBlob, KeyID: aws.ToString(out.KeyId)}, nil
}

// Decrypt calls KMS Decrypt with the key id, so KMS refuses a blob made under
// another key (IncorrectKeyException) rather than using whichever key the
// blob names.
func (k *KMS) Decrypt(ctx context.Context, keyID string, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	in := &kms.DecryptInput{CiphertextBlob: wrapped, EncryptionContext: encCtx}
	if keyID != "" {
		in.KeyId = aws.String(keyID)
	}
	out, err := k.client.Decrypt(ctx, in)
	if err != nil {
		return nil, mapKMSError(keycache.OpDecrypt, err)
	}
	if len(out.Plaintext) != 32 {
		clear(out.Plaintext)
		return nil, keycache.NewError(keycache.KindInvalid, keycache.OpDecrypt, fmt.Errorf("KMS returned a %d-byte key, want 32", len(out.Plaintext)))
	}
	return out.Plaintext, nil
}

// KMS error codes by the kind they map to.
var kmsErrorKinds = map[string]keycache.ErrorKind{
	"ThrottlingException":                 keycache.KindThrottled,
	"LimitExceededException":              keycache.KindThrottled,
	"TooManyRequestsException":            keycache.KindThrottled,
	"RequestLimitExceeded":                keycache.KindThrottled,
	"AccessDeniedException":               keycache.KindDenied,
	"DisabledException":                   keycache.KindDenied,
	"NotFoundException":                   keycache.KindDenied,
	"KMSInvalidStateException":            keycache.KindDenied,
	"IncorrectKeyException":               keycache.KindDenied,
	"InvalidKeyUsageException":            keycache.KindDenied,
	"InvalidGrantTokenException":          keycache.KindDenied,
	"InvalidArnException":                 keycache.KindDenied,
	"UnrecognizedClientException":         keycache.KindDenied,
	"InvalidSignatureException":           keycache.KindDenied,
	"IncompleteSignature":                 keycache.KindDenied,
	"MissingAuthenticationToken":          keycache.KindDenied,
	"ExpiredTokenException":               keycache.KindDenied,
	"InvalidCiphertextException":          keycache.KindInvalid,
	"ValidationException":                 keycache.KindInvalid,
	"KMSInternalException":                keycache.KindUnavailable,
	"DependencyTimeoutException":          keycache.KindUnavailable,
	"KeyUnavailableException":             keycache.KindUnavailable,
	"ServiceUnavailableException":         keycache.KindUnavailable,
	"CustomKeyStoreInvalidStateException": keycache.KindUnavailable,
}

// mapKMSError classifies an SDK error (after the SDK's retries): by KMS
// error code, then by HTTP status, and anything else (connection refused,
// DNS, timeouts, cancellation) is Unavailable.
func mapKMSError(op string, err error) *keycache.Error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if kind, ok := kmsErrorKinds[ae.ErrorCode()]; ok {
			return keycache.NewError(kind, op, err)
		}
	}
	var he interface{ HTTPStatusCode() int }
	if errors.As(err, &he) {
		switch s := he.HTTPStatusCode(); {
		case s == http.StatusTooManyRequests:
			return keycache.NewError(keycache.KindThrottled, op, err)
		case s == http.StatusUnauthorized || s == http.StatusForbidden:
			return keycache.NewError(keycache.KindDenied, op, err)
		case s >= 400 && s < 500:
			return keycache.NewError(keycache.KindInvalid, op, err)
		}
	}
	return keycache.NewError(keycache.KindUnavailable, op, err)
}

// Check is the readiness probe (keycache.Checker): DescribeKey on Options.KeyID.
// It costs one KMS request per run and shows KMS reachable and the key
// existing and enabled. A key policy that refuses DescribeKey still shows
// KMS answered, so AccessDenied counts as reachable.
func (k *KMS) Check(ctx context.Context) error {
	keyID := k.keyID
	if keyID == "" {
		return errors.New("keycache: KMS Check needs Options.KeyID")
	}
	out, err := k.client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		var api smithy.APIError
		if errors.As(err, &api) && api.ErrorCode() == "AccessDeniedException" {
			return nil
		}
		return fmt.Errorf("KMS DescribeKey %s: %w", keyID, err)
	}
	if md := out.KeyMetadata; md != nil && !md.Enabled {
		return fmt.Errorf("KMS key %s is not enabled (state %s)", keyID, md.KeyState)
	}
	return nil
}

// ResolveAliases returns the key ARNs of the aliases among ids ("alias/name"
// or an alias ARN), asking KMS (DescribeKey) once each. An alias KMS does
// not resolve now (no kms:DescribeKey, KMS unreachable) is skipped.
func (k *KMS) ResolveAliases(ctx context.Context, ids []string) []string {
	var arns []string
	for _, id := range ids {
		if !isAlias(id) {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		out, err := k.client.DescribeKey(cctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
		cancel()
		if err == nil && out.KeyMetadata != nil && out.KeyMetadata.Arn != nil {
			arns = append(arns, aws.ToString(out.KeyMetadata.Arn))
		}
	}
	return arns
}

// isAlias reports whether a KMS key id is an alias ("alias/name" or an
// alias ARN).
func isAlias(id string) bool {
	return strings.HasPrefix(id, "alias/") || (strings.HasPrefix(id, "arn:") && strings.Contains(id, ":alias/"))
}
