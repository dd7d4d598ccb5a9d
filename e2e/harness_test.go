package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/bucketkey/bucketkey/internal/testenv"
	"github.com/bucketkey/bucketkey/keycache"
	"github.com/bucketkey/bucketkey/keycache/awskms"
	"github.com/bucketkey/bucketkey/proxy"
	"github.com/bucketkey/bucketkey/sigv4"
)

// The real servers shared by the tests that do not break them (started in
// TestMain). Tests that inject faults put their own toxiproxy proxy in
// front of these; a test that changes KMS state starts its own local-kms.
var (
	sharedS3   *testenv.Process
	sharedKMS  *testenv.Process
	sharedToxi *testenv.Toxiproxy
)

// The client identity the proxies under test accept.
const (
	clientAccessKey = "AKIDE2EBUCKETKEY0001"
	clientSecretKey = "e2e-client-secret-0123456789abcdefghij"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// The tests talk to loopback servers only. With AWS_CA_BUNDLE set (as
	// on the CI machines), the SDK's config loader refuses a plain
	// *http.Client in awskms.Options.HTTPClient, which the tests need
	// to close the KMS client's idle connections when counting goroutines.
	os.Unsetenv("AWS_CA_BUNDLE")
	code, err := runMain(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func runMain(m *testing.M) (int, error) {
	var err error
	if sharedS3, err = testenv.StartS3(); err != nil {
		return 0, err
	}
	defer func() { sharedS3.Stop(); os.RemoveAll(sharedS3.Dir) }()
	if sharedKMS, err = testenv.StartKMS(); err != nil {
		return 0, err
	}
	defer func() { sharedKMS.Stop(); os.RemoveAll(sharedKMS.Dir) }()
	if sharedToxi, err = testenv.StartToxiproxy(); err != nil {
		return 0, err
	}
	defer func() { sharedToxi.Stop(); os.RemoveAll(sharedToxi.Dir) }()
	backends.Add(testenv.Versitygw, sharedS3)
	defer backends.Stop()
	return m.Run(), nil
}

// envOptions choose how an env is wired.
type envOptions struct {
	// backend names the S3 server behind the proxy (testenv.Backends());
	// "" is the shared versitygw.
	backend   string
	kmsFaults bool // KMS through a toxiproxy proxy (env.kmsToxi)
	s3Faults  bool // the backend through a toxiproxy proxy (env.s3Toxi)
	ownKMS    bool // a local-kms of the test's own (its state may be changed)
	// kms is a local-kms to use instead of the shared one (so that two
	// envs can share a KMS whose state a test changes).
	kms *testenv.Process
	// kmsEndpoint, if set, is where the proxy sends KMS requests (the
	// throttling fake in front of local-kms).
	kmsEndpoint string
	cache       keycache.Options
	kmsOpts     awskms.Options
	config      func(*proxy.Config)
}

// env is one proxy under test, with everything around it.
type env struct {
	t       *testing.T
	s3      *testenv.Process
	kms     *testenv.Process
	kmsToxi *toxiproxy.Proxy // nil unless kmsFaults
	s3Toxi  *toxiproxy.Proxy // nil unless s3Faults

	keys  *keycache.Cache
	proxy *proxy.Proxy
	srv   *httptest.Server
	url   string

	upstream   *countingTransport // the proxy's backend transport
	kmsHTTP    *http.Transport    // the proxy's KMS transport
	clientHTTP *http.Transport    // the test clients' transport
	httpClient *http.Client

	client  *s3.Client // aws-sdk-go-v2 against the proxy
	backend *s3.Client // aws-sdk-go-v2 straight to the backend

	obs *observer
	log *lockedBuffer
}

var seq atomic.Int64

// newEnv starts a proxy under test as o says.
func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, s3: sharedBackend(t, o.backend), kms: sharedKMS, obs: newObserver(), log: &lockedBuffer{}}
	switch {
	case o.kms != nil:
		e.kms = o.kms
	case o.ownKMS:
		e.kms = testenv.KMS(t)
	}
	kmsURL := e.kms.URL
	if o.kmsFaults {
		e.kmsToxi = e.toxiProxy("kms", e.kms.Addr)
		kmsURL = "http://" + e.kmsToxi.Listen
	}
	if o.kmsEndpoint != "" {
		kmsURL = o.kmsEndpoint
	}
	upURL := e.s3.URL
	if o.s3Faults {
		e.s3Toxi = e.toxiProxy("s3", e.s3.Addr)
		upURL = "http://" + e.s3Toxi.Listen
	}

	e.kmsHTTP = newTransport()
	ko := o.kmsOpts
	ko.Region, ko.Endpoint, ko.AccessKey, ko.SecretKey = testenv.Region, kmsURL, "local", "local"
	ko.HTTPClient = &http.Client{Transport: e.kmsHTTP}
	kms, err := awskms.New(context.Background(), ko)
	if err != nil {
		t.Fatal(err)
	}
	e.keys = keycache.New(kms, o.cache)
	t.Cleanup(e.keys.Close)

	up, err := url.Parse(upURL)
	if err != nil {
		t.Fatal(err)
	}
	e.upstream = &countingTransport{rt: newTransport()}
	cfg := proxy.Config{
		Upstream:            up,
		UpstreamRegion:      testenv.Region,
		UpstreamCredentials: credentials.NewStaticCredentialsProvider(testenv.S3AccessKey, testenv.S3SecretKey, ""),
		UpstreamTransport:   e.upstream,
		ClientCredentials:   sigv4.StaticCredentials{clientAccessKey: clientSecretKey},
		Keys:                e.keys,
		KMSKeyID:            testenv.KMSKeyID,
		Logger:              slog.New(slog.NewJSONHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Observer:            e.obs,
	}
	if o.config != nil {
		o.config(&cfg)
	}
	p, err := proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.proxy = p
	e.srv = httptest.NewServer(p)
	e.url = e.srv.URL
	e.clientHTTP = newTransport()
	e.httpClient = &http.Client{Transport: e.clientHTTP}
	e.client = newS3Client(e.url, clientAccessKey, clientSecretKey, e.httpClient)
	e.backend = newS3Client(e.s3.URL, testenv.S3AccessKey, testenv.S3SecretKey, nil)
	t.Cleanup(func() {
		e.clientHTTP.CloseIdleConnections()
		e.srv.Close()
		e.upstream.rt.(*http.Transport).CloseIdleConnections()
		e.kmsHTTP.CloseIdleConnections()
		e.checkLog()
	})
	return e
}

// toxiProxy puts a toxiproxy proxy in front of upstream for this test.
func (e *env) toxiProxy(what, upstream string) *toxiproxy.Proxy {
	e.t.Helper()
	name := fmt.Sprintf("%s-%s-%d", what, strings.ReplaceAll(e.t.Name(), "/", "_"), seq.Add(1))
	px, err := sharedToxi.Proxy(name, upstream)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = px.Delete() })
	return px
}

// checkLog fails the test if the proxy's log holds a secret.
func (e *env) checkLog() {
	log := e.log.String()
	for _, s := range []string{clientSecretKey, testenv.S3SecretKey} {
		if strings.Contains(log, s) {
			e.t.Errorf("the proxy logged a secret")
		}
	}
}

// newTransport is a fresh transport, so each side's idle connections can
// be closed on their own (for goroutine counts).
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DisableCompression = true
	t.MaxIdleConnsPerHost = 128
	return t
}

// newS3Client is aws-sdk-go-v2's S3 client with the defaults a real user
// gets (request checksums and response checksum validation "when
// supported"), path style, and no retries: a retry would hide a failure.
func newS3Client(endpoint, ak, sk string, hc *http.Client) *s3.Client {
	o := s3.Options{
		Region:                     testenv.Region,
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(ak, sk, ""),
		RetryMaxAttempts:           1,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	}
	if hc != nil {
		o.HTTPClient = hc
	}
	return s3.New(o)
}

// countingTransport counts the requests the proxy sends to the backend:
// "nothing reached the backend" is this count not moving.
type countingTransport struct {
	rt http.RoundTripper
	n  atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// observer records the requests the proxy finished, so tests can wait for
// the proxy to be done with a request whose client went away.
type observer struct {
	mu      sync.Mutex
	done    []observed
	changed chan struct{}
}

type observed struct {
	op     string
	status int
}

func newObserver() *observer { return &observer{changed: make(chan struct{})} }

func (o *observer) ObserveRequest(op string, status int, _, _ int64, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done = append(o.done, observed{op, status})
	close(o.changed)
	o.changed = make(chan struct{})
}

// mark returns the number of requests finished so far.
func (o *observer) mark() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.done)
}

// waitFor waits until a request of operation op finished after mark, and
// returns it.
func (o *observer) waitFor(t testing.TB, mark int, op string) observed {
	t.Helper()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for {
		o.mu.Lock()
		for _, d := range o.done[mark:] {
			if d.op == op {
				o.mu.Unlock()
				return d
			}
		}
		ch := o.changed
		o.mu.Unlock()
		select {
		case <-ch:
		case <-timeout.C:
			t.Fatalf("the proxy did not finish a %s request within 30s", op)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 8<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

// Cap is the memory the buffer holds, for leak checks to leave out: its
// 8 MiB cap can leave up to twice that allocated.
func (l *lockedBuffer) Cap() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Cap()
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newBucket creates a bucket through the proxy.
func (e *env) newBucket() string {
	e.t.Helper()
	return e.createBucket(bucketName())
}

// bucketName returns a fresh bucket name (for a bucket a test must name in
// the proxy's configuration before creating it).
func bucketName() string {
	return fmt.Sprintf("e2e-%d-%d", time.Now().UnixNano()%1e8, seq.Add(1))
}

// createBucket creates the bucket name through the proxy.
func (e *env) createBucket(name string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		e.t.Fatalf("CreateBucket %s: %v", name, err)
	}
	return name
}

// put stores data through the proxy.
func (e *env) put(bucket, key string, data []byte) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
		e.t.Fatalf("PutObject %s/%s: %v", bucket, key, err)
	}
}

// get reads an object through the proxy.
func (e *env) get(bucket, key string) []byte {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		e.t.Fatalf("GetObject %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		e.t.Fatalf("GetObject %s/%s: body: %v", bucket, key, err)
	}
	return b
}

// stored reads what the backend holds for bucket/key: bytes and user
// metadata (lower-case names without x-amz-meta-).
func (e *env) stored(bucket, key string) ([]byte, map[string]string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := e.backend.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		e.t.Fatalf("backend GetObject %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return b, testenv.EnvelopeFields(out.Metadata)
}

// plant writes raw bytes and metadata straight to the backend, as someone
// with write access to the bucket (not to the proxy) could. The envelope
// fields in meta (as stored returns them, a "bk-*" entry each) are stored
// packed, as the proxy writes them.
func (e *env) plant(bucket, key string, raw []byte, meta map[string]string) {
	e.t.Helper()
	e.plantAsIs(bucket, key, raw, testenv.PackEnvelope(meta))
}

// plantAsIs is plant with meta stored as given: a per-field envelope
// stays a header per field, as bucketkey wrote it before the packed form.
func (e *env) plantAsIs(bucket, key string, raw []byte, meta map[string]string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.backend.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(raw), Metadata: meta}); err != nil {
		e.t.Fatalf("backend PutObject %s/%s: %v", bucket, key, err)
	}
}

// snapshot describes the backend's state: its buckets and, for each of
// the buckets given, every object (name, size, ETag, time) and every
// multipart upload in progress. Two equal snapshots mean nothing changed.
func (e *env) snapshot(buckets ...string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var lines []string
	lb, err := e.backend.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		e.t.Fatalf("backend ListBuckets: %v", err)
	}
	for _, b := range lb.Buckets {
		lines = append(lines, "bucket "+aws.ToString(b.Name))
	}
	for _, b := range buckets {
		p := s3.NewListObjectsV2Paginator(e.backend, &s3.ListObjectsV2Input{Bucket: aws.String(b)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				e.t.Fatalf("backend ListObjectsV2 %s: %v", b, err)
			}
			for _, o := range page.Contents {
				lines = append(lines, fmt.Sprintf("object %s/%s size=%d etag=%s at=%s", b, aws.ToString(o.Key), aws.ToInt64(o.Size), aws.ToString(o.ETag), aws.ToTime(o.LastModified).Format(time.RFC3339Nano)))
			}
		}
		mu, err := e.backend.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(b)})
		if err != nil {
			e.t.Fatalf("backend ListMultipartUploads %s: %v", b, err)
		}
		for _, u := range mu.Uploads {
			lines = append(lines, fmt.Sprintf("upload %s/%s %s", b, aws.ToString(u.Key), aws.ToString(u.UploadId)))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// sameState fails the test if the backend changed since before.
func (e *env) sameState(what, before string, buckets ...string) {
	e.t.Helper()
	if after := e.snapshot(buckets...); after != before {
		e.t.Errorf("%s changed the backend:\nbefore:\n%s\nafter:\n%s", what, before, after)
	}
}

// signer is aws-sdk-go-v2's v4 signer configured as S3 signs: the path
// as it is, not escaped again.
func signer() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
}

// clientCreds are the test client's credentials.
var clientCreds = aws.Credentials{AccessKeyID: clientAccessKey, SecretAccessKey: clientSecretKey}

// signReq signs req with header auth for payload hash ph at time at.
func signReq(t testing.TB, req *http.Request, creds aws.Credentials, ph string, at time.Time) {
	t.Helper()
	req.Header.Set("X-Amz-Content-Sha256", ph)
	if err := signer().SignHTTP(context.Background(), creds, req, ph, "s3", testenv.Region, at); err != nil {
		t.Fatal(err)
	}
}

// newReq builds a request to the proxy; path is sent exactly as given.
func (e *env) newReq(ctx context.Context, method, path string, body []byte) *http.Request {
	e.t.Helper()
	var r io.Reader = http.NoBody
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if body == nil {
		req.Body = http.NoBody
	}
	return req
}

// reply is a response read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
	code   string // <Code> of an S3 error document
	err    error  // reading the body failed
}

func (r reply) String() string {
	b := r.body
	if len(b) > 300 {
		b = b[:300]
	}
	return fmt.Sprintf("%d %s (%q, err %v)", r.status, r.code, b, r.err)
}

// send sends req with the test clients' transport, within 60 s, and reads
// the answer.
func (e *env) send(req *http.Request) reply {
	e.t.Helper()
	r, err := sendReq(e.httpClient, req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	return r
}

// sendReq sends req with c and reads the answer; the error is the
// round trip's (a broken body is in reply.err).
func sendReq(c *http.Client, req *http.Request) (reply, error) {
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b, code: errorCode(b), err: err}, nil
}

// errorCode returns the Code of an S3 error document, or "".
func errorCode(b []byte) string {
	var doc struct {
		XMLName xml.Name `xml:"Error"`
		Code    string   `xml:"Code"`
	}
	if xml.Unmarshal(b, &doc) != nil {
		return ""
	}
	return doc.Code
}

// apiCode returns the S3 error code of an SDK error, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// randBytes returns n random bytes.
func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
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

// ctxFor is a context bounding one request of a test: a request that has
// not finished by then is hung, and the test says so.
func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
