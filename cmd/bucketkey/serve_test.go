package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/internal/testenv"
	"github.com/bucketkey/bucketkey/sigv4"
)

// serveRun is a `bucketkey serve` running in-process.
type serveRun struct {
	listen, admin string
	stderr        *syncBuffer
	cancel        context.CancelFunc
	done          chan struct{}
	code          int
}

// startServe runs serve with JSON logs on free ports and waits for its
// "bucketkey serving" line, which names the bound addresses.
func startServe(t *testing.T, args []string, getenv func(string) (string, bool)) *serveRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &serveRun{stderr: newSyncBuffer(), cancel: cancel, done: make(chan struct{})}
	args = append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-format", "json", "--shutdown-timeout", "5s"}, args...)
	go func() {
		defer close(r.done)
		r.code = run(ctx, args, io.Discard, r.stderr, getenv)
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	line := r.stderr.waitFor(t, `"msg":"bucketkey serving"`, r.done, 60*time.Second)
	var started struct{ Listen, Admin string }
	if err := json.Unmarshal([]byte(line), &started); err != nil {
		t.Fatalf("start line %q: %v", line, err)
	}
	r.listen, r.admin = started.Listen, started.Admin
	return r
}

// stop sends the equivalent of SIGTERM and returns the shutdown line.
func (r *serveRun) stop(t *testing.T) map[string]any {
	t.Helper()
	r.cancel()
	<-r.done
	if r.code != exitOK {
		t.Errorf("serve exited %d", r.code)
	}
	var last map[string]any
	n := 0
	for _, line := range strings.Split(r.stderr.String(), "\n") {
		if strings.Contains(line, `"msg":"bucketkey stopped"`) {
			n++
			if err := json.Unmarshal([]byte(line), &last); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d shutdown lines, want 1", n)
	}
	return last
}

// kmsEnv gives the AWS SDK's default chain credentials for local-kms (which
// accepts any) and keeps it off the instance metadata service.
func kmsEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "local-kms-any")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local-kms-any-secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

// TestServeEndToEnd runs serve against versitygw and local-kms, configured
// through flags, a config file and the environment at once, and checks the
// S3 round trip, readiness (upstream and KMS), the metrics, the stats and
// the shutdown line.
func TestServeEndToEnd(t *testing.T) {
	s3p, kmsp := testenv.S3(t), testenv.KMS(t)
	kmsEnv(t)
	cfg := writeFile(t, "bk.yaml", "bucket-key-ttl: 10m\nupstream-region: "+testenv.Region+"\nkms-region: "+testenv.Region+"\n")
	const ak, sk = "serve-test-app", "serve-test-app-secret-0123456789"
	r := startServe(t, []string{
		"--config", cfg,
		"--upstream", s3p.URL,
		"--kms-key-id", testenv.KMSKeyID,
		"--kms-endpoint", kmsp.URL,
	}, env(
		"BUCKETKEY_UPSTREAM_ACCESS_KEY", testenv.S3AccessKey,
		"BUCKETKEY_UPSTREAM_SECRET_KEY", testenv.S3SecretKey,
		"BUCKETKEY_CLIENT_ACCESS_KEY", ak,
		"BUCKETKEY_CLIENT_SECRET_KEY", sk,
		"BUCKETKEY_KMS_PRICE_PER_10K", "0.05",
	))

	c := s3Client(r.listen, ak, sk, testenv.Region)
	bg := context.Background()
	if _, err := c.CreateBucket(bg, &s3.CreateBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	bodies := map[string][]byte{}
	for _, k := range []string{"a.jpg", "b.jpg", "c.jpg"} {
		bodies[k] = randomBytes(70_000)
		if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String(k), Body: bytes.NewReader(bodies[k])}); err != nil {
			t.Fatalf("PutObject %s: %v", k, err)
		}
	}
	for k, want := range bodies {
		if got := getBytes(t, c, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String(k)}); !bytes.Equal(got, want) {
			t.Errorf("GET %s differs", k)
		}
		stored, err := os.ReadFile(filepath.Join(s3p.Dir, "data", "photos", k))
		if err != nil {
			t.Fatalf("backend file: %v", err)
		}
		if bytes.Contains(stored, want[:64]) {
			t.Errorf("backend holds plaintext of %s", k)
		}
	}

	resp, err := http.Get(r.admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "upstream: ok\nkms: ok\n" {
		t.Errorf("/readyz = %d %q", resp.StatusCode, body)
	}

	st := getStats(t, r.admin)
	if st.PricePer10k != 0.05 || st.Total.ObjectsEncrypted != 3 || st.Total.KMSRequests["GenerateDataKey"]["ok"] != 1 ||
		st.Total.BaselineRequests["GenerateDataKey"] != 3 || st.Buckets["photos"].ObjectsDecrypted != 3 {
		t.Errorf("/stats: price %v total %+v", st.PricePer10k, st.Total)
	}
	resp, err = http.Get(r.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`bucketkey_requests_total{operation="PutObject",status="200"} 3`,
		`bucketkey_bytes_in_total{operation="PutObject"} 210000`,
		`bucketkey_kms_requests_total{operation="GenerateDataKey",outcome="ok"} 1`,
		`bucketkey_kms_requests_baseline_total{operation="GenerateDataKey"} 3`,
		`bucketkey_kms_request_duration_seconds_count{operation="GenerateDataKey",outcome="ok"} 1`,
	} {
		if !strings.Contains(string(metrics), want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	end := r.stop(t)
	if end["kms_requests"] != 1.0 || end["kms_requests_baseline"] != 6.0 || end["objects_encrypted"] != 3.0 {
		t.Errorf("shutdown line: %v", end)
	}
	logs := r.stderr.String()
	for _, secret := range []string{sk, testenv.S3SecretKey} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain a secret")
		}
	}
}

// TestServeNotReadyWithUnknownKMSKey: a key id KMS does not know keeps
// /readyz at 503 and names the failing check, while /healthz stays 200.
func TestServeNotReadyWithUnknownKMSKey(t *testing.T) {
	s3p, kmsp := testenv.S3(t), testenv.KMS(t)
	kmsEnv(t)
	r := startServe(t, []string{
		"--upstream", s3p.URL,
		"--upstream-access-key", testenv.S3AccessKey, "--upstream-secret-key", testenv.S3SecretKey,
		"--kms-key-id", "00000000-0000-0000-0000-000000000000", "--kms-endpoint", kmsp.URL, "--kms-region", testenv.Region,
		"--client-access-key", "app", "--client-secret-key", "app-secret",
	}, env())
	resp, err := http.Get(r.admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), "upstream: ok\nkms: KMS DescribeKey 00000000-0000-0000-0000-000000000000: ") {
		t.Errorf("/readyz = %d %q, want 503 naming kms", resp.StatusCode, body)
	}
	if code := httpStatus(t, r.admin+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	r.stop(t)
}

// TestServeLocalKey runs serve with a local master key and checks that a
// key file other users can read is refused at start-up in one line.
func TestServeLocalKey(t *testing.T) {
	key := writeFile(t, "master.key", strings.Repeat("ab", 32)+"\n")
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	args := []string{"serve", "--upstream", "http://127.0.0.1:1", "--upstream-access-key", "a", "--upstream-secret-key", "b",
		"--kms-local-key", key, "--client-access-key", "app", "--client-secret-key", "app-secret"}
	if code := run(context.Background(), args, &stdout, &stderr, env()); code != exitConfig ||
		!strings.Contains(stderr.String(), "accessible to other users") || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("world-readable key: exit %d, stderr %q", code, stderr.String())
	}
	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatal(err)
	}
	s3p := testenv.S3(t)
	r := startServe(t, []string{"--upstream", s3p.URL, "--upstream-access-key", testenv.S3AccessKey, "--upstream-secret-key", testenv.S3SecretKey,
		"--kms-local-key", key, "--client-access-key", "app", "--client-secret-key", "app-secret", "--no-bucket-key"}, env())
	c := s3Client(r.listen, "app", "app-secret", testenv.Region)
	bg := context.Background()
	if _, err := c.CreateBucket(bg, &s3.CreateBucketInput{Bucket: aws.String("base")}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: aws.String("base"), Key: aws.String("k" + itoa(i)), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	st := getStats(t, r.admin)
	if st.BucketKeys || st.Total.KMSRequests["GenerateDataKey"]["ok"] != 3 {
		t.Errorf("--no-bucket-key: bucket_keys %v, GenerateDataKey %v; want false and one per object", st.BucketKeys, st.Total.KMSRequests)
	}
	if code := httpStatus(t, r.admin+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d", code)
	}
	r.stop(t)
}

// TestServeMixedBucket: --mixed-bucket reaches the proxy. A pre-proxy
// object of a ciphertext size is listed with its own size in the bucket
// declared mixed, and with the approximation in the other one.
func TestServeMixedBucket(t *testing.T) {
	key := writeFile(t, "master.key", strings.Repeat("cd", 32)+"\n")
	s3p := testenv.S3(t)
	r := startServe(t, []string{"--upstream", s3p.URL, "--upstream-access-key", testenv.S3AccessKey, "--upstream-secret-key", testenv.S3SecretKey,
		"--kms-local-key", key, "--client-access-key", "app", "--client-secret-key", "app-secret"}, env("BUCKETKEY_MIXED_BUCKET", "migrating"))
	if !strings.Contains(r.stderr.String(), `"mixed_buckets":"migrating"`) {
		t.Errorf("start line does not name the mixed bucket: %s", r.stderr.String())
	}
	c := s3Client(r.listen, "app", "app-secret", testenv.Region)
	direct := s3Client(s3p.URL, testenv.S3AccessKey, testenv.S3SecretKey, testenv.Region)
	bg := context.Background()
	for bucket, want := range map[string]int64{"migrating": 17, "encrypted": 17 - new(envelope.DataKey).StoredSize(0, 0)} {
		if _, err := c.CreateBucket(bg, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatal(err)
		}
		if _, err := direct.PutObject(bg, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("old"), Body: bytes.NewReader(randomBytes(17))}); err != nil {
			t.Fatal(err)
		}
		l, err := c.ListObjectsV2(bg, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatal(err)
		}
		var sizes []int64
		for _, o := range l.Contents {
			sizes = append(sizes, aws.ToInt64(o.Size))
		}
		if len(sizes) != 1 || sizes[0] != want {
			t.Errorf("%s: listed sizes %v, want one entry of %d bytes", bucket, sizes, want)
		}
	}
	r.stop(t)
}

// TestServeTLS serves the S3 listener over TLS with --tls-cert/--tls-key.
func TestServeTLS(t *testing.T) {
	certPEM, keyPEM := selfSigned(t)
	cert, key := writeFile(t, "cert.pem", string(certPEM)), writeFile(t, "key.pem", string(keyPEM))
	s3p := testenv.S3(t)
	masterKey := writeFile(t, "master.key", strings.Repeat("cd", 32)+"\n")
	r := startServe(t, []string{"--upstream", s3p.URL, "--upstream-access-key", testenv.S3AccessKey, "--upstream-secret-key", testenv.S3SecretKey,
		"--kms-local-key", masterKey, "--client-access-key", "app", "--client-secret-key", "app-secret",
		"--tls-cert", cert, "--tls-key", key}, env())
	if !strings.HasPrefix(r.listen, "https://") {
		t.Fatalf("listener %q is not https", r.listen)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c := s3.New(s3.Options{Region: testenv.Region, Credentials: credentials.NewStaticCredentialsProvider("app", "app-secret", ""),
		BaseEndpoint: aws.String(r.listen), UsePathStyle: true, HTTPClient: hc})
	bg := context.Background()
	if _, err := c.CreateBucket(bg, &s3.CreateBucketInput{Bucket: aws.String("tls")}); err != nil {
		t.Fatalf("CreateBucket over TLS: %v", err)
	}
	body := randomBytes(100_000)
	if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: aws.String("tls"), Key: aws.String("k"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatalf("PutObject over TLS: %v", err)
	}
	if got := getBytes(t, c, &s3.GetObjectInput{Bucket: aws.String("tls"), Key: aws.String("k")}); !bytes.Equal(got, body) {
		t.Errorf("GET over TLS differs")
	}
	r.stop(t)
}

// selfSigned makes a certificate for 127.0.0.1, valid for an hour.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "bucketkey test"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// waitUntil polls cond (each poll is a request to the admin listener) until
// it holds or the deadline passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// slowPut starts a signed, streamed PUT of size bytes whose body the test
// writes through the returned pipe.
func slowPut(t *testing.T, endpoint, path string, size int64) (*io.PipeWriter, <-chan int) {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPut, endpoint+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	signer := &sigv4.Signer{Credentials: credentials.NewStaticCredentialsProvider("app", "app-secret", ""), Region: testenv.Region, Mode: sigv4.PayloadChunked}
	if err := signer.SignStream(context.Background(), req, pr, size); err != nil {
		t.Fatal(err)
	}
	status := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	return pw, status
}

// TestServeGracefulShutdown: on SIGTERM (context cancel) /readyz turns 503
// at once, and a PUT in flight still completes and is stored.
func TestServeGracefulShutdown(t *testing.T) {
	s3p := testenv.S3(t)
	masterKey := writeFile(t, "master.key", strings.Repeat("ef", 32)+"\n")
	r := startServe(t, []string{"--upstream", s3p.URL, "--upstream-access-key", testenv.S3AccessKey, "--upstream-secret-key", testenv.S3SecretKey,
		"--kms-local-key", masterKey, "--client-access-key", "app", "--client-secret-key", "app-secret"}, env())
	c := s3Client(r.listen, "app", "app-secret", testenv.Region)
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("drain")}); err != nil {
		t.Fatal(err)
	}
	body := randomBytes(300_000)
	pw, status := slowPut(t, r.listen, "/drain/inflight", int64(len(body)))
	if _, err := pw.Write(body[:200_000]); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the PUT to be in flight", func() bool { return getStats(t, r.admin).Total.ObjectsEncrypted == 1 })

	r.cancel() // SIGTERM
	waitUntil(t, "/readyz to turn 503", func() bool { return httpStatus(t, r.admin+"/readyz") == http.StatusServiceUnavailable })
	if _, err := pw.Write(body[200_000:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if code := <-status; code != http.StatusOK {
		t.Fatalf("in-flight PUT answered %d during shutdown, want 200", code)
	}
	<-r.done
	if r.code != exitOK {
		t.Errorf("exit %d", r.code)
	}
	stored, err := os.ReadFile(filepath.Join(s3p.Dir, "data", "drain", "inflight"))
	if err != nil || int64(len(stored)) != new(envelope.DataKey).StoredSize(0, int64(len(body))) {
		t.Errorf("stored object: %d bytes (err %v), want the ciphertext of %d", len(stored), err, len(body))
	}
}

// TestServeShutdownTimeout: a request still running after --shutdown-timeout
// is cut, and serve exits anyway.
func TestServeShutdownTimeout(t *testing.T) {
	s3p := testenv.S3(t)
	masterKey := writeFile(t, "master.key", strings.Repeat("0f", 32)+"\n")
	r := startServe(t, []string{"--upstream", s3p.URL, "--upstream-access-key", testenv.S3AccessKey, "--upstream-secret-key", testenv.S3SecretKey,
		"--kms-local-key", masterKey, "--client-access-key", "app", "--client-secret-key", "app-secret", "--shutdown-timeout", "300ms"}, env())
	c := s3Client(r.listen, "app", "app-secret", testenv.Region)
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("stuck")}); err != nil {
		t.Fatal(err)
	}
	pw, status := slowPut(t, r.listen, "/stuck/never-finishes", 1<<20)
	if _, err := pw.Write(randomBytes(100_000)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the PUT to be in flight", func() bool { return getStats(t, r.admin).Total.ObjectsEncrypted == 1 })
	r.cancel()
	<-r.done // serve returned with the request still unfinished
	if r.code != exitOK {
		t.Errorf("exit %d", r.code)
	}
	pw.CloseWithError(io.ErrUnexpectedEOF) // unblock the client's body writer
	if code := <-status; code == http.StatusOK {
		t.Errorf("the unfinished PUT succeeded")
	}
	if !strings.Contains(r.stderr.String(), "in-flight requests did not finish in time") {
		t.Errorf("no warning about the cut requests:\n%s", r.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(s3p.Dir, "data", "stuck", "never-finishes")); err == nil {
		t.Errorf("a cut upload left an object behind")
	}
}
