package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// NginxBinary returns the path of Debian's nginx (scripts/test.sh installs
// it), or an error naming the package.
func NginxBinary() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if fi, err := os.Stat("/usr/sbin/nginx"); err == nil && !fi.IsDir() {
		return "/usr/sbin/nginx", nil
	}
	return "", fmt.Errorf("testenv: nginx is not installed; run scripts/test.sh (or apt-get install nginx)")
}

// Nginx starts nginx for one test, with http as the body of its http
// block, and stops it when the test ends. listen are the addresses the
// configuration listens on: nginx is ready when they all accept
// connections. The process runs in the foreground with one worker (so that
// round-robin is one rotation), its pid, logs and temporary files in a
// fresh directory; the error log is in Output(), the access log (if http
// names one in the directory) in Dir.
func Nginx(t testing.TB, http string, listen ...string) *Process {
	t.Helper()
	bin, err := NginxBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "bucketkey-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	user := ""
	if os.Geteuid() == 0 {
		// Workers would run as nobody and could not write the
		// temporary files in a root-only directory.
		user = "user root;\n"
	}
	conf := user + "worker_processes 1;\ndaemon off;\npid " + filepath.Join(dir, "nginx.pid") + ";\n" +
		"error_log stderr info;\nevents { worker_connections 512; }\nhttp {\n"
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		conf += fmt.Sprintf("    %s_temp_path %s;\n", d, filepath.Join(dir, d))
	}
	conf += strings.ReplaceAll(http, "$DIR", dir) + "\n}\n"
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := startBinary("nginx", bin, []string{"-p", dir, "-e", "stderr", "-c", confPath}, nil, dir, listen[0], func(ctx context.Context) error {
		for _, a := range listen {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", a)
			if err != nil {
				return err
			}
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v\nconfiguration:\n%s", err, conf)
	}
	t.Cleanup(func() {
		// SIGTERM: the master stops its workers (SIGKILL would orphan them).
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
		p.Stop()
	})
	return p
}
