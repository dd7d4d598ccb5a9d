package testenv

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
)

// The S3 servers testenv can start as a backend, by name (Process.Name).
const (
	Versitygw = "versitygw"
	MinIO     = "minio"
)

// Backends names every S3 server the integration tests run against, in the
// order tests run them. Both take S3AccessKey/S3SecretKey in Region.
func Backends() []string { return []string{Versitygw, MinIO} }

// StartBackend starts the S3 server called name (one of Backends).
func StartBackend(name string) (*Process, error) {
	switch name {
	case Versitygw:
		return StartS3()
	case MinIO:
		return StartMinIO()
	}
	return nil, fmt.Errorf("testenv: no S3 backend called %q", name)
}

// Backend starts the S3 server called name for one test and stops it when
// the test ends.
func Backend(t testing.TB, name string) *Process {
	t.Helper()
	p, err := StartBackend(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(); os.RemoveAll(p.Dir) })
	return p
}

// StartMinIO starts a single-drive MinIO server in a fresh directory and
// returns it. Its root credentials are S3AccessKey/S3SecretKey, passed in
// the environment (never on the command line), its region Region. The
// console is off, and so are update checks and the root-drive check (the
// test directory may well be on the root drive).
func StartMinIO() (*Process, error) {
	dir, data, addr, err := serverDirs("bucketkey-minio-")
	if err != nil {
		return nil, err
	}
	args := []string{"server", "--quiet", "--address", addr, data}
	p, err := start(MinIO, args, minioEnv(dir), dir, addr, httpServing("http://"+addr+"/"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return p, nil
}

// minioEnv is MinIO's environment for a server in dir.
func minioEnv(dir string) []string {
	return []string{
		"MINIO_ROOT_USER=" + S3AccessKey,
		"MINIO_ROOT_PASSWORD=" + S3SecretKey,
		"MINIO_REGION=" + Region,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=on",
		"HOME=" + dir, // MinIO keeps its client config (~/.mc, certs) here
	}
}

// httpServing is ready when url answers with a status under 500: MinIO
// answers 503 XMinioServerNotInitialized (to S3 requests, and at times its
// health checks answer 200 before) until it can serve S3 requests, then an
// unsigned request gets 403.
func httpServing(url string) func(ctx context.Context) error {
	return httpStatus(url, func(status int) bool { return status < 500 })
}

// Pool is a set of S3 backends shared by a package's tests, each started
// the first time a test asks for it (so a run that needs only one backend
// starts only that one). Stop it after the tests (TestMain).
type Pool struct {
	mu      sync.Mutex
	proc    map[string]*Process
	started []*Process
}

// Add makes p the pool's backend called name (a server the caller started
// and stops itself).
func (pl *Pool) Add(name string, p *Process) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.proc == nil {
		pl.proc = make(map[string]*Process)
	}
	pl.proc[name] = p
}

// Backend returns the pool's S3 server called name, starting it if it is
// not running yet.
func (pl *Pool) Backend(t testing.TB, name string) *Process {
	t.Helper()
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if p := pl.proc[name]; p != nil {
		return p
	}
	p, err := StartBackend(name)
	if err != nil {
		t.Fatal(err)
	}
	if pl.proc == nil {
		pl.proc = make(map[string]*Process)
	}
	pl.proc[name] = p
	pl.started = append(pl.started, p)
	return p
}

// Stop stops the servers the pool started (not those given to Add).
func (pl *Pool) Stop() {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for _, p := range pl.started {
		p.Stop()
		os.RemoveAll(p.Dir)
	}
	pl.started = nil
}
