package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketkey/bucketkey/internal/bulk"
	"github.com/bucketkey/bucketkey/internal/testenv"
)

// bulkObjects is how many small objects the bulk commands' end-to-end test
// writes: 500 by default, so that it stays under a minute in CI (74 s at
// 1,000 with -race at load average 23 on 2 cores), or
// BUCKETKEY_BULK_OBJECTS (the 10000 took 5m38s on a 2-core machine
// at load average 26: encrypt-existing 76 objects/s, verify 836, rotate
// 113).
func bulkObjects(t *testing.T) int {
	if v := os.Getenv("BUCKETKEY_BULK_OBJECTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 {
			t.Fatalf("BUCKETKEY_BULK_OBJECTS=%q: want a number >= 10", v)
		}
		return n
	}
	return 500
}

// bulkEnv is an S3 backend (versitygw or MinIO) and local-kms with a
// bucket of objects written before the proxy.
type bulkEnv struct {
	backend *s3.Client
	args    []string // serve's settings for the bulk commands
	getenv  func(string) (string, bool)
	bucket  string
	small   int
	mp      map[string][]byte // multipart objects and their plaintext
	dir     string
}

// newBulkEnv starts the S3 server called backend (one of
// testenv.Backends(), "" for versitygw) and local-kms for one test.
func newBulkEnv(t *testing.T, backend string, small int) *bulkEnv {
	t.Helper()
	kmsEnv(t)
	if backend == "" {
		backend = testenv.Versitygw
	}
	s3p, kmsp := testenv.Backend(t, backend), testenv.KMS(t)
	e := &bulkEnv{
		backend: s3Client(s3p.URL, testenv.S3AccessKey, testenv.S3SecretKey, testenv.Region),
		bucket:  "adopt", small: small, mp: map[string][]byte{}, dir: t.TempDir(),
	}
	e.args = []string{"--upstream", s3p.URL, "--upstream-region", testenv.Region,
		"--kms-key-id", testenv.KMSKeyID, "--kms-endpoint", kmsp.URL, "--kms-region", testenv.Region}
	env := map[string]string{
		"BUCKETKEY_UPSTREAM_ACCESS_KEY": testenv.S3AccessKey,
		"BUCKETKEY_UPSTREAM_SECRET_KEY": testenv.S3SecretKey,
	}
	e.getenv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	ctx := context.Background()
	if _, err := e.backend.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(e.bucket)}); err != nil {
		t.Fatal(err)
	}
	// Small legacy objects, written straight to the backend.
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	next := atomic.Int64{}
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= small {
					return
				}
				_, err := e.backend.PutObject(ctx, &s3.PutObjectInput{
					Bucket: aws.String(e.bucket), Key: aws.String(smallKey(i)),
					Body: bytes.NewReader(bulkObjectBody(i)), ContentType: aws.String("text/plain"),
					Metadata: map[string]string{"n": strconv.Itoa(i)},
				})
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	// Multipart legacy objects: 5 MiB + a small last part, with metadata,
	// content headers, tags.
	for _, key := range []string{"mp/a.bin", "mp/b.bin"} {
		e.mpUpload(t, key)
	}
	return e
}

// mpUpload writes key straight to the backend as a two-part object (5 MiB
// and 3,000 bytes) with metadata, content headers and tags.
func (e *bulkEnv) mpUpload(t *testing.T, key string) {
	t.Helper()
	ctx := context.Background()
	p1, p2 := randomBytes(5<<20), randomBytes(3000)
	e.mp[key] = append(append([]byte(nil), p1...), p2...)
	c, err := e.backend.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(e.bucket), Key: aws.String(key), ContentType: aws.String("application/x-test"),
		CacheControl: aws.String("max-age=60"), Metadata: map[string]string{"owner": "team-a"},
		Tagging: aws.String("env=prod&tier=gold"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i, body := range [][]byte{p1, p2} {
		up, err := e.backend.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(e.bucket), Key: aws.String(key),
			UploadId: c.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: up.ETag})
	}
	if _, err := e.backend.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(e.bucket), Key: aws.String(key),
		UploadId: c.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}
}

func smallKey(i int) string { return fmt.Sprintf("small/%06d.txt", i) }

// bulkObjectBody is the body of small object i as newBulkEnv writes it.
var bulkObjectBody = smallBody

func smallBody(i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("object %d\n", i)), 1+i%50) }

// bulkCmd runs a bulk command in-process; flags go after the s3:// URL, as
// users type them, serve's settings before it.
func (e *bulkEnv) bulkCmd(ctx context.Context, t *testing.T, cmd string, extra ...string) (code int, stdout, stderr string) {
	t.Helper()
	return e.bulkCmdAt(ctx, t, cmd, "", extra...)
}

// bulkCmdAt is bulkCmd on s3://bucket/prefix, with a state file of its own.
func (e *bulkEnv) bulkCmdAt(ctx context.Context, t *testing.T, cmd, prefix string, extra ...string) (code int, stdout, stderr string) {
	t.Helper()
	args := append([]string{cmd}, e.args...)
	url := "s3://" + e.bucket
	if prefix != "" {
		url += "/" + prefix
	}
	args = append(args, url)
	args = append(args, "--state", filepath.Join(e.dir, cmd+strings.ReplaceAll(prefix, "/", "_")+".state"), "--concurrency", "8")
	args = append(args, extra...)
	var out, errb bytes.Buffer
	code = run(ctx, args, &out, &errb, e.getenv)
	return code, out.String(), errb.String()
}

func (e *bulkEnv) state(t *testing.T, cmd string) *bulk.State {
	t.Helper()
	st, err := bulk.LoadState(filepath.Join(e.dir, cmd+".state"), cmd, e.bucket, "")
	if err != nil || st == nil {
		t.Fatalf("state of %s: %v", cmd, err)
	}
	return st
}

// TestBulkCommandsEndToEnd adopts a bucket of objects written before the
// proxy: encrypt-existing (interrupted in the middle, then resumed without
// redoing what was finished), verify, rotate to another KMS key with
// metadata-only copies, verify again, and verify's report of a tampered
// and a plaintext object; against versitygw and MinIO (a subtest each)
// with local-kms. MinIO gets a fifth of the objects (at least 20), to keep
// CI time small: versitygw carries the size.
func TestBulkCommandsEndToEnd(t *testing.T) {
	for _, name := range testenv.Backends() {
		t.Run(name, func(t *testing.T) {
			n := bulkObjects(t)
			if name != testenv.Versitygw {
				n = max(n/5, 20)
			}
			testBulkCommands(t, name, n)
		})
	}
}

func testBulkCommands(t *testing.T, backend string, n int) {
	start := time.Now()
	e := newBulkEnv(t, backend, n)
	total := n + len(e.mp)
	t.Logf("setup: %d objects in %v", total, time.Since(start))
	ctx := context.Background()

	// Dry run: nothing changes.
	code, out, errOut := e.bulkCmd(ctx, t, "encrypt-existing", "--dry-run", "--quiet")
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("would-change %d", total)) {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}

	// encrypt-existing, interrupted after a third of the objects.
	t0 := time.Now()
	ictx, cancel := context.WithCancel(ctx)
	var finished atomic.Int64
	testObjectDone = func() {
		if finished.Add(1) == int64(total/3) {
			cancel()
		}
	}
	code, out, errOut = e.bulkCmd(ictx, t, "encrypt-existing", "--quiet")
	testObjectDone = nil
	cancel()
	if code == exitOK || !strings.Contains(out, "interrupted") {
		t.Fatalf("interrupted run: exit %d\n%s%s", code, out, errOut)
	}
	first := e.state(t, "encrypt-existing")
	done1 := first.Counts[outEncrypted]
	if done1 < int64(total/3)-8 || first.Complete {
		t.Fatalf("first run finished %d (complete %v), want about %d", done1, first.Complete, total/3)
	}

	// Resume: only the rest is done.
	code, out, errOut = e.bulkCmd(ctx, t, "encrypt-existing")
	if code != exitOK {
		t.Fatalf("resumed run: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("encrypt-existing: %v\n%s", time.Since(t0), out)
	second := e.state(t, "encrypt-existing")
	again := second.Counts[outAlreadyEncrypt] // in flight when interrupted, stored anyway
	if second.Counts[outEncrypted]+again != int64(total) || again > 8 || !second.Complete {
		t.Fatalf("after resume: %v (complete %v), want %d objects finished once", second.Counts, second.Complete, total)
	}
	if !strings.Contains(out, "resumed from") || !strings.Contains(out, "no longer needs") && !strings.Contains(out, "without --mixed-bucket") {
		t.Errorf("resumed run's summary:\n%s", out)
	}

	// The multipart objects kept layout, metadata, content headers, tags.
	for key := range e.mp {
		h, err := e.backend.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(strings.Trim(aws.ToString(h.ETag), `"`), "-2") || testenv.EnvelopeFields(h.Metadata)["bk-v"] != "1" || h.Metadata["owner"] != "team-a" ||
			aws.ToString(h.ContentType) != "application/x-test" || aws.ToString(h.CacheControl) != "max-age=60" {
			t.Errorf("%s after encrypt-existing: ETag %s, metadata %v, type %q, cache %q", key, aws.ToString(h.ETag), h.Metadata, aws.ToString(h.ContentType), aws.ToString(h.CacheControl))
		}
		tags, err := e.backend.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(e.bucket), Key: aws.String(key)})
		if err != nil || len(tags.TagSet) != 2 {
			t.Errorf("%s tags after encrypt-existing: %v %v", key, tags, err)
		}
	}

	// verify: everything authenticates; read back through serve too.
	t0 = time.Now()
	code, out, errOut = e.bulkCmd(ctx, t, "verify", "--quiet")
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("authenticated %d;", total)) {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("verify: %v\n%s", time.Since(t0), out)
	srv := startServe(t, append(e.args, "--client-access-key", "app", "--client-secret-key", "app-secret"), e.getenv)
	pc := s3Client(srv.listen, "app", "app-secret", testenv.Region)
	for key, want := range e.mp {
		if got := getBytes(t, pc, &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key)}); !bytes.Equal(got, want) {
			t.Errorf("%s through serve: %d bytes, want %d", key, len(got), len(want))
		}
	}
	for _, i := range []int{0, n / 2, n - 1} {
		if got := getBytes(t, pc, &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(smallKey(i))}); !bytes.Equal(got, smallBody(i)) {
			t.Errorf("%s through serve: %q", smallKey(i), got)
		}
	}

	// rotate to the other key: metadata only, few KMS requests.
	t0 = time.Now()
	code, out, errOut = e.bulkCmd(ctx, t, "rotate", "--to-kms-key-id", testenv.KMSOtherKeyID, "--quiet")
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("rotated %d;", total)) {
		t.Fatalf("rotate: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("rotate: %v\n%s", time.Since(t0), out)
	kms := kmsCount(t, out)
	if kms > 20 {
		t.Errorf("rotate made %d KMS requests for %d objects", kms, total)
	}
	for key := range e.mp {
		h, err := e.backend.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key)})
		if err != nil || !strings.HasSuffix(testenv.EnvelopeFields(h.Metadata)["bk-kid"], testenv.KMSOtherKeyID) || !strings.HasSuffix(strings.Trim(aws.ToString(h.ETag), `"`), "-2") ||
			aws.ToString(h.ContentType) != "application/x-test" || h.Metadata["owner"] != "team-a" {
			t.Errorf("%s after rotate: %v %v", key, h, err)
		}
	}
	// A second rotate finds nothing to do.
	code, out, _ = e.bulkCmd(ctx, t, "rotate", "--to-kms-key-id", testenv.KMSOtherKeyID, "--quiet", "--restart")
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("already-under-target-key %d;", total)) {
		t.Errorf("second rotate: exit %d\n%s", code, out)
	}

	// Tamper with one object, plant a plaintext one: verify says which.
	victim := smallKey(1)
	h, err := e.backend.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(victim)})
	if err != nil {
		t.Fatal(err)
	}
	body := getBytes(t, e.backend, &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(victim)})
	body[3] ^= 1
	if _, err := e.backend.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(victim), Body: bytes.NewReader(body), Metadata: h.Metadata}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.backend.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("planted.txt"), Body: strings.NewReader("plain")}); err != nil {
		t.Fatal(err)
	}
	// Before the configuration names the new key, verify says the objects
	// are unreadable; then the new key, accepting the old one.
	code, out, _ = e.bulkCmd(ctx, t, "verify", "--restart", "--quiet")
	if code == exitOK || !strings.Contains(out, fmt.Sprintf("unreadable %d", total)) || !strings.Contains(out, "not accepted by the configuration") {
		t.Errorf("verify with the old key configured: exit %d\n%.2000s", code, out)
	}
	for i, a := range e.args {
		if a == testenv.KMSKeyID {
			e.args[i] = testenv.KMSOtherKeyID
		}
	}
	e.args = append(e.args, "--kms-accept-key-id", testenv.KMSKeyID)
	srv.cancel()
	srv = startServe(t, append(e.args, "--client-access-key", "app", "--client-secret-key", "app-secret"), e.getenv)
	pc = s3Client(srv.listen, "app", "app-secret", testenv.Region)
	for key, want := range e.mp {
		if got := getBytes(t, pc, &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key)}); !bytes.Equal(got, want) {
			t.Errorf("%s after rotate: %d bytes", key, len(got))
		}
	}
	code, out, errOut = e.bulkCmd(ctx, t, "verify", "--json", "--restart", "--quiet")
	if code == exitOK {
		t.Fatalf("verify of a tampered bucket: exit 0\n%s", errOut)
	}
	verdicts := map[string]verifyLine{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var l verifyLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("verify --json line %q: %v", line, err)
		}
		verdicts[l.Key] = l
	}
	if len(verdicts) != total+1 || verdicts[victim].Verdict != "tampered" || !strings.Contains(verdicts[victim].Check, "authentication") ||
		verdicts["planted.txt"].Verdict != "legacy-plaintext" || verdicts[smallKey(2)].Verdict != "authenticated" {
		t.Errorf("verify --json: %d lines; %s: %+v; planted: %+v", len(verdicts), victim, verdicts[victim], verdicts["planted.txt"])
	}
	t.Logf("total %v", time.Since(start))
}

// TestRotateFromKeyAndDataKeys rotates with --from-kms-key-id (only the
// objects that key wrapped are re-wrapped, the others are left as they
// were) and with --data-keys (every object's data is written again under a
// fresh data key, readable afterwards, and the summary reports the bytes
// and the KMS requests); against versitygw and local-kms.
func TestRotateFromKeyAndDataKeys(t *testing.T) {
	const n = 20
	e := newBulkEnv(t, "", n)
	total := n + len(e.mp)
	ctx := context.Background()
	if code, out, errOut := e.bulkCmd(ctx, t, "encrypt-existing", "--quiet"); code != exitOK {
		t.Fatalf("encrypt-existing: exit %d\n%s%s", code, out, errOut)
	}
	// mp/ moves to the other key; small/ stays under the configured one.
	if code, out, errOut := e.bulkCmdAt(ctx, t, "rotate", "mp/", "--to-kms-key-id", testenv.KMSOtherKeyID, "--quiet"); code != exitOK ||
		!strings.Contains(out, fmt.Sprintf("rotated %d;", len(e.mp))) {
		t.Fatalf("rotate mp/: exit %d\n%s%s", code, out, errOut)
	}
	heads := func() map[string]*s3.HeadObjectOutput {
		t.Helper()
		m := map[string]*s3.HeadObjectOutput{}
		keys := []string{}
		for i := range n {
			keys = append(keys, smallKey(i))
		}
		for key := range e.mp {
			keys = append(keys, key)
		}
		for _, key := range keys {
			h, err := e.backend.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			m[key] = h
		}
		return m
	}
	before := heads()

	// --from-kms-key-id: the other key's objects come back to the
	// configured key; the configured key's are skipped, untouched.
	code, out, errOut := e.bulkCmd(ctx, t, "rotate", "--from-kms-key-id", testenv.KMSOtherKeyID, "--to-kms-key-id", testenv.KMSKeyID, "--quiet")
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("rotated %d, under-another-key %d;", len(e.mp), n)) {
		t.Fatalf("rotate --from-kms-key-id: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("rotate --from-kms-key-id:\n%s", out)
	after := heads()
	for key, h := range after {
		b := before[key]
		if _, mp := e.mp[key]; mp {
			if !strings.HasSuffix(testenv.EnvelopeFields(h.Metadata)["bk-kid"], testenv.KMSKeyID) || testenv.EnvelopeFields(h.Metadata)["bk-sk"] == testenv.EnvelopeFields(b.Metadata)["bk-sk"] {
				t.Errorf("%s (under the --from key) after rotate: kid %s", key, testenv.EnvelopeFields(h.Metadata)["bk-kid"])
			}
			continue
		}
		if aws.ToString(h.ETag) != aws.ToString(b.ETag) || !aws.ToTime(h.LastModified).Equal(aws.ToTime(b.LastModified)) ||
			testenv.EnvelopeFields(h.Metadata)["bk-kid"] != testenv.EnvelopeFields(b.Metadata)["bk-kid"] || testenv.EnvelopeFields(h.Metadata)["bk-sk"] != testenv.EnvelopeFields(b.Metadata)["bk-sk"] {
			t.Errorf("%s (under another key) was changed: %v -> %v", key, b.Metadata, h.Metadata)
		}
	}

	// --data-keys: every object is written again under a fresh data key,
	// even those already under the target key.
	before = after
	code, out, errOut = e.bulkCmd(ctx, t, "rotate", "--data-keys", "--to-kms-key-id", testenv.KMSKeyID, "--quiet", "--restart")
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("rotated %d;", total)) || strings.Contains(out, "; 0 B in") {
		t.Fatalf("rotate --data-keys: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("rotate --data-keys:\n%s", out)
	if k := kmsCount(t, out); k < 1 || k > 20 {
		t.Errorf("rotate --data-keys reported %d KMS requests for %d objects", k, total)
	}
	for key, h := range heads() {
		b := before[key]
		if testenv.EnvelopeFields(h.Metadata)["bk-salt"] == testenv.EnvelopeFields(b.Metadata)["bk-salt"] || testenv.EnvelopeFields(h.Metadata)["bk-sk"] == testenv.EnvelopeFields(b.Metadata)["bk-sk"] || aws.ToString(h.ETag) == aws.ToString(b.ETag) ||
			!strings.HasSuffix(testenv.EnvelopeFields(h.Metadata)["bk-kid"], testenv.KMSKeyID) {
			t.Errorf("%s after --data-keys: data key or data not replaced (ETag %s -> %s)", key, aws.ToString(b.ETag), aws.ToString(h.ETag))
		}
		if _, mp := e.mp[key]; mp && (!strings.HasSuffix(strings.Trim(aws.ToString(h.ETag), `"`), "-2") || h.Metadata["owner"] != "team-a") {
			t.Errorf("%s after --data-keys: ETag %s, metadata %v", key, aws.ToString(h.ETag), h.Metadata)
		}
	}
	// Readable afterwards: verify, and reads through serve.
	if code, out, errOut := e.bulkCmd(ctx, t, "verify", "--quiet", "--restart"); code != exitOK || !strings.Contains(out, fmt.Sprintf("authenticated %d;", total)) {
		t.Fatalf("verify after --data-keys: exit %d\n%s%s", code, out, errOut)
	}
	srv := startServe(t, append(e.args, "--client-access-key", "app", "--client-secret-key", "app-secret"), e.getenv)
	pc := s3Client(srv.listen, "app", "app-secret", testenv.Region)
	for key, want := range e.mp {
		if got := getBytes(t, pc, &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key)}); !bytes.Equal(got, want) {
			t.Errorf("%s through serve after --data-keys: %d bytes, want %d", key, len(got), len(want))
		}
	}
	for i := range n {
		if got := getBytes(t, pc, &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(smallKey(i))}); !bytes.Equal(got, smallBody(i)) {
			t.Errorf("%s through serve after --data-keys: %q", smallKey(i), got)
		}
	}
}

// kmsCount reads "KMS requests N" from a summary.
func kmsCount(t *testing.T, out string) int {
	t.Helper()
	_, rest, ok := strings.Cut(out, "KMS requests ")
	if !ok {
		t.Fatalf("no KMS requests in %q", out)
	}
	f := strings.Fields(rest)
	n, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSplitArgs(t *testing.T) {
	var c serveConfig
	s := serveFlags(&c)
	var dry bool
	s.fs.BoolVar(&dry, "dry-run", false, "")
	flags, pos := splitArgs(s.fs, []string{"--upstream", "http://x", "s3://b/p", "--dry-run", "--kms-key-id=k", "--listen", "a:1", "--", "-odd"})
	if strings.Join(flags, " ") != "--upstream http://x --dry-run --kms-key-id=k --listen a:1" || strings.Join(pos, " ") != "s3://b/p -odd" {
		t.Errorf("flags %q, positional %q", flags, pos)
	}
	for _, tc := range []struct{ in, bucket, prefix string }{
		{"s3://b-1", "b-1", ""}, {"s3://bkt/a/b/", "bkt", "a/b/"},
	} {
		b, p, err := parseS3URL(tc.in)
		if err != nil || b != tc.bucket || p != tc.prefix {
			t.Errorf("parseS3URL(%q) = %q %q %v", tc.in, b, p, err)
		}
	}
	for _, bad := range []string{"b", "s3://", "s3://B", "http://b"} {
		if _, _, err := parseS3URL(bad); err == nil {
			t.Errorf("parseS3URL(%q) accepted", bad)
		}
	}
	_ = io.Discard
}

// TestRewriteLeavesAChangedObject: an object replaced by someone else after
// the command looked at it is not overwritten, whether single-part
// (If-Match on PutObject) or multipart (If-Match on
// CompleteMultipartUpload; the part reads are pinned too), and a rotate
// copy of a replaced object fails the same way
// (x-amz-copy-source-if-match).
//
// It runs on versitygw and MinIO: the README says both honour If-Match on
// PutObject and CompleteMultipartUpload, and this is what holds it to that.
func TestRewriteLeavesAChangedObject(t *testing.T) {
	for _, name := range testenv.Backends() {
		t.Run(name, func(t *testing.T) { testRewriteLeavesAChangedObject(t, name) })
	}
}

func testRewriteLeavesAChangedObject(t *testing.T, backend string) {
	e := newBulkEnv(t, backend, 1)
	ctx := context.Background()
	b, code, err := parseBulk("encrypt-existing", encryptSynopsis, append(append([]string(nil), e.args...), "s3://"+e.bucket), io.Discard, e.getenv, nil)
	if err != nil {
		t.Fatal(code, err)
	}
	br, err := startBulk(ctx, b, "", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer br.stop()
	replace := func(key, body string) {
		if _, err := e.backend.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	// Replaced before the read (the pinned read fails), then between the
	// read and the write (the conditional write fails).
	for _, key := range []string{smallKey(0), "mp/a.bin", "mp/b.bin"} {
		for i, when := range []string{"before the read", "before the write"} {
			o, err := br.inspect(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			theirs := fmt.Sprintf("theirs %d", i)
			if i == 0 {
				replace(key, theirs)
			} else {
				testBeforeWrite = func(string) { replace(key, theirs) }
			}
			_, err = br.rewrite(ctx, o)
			testBeforeWrite = nil
			t.Logf("%s replaced %s: %v", key, when, err)
			if err == nil || !strings.Contains(err.Error(), "changed by someone else") {
				t.Errorf("%s replaced %s: rewrite: %v", key, when, err)
			}
			if got := getBytes(t, e.backend, &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key)}); string(got) != theirs {
				t.Errorf("%s replaced %s: now %q", key, when, got)
			}
			if i == 0 && key != smallKey(0) {
				// Put the multipart original back for the write case.
				e.mpUpload(t, key)
			}
		}
	}
	// Encrypt one object, look at it, replace it, then try to re-wrap it.
	key := smallKey(0)
	o, err := br.inspect(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := br.rewrite(ctx, o); err != nil {
		t.Fatal(err)
	}
	if o, err = br.inspect(ctx, key); err != nil || !o.encrypted {
		t.Fatalf("after rewrite: %+v %v", o, err)
	}
	if _, err := e.backend.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key), Body: strings.NewReader("theirs again")}); err != nil {
		t.Fatal(err)
	}
	if _, err := br.rewrapInPlace(ctx, o, ""); err == nil || !strings.Contains(err.Error(), "changed by someone else") {
		t.Errorf("rewrap of a replaced object: %v", err)
	}
	if got := getBytes(t, e.backend, &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key)}); string(got) != "theirs again" {
		t.Errorf("after rewrap: %q", got)
	}
}
