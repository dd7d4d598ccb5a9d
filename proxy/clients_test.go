package proxy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// A real S3 client driven from the command line. Each client's
// configuration lives in a temporary directory (HOME included), never in
// the user's ~/.aws, ~/.s3cfg or rclone config.
type cliClient struct {
	name    string
	install string // how to get it when missing
	check   []string
	// Operations; range is nil when the client cannot read a range.
	upload   func(file, bucket, key string) []string
	download func(bucket, key, file string) []string
	list     func(bucket string) []string
	rangeGet func(bucket, key string, first, last int, file string) []string
	copy     func(bucket, src, dst string) []string
	del      func(bucket, key string) []string
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
        print(o["Key"], o["Size"])
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

func awsCLI(name, install string, argv0 []string, endpoint string) cliClient {
	cmd := func(args ...string) []string {
		return append(append(append([]string(nil), argv0...), "--endpoint-url", endpoint), args...)
	}
	return cliClient{
		name: name, install: install,
		check:    append(append([]string(nil), argv0...), "--version"),
		upload:   func(f, b, k string) []string { return cmd("s3", "cp", "--only-show-errors", f, "s3://"+b+"/"+k) },
		download: func(b, k, f string) []string { return cmd("s3", "cp", "--only-show-errors", "s3://"+b+"/"+k, f) },
		list:     func(b string) []string { return cmd("s3", "ls", "s3://"+b+"/") },
		rangeGet: func(b, k string, first, last int, f string) []string {
			return cmd("s3api", "get-object", "--bucket", b, "--key", k, "--range", fmt.Sprintf("bytes=%d-%d", first, last), f)
		},
		copy: func(b, s, d string) []string {
			return cmd("s3", "cp", "--only-show-errors", "s3://"+b+"/"+s, "s3://"+b+"/"+d)
		},
		del: func(b, k string) []string { return cmd("s3", "rm", "--only-show-errors", "s3://"+b+"/"+k) },
	}
}

func clientMatrix(endpoint, dir string) []cliClient {
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
		awsCLI("aws-v1", "pip install awscli (the machine image's aws v1)", []string{"python3", "-m", "awscli"}, endpoint),
		awsCLI("aws-v2", "apt-get install -y awscli", []string{"/usr/bin/aws"}, endpoint),
		{
			name: "boto3", install: "pip install boto3",
			check:    []string{"python3", "-c", "import boto3"},
			upload:   func(f, b, k string) []string { return boto("upload", f, b, k) },
			download: func(b, k, f string) []string { return boto("download", b, k, f) },
			list:     func(b string) []string { return boto("list", b) },
			rangeGet: func(b, k string, first, last int, f string) []string {
				return boto("range", b, k, fmt.Sprintf("bytes=%d-%d", first, last), f)
			},
			copy: func(b, s, d string) []string { return boto("copy", b, s, d) },
			del:  func(b, k string) []string { return boto("delete", b, k) },
		},
		{
			name: "s3cmd", install: "apt-get install -y s3cmd",
			check:    []string{"s3cmd", "--version"},
			upload:   func(f, b, k string) []string { return s3cmd("put", f, "s3://"+b+"/"+k) },
			download: func(b, k, f string) []string { return s3cmd("get", "--force", "s3://"+b+"/"+k, f) },
			list:     func(b string) []string { return s3cmd("ls", "s3://"+b+"/") },
			copy:     func(b, s, d string) []string { return s3cmd("cp", "s3://"+b+"/"+s, "s3://"+b+"/"+d) },
			del:      func(b, k string) []string { return s3cmd("del", "s3://"+b+"/"+k) },
		},
		{
			name: "rclone", install: "apt-get install -y rclone",
			check:    []string{"rclone", "version"},
			upload:   func(f, b, k string) []string { return rclone("copyto", f, "bk:"+b+"/"+k) },
			download: func(b, k, f string) []string { return rclone("copyto", "bk:"+b+"/"+k, f) },
			list:     func(b string) []string { return rclone("lsl", "bk:"+b) },
			rangeGet: func(b, k string, first, last int, f string) []string {
				return []string{"sh", "-c", fmt.Sprintf(`exec "$@" > %q`, f), "sh", "rclone", "--config", rconf, "cat",
					"--offset", fmt.Sprint(first), "--count", fmt.Sprint(last - first + 1), "bk:" + b + "/" + k}
			},
			copy: func(b, s, d string) []string { return rclone("copyto", "bk:"+b+"/"+s, "bk:"+b+"/"+d) },
			del:  func(b, k string) []string { return rclone("deletefile", "bk:"+b+"/"+k) },
		},
	}
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

// TestClientMatrix drives the proxy with the S3 clients people use: each
// uploads and downloads 0 B, 1 B, 1 MiB+1 and 40 MiB (multipart), lists,
// reads a range (where it can), copies and deletes; everything is compared
// byte for byte, and the backend is checked to hold ciphertext. A missing
// client fails the test with the command that installs it.
func TestClientMatrix(t *testing.T) {
	tp := newTestProxy(t)
	dir := t.TempDir()
	env := writeClientConfigs(t, dir, tp.srv.URL)
	files := map[string][]byte{
		"zero":  {},
		"one":   {0x5a},
		"mib1":  randBytes(1<<20 + 1),
		"mib40": randBytes(40 << 20),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range clientMatrix(tp.srv.URL, dir) {
		t.Run(c.name, func(t *testing.T) {
			run := func(what string, argv []string) string {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
				cmd.Env, cmd.Dir = env, dir
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%s: %s: %v\n%s", c.name, what, err, out)
				}
				if bytes.Contains(bytes.ToLower(out), []byte("md5")) || bytes.Contains(bytes.ToLower(out), []byte("corrupt")) ||
					bytes.Contains(bytes.ToLower(out), []byte("mismatch")) {
					t.Errorf("%s: %s reported a checksum problem:\n%s", c.name, what, out)
				}
				return string(out)
			}
			if _, err := exec.LookPath(c.check[0]); err != nil {
				t.Fatalf("%s is not installed (%v); install it with: %s (scripts/test.sh does)", c.name, err, c.install)
			}
			run("version", c.check)
			b := tp.newBucket(t)
			for _, name := range []string{"zero", "one", "mib1", "mib40"} {
				run("upload "+name, c.upload(filepath.Join(dir, name), b, name))
				raw, st := stored(t, b, name)
				if st.Metadata["bk-v"] == "" {
					t.Errorf("%s: %s stored without envelope metadata", c.name, name)
				}
				if n := len(files[name]); n >= 64 && bytes.Contains(raw, files[name][:64]) {
					t.Errorf("%s: %s stored in plaintext", c.name, name)
				}
				out := filepath.Join(dir, c.name+"-"+name+".out")
				run("download "+name, c.download(b, name, out))
				got, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				mustEqual(t, c.name+" download "+name, got, files[name])
			}
			listing := run("list", c.list(b))
			for _, name := range []string{"zero", "one", "mib1", "mib40"} {
				if !strings.Contains(listing, fmt.Sprint(len(files[name]))) || !strings.Contains(listing, name) {
					t.Errorf("%s: listing lacks %s of %d bytes:\n%s", c.name, name, len(files[name]), listing)
				}
			}
			if c.rangeGet != nil {
				out := filepath.Join(dir, c.name+"-range.out")
				first, last := 5<<20-100, 5<<20+70000
				run("ranged read", c.rangeGet(b, "mib40", first, last, out))
				got, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				mustEqual(t, c.name+" range", got, files["mib40"][first:last+1])
			}
			run("copy", c.copy(b, "mib1", "mib1-copy"))
			got, _ := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &b, Key: aws.String("mib1-copy")})
			mustEqual(t, c.name+" copy", got, files["mib1"])
			for _, name := range []string{"zero", "one", "mib1", "mib40", "mib1-copy"} {
				run("delete "+name, c.del(b, name))
			}
			l, err := tp.client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &b})
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Contents) != 0 {
				t.Errorf("%s: %d objects left after deletes", c.name, len(l.Contents))
			}
		})
	}
}
