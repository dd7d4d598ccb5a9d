package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// S3WithUsers starts versitygw with its internal IAM (accounts kept in a
// directory) for one test, stops it when the test ends, and creates the
// given users (access key -> secret) with role "userplus": each may create
// buckets, and sees and owns only its own. The root account is
// S3AccessKey/S3SecretKey.
func S3WithUsers(t testing.TB, users map[string]string) *Process {
	t.Helper()
	dir, err := os.MkdirTemp("", "bucketkey-s3iam-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"data", "iam"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"ROOT_ACCESS_KEY=" + S3AccessKey, "ROOT_SECRET_KEY=" + S3SecretKey}
	args := []string{"--port", addr, "--region", Region, "--quiet", "--keep-alive",
		"--iam-dir", filepath.Join(dir, "iam"), "posix", filepath.Join(dir, "data")}
	p, err := start("versitygw", args, env, dir, addr, httpReady("http://"+addr+"/"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	bin, err := Tool("versitygw")
	if err != nil {
		t.Fatal(err)
	}
	for ak, sk := range users {
		// The admin credentials go through the environment; the throwaway
		// test users' secrets are arguments (versitygw takes them no other way).
		cmd := exec.Command(bin, "admin", "--endpoint-url", p.URL, "create-user", "--access", ak, "--secret", sk, "--role", "userplus")
		cmd.Env = append(os.Environ(), "ADMIN_ACCESS_KEY_ID="+S3AccessKey, "ADMIN_SECRET_ACCESS_KEY="+S3SecretKey, "ADMIN_REGION="+Region)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatal(fmt.Errorf("testenv: versitygw admin create-user %s: %v\n%s", ak, err, out))
		}
	}
	return p
}

// A User is a backend account for one test.
type User struct {
	AccessKey, SecretKey string
	// BucketPrefix names the buckets the user may use on MinIO, where
	// buckets have no owner: its IAM policy allows every S3 action on the
	// buckets named BucketPrefix* and their objects, and nothing else (which
	// is what versitygw's "userplus" role gives by ownership). versitygw
	// ignores it.
	BucketPrefix string
}

// BackendWithUsers starts the S3 server called name (one of Backends) for
// one test, stops it when the test ends, and creates users on it (see
// S3WithUsers and AddMinIOUsers). The root account is
// S3AccessKey/S3SecretKey.
func BackendWithUsers(t testing.TB, name string, users []User) *Process {
	t.Helper()
	switch name {
	case Versitygw:
		m := make(map[string]string, len(users))
		for _, u := range users {
			m[u.AccessKey] = u.SecretKey
		}
		return S3WithUsers(t, m)
	case MinIO:
		p := Backend(t, MinIO)
		if err := AddMinIOUsers(context.Background(), p, users); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Fatalf("testenv: no S3 backend called %q", name)
	return nil
}
