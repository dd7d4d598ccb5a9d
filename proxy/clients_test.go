package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// matrixClient is one S3 client of the matrix, as operations that return
// what the client printed (scanned for checksum complaints) or an error.
type matrixClient struct {
	name string
	// version returns the client's version line, which must begin with
	// versionPrefix ("" for in-process clients, which have none).
	version       func() (string, error)
	versionPrefix string
	upload        func(file, bucket, key string) (string, error)
	download      func(bucket, key, file string) (string, error)
	// list returns each key's size, as the client reports it.
	list func(bucket string) (map[string]int64, string, error)
	// rangeGet writes bytes first..last of an object into file; nil when
	// the client cannot read a range.
	rangeGet func(bucket, key string, first, last int, file string) (string, error)
	// resume completes file, which holds the object's first bytes, with a
	// ranged read of the rest ("bytes=N-"); nil when the client cannot.
	resume func(bucket, key, file string) (string, error)
	copy   func(bucket, src, dst string) (string, error)
	del    func(bucket, key string) (string, error)
	// partCopy: the client copies a 24 MiB object with UploadPartCopy
	// (else with one CopyObject).
	partCopy bool
}

// A real S3 client driven from the command line. Each client's
// configuration lives in a temporary directory (HOME included), never in
// the user's ~/.aws, ~/.s3cfg or rclone config.
type cliClient struct {
	name    string
	install string // how to get it when missing
	check   []string
	// versionPrefix begins what check prints.
	versionPrefix string
	// Operations; rangeGet and resume are nil when the client cannot.
	upload   func(file, bucket, key string) []string
	download func(bucket, key, file string) []string
	list     func(bucket string) []string
	// parseList reads list's output for bucket: key -> size.
	parseList func(bucket, out string) (map[string]int64, error)
	rangeGet  func(bucket, key string, first, last int, file string) []string
	resume    func(bucket, key, file string) []string
	copy      func(bucket, src, dst string) []string
	del       func(bucket, key string) []string
	partCopy  bool
}

// matrix runs the client's commands with env in dir.
func (c cliClient) matrix(env []string, dir string) matrixClient {
	run := func(argv []string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env, cmd.Dir = env, dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return string(out), fmt.Errorf("%q: %w\n%s", argv, err, out)
		}
		return string(out), nil
	}
	m := matrixClient{
		name: c.name,
		version: func() (string, error) {
			if _, err := exec.LookPath(c.check[0]); err != nil {
				return "", fmt.Errorf("%s is not installed (%w); install it with: %s (scripts/test.sh does)", c.name, err, c.install)
			}
			return run(c.check)
		},
		versionPrefix: c.versionPrefix,
		upload:        func(f, b, k string) (string, error) { return run(c.upload(f, b, k)) },
		download:      func(b, k, f string) (string, error) { return run(c.download(b, k, f)) },
		list: func(b string) (map[string]int64, string, error) {
			out, err := run(c.list(b))
			if err != nil {
				return nil, out, err
			}
			sizes, err := c.parseList(b, out)
			return sizes, out, err
		},
		copy:     func(b, s, d string) (string, error) { return run(c.copy(b, s, d)) },
		del:      func(b, k string) (string, error) { return run(c.del(b, k)) },
		partCopy: c.partCopy,
	}
	if c.rangeGet != nil {
		m.rangeGet = func(b, k string, first, last int, f string) (string, error) {
			return run(c.rangeGet(b, k, first, last, f))
		}
	}
	if c.resume != nil {
		m.resume = func(b, k, f string) (string, error) { return run(c.resume(b, k, f)) }
	}
	return m
}

// parseListing reads a listing with one object per line, whose
// whitespace-separated fields hold the size at sizeCol and, last, at
// keyCol, the key behind keyPrefix. Any other line is an error, so that a
// changed format cannot pass unnoticed.
func parseListing(out string, sizeCol, keyCol int, keyPrefix string) (map[string]int64, error) {
	sizes := map[string]int64{}
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != keyCol+1 {
			return nil, fmt.Errorf("listing line %q: %d fields, want %d", line, len(f), keyCol+1)
		}
		n, err := strconv.ParseInt(f[sizeCol], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("listing line %q: size: %w", line, err)
		}
		key, ok := strings.CutPrefix(f[keyCol], keyPrefix)
		if !ok {
			return nil, fmt.Errorf("listing line %q: key does not begin with %q", line, keyPrefix)
		}
		if _, dup := sizes[key]; dup {
			return nil, fmt.Errorf("listing names %q twice", key)
		}
		sizes[key] = n
	}
	return sizes, nil
}

// boto3Script runs one boto3 operation (argv: endpoint, access key, secret
// key, op, args...), with boto3's defaults (checksums when supported) and
// multipart transfers above 8 MiB.
const boto3Script = `
import sys, boto3, botocore.config
from boto3.s3.transfer import TransferConfig
ep, ak, sk, op = sys.argv[1:5]
a = sys.argv[5:]
s3 = boto3.client("s3", endpoint_url=ep, aws_access_key_id=ak, aws_secret_access_key=sk,
    region_name="us-east-1", config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
tc = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20)
if op == "upload":
    s3.upload_file(a[0], a[1], a[2], Config=tc)
elif op == "download":
    s3.download_file(a[0], a[1], a[2], Config=tc)
elif op == "list":
    for o in s3.list_objects_v2(Bucket=a[0]).get("Contents", []):
        print(o["Size"], o["Key"])
elif op == "range":
    r = s3.get_object(Bucket=a[0], Key=a[1], Range=a[2])
    open(a[3], "wb").write(r["Body"].read())
elif op == "copy":
    s3.copy_object(Bucket=a[0], Key=a[2], CopySource={"Bucket": a[0], "Key": a[1]})
elif op == "delete":
    s3.delete_object(Bucket=a[0], Key=a[1])
else:
    sys.exit("unknown op " + op)
`

func awsCLI(name, install, versionPrefix string, argv0 []string, endpoint string) cliClient {
	cmd := func(args ...string) []string {
		return append(append(append([]string(nil), argv0...), "--endpoint-url", endpoint), args...)
	}
	return cliClient{
		name: name, install: install,
		check:         append(append([]string(nil), argv0...), "--version"),
		versionPrefix: versionPrefix,
		upload:        func(f, b, k string) []string { return cmd("s3", "cp", "--only-show-errors", f, "s3://"+b+"/"+k) },
		download:      func(b, k, f string) []string { return cmd("s3", "cp", "--only-show-errors", "s3://"+b+"/"+k, f) },
		list:          func(b string) []string { return cmd("s3", "ls", "s3://"+b+"/") },
		// "2024-05-01 12:00:00    1048577 mib1"
		parseList: func(_, out string) (map[string]int64, error) { return parseListing(out, 2, 3, "") },
		rangeGet: func(b, k string, first, last int, f string) []string {
			return cmd("s3api", "get-object", "--bucket", b, "--key", k, "--range", fmt.Sprintf("bytes=%d-%d", first, last), f)
		},
		// Above its 8 MiB multipart threshold, "aws s3 cp" copies by parts.
		copy: func(b, s, d string) []string {
			return cmd("s3", "cp", "--only-show-errors", "s3://"+b+"/"+s, "s3://"+b+"/"+d)
		},
		del:      func(b, k string) []string { return cmd("s3", "rm", "--only-show-errors", "s3://"+b+"/"+k) },
		partCopy: true,
	}
}

func cliMatrix(endpoint, dir string) []cliClient {
	script := filepath.Join(dir, "boto3op.py")
	boto := func(op string, args ...string) []string {
		return append([]string{"python3", script, endpoint, clientAccessKey, clientSecretKey, op}, args...)
	}
	s3cfg := filepath.Join(dir, "s3cfg")
	s3cmd := func(args ...string) []string { return append([]string{"s3cmd", "-c", s3cfg, "--no-progress"}, args...) }
	rconf := filepath.Join(dir, "rclone.conf")
	rclone := func(args ...string) []string {
		return append([]string{"rclone", "--config", rconf, "--retries", "1", "--low-level-retries", "1",
			"--s3-upload-cutoff", "10M", "--s3-chunk-size", "5M"}, args...)
	}
	return []cliClient{
		awsCLI("aws-v1", "pip install awscli (the machine image's aws v1)", "aws-cli/1.", []string{"python3", "-m", "awscli"}, endpoint),
		awsCLI("aws-v2", "apt-get install -y awscli", "aws-cli/2.", []string{"/usr/bin/aws"}, endpoint),
		{
			name: "boto3", install: "pip install boto3",
			check:         []string{"python3", "-c", "import boto3; print('boto3/' + boto3.__version__)"},
			versionPrefix: "boto3/",
			upload:        func(f, b, k string) []string { return boto("upload", f, b, k) },
			download:      func(b, k, f string) []string { return boto("download", b, k, f) },
			list:          func(b string) []string { return boto("list", b) },
			parseList:     func(_, out string) (map[string]int64, error) { return parseListing(out, 0, 1, "") },
			rangeGet: func(b, k string, first, last int, f string) []string {
				return boto("range", b, k, fmt.Sprintf("bytes=%d-%d", first, last), f)
			},
			copy: func(b, s, d string) []string { return boto("copy", b, s, d) },
			del:  func(b, k string) []string { return boto("delete", b, k) },
		},
		{
			name: "s3cmd", install: "apt-get install -y s3cmd",
			check:         []string{"s3cmd", "--version"},
			versionPrefix: "s3cmd version ",
			upload:        func(f, b, k string) []string { return s3cmd("put", f, "s3://"+b+"/"+k) },
			download:      func(b, k, f string) []string { return s3cmd("get", "--force", "s3://"+b+"/"+k, f) },
			list:          func(b string) []string { return s3cmd("ls", "s3://"+b+"/") },
			// "2024-05-01 12:00    1048577  s3://bucket/mib1"
			parseList: func(b, out string) (map[string]int64, error) { return parseListing(out, 2, 3, "s3://"+b+"/") },
			// s3cmd has no ranged get; "get --continue" reads the rest of
			// a partial local file with "Range: bytes=N-" and appends it.
			resume: func(b, k, f string) []string { return s3cmd("get", "--continue", "s3://"+b+"/"+k, f) },
			// CopyObject up to its 1 GiB multipart_copy_chunk_size_mb.
			copy: func(b, s, d string) []string { return s3cmd("cp", "s3://"+b+"/"+s, "s3://"+b+"/"+d) },
			del:  func(b, k string) []string { return s3cmd("del", "s3://"+b+"/"+k) },
		},
		{
			name: "rclone", install: "apt-get install -y rclone",
			check:         []string{"rclone", "version"},
			versionPrefix: "rclone v",
			upload:        func(f, b, k string) []string { return rclone("copyto", f, "bk:"+b+"/"+k) },
			download:      func(b, k, f string) []string { return rclone("copyto", "bk:"+b+"/"+k, f) },
			list:          func(b string) []string { return rclone("lsl", "bk:"+b) },
			// "  1048577 2024-05-01 12:00:00.000000000 mib1"
			parseList: func(_, out string) (map[string]int64, error) { return parseListing(out, 0, 3, "") },
			rangeGet: func(b, k string, first, last int, f string) []string {
				return []string{"sh", "-c", fmt.Sprintf(`exec "$@" > %q`, f), "sh", "rclone", "--config", rconf, "cat",
					"--offset", fmt.Sprint(first), "--count", fmt.Sprint(last - first + 1), "bk:" + b + "/" + k}
			},
			// Server-side CopyObject below its 4.6 GiB copy cutoff.
			copy: func(b, s, d string) []string { return rclone("copyto", "bk:"+b+"/"+s, "bk:"+b+"/"+d) },
			del:  func(b, k string) []string { return rclone("deletefile", "bk:"+b+"/"+k) },
		},
	}
}

// sdkMatrix is aws-sdk-go-v2 in process, against endpoint: its S3 client
// with the defaults (request checksums and response validation "when
// supported"), and the same client under the transfer manager
// (feature/s3/manager, default 5 MiB parts: multipart uploads and
// parallel ranged downloads). The manager has no copy, so its entry copies
// an object over 8 MiB as the aws-cli's transfer manager does
// (UploadPartCopy of 8 MiB ranges), and it deletes with DeleteObjects.
func sdkMatrix(endpoint string) []matrixClient {
	c := newS3Client(endpoint, clientAccessKey, clientSecretKey)
	timeout := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 3*time.Minute)
	}
	version := func() (string, error) { return "aws-sdk-go-v2 (in process, the go.mod version)", nil }
	toFile := func(file string, out *s3.GetObjectOutput) error {
		defer out.Body.Close()
		f, err := os.Create(file)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, out.Body)
		return errors.Join(err, f.Close())
	}
	get := func(in *s3.GetObjectInput, file string) (string, error) {
		ctx, cancel := timeout()
		defer cancel()
		out, err := c.GetObject(ctx, in)
		if err != nil {
			return "", err
		}
		return "", toFile(file, out)
	}
	list := func(b string) (map[string]int64, string, error) {
		ctx, cancel := timeout()
		defer cancel()
		sizes := map[string]int64{}
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &b})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, "", err
			}
			for _, o := range page.Contents {
				sizes[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
			}
		}
		return sizes, fmt.Sprint(sizes), nil
	}
	copyObject := func(b, s, d string) (string, error) {
		ctx, cancel := timeout()
		defer cancel()
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b, Key: &d, CopySource: aws.String(b + "/" + s)})
		return "", err
	}
	plain := matrixClient{
		name: "go-sdk", version: version,
		upload: uploadWith(func(ctx context.Context, in *s3.PutObjectInput) error {
			_, err := c.PutObject(ctx, in)
			return err
		}),
		download: func(b, k, file string) (string, error) {
			return get(&s3.GetObjectInput{Bucket: &b, Key: &k}, file)
		},
		list: list,
		rangeGet: func(b, k string, first, last int, file string) (string, error) {
			return get(&s3.GetObjectInput{Bucket: &b, Key: &k, Range: aws.String(fmt.Sprintf("bytes=%d-%d", first, last))}, file)
		},
		copy: copyObject,
		del: func(b, k string) (string, error) {
			ctx, cancel := timeout()
			defer cancel()
			_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b, Key: &k})
			return "", err
		},
	}
	managed := matrixClient{
		name: "go-sdk-manager", version: version,
		upload: uploadWith(func(ctx context.Context, in *s3.PutObjectInput) error {
			//lint:ignore SA1019 the upload manager is what deployed SDK users run
			_, err := manager.NewUploader(c).Upload(ctx, in)
			return err
		}),
		download: func(b, k, file string) (string, error) {
			return "", managedGet(c, &s3.GetObjectInput{Bucket: &b, Key: &k}, file)
		},
		list: list,
		rangeGet: func(b, k string, first, last int, file string) (string, error) {
			return "", managedGet(c, &s3.GetObjectInput{Bucket: &b, Key: &k, Range: aws.String(fmt.Sprintf("bytes=%d-%d", first, last))}, file)
		},
		copy: func(b, s, d string) (string, error) {
			ctx, cancel := timeout()
			defer cancel()
			head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: &s})
			if err != nil {
				return "", err
			}
			size := aws.ToInt64(head.ContentLength)
			if size <= 8<<20 {
				return copyObject(b, s, d)
			}
			return "", partCopy(ctx, c, b, s, d, size, 8<<20)
		},
		del: func(b, k string) (string, error) {
			ctx, cancel := timeout()
			defer cancel()
			out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &b, Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: &k}}}})
			if err == nil && (len(out.Errors) != 0 || len(out.Deleted) != 1) {
				err = fmt.Errorf("DeleteObjects of %q: deleted %d, errors %+v", k, len(out.Deleted), out.Errors)
			}
			return "", err
		},
		partCopy: true,
	}
	return []matrixClient{plain, managed}
}

// managedGet downloads with the SDK's download manager into file.
func managedGet(c *s3.Client, in *s3.GetObjectInput, file string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	//lint:ignore SA1019 the download manager is what deployed SDK users run
	_, err = manager.NewDownloader(c).Download(ctx, f, in)
	return errors.Join(err, f.Close())
}

// partCopy copies bucket/src (size bytes) to dst with UploadPartCopy of
// part bytes each.
func partCopy(ctx context.Context, c *s3.Client, bucket, src, dst string, size, part int64) error {
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &dst})
	if err != nil {
		return err
	}
	var parts []types.CompletedPart
	for n, off := int32(1), int64(0); off < size; n, off = n+1, off+part {
		last := min(off+part, size) - 1
		out, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
			Bucket: &bucket, Key: &dst, UploadId: up.UploadId, PartNumber: aws.Int32(n),
			CopySource: aws.String(bucket + "/" + src), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, last)),
		})
		if err != nil {
			_, _ = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: &dst, UploadId: up.UploadId})
			return err
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.CopyPartResult.ETag})
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &bucket, Key: &dst, UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	return err
}

// writeClientConfigs writes each client's configuration into dir.
func writeClientConfigs(t *testing.T, dir, endpoint string) []string {
	t.Helper()
	host := strings.TrimPrefix(endpoint, "http://")
	files := map[string]string{
		"boto3op.py":       boto3Script,
		".aws/config":      "[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n",
		".aws/credentials": fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", clientAccessKey, clientSecretKey),
		"s3cfg": fmt.Sprintf("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\nuse_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n",
			clientAccessKey, clientSecretKey, host, host),
		// rclone with its defaults for an S3-compatible endpoint, nothing
		// that tells it the ETags are not MD5s (server_side_encryption):
		// the proxy's ETags must not look like MD5s (etag.go).
		"rclone.conf": fmt.Sprintf("[bk]\ntype = s3\nprovider = Other\naccess_key_id = %s\nsecret_access_key = %s\nendpoint = %s\nregion = us-east-1\nforce_path_style = true\n",
			clientAccessKey, clientSecretKey, endpoint),
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{
		"HOME=" + dir,
		"PATH=" + os.Getenv("PATH"),
		"AWS_CONFIG_FILE=" + filepath.Join(dir, ".aws/config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, ".aws/credentials"),
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"XDG_CONFIG_HOME=" + dir,
		"XDG_CACHE_HOME=" + filepath.Join(dir, ".cache"),
	}
	if v := os.Getenv("PYENV_ROOT"); v != "" {
		env = append(env, "PYENV_ROOT="+v)
	}
	if v := os.Getenv("PYENV_VERSION"); v != "" {
		env = append(env, "PYENV_VERSION="+v)
	}
	return env
}

// seenRequest is what a client sent the proxy.
type seenRequest struct {
	method, path string // path as sent, escaped
	query        url.Values
	rangeHeader  string
	copySource   bool
}

// requestLog records every request a client sends, before the proxy
// serves it: once a client has exited, its requests are all here.
type requestLog struct {
	mu   sync.Mutex
	reqs []seenRequest
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.reqs = append(l.reqs, seenRequest{
			method: r.Method, path: r.URL.EscapedPath(), query: r.URL.Query(),
			rangeHeader: r.Header.Get("Range"), copySource: r.Header.Get("X-Amz-Copy-Source") != "",
		})
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// mark is the position to look from with since.
func (l *requestLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reqs)
}

// since returns the requests to path from mark on.
func (l *requestLog) since(mark int, path string) []seenRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []seenRequest
	for _, r := range l.reqs[mark:] {
		if r.path == path {
			out = append(out, r)
		}
	}
	return out
}

// rangesSent returns the Range header of each GET in reqs.
func rangesSent(reqs []seenRequest) []string {
	var out []string
	for _, r := range reqs {
		if r.method == http.MethodGet {
			out = append(out, r.rangeHeader)
		}
	}
	return out
}

// TestClientMatrix drives the proxy with the S3 clients people use (aws
// v1 and v2, boto3, s3cmd, rclone, and aws-sdk-go-v2 plain and under its
// transfer manager): each uploads and downloads 0 B, 1 B, 1 MiB+1 and
// 24 MiB (multipart where the client does that), lists (each key with its
// plaintext size), reads a range (s3cmd: resumes a partial download),
// copies 1 MiB+1 and 24 MiB (UploadPartCopy where the client does that)
// and deletes; everything is compared byte for byte, what each client sent
// is checked to be what the step is about (a ranged GET is ranged, a copy
// is a copy), and the backend is checked to hold ciphertext. A missing
// client fails the test with the command that installs it. It runs in
// front of each backend (versitygw, MinIO).
func TestClientMatrix(t *testing.T) {
	forEachBackend(t, clientMatrix)
}

func clientMatrix(t *testing.T, tp *testProxy) {
	seen := &requestLog{}
	srv := httptest.NewServer(seen.wrap(tp.Proxy))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	env := writeClientConfigs(t, dir, srv.URL)
	files := map[string][]byte{
		"zero":  {},
		"one":   {0x5a},
		"mib1":  randBytes(1<<20 + 1),
		"mib24": randBytes(24 << 20),
	}
	names := []string{"zero", "one", "mib1", "mib24"}
	wantSizes := map[string]int64{}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
		wantSizes[name] = int64(len(data))
	}
	var clients []matrixClient
	for _, c := range cliMatrix(srv.URL, dir) {
		clients = append(clients, c.matrix(env, dir))
	}
	clients = append(clients, sdkMatrix(srv.URL)...)
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			check := func(what, out string, err error) string {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %s: %v", c.name, what, err)
				}
				low := strings.ToLower(out)
				if strings.Contains(low, "md5") || strings.Contains(low, "corrupt") || strings.Contains(low, "mismatch") {
					t.Errorf("%s: %s reported a checksum problem:\n%s", c.name, what, out)
				}
				return out
			}
			// encrypted fails the test unless the backend holds key's
			// envelope and none of its plaintext.
			encrypted := func(b, key string, plain []byte) {
				t.Helper()
				raw, st := storedIn(t, tp.backend, b, key)
				if testenv.EnvelopeFields(st.Metadata)["bk-v"] == "" {
					t.Errorf("%s: %s stored without envelope metadata", c.name, key)
				}
				if len(plain) >= 64 && bytes.Contains(raw, plain[:64]) {
					t.Errorf("%s: %s stored in plaintext", c.name, key)
				}
			}
			readFile := func(name string) []byte {
				t.Helper()
				got, err := os.ReadFile(name)
				if err != nil {
					t.Fatal(err)
				}
				return got
			}

			v, err := c.version()
			v = check("version", v, err)
			if !strings.HasPrefix(strings.TrimSpace(v), c.versionPrefix) {
				t.Errorf("%s: version %q does not begin with %q", c.name, v, c.versionPrefix)
			}
			line, _, _ := strings.Cut(strings.TrimSpace(v), "\n")
			t.Logf("%s: %s", c.name, line)

			b := tp.newBucket(t)
			for _, name := range names {
				out, err := c.upload(filepath.Join(dir, name), b, name)
				check("upload "+name, out, err)
				encrypted(b, name, files[name])
				file := filepath.Join(dir, c.name+"-"+name+".out")
				out, err = c.download(b, name, file)
				check("download "+name, out, err)
				mustEqual(t, c.name+" download "+name, readFile(file), files[name])
			}

			sizes, listing, err := c.list(b)
			check("list", listing, err)
			if !maps.Equal(sizes, wantSizes) {
				t.Errorf("%s: listing has sizes %v, want %v:\n%s", c.name, sizes, wantSizes, listing)
			}

			big := files["mib24"]
			bigPath := "/" + b + "/mib24"
			// Across the first 5 MiB part boundary and several segments.
			first, last := 5<<20-100, 5<<20+70000
			switch {
			case c.rangeGet != nil:
				file := filepath.Join(dir, c.name+"-range.out")
				mark := seen.mark()
				out, err := c.rangeGet(b, "mib24", first, last, file)
				check("ranged read", out, err)
				mustEqual(t, c.name+" range", readFile(file), big[first:last+1])
				if gets, want := rangesSent(seen.since(mark, bigPath)), fmt.Sprintf("bytes=%d-%d", first, last); len(gets) != 1 || gets[0] != want {
					t.Errorf("%s: ranged read sent GETs with Range %q, want one with %q", c.name, gets, want)
				}
			case c.resume != nil:
				file := filepath.Join(dir, c.name+"-resume.out")
				if err := os.WriteFile(file, big[:first], 0o600); err != nil {
					t.Fatal(err)
				}
				mark := seen.mark()
				out, err := c.resume(b, "mib24", file)
				check("resumed read", out, err)
				// Had the proxy answered the whole object, the file would
				// now be longer than the object.
				mustEqual(t, c.name+" resumed download", readFile(file), big)
				if gets, want := rangesSent(seen.since(mark, bigPath)), fmt.Sprintf("bytes=%d-", first); len(gets) != 1 || gets[0] != want {
					t.Errorf("%s: resumed read sent GETs with Range %q, want one with %q", c.name, gets, want)
				}
			default:
				t.Errorf("%s: no ranged read", c.name)
			}

			for _, name := range []string{"mib1", "mib24"} {
				mark := seen.mark()
				out, err := c.copy(b, name, name+"-copy")
				check("copy "+name, out, err)
				got, _ := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &b, Key: aws.String(name + "-copy")})
				mustEqual(t, c.name+" copy of "+name, got, files[name])
				encrypted(b, name+"-copy", files[name])
				var copies, partCopies int
				for _, r := range seen.since(mark, "/"+b+"/"+name+"-copy") {
					switch {
					case r.method == http.MethodPut && r.copySource && r.query.Has("partNumber"):
						partCopies++
					case r.method == http.MethodPut && r.copySource:
						copies++
					}
				}
				wantCopies, wantParts := 1, 0
				if name == "mib24" && c.partCopy {
					wantCopies, wantParts = 0, 3 // 8 MiB parts
				}
				if copies != wantCopies || partCopies != wantParts {
					t.Errorf("%s: copy of %s sent %d CopyObject and %d UploadPartCopy, want %d and %d",
						c.name, name, copies, partCopies, wantCopies, wantParts)
				}
			}

			for _, name := range append(names, "mib1-copy", "mib24-copy") {
				out, err := c.del(b, name)
				check("delete "+name, out, err)
			}
			l, err := tp.client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &b})
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Contents) != 0 {
				t.Errorf("%s: %d objects left after deletes", c.name, len(l.Contents))
			}
			lb, err := tp.backend.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &b})
			if err != nil {
				t.Fatal(err)
			}
			if len(lb.Contents) != 0 {
				t.Errorf("%s: the backend keeps %d objects after deletes", c.name, len(lb.Contents))
			}
		})
	}
}

// uploadWith is a matrix upload that sends the file with put, with the
// in-process clients' timeout.
func uploadWith(put func(context.Context, *s3.PutObjectInput) error) func(file, b, k string) (string, error) {
	return func(file, b, k string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		f, err := os.Open(file)
		if err != nil {
			return "", err
		}
		defer f.Close()
		return "", put(ctx, &s3.PutObjectInput{Bucket: &b, Key: &k, Body: f})
	}
}
