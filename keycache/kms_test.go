package keycache

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

func TestKMSGenerateDecrypt(t *testing.T) {
	k := startKMS(t)
	ctx := context.Background()
	for _, keyID := range []string{testenv.KMSKeyID, testenv.KMSKeyAlias} {
		gk, err := k.GenerateDataKey(ctx, keyID, BucketContext("photos"))
		if err != nil {
			t.Fatalf("GenerateDataKey(%s): %v", keyID, err)
		}
		if len(gk.Plaintext) != 32 || len(gk.Wrapped) == 0 {
			t.Fatalf("got %d-byte key, %d-byte blob", len(gk.Plaintext), len(gk.Wrapped))
		}
		wantARN := "arn:aws:kms:" + testenv.Region + ":" + testenv.KMSAccount + ":key/" + testenv.KMSKeyID
		if gk.KeyID != wantARN {
			t.Errorf("KeyID = %q, want %q", gk.KeyID, wantARN)
		}
		for _, decryptID := range []string{gk.KeyID, keyID, ""} {
			pt, err := k.Decrypt(ctx, decryptID, gk.Wrapped, BucketContext("photos"))
			if err != nil {
				t.Fatalf("Decrypt(%q): %v", decryptID, err)
			}
			if !bytes.Equal(pt, gk.Plaintext) {
				t.Fatalf("Decrypt(%q) returned another key", decryptID)
			}
		}
	}
	if k.Name() != "aws-kms" {
		t.Errorf("Name = %q", k.Name())
	}
}

// TestKMSErrorsMapped drives real local-kms into its errors and checks the
// kinds the proxy will map to S3 errors.
func TestKMSErrorsMapped(t *testing.T) {
	p := testenv.KMS(t)
	ctx := context.Background()
	k, err := NewKMS(ctx, KMSOptions{Region: testenv.Region, Endpoint: p.URL, AccessKey: "a", SecretKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	gk, err := k.GenerateDataKey(ctx, testenv.KMSKeyID, BucketContext("a"))
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(gk.Wrapped)
	tampered[len(tampered)-1] ^= 1

	// Disable the second key through the KMS API, as an operator would.
	raw := kms.New(kms.Options{
		Region: testenv.Region, BaseEndpoint: aws.String(p.URL),
		Credentials: aws.AnonymousCredentials{},
	})
	if _, err := raw.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(testenv.KMSOtherKeyID)}); err != nil {
		t.Fatalf("DisableKey: %v", err)
	}

	tests := []struct {
		name string
		call func() error
		want []ErrorKind // local-kms answers some cases with another code than AWS
	}{
		{"generate unknown key", func() error {
			_, err := k.GenerateDataKey(ctx, "00000000-0000-0000-0000-000000000000", BucketContext("a"))
			return err
		}, []ErrorKind{KindDenied}},
		{"generate disabled key", func() error {
			_, err := k.GenerateDataKey(ctx, testenv.KMSOtherKeyID, BucketContext("a"))
			return err
		}, []ErrorKind{KindDenied}},
		{"decrypt other bucket's context", func() error {
			_, err := k.Decrypt(ctx, gk.KeyID, gk.Wrapped, BucketContext("b"))
			return err
		}, []ErrorKind{KindInvalid}},
		{"decrypt extra context missing", func() error {
			_, err := k.Decrypt(ctx, gk.KeyID, gk.Wrapped, nil)
			return err
		}, []ErrorKind{KindInvalid}},
		{"decrypt tampered blob", func() error {
			_, err := k.Decrypt(ctx, gk.KeyID, tampered, BucketContext("a"))
			return err
		}, []ErrorKind{KindInvalid}},
		// AWS says IncorrectKeyException (Denied); local-kms InvalidCiphertext.
		{"decrypt with another key id", func() error {
			_, err := k.Decrypt(ctx, testenv.KMSOtherKeyID, gk.Wrapped, BucketContext("a"))
			return err
		}, []ErrorKind{KindDenied, KindInvalid}},
		{"decrypt garbage", func() error {
			_, err := k.Decrypt(ctx, gk.KeyID, []byte("not a blob"), BucketContext("a"))
			return err
		}, []ErrorKind{KindInvalid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not *Error", err)
			}
			ok := false
			for _, w := range tt.want {
				ok = ok || e.Kind == w
			}
			if !ok {
				t.Fatalf("kind %v, want one of %v (%v)", e.Kind, tt.want, err)
			}
			if e.RetryAfter != 0 {
				t.Errorf("RetryAfter = %v for a %v error", e.RetryAfter, e.Kind)
			}
			if strings.Contains(err.Error(), string(gk.Plaintext)) {
				t.Errorf("error contains key bytes")
			}
		})
	}
}

// TestKMSUnreachable points the real provider at a loopback port nobody
// listens on: it must fail fast as Unavailable after its bounded retries.
func TestKMSUnreachable(t *testing.T) {
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKMS(context.Background(), KMSOptions{
		Region: testenv.Region, Endpoint: "http://" + addr,
		AccessKey: "a", SecretKey: "b",
		MaxAttempts: 2, MaxBackoff: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.GenerateDataKey(context.Background(), testenv.KMSKeyID, BucketContext("a"))
	if KindOf(err) != KindUnavailable {
		t.Fatalf("GenerateDataKey: kind %v (%v), want unavailable", KindOf(err), err)
	}
	var e *Error
	if errors.As(err, &e); e.RetryAfter <= 0 {
		t.Errorf("RetryAfter = %v, want > 0", e.RetryAfter)
	}
	_, err = k.Decrypt(context.Background(), testenv.KMSKeyID, []byte("x"), BucketContext("a"))
	if KindOf(err) != KindUnavailable {
		t.Fatalf("Decrypt: kind %v (%v), want unavailable", KindOf(err), err)
	}

	// Through the cache: a cold bucket fails with the same kind, counted.
	c := newCache(t, k, Options{})
	err = c.WithBucketKey(context.Background(), WriteRequest{Bucket: "a", KeyID: testenv.KMSKeyID}, func(Key) error {
		t.Error("callback ran without a key")
		return nil
	})
	if KindOf(err) != KindUnavailable {
		t.Fatalf("WithBucketKey: kind %v (%v), want unavailable", KindOf(err), err)
	}
	if n := requests(c.Stats().Total, OpGenerateDataKey, OutcomeUnavailable); n != 1 {
		t.Errorf("unavailable GenerateDataKey requests = %d, want 1", n)
	}
}

func TestNewKMSNeedsRegion(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	if _, err := NewKMS(context.Background(), KMSOptions{AccessKey: "a", SecretKey: "b"}); err == nil {
		t.Fatal("NewKMS without a region succeeded")
	}
}

// TestMapKMSError covers codes local-kms never returns.
func TestMapKMSError(t *testing.T) {
	api := func(code string) error {
		return &smithy.OperationError{ServiceID: "KMS", OperationName: "X",
			Err: &smithy.GenericAPIError{Code: code, Message: "m"}}
	}
	status := func(code int) error {
		return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}}, Err: errors.New("x")}
	}
	tests := []struct {
		err  error
		want ErrorKind
	}{
		{api("ThrottlingException"), KindThrottled},
		{api("LimitExceededException"), KindThrottled},
		{api("AccessDeniedException"), KindDenied},
		{api("DisabledException"), KindDenied},
		{api("NotFoundException"), KindDenied},
		{api("KMSInvalidStateException"), KindDenied},
		{api("IncorrectKeyException"), KindDenied},
		{api("UnrecognizedClientException"), KindDenied},
		{api("InvalidCiphertextException"), KindInvalid},
		{api("KMSInternalException"), KindUnavailable},
		{api("DependencyTimeoutException"), KindUnavailable},
		{api("KeyUnavailableException"), KindUnavailable},
		{status(429), KindThrottled},
		{status(403), KindDenied},
		{status(400), KindInvalid},
		{status(500), KindUnavailable},
		{status(503), KindUnavailable},
		{context.DeadlineExceeded, KindUnavailable},
		{errors.New("dial tcp: connection refused"), KindUnavailable},
	}
	for _, tt := range tests {
		e := mapKMSError(OpDecrypt, tt.err)
		if e.Kind != tt.want {
			t.Errorf("mapKMSError(%v) = %v, want %v", tt.err, e.Kind, tt.want)
		}
		if e.Op != OpDecrypt || !errors.Is(e, tt.err) {
			t.Errorf("mapKMSError(%v) lost its op or cause: %v", tt.err, e)
		}
		if (tt.want == KindThrottled || tt.want == KindUnavailable) != (e.RetryAfter > 0) {
			t.Errorf("mapKMSError(%v).RetryAfter = %v", tt.err, e.RetryAfter)
		}
	}
}
