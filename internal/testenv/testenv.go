// Package testenv starts the real servers the integration tests run against:
// S3 servers (versitygw with its posix backend, and MinIO) and a KMS API
// (local-kms), each a child process on a free 127.0.0.1 port, stopped when
// the test ends.
//
// The binaries are installed at pinned versions by scripts/test.sh (from the
// tools/ module, and tools/minio/ for MinIO) into .tools/bin at the
// repository root; testenv looks there, then in .tools-extra/bin (a
// developer's own installs), then in $BUCKETKEY_TOOLS_BIN, then on PATH. A
// missing binary fails the test with the command that installs it:
// integration tests are never skipped.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
)

// Well-known test identities. They exist only in the servers testenv starts.
const (
	S3AccessKey = "testenv-backend-access"
	S3SecretKey = "testenv-backend-secret-0123456789abcdef"
	Region      = "us-east-1"
	// KMSKeyID is the symmetric key local-kms is seeded with.
	KMSKeyID = "bc436485-5092-42b8-92a3-0aa8b93536dc"
	// KMSKeyAlias names KMSKeyID.
	KMSKeyAlias = "alias/bucketkey-test"
	// KMSOtherKeyID is a second symmetric key, for wrong-key tests.
	KMSOtherKeyID = "49c5492b-b1bc-42a8-9a5c-b2015e810c1c"
	// KMSAccount is the account local-kms reports in key ARNs.
	KMSAccount = "111122223333"
)

// Tool returns the path of an installed test tool, or an error naming the
// command that installs it.
func Tool(name string) (string, error) {
	var dirs []string
	if root, err := repoRoot(); err == nil {
		dirs = append(dirs, filepath.Join(root, ".tools", "bin"), filepath.Join(root, ".tools-extra", "bin"))
	}
	if d := os.Getenv("BUCKETKEY_TOOLS_BIN"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("testenv: %s is not installed; run scripts/test.sh (or: cd tools && GOBIN=$PWD/../.tools/bin go install tool; MinIO: cd tools/minio && GOBIN=$PWD/../../.tools/bin go install tool)", name)
}

// repoRoot finds the directory holding go.mod of this module, from this
// source file's location.
func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("testenv: no caller information")
	}
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: go.mod not found")
		}
		dir = parent
	}
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// Process is a running server started by testenv.
type Process struct {
	Name string
	Addr string    // host:port
	URL  string    // http://host:port
	Dir  string    // its working/data directory
	TLS  *TLSFiles // its CA and certificate when it serves HTTPS, else nil

	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	once sync.Once
}

// Stop kills the process and waits for it. It is safe to call twice.
func (p *Process) Stop() {
	p.once.Do(func() {
		if p.cmd.Process != nil {
			_ = p.cmd.Process.Kill()
		}
		<-p.done
	})
}

// Output returns what the process printed so far, for failure messages.
func (p *Process) Output() string { return p.out.String() }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 { // keep the first MiB: enough to diagnose
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs name with args and env, then waits until ready succeeds or the
// process exits or 30 s pass.
func start(name string, args, env []string, dir, addr string, ready func(ctx context.Context) error) (*Process, error) {
	bin, err := Tool(name)
	if err != nil {
		return nil, err
	}
	return startBinary(name, bin, args, env, dir, addr, ready)
}

// startBinary is start with the binary's path given.
func startBinary(name, bin string, args, env []string, dir, addr string, ready func(ctx context.Context) error) (*Process, error) {
	p := &Process{Name: name, Addr: addr, URL: "http://" + addr, Dir: dir, out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("testenv: start %s: %w", name, err)
	}
	exited := make(chan error, 1)
	go func() {
		exited <- p.cmd.Wait()
		close(p.done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond) // readiness poll, not synchronisation by sleep
	defer tick.Stop()
	for {
		if err := ready(ctx); err == nil {
			return p, nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("testenv: %s exited before it was ready: %v\n%s", name, err, p.Output())
		case <-ctx.Done():
			p.Stop()
			return nil, fmt.Errorf("testenv: %s not ready on %s after 30s\n%s", name, addr, p.Output())
		case <-tick.C:
		}
	}
}

// httpReady is ready when url answers at all.
func httpReady(url string) func(ctx context.Context) error {
	return httpStatus(url, func(int) bool { return true })
}

// httpStatus is ready when a GET of url answers with a status ok accepts.
func httpStatus(url string, ok func(status int) bool) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if !ok(resp.StatusCode) {
			return fmt.Errorf("testenv: %s: %s", url, resp.Status)
		}
		return nil
	}
}

// StartS3 starts versitygw with a posix backend in a fresh directory and
// returns it. Its root credentials are S3AccessKey/S3SecretKey, its region
// Region. Buckets are directories under p.Dir/data. Keep-alive is on, as
// on AWS S3 (versitygw closes every connection by default), so that tests
// see the connection reuse a real backend allows.
func StartS3() (*Process, error) {
	dir, data, addr, err := serverDirs("bucketkey-s3-")
	if err != nil {
		return nil, err
	}
	env := []string{"ROOT_ACCESS_KEY=" + S3AccessKey, "ROOT_SECRET_KEY=" + S3SecretKey}
	p, err := start("versitygw", []string{"--port", addr, "--region", Region, "--quiet", "--keep-alive", "posix", data}, env, dir, addr, httpReady("http://"+addr+"/"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return p, nil
}

// serverDirs makes a fresh working directory for an S3 server, with an
// empty data directory in it, and picks a free address.
func serverDirs(prefix string) (dir, data, addr string, err error) {
	dir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", "", "", err
	}
	data = filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		os.RemoveAll(dir)
		return "", "", "", err
	}
	if addr, err = FreeAddr(); err != nil {
		os.RemoveAll(dir)
		return "", "", "", err
	}
	return dir, data, addr, nil
}

const kmsSeed = `Keys:
  Symmetric:
    Aes:
      - Metadata:
          KeyId: ` + KMSKeyID + `
        BackingKeys:
          - 5cdaead27fe7da2de47945d73cd6d79e36494e73802f3cd3869f1d2cb0b5d7a9
      - Metadata:
          KeyId: ` + KMSOtherKeyID + `
        BackingKeys:
          - 0f6e1c2d3b4a59687766554433221100ffeeddccbbaa99887766554433221100
Aliases:
  - AliasName: ` + KMSKeyAlias + `
    TargetKeyId: ` + KMSKeyID + `
`

// StartKMS starts local-kms seeded with KMSKeyID (alias KMSKeyAlias) and
// KMSOtherKeyID, in region Region. Any credentials are accepted.
func StartKMS() (*Process, error) {
	dir, err := os.MkdirTemp("", "bucketkey-kms-")
	if err != nil {
		return nil, err
	}
	seed := filepath.Join(dir, "seed.yaml")
	if err := os.WriteFile(seed, []byte(kmsSeed), 0o600); err != nil {
		return nil, err
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	env := []string{
		"PORT=" + port,
		"KMS_REGION=" + Region,
		"KMS_ACCOUNT_ID=" + KMSAccount,
		"KMS_SEED_PATH=" + seed,
		"KMS_DATA_PATH=" + filepath.Join(dir, "data"),
	}
	p, err := start("local-kms", nil, env, dir, addr, httpReady("http://"+addr+"/"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return p, nil
}

// S3 starts versitygw for one test and stops it when the test ends.
func S3(t testing.TB) *Process {
	t.Helper()
	p, err := StartS3()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(); os.RemoveAll(p.Dir) })
	return p
}

// KMS starts local-kms for one test and stops it when the test ends.
func KMS(t testing.TB) *Process {
	t.Helper()
	p, err := StartKMS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(); os.RemoveAll(p.Dir) })
	return p
}

// Toxiproxy is a running toxiproxy server: a real TCP proxy whose faults
// (latency, timeouts, resets, bandwidth) tests switch on and off through its
// API, used in front of local-kms and the S3 server.
type Toxiproxy struct {
	*Process
	Client *toxiproxy.Client
}

// StartToxiproxy starts toxiproxy-server on a free port.
func StartToxiproxy() (*Toxiproxy, error) {
	dir, err := os.MkdirTemp("", "bucketkey-toxiproxy-")
	if err != nil {
		return nil, err
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	p, err := start("toxiproxy-server", []string{"-host", host, "-port", port}, nil, dir, addr, httpReady("http://"+addr+"/version"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Toxiproxy{Process: p, Client: toxiproxy.NewClient(addr)}, nil
}

// Proxy creates a proxy named name from a free loopback port to upstream
// (host:port) and returns it; Listen holds its address.
func (t *Toxiproxy) Proxy(name, upstream string) (*toxiproxy.Proxy, error) {
	listen, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	p, err := t.Client.CreateProxy(name, listen, upstream)
	if err != nil {
		return nil, fmt.Errorf("testenv: toxiproxy %s -> %s: %w", name, upstream, err)
	}
	return p, nil
}

// Toxi starts toxiproxy for one test and stops it when the test ends.
func Toxi(t testing.TB) *Toxiproxy {
	t.Helper()
	p, err := StartToxiproxy()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(); os.RemoveAll(p.Dir) })
	return p
}
