package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/internal/testenv"
	"github.com/bucketkey/bucketkey/keycache"
	"github.com/bucketkey/bucketkey/keycache/awskms"
	"github.com/bucketkey/bucketkey/sigv4"
)

// The real servers, shared by the package's integration tests: started by
// the first test that needs them (needServers), stopped by TestMain. Pure
// tests (named TestUnit*, run with `go test ./proxy -run Unit`) never start
// them, so they pass on a checkout without the versitygw and local-kms
// binaries.
var (
	serversOnce sync.Once
	serversErr  error
	backendS3   *testenv.Process
	backendKMS  *testenv.Process
)

// Client identity the test proxies accept.
const (
	clientAccessKey = "AKIDBUCKETKEYTEST01"
	clientSecretKey = "bucketkey-test-client-secret-0123456789"
)

func TestMain(m *testing.M) {
	code := m.Run()
	backends.Stop()
	for _, p := range []*testenv.Process{backendS3, backendKMS} {
		if p != nil {
			p.Stop()
			os.RemoveAll(p.Dir)
		}
	}
	os.Exit(code)
}

// needServers starts the shared versitygw and local-kms on first use and
// fails the test if they cannot run (a missing binary included).
func needServers(t testing.TB) {
	t.Helper()
	serversOnce.Do(func() {
		if backendS3, serversErr = testenv.StartS3(); serversErr != nil {
			return
		}
		backends.Add(testenv.Versitygw, backendS3)
		backendKMS, serversErr = testenv.StartKMS()
	})
	if serversErr != nil {
		t.Fatal(serversErr)
	}
}

// testProxy is a proxy under test, served over HTTP.
type testProxy struct {
	*Proxy
	srv    *httptest.Server
	keys   *keycache.Cache
	client *s3.Client
	// backend is a client of the proxy's backend itself, to look at what
	// is stored.
	backend *s3.Client
	log     *bytes.Buffer
}

type proxyOption func(*Config)

// newTestProxy starts a proxy in front of the shared versitygw with a key
// cache over the shared local-kms.
func newTestProxy(t testing.TB, opts ...proxyOption) *testProxy {
	t.Helper()
	needServers(t)
	ctx := context.Background()
	kms, err := awskms.New(ctx, awskms.Options{
		Region: testenv.Region, Endpoint: backendKMS.URL,
		AccessKey: "local", SecretKey: "local",
	})
	if err != nil {
		t.Fatal(err)
	}
	up, _ := url.Parse(backendS3.URL)
	return startTestProxy(t, up, testenv.Region, credentials.NewStaticCredentialsProvider(testenv.S3AccessKey, testenv.S3SecretKey, ""),
		kms, testenv.KMSKeyID, opts...)
}

// startTestProxy serves a proxy in front of up with a key cache over kms,
// accepting the test client's credentials.
func startTestProxy(t testing.TB, up *url.URL, region string, upCreds aws.CredentialsProvider, kms keycache.Provider, keyID string, opts ...proxyOption) *testProxy {
	t.Helper()
	keys := keycache.New(kms, keycache.Options{})
	t.Cleanup(keys.Close)
	logBuf := &bytes.Buffer{}
	cfg := Config{
		Upstream:            up,
		UpstreamRegion:      region,
		UpstreamCredentials: upCreds,
		ClientCredentials:   sigv4.StaticCredentials{clientAccessKey: clientSecretKey},
		Keys:                keys,
		KMSKeyID:            keyID,
		Logger:              slog.New(slog.NewJSONHandler(&lockedWriter{w: logBuf}, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return &testProxy{Proxy: p, srv: srv, keys: keys, log: logBuf,
		client:  newS3Client(srv.URL, clientAccessKey, clientSecretKey),
		backend: newS3Client(cfg.Upstream.String(), testenv.S3AccessKey, testenv.S3SecretKey),
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// newS3Client is aws-sdk-go-v2's S3 client with the defaults
// config.LoadDefaultConfig gives it (request checksums and response
// checksum validation "when supported"), path style, no retries (a retry
// would hide a first failure).
func newS3Client(endpoint, ak, sk string, opts ...func(*s3.Options)) *s3.Client {
	return s3.New(s3.Options{
		Region:                     testenv.Region,
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(ak, sk, ""),
		RetryMaxAttempts:           1,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	}, opts...)
}

// backend is a client of the backend itself, to look at what is stored.
func backend() *s3.Client {
	return newS3Client(backendS3.URL, testenv.S3AccessKey, testenv.S3SecretKey)
}

var bucketSeq atomic.Int64

// newBucketName returns a fresh bucket name.
func newBucketName() string {
	return fmt.Sprintf("bk-%d-%d", time.Now().UnixNano()%1e9, bucketSeq.Add(1))
}

// newBucket creates a fresh bucket through the proxy.
func (tp *testProxy) newBucket(t testing.TB) string {
	t.Helper()
	return tp.createBucket(t, newBucketName())
}

// newMixedProxy starts a test proxy with a fresh bucket declared mixed
// (Config.MixedBuckets), for tests of objects written behind the proxy's
// back that it must pass through; it returns the proxy and the bucket.
func newMixedProxy(t testing.TB, opts ...proxyOption) (*testProxy, string) {
	t.Helper()
	name := newBucketName()
	opts = append(opts, func(c *Config) { c.MixedBuckets = append(c.MixedBuckets, name) })
	tp := newTestProxy(t, opts...)
	return tp, tp.createBucket(t, name)
}

// createBucket creates the bucket name through the proxy.
func (tp *testProxy) createBucket(t testing.TB, name string) string {
	t.Helper()
	if _, err := tp.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("CreateBucket %s: %v", name, err)
	}
	return name
}

// randBytes returns n random bytes.
func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func (tp *testProxy) put(t testing.TB, bucket, key string, data []byte) *s3.PutObjectOutput {
	t.Helper()
	out, err := tp.client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data),
	})
	if err != nil {
		t.Fatalf("PutObject %s/%s (%d bytes): %v", bucket, key, len(data), err)
	}
	return out
}

func getAll(t testing.TB, c *s3.Client, in *s3.GetObjectInput) ([]byte, *s3.GetObjectOutput) {
	t.Helper()
	out, err := c.GetObject(context.Background(), in)
	if err != nil {
		t.Fatalf("GetObject %s/%s: %v", aws.ToString(in.Bucket), aws.ToString(in.Key), err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("GetObject %s/%s: read body: %v", aws.ToString(in.Bucket), aws.ToString(in.Key), err)
	}
	return b, out
}

func (tp *testProxy) get(t testing.TB, bucket, key string) []byte {
	t.Helper()
	b, _ := getAll(t, tp.client, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	return b
}

// stored returns the bytes and headers the backend holds for bucket/key.
func stored(t testing.TB, bucket, key string) ([]byte, *s3.GetObjectOutput) {
	t.Helper()
	return storedIn(t, backend(), bucket, key)
}

// mustEqual compares byte slices without printing megabytes.
func mustEqual(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: got %d bytes, want %d; first difference at %d", what, len(got), len(want), i)
	}
}

// rawRequest sends a request signed by the test client's credentials with
// the SDK's v4 signer (payload hash of body), bypassing the S3 client.
func (tp *testProxy) rawRequest(t testing.TB, method, path string, hdr http.Header, body []byte) *http.Response {
	t.Helper()
	return signedRequest(t, tp.srv.URL, clientAccessKey, clientSecretKey, method, path, hdr, body)
}

func readAllClose(t testing.TB, r io.ReadCloser) []byte {
	t.Helper()
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// metaHeader turns SDK user metadata back into x-amz-meta-* headers.
func metaHeader(m map[string]string) http.Header {
	h := make(http.Header)
	for k, v := range m {
		h.Set("x-amz-meta-"+k, v)
	}
	return h
}
