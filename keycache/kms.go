package keycache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
)

// KMSOptions configure the AWS KMS provider. Zero values take the defaults in
// brackets.
type KMSOptions struct {
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
}

// KMS is a Provider over AWS KMS (or a service speaking its API) with the
// SDK's standard retryer: throttling, 5xx and connection errors are retried
// with jittered exponential backoff before an *Error reaches the cache.
type KMS struct {
	client *kms.Client
}

// NewKMS returns a KMS provider. It loads the SDK's default configuration
// (shared files, environment) and fails if no region can be found.
func NewKMS(ctx context.Context, o KMSOptions) (*KMS, error) {
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
		return nil, errors.New("keycache: no AWS region for KMS (set KMSOptions.Region or AWS_REGION)")
	}
	client := kms.NewFromConfig(cfg, func(ko *kms.Options) {
		if o.Endpoint != "" {
			ko.BaseEndpoint = aws.String(o.Endpoint)
		}
	})
	return &KMS{client: client}, nil
}

// Name is "aws-kms".
func (k *KMS) Name() string { return "aws-kms" }

// GenerateDataKey calls KMS GenerateDataKey with KeySpec AES_256.
func (k *KMS) GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string) (GeneratedKey, error) {
	out, err := k.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(keyID),
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: encCtx,
	})
	if err != nil {
		return GeneratedKey{}, mapKMSError(OpGenerateDataKey, err)
	}
	if len(out.Plaintext) != 32 || len(out.CiphertextBlob) == 0 {
		wipe(out.Plaintext)
		return GeneratedKey{}, newError(KindUnavailable, OpGenerateDataKey,
			fmt.Errorf("KMS returned a %d-byte key and a %d-byte blob", len(out.Plaintext), len(out.CiphertextBlob)))
	}
	return GeneratedKey{Plaintext: out.Plaintext, Wrapped: out.CiphertextBlob, KeyID: aws.ToString(out.KeyId)}, nil
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
		return nil, mapKMSError(OpDecrypt, err)
	}
	if len(out.Plaintext) != 32 {
		wipe(out.Plaintext)
		return nil, newError(KindInvalid, OpDecrypt, fmt.Errorf("KMS returned a %d-byte key, want 32", len(out.Plaintext)))
	}
	return out.Plaintext, nil
}

// KMS error codes by the kind they map to.
var kmsErrorKinds = map[string]ErrorKind{
	"ThrottlingException":                 KindThrottled,
	"LimitExceededException":              KindThrottled,
	"TooManyRequestsException":            KindThrottled,
	"RequestLimitExceeded":                KindThrottled,
	"AccessDeniedException":               KindDenied,
	"DisabledException":                   KindDenied,
	"NotFoundException":                   KindDenied,
	"KMSInvalidStateException":            KindDenied,
	"IncorrectKeyException":               KindDenied,
	"InvalidKeyUsageException":            KindDenied,
	"InvalidGrantTokenException":          KindDenied,
	"InvalidArnException":                 KindDenied,
	"UnrecognizedClientException":         KindDenied,
	"InvalidSignatureException":           KindDenied,
	"IncompleteSignature":                 KindDenied,
	"MissingAuthenticationToken":          KindDenied,
	"ExpiredTokenException":               KindDenied,
	"InvalidCiphertextException":          KindInvalid,
	"ValidationException":                 KindInvalid,
	"KMSInternalException":                KindUnavailable,
	"DependencyTimeoutException":          KindUnavailable,
	"KeyUnavailableException":             KindUnavailable,
	"ServiceUnavailableException":         KindUnavailable,
	"CustomKeyStoreInvalidStateException": KindUnavailable,
}

// mapKMSError classifies an SDK error (after the SDK's retries): by KMS
// error code, then by HTTP status, and anything else (connection refused,
// DNS, timeouts, cancellation) is Unavailable.
func mapKMSError(op string, err error) *Error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if kind, ok := kmsErrorKinds[ae.ErrorCode()]; ok {
			return newError(kind, op, err)
		}
	}
	var he interface{ HTTPStatusCode() int }
	if errors.As(err, &he) {
		switch s := he.HTTPStatusCode(); {
		case s == http.StatusTooManyRequests:
			return newError(KindThrottled, op, err)
		case s == http.StatusUnauthorized || s == http.StatusForbidden:
			return newError(KindDenied, op, err)
		case s >= 400 && s < 500:
			return newError(KindInvalid, op, err)
		}
	}
	return newError(KindUnavailable, op, err)
}
