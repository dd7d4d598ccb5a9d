package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/bucketkey/bucketkey/admin"
	"github.com/bucketkey/bucketkey/internal/devstore"
	"github.com/bucketkey/bucketkey/keycache"
	"github.com/bucketkey/bucketkey/keycache/localkey"
	"github.com/bucketkey/bucketkey/sigv4"
)

const devSynopsis = "bucketkey dev [--dir DIR] [--listen ADDR] [--admin-listen ADDR] [--bucket NAME] [--no-bucket-key]"

// devInfo is what `bucketkey dev` prints once it is ready.
type devInfo struct {
	Endpoint, Admin, Store string
	Region, Bucket, Dir    string
	AccessKey, SecretKey   string
}

// runDev is `bucketkey dev`: the proxy in front of an embedded S3 store
// (internal/devstore) on a local directory, with a local master key, so it
// runs on a fresh machine with no AWS account. ready, if set, is called
// with what was printed (tests use it to find the ports).
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(devInfo)) int {
	var (
		dir, listen, adminListen, bucket, region, logFormat, logLevel string
		noBucketKey                                                   bool
		ttl                                                           time.Duration
	)
	s := newSettings("dev")
	fs := s.fs
	fs.StringVar(&dir, "dir", "bucketkey-dev", "`directory` for the store's objects, the master key and the client credentials")
	fs.StringVar(&listen, "listen", "127.0.0.1:8080", "S3 listener `address`")
	fs.StringVar(&adminListen, "admin-listen", "127.0.0.1:9090", "admin listener `address` (live page, /metrics, /stats)")
	fs.StringVar(&bucket, "bucket", "dev", "bucket to create at start")
	fs.StringVar(&region, "region", defaultUpstreamRegion, "`region` clients sign for")
	fs.BoolVar(&noBucketKey, "no-bucket-key", false, "run the one-KMS-call-per-object baseline instead")
	fs.DurationVar(&ttl, "bucket-key-ttl", keycache.DefaultTTL, "life of a bucket key")
	fs.StringVar(&logFormat, "log-format", "text", "log `format`: text or json")
	fs.StringVar(&logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	if err := s.parse(args, noEnv); err != nil {
		if errors.Is(err, errHelp) {
			s.usage(stdout, devSynopsis)
			return exitOK
		}
		return configError(stderr, "dev", err)
	}
	if !bucketName.MatchString(bucket) {
		return configError(stderr, "dev", fmt.Errorf("--bucket %q: not a valid bucket name", bucket))
	}
	if logFormat != "text" && logFormat != "json" {
		return configError(stderr, "dev", fmt.Errorf("--log-format %q: want text or json", logFormat))
	}
	if _, err := parseLevel(logLevel); err != nil {
		return configError(stderr, "dev", err)
	}
	log := newLogger(stderr, logFormat, logLevel)
	slog.SetDefault(log)

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return configError(stderr, "dev", fmt.Errorf("--dir: %v", err))
	}
	keyPath := filepath.Join(dir, "master.key")
	// Create the master key if this is the first run; serve opens it.
	created, err := localkey.Open(keyPath, true)
	if err != nil {
		return configError(stderr, "dev", fmt.Errorf("master key: %v", trimErr(err)))
	}
	_ = created.Close()
	ak, sk, err := devCredentials(filepath.Join(dir, "credentials"))
	if err != nil {
		return configError(stderr, "dev", err)
	}

	// The store accepts only the proxy: fresh credentials every run.
	storeAK, storeSK := "bkstore-"+randomToken(8), randomToken(30)
	store, err := devstore.New(filepath.Join(dir, "s3"), devstore.Options{
		Credentials: sigv4.StaticCredentials{storeAK: storeSK},
		Region:      region,
		Logger:      log,
	})
	if err != nil {
		return configError(stderr, "dev", err)
	}
	if err := store.CreateBucket(bucket); err != nil {
		return configError(stderr, "dev", err)
	}
	storeLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(stderr, "bucketkey dev: store listener: %v\n", err)
		return exitFail
	}
	storeSrv := &http.Server{Handler: store, ReadHeaderTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() { _ = storeSrv.Serve(storeLn) }()
	defer storeSrv.Close()

	r := &resolved{
		Listen:            listen,
		AdminListen:       adminListen,
		Upstream:          &url.URL{Scheme: "http", Host: storeLn.Addr().String()},
		UpstreamRegion:    region,
		UpstreamAccessKey: storeAK,
		UpstreamSecretKey: storeSK,
		UpstreamPayload:   sigv4.PayloadChunked,
		ClientCredentials: sigv4.StaticCredentials{ak: sk},
		Clients:           staticClientKeys(ak, sk),
		KMSProvider:       "local",
		KMSLocalKey:       keyPath,
		Cache: keycache.Options{
			TTL: ttl, MaxObjects: keycache.DefaultMaxObjects, Disabled: noBucketKey,
		},
		PricePer10k: admin.DefaultPricePer10k,
		LogFormat:   logFormat, LogLevel: logLevel,
		ShutdownTimeout: 10 * time.Second,
	}
	if err := checkAddr("listen", listen); err != nil {
		return configError(stderr, "dev", err)
	}
	if err := checkAddr("admin-listen", adminListen); err != nil {
		return configError(stderr, "dev", err)
	}
	srv, err := newServer(ctx, r, log)
	if err != nil {
		return configError(stderr, "dev", err)
	}
	if err := srv.listen(); err != nil {
		srv.close()
		fmt.Fprintf(stderr, "bucketkey dev: %v (another bucketkey running? try --listen 127.0.0.1:8081 --admin-listen 127.0.0.1:9091)\n", err)
		return exitFail
	}
	abs, _ := filepath.Abs(dir)
	info := devInfo{
		Endpoint: srv.endpoint(), Admin: srv.adminURL(), Store: "http://" + storeLn.Addr().String(),
		Region: region, Bucket: bucket, Dir: abs, AccessKey: ak, SecretKey: sk,
	}
	if err := writeDevEnv(filepath.Join(abs, "env"), info); err != nil {
		return configError(stderr, "dev", err)
	}
	printDevBanner(stdout, info)
	if ready != nil {
		ready(info)
	}
	if err := srv.serve(ctx); err != nil {
		return exitFail
	}
	return exitOK
}

// devCredentials loads the dev client key pair from path, creating it (mode
// 0600) on first run, so that the printed commands keep working across
// restarts while no two machines share a secret.
func devCredentials(path string) (ak, sk string, err error) {
	creds, err := loadCredentials(path)
	if errors.Is(err, fs.ErrNotExist) {
		ak, sk = "BKDEV"+randomToken(10), randomToken(30)
		f, ferr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if ferr != nil {
			return "", "", fmt.Errorf("dev credentials: %v", ferr)
		}
		_, werr := fmt.Fprintf(f, "# bucketkey dev client credentials (access-key:secret)\n%s:%s\n", ak, sk)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return "", "", fmt.Errorf("dev credentials: %v", werr)
		}
		return ak, sk, nil
	}
	if err != nil {
		return "", "", err
	}
	if len(creds.secrets) != 1 || len(creds.backend) != 0 {
		return "", "", fmt.Errorf("dev credentials %s: want exactly one access-key:secret line", path)
	}
	for k, v := range creds.secrets {
		ak, sk = k, v
	}
	return ak, sk, nil
}

// randomToken is n random bytes as unpadded base32 (upper case letters and
// digits) when n is small, for access keys, or base64url for secrets.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	if n <= 10 {
		return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// writeDevEnv writes the client's environment (mode 0600) for a shell to
// source, so that the commands the banner prints carry no secret: a secret
// on a command line lands in shell history and in every process listing.
func writeDevEnv(path string, i devInfo) error {
	body := fmt.Sprintf("# bucketkey dev: source this file (. %s) to use the aws CLI against the dev endpoint\n"+
		"export AWS_ACCESS_KEY_ID=%s\nexport AWS_SECRET_ACCESS_KEY=%s\nexport AWS_DEFAULT_REGION=%s\n",
		path, i.AccessKey, i.SecretKey, i.Region)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		return fmt.Errorf("dev environment file: %v", err)
	}
	// WriteFile keeps the mode of a file that already exists.
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("dev environment file: %v", err)
	}
	return nil
}

func printDevBanner(out io.Writer, i devInfo) {
	aws := "aws --endpoint-url " + i.Endpoint
	envFile := filepath.Join(i.Dir, "env")
	fmt.Fprintf(out, `bucketkey dev is running: an S3 endpoint that encrypts every object before it reaches the store.

  S3 endpoint   %s   (region %s, path-style; bucket %q is ready)
  access key    %s
  secret key    in %s   (mode 0600)
  live savings  %s/   (also /stats, /metrics, /readyz)
  data          %s   (ciphertext in s3/buckets/, master key in master.key)

Try it (paste into a shell; the first line loads the key pair into the environment):

  . %s
  %s s3 cp ./README.md s3://%s/
  %s s3 ls s3://%s/
  %s s3 cp s3://%s/README.md -
  go run ./cmd/bucketkey report --admin %s

The store holds only ciphertext: compare %s with the file.
Ctrl-C stops it; the data and keys stay in %s for next time.
`,
		i.Endpoint, i.Region, i.Bucket, i.AccessKey, envFile, i.Admin, i.Dir,
		envFile, aws, i.Bucket, aws, i.Bucket, aws, i.Bucket, i.Admin,
		filepath.Join(i.Dir, "s3", "buckets", i.Bucket, "README.md"), i.Dir)
}
