package awskms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/bucketkey/bucketkey/internal/testenv"
	"github.com/bucketkey/bucketkey/keycache"
)

func TestKMSGenerateDecrypt(t *testing.T) {
	k := startKMS(t)
	ctx := context.Background()
	for _, keyID := range []string{testenv.KMSKeyID, testenv.KMSKeyAlias} {
		gk, err := k.GenerateDataKey(ctx, keyID, keycache.BucketContext("photos"))
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
			pt, err := k.Decrypt(ctx, decryptID, gk.Wrapped, keycache.BucketContext("photos"))
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
	k, err := New(ctx, Options{Region: testenv.Region, Endpoint: p.URL, AccessKey: "a", SecretKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	gk, err := k.GenerateDataKey(ctx, testenv.KMSKeyID, keycache.BucketContext("a"))
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
		want []keycache.ErrorKind // local-kms answers some cases with another code than AWS
	}{
		{"generate unknown key", func() error {
			_, err := k.GenerateDataKey(ctx, "00000000-0000-0000-0000-000000000000", keycache.BucketContext("a"))
			return err
		}, []keycache.ErrorKind{keycache.KindDenied}},
		{"generate disabled key", func() error {
			_, err := k.GenerateDataKey(ctx, testenv.KMSOtherKeyID, keycache.BucketContext("a"))
			return err
		}, []keycache.ErrorKind{keycache.KindDenied}},
		{"decrypt other bucket's context", func() error {
			_, err := k.Decrypt(ctx, gk.KeyID, gk.Wrapped, keycache.BucketContext("b"))
			return err
		}, []keycache.ErrorKind{keycache.KindInvalid}},
		{"decrypt extra context missing", func() error {
			_, err := k.Decrypt(ctx, gk.KeyID, gk.Wrapped, nil)
			return err
		}, []keycache.ErrorKind{keycache.KindInvalid}},
		{"decrypt tampered blob", func() error {
			_, err := k.Decrypt(ctx, gk.KeyID, tampered, keycache.BucketContext("a"))
			return err
		}, []keycache.ErrorKind{keycache.KindInvalid}},
		// AWS says IncorrectKeyException (Denied); local-kms InvalidCiphertext.
		{"decrypt with another key id", func() error {
			_, err := k.Decrypt(ctx, testenv.KMSOtherKeyID, gk.Wrapped, keycache.BucketContext("a"))
			return err
		}, []keycache.ErrorKind{keycache.KindDenied, keycache.KindInvalid}},
		{"decrypt garbage", func() error {
			_, err := k.Decrypt(ctx, gk.KeyID, []byte("not a blob"), keycache.BucketContext("a"))
			return err
		}, []keycache.ErrorKind{keycache.KindInvalid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var e *keycache.Error
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
			for i, f := range keyEncodings(gk.Plaintext) {
				if strings.Contains(err.Error(), f) {
					t.Errorf("error contains the key bytes (encoding %d of keyEncodings)", i)
				}
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
	k, err := New(context.Background(), Options{
		Region: testenv.Region, Endpoint: "http://" + addr,
		AccessKey: "a", SecretKey: "b",
		MaxAttempts: 2, MaxBackoff: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.GenerateDataKey(context.Background(), testenv.KMSKeyID, keycache.BucketContext("a"))
	if keycache.KindOf(err) != keycache.KindUnavailable {
		t.Fatalf("GenerateDataKey: kind %v (%v), want unavailable", keycache.KindOf(err), err)
	}
	var e *keycache.Error
	if errors.As(err, &e); e.RetryAfter <= 0 {
		t.Errorf("RetryAfter = %v, want > 0", e.RetryAfter)
	}
	_, err = k.Decrypt(context.Background(), testenv.KMSKeyID, []byte("x"), keycache.BucketContext("a"))
	if keycache.KindOf(err) != keycache.KindUnavailable {
		t.Fatalf("Decrypt: kind %v (%v), want unavailable", keycache.KindOf(err), err)
	}

	// Through the cache: a cold bucket fails with the same kind, counted.
	c := newCache(t, k, keycache.Options{})
	err = c.WithBucketKey(context.Background(), keycache.WriteRequest{Bucket: "a", KeyID: testenv.KMSKeyID}, func(keycache.Key) error {
		t.Error("callback ran without a key")
		return nil
	})
	if keycache.KindOf(err) != keycache.KindUnavailable {
		t.Fatalf("WithBucketKey: kind %v (%v), want unavailable", keycache.KindOf(err), err)
	}
	if n := requests(c.Stats().Total, keycache.OpGenerateDataKey, keycache.OutcomeUnavailable); n != 1 {
		t.Errorf("unavailable GenerateDataKey requests = %d, want 1", n)
	}
}

func TestNewKMSNeedsRegion(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	if _, err := New(context.Background(), Options{AccessKey: "a", SecretKey: "b"}); err == nil {
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
		want keycache.ErrorKind
	}{
		{api("ThrottlingException"), keycache.KindThrottled},
		{api("LimitExceededException"), keycache.KindThrottled},
		{api("AccessDeniedException"), keycache.KindDenied},
		{api("DisabledException"), keycache.KindDenied},
		{api("NotFoundException"), keycache.KindDenied},
		{api("KMSInvalidStateException"), keycache.KindDenied},
		{api("IncorrectKeyException"), keycache.KindDenied},
		{api("UnrecognizedClientException"), keycache.KindDenied},
		{api("InvalidCiphertextException"), keycache.KindInvalid},
		{api("KMSInternalException"), keycache.KindUnavailable},
		{api("DependencyTimeoutException"), keycache.KindUnavailable},
		{api("KeyUnavailableException"), keycache.KindUnavailable},
		{status(429), keycache.KindThrottled},
		{status(403), keycache.KindDenied},
		{status(400), keycache.KindInvalid},
		{status(500), keycache.KindUnavailable},
		{status(503), keycache.KindUnavailable},
		{context.DeadlineExceeded, keycache.KindUnavailable},
		{errors.New("dial tcp: connection refused"), keycache.KindUnavailable},
	}
	for _, tt := range tests {
		e := mapKMSError(keycache.OpDecrypt, tt.err)
		if e.Kind != tt.want {
			t.Errorf("mapKMSError(%v) = %v, want %v", tt.err, e.Kind, tt.want)
		}
		if e.Op != keycache.OpDecrypt || !errors.Is(e, tt.err) {
			t.Errorf("mapKMSError(%v) lost its op or cause: %v", tt.err, e)
		}
		if (tt.want == keycache.KindThrottled || tt.want == keycache.KindUnavailable) != (e.RetryAfter > 0) {
			t.Errorf("mapKMSError(%v).RetryAfter = %v", tt.err, e.RetryAfter)
		}
	}
}

// fakeThrottlingKMS is an httptest server speaking the KMS JSON protocol
// for GenerateDataKey, because a real KMS cannot be made to throttle on
// demand: it answers the first throttle requests with HTTP 400
// ThrottlingException, as KMS does, and the later ones with a data key
// (key); throttle < 0 throttles every request. It records the SDK's
// amz-sdk-request header ("attempt=N; max=M") of each request.
type fakeThrottlingKMS struct {
	*httptest.Server
	t        *testing.T
	throttle int
	key      []byte // the data key it hands out; a test value

	mu       sync.Mutex
	attempts []string
}

const fakeKMSKeyARN = "arn:aws:kms:" + testenv.Region + ":" + testenv.KMSAccount + ":key/" + testenv.KMSKeyID

func newFakeThrottlingKMS(t *testing.T, throttle int) *fakeThrottlingKMS {
	f := &fakeThrottlingKMS{t: t, throttle: throttle, key: bytes.Repeat([]byte{0x5a}, 32)}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeThrottlingKMS) serve(w http.ResponseWriter, r *http.Request) {
	var in struct {
		KeyId             string
		KeySpec           string
		EncryptionContext map[string]string
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || r.Method != http.MethodPost ||
		r.Header.Get("X-Amz-Target") != "TrentService.GenerateDataKey" ||
		in.KeyId != testenv.KMSKeyID || in.KeySpec != "AES_256" ||
		in.EncryptionContext[keycache.ContextKeyBucketARN] != "arn:aws:s3:::b" {
		f.t.Errorf("fake KMS got an unexpected request: %s %s, target %q, key %q, spec %q, context %v (%v)",
			r.Method, r.URL, r.Header.Get("X-Amz-Target"), in.KeyId, in.KeySpec, in.EncryptionContext, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.attempts = append(f.attempts, r.Header.Get("Amz-Sdk-Request"))
	n := len(f.attempts)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if f.throttle < 0 || n <= f.throttle {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"__type":"ThrottlingException","message":"Rate exceeded"}`)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"CiphertextBlob": []byte("fake blob"), // []byte encodes as base64, as KMS sends blobs
		"KeyId":          fakeKMSKeyARN,
		"Plaintext":      f.key,
	})
}

func (f *fakeThrottlingKMS) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.attempts)
}

// TestKMSRetriesThrottling: the SDK's standard retryer retries throttling
// with backoff, up to MaxAttempts requests in all; a throttle that outlasts
// them reaches the cache as KindThrottled with a Retry-After, and one that
// ends sooner is invisible. MaxBackoff keeps the backoff at a millisecond.
func TestKMSRetriesThrottling(t *testing.T) {
	tests := []struct {
		name         string
		maxAttempts  int // KMSOptions.MaxAttempts; 0 is the default, 3
		throttle     int
		wantRequests int
		wantOK       bool
	}{
		{"persistent", 4, -1, 4, false},
		{"persistent, default attempts", 0, -1, 3, false},
		{"one throttle", 4, 1, 2, true},
		{"throttled until the last attempt", 4, 3, 4, true},
		{"throttled on every attempt", 4, 4, 4, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeThrottlingKMS(t, tt.throttle)
			k, err := New(context.Background(), Options{
				Region: testenv.Region, Endpoint: f.URL, AccessKey: "a", SecretKey: "b",
				MaxAttempts: tt.maxAttempts, MaxBackoff: time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			gk, err := k.GenerateDataKey(context.Background(), testenv.KMSKeyID, keycache.BucketContext("b"))

			reqs := f.requests()
			if len(reqs) != tt.wantRequests {
				t.Fatalf("fake KMS saw %d requests, want %d: %q", len(reqs), tt.wantRequests, reqs)
			}
			attempts := tt.maxAttempts
			if attempts == 0 {
				attempts = 3
			}
			for i, h := range reqs {
				if want := fmt.Sprintf("attempt=%d; max=%d", i+1, attempts); !strings.HasPrefix(h, want) {
					t.Errorf("request %d: amz-sdk-request %q, want %q", i+1, h, want)
				}
			}
			if tt.wantOK {
				if err != nil {
					t.Fatalf("GenerateDataKey after %d throttles: %v", tt.throttle, err)
				}
				if !bytes.Equal(gk.Plaintext, f.key) || string(gk.Wrapped) != "fake blob" || gk.KeyID != fakeKMSKeyARN {
					t.Fatalf("GenerateDataKey returned another key: %v", gk)
				}
				return
			}
			var e *keycache.Error
			if !errors.As(err, &e) || e.Kind != keycache.KindThrottled || e.Op != keycache.OpGenerateDataKey {
				t.Fatalf("GenerateDataKey: %v (kind %v), want a throttled *Error", err, keycache.KindOf(err))
			}
			if want := keycache.NewError(keycache.KindThrottled, "", nil).RetryAfter; e.RetryAfter != want {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, want)
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "ThrottlingException" || ae.ErrorMessage() != "Rate exceeded" {
				t.Errorf("error lost the KMS code or message: %v", err)
			}
			if gk.Plaintext != nil {
				t.Errorf("a failed call returned %d key bytes", len(gk.Plaintext))
			}
		})
	}
}

// kmsRecorder is a pass-through proxy in front of the real local-kms, not a
// fake: it forwards every request unchanged and records the SigV4 access key
// and session token it was signed with, since local-kms accepts any.
type kmsRecorder struct {
	*httptest.Server
	mu              sync.Mutex
	creds, sessions []string // Credential= of Authorization; X-Amz-Security-Token
}

func newKMSRecorder(t *testing.T, upstream string) *kmsRecorder {
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rec := &kmsRecorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred := r.Header.Get("Authorization")
		if _, after, ok := strings.Cut(cred, "Credential="); ok {
			cred, _, _ = strings.Cut(after, ",")
		}
		rec.mu.Lock()
		rec.creds = append(rec.creds, cred)
		rec.sessions = append(rec.sessions, r.Header.Get("X-Amz-Security-Token"))
		rec.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (r *kmsRecorder) take() (creds, sessions []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	creds, sessions = r.creds, r.sessions
	r.creds, r.sessions = nil, nil
	return creds, sessions
}

// TestKMSDefaultCredentialChain: with no AccessKey, the provider signs with
// the credentials (and finds the region) the SDK's default chain resolves,
// here from the environment, with the shared files empty so the machine's
// own configuration plays no part; static AccessKey options win over it.
func TestKMSDefaultCredentialChain(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"config", "credentials"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const envAK, envSK, envToken = "AKIAENVCHAINTEST", "env-chain-secret", "env-chain-session-token"
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           envAK,
		"AWS_SECRET_ACCESS_KEY":       envSK,
		"AWS_SESSION_TOKEN":           envToken,
		"AWS_REGION":                  testenv.Region,
		"AWS_DEFAULT_REGION":          "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
	rec := newKMSRecorder(t, testenv.KMS(t).URL)
	wantScope := "/" + testenv.Region + "/kms/aws4_request"

	k, err := New(context.Background(), Options{Endpoint: rec.URL})
	if err != nil {
		t.Fatal(err)
	}
	gk, err := k.GenerateDataKey(context.Background(), testenv.KMSKeyID, keycache.BucketContext("b"))
	if err != nil {
		t.Fatalf("GenerateDataKey with the default chain's credentials: %v", err)
	}
	if pt, err := k.Decrypt(context.Background(), gk.KeyID, gk.Wrapped, keycache.BucketContext("b")); err != nil || !bytes.Equal(pt, gk.Plaintext) {
		t.Fatalf("Decrypt with the default chain's credentials: %v", err)
	}
	creds, sessions := rec.take()
	if len(creds) != 2 {
		t.Fatalf("local-kms saw %d requests, want 2", len(creds))
	}
	for i := range creds {
		if !strings.HasPrefix(creds[i], envAK+"/") || !strings.HasSuffix(creds[i], wantScope) || sessions[i] != envToken {
			t.Errorf("request %d signed as %q with session token %q; want %s/...%s and the environment's token",
				i+1, creds[i], sessions[i], envAK, wantScope)
		}
	}

	// Static credentials in the options take precedence over the chain.
	k, err = New(context.Background(), Options{Endpoint: rec.URL, AccessKey: "static-ak", SecretKey: "static-sk"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.GenerateDataKey(context.Background(), testenv.KMSKeyID, keycache.BucketContext("b")); err != nil {
		t.Fatal(err)
	}
	creds, sessions = rec.take()
	if len(creds) != 1 || !strings.HasPrefix(creds[0], "static-ak/") || sessions[0] != "" {
		t.Errorf("with static credentials, signed as %q, session tokens %q", creds, sessions)
	}
}

// TestKMSCheckAndAliases: the provider's own readiness probe and alias
// resolution, against local-kms (no second client).
func TestKMSCheckAndAliases(t *testing.T) {
	p := testenv.KMS(t)
	newK := func(keyID string) *KMS {
		k, err := New(context.Background(), Options{Region: testenv.Region, Endpoint: p.URL, AccessKey: "a", SecretKey: "b", KeyID: keyID})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	ctx := context.Background()
	var _ keycache.Checker = newK(testenv.KMSKeyID)
	if err := newK(testenv.KMSKeyID).Check(ctx); err != nil {
		t.Errorf("Check of the seeded key: %v", err)
	}
	if err := newK("00000000-0000-0000-0000-000000000000").Check(ctx); err == nil || !strings.Contains(err.Error(), "KMS DescribeKey") {
		t.Errorf("Check of a missing key: %v", err)
	}
	if err := newK("").Check(ctx); err == nil {
		t.Error("Check without a key id passed")
	}
	arns := newK(testenv.KMSKeyID).ResolveAliases(ctx, []string{testenv.KMSKeyID, testenv.KMSKeyAlias, "alias/missing"})
	if len(arns) != 1 || !strings.HasSuffix(arns[0], ":key/"+testenv.KMSKeyID) {
		t.Errorf("ResolveAliases = %v, want the seeded key's ARN only", arns)
	}
}
