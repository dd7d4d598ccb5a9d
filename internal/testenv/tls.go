package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLSFiles are a throwaway certificate authority and a server certificate
// it issued for 127.0.0.1 and localhost, as PEM files.
type TLSFiles struct {
	CAFile   string // the CA certificate, for clients to trust
	CertFile string // the server certificate
	KeyFile  string // the server's private key (0600)
}

// NewTLSFiles generates a CA and a server certificate for 127.0.0.1 and
// localhost into dir (a test's t.TempDir(), or a server's directory). The
// keys are fresh ECDSA P-256 keys; nothing is reused between calls.
func NewTLSFiles(dir string) (TLSFiles, error) {
	f := TLSFiles{
		CAFile:   filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, "server.pem"),
		KeyFile:  filepath.Join(dir, "server-key.pem"),
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return f, err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "bucketkey test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return f, fmt.Errorf("testenv: CA certificate: %w", err)
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return f, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return f, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return f, fmt.Errorf("testenv: server certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return f, err
	}
	for _, w := range []struct {
		path, typ string
		der       []byte
		mode      os.FileMode
	}{
		{f.CAFile, "CERTIFICATE", caDER, 0o644},
		{f.CertFile, "CERTIFICATE", leafDER, 0o644},
		{f.KeyFile, "PRIVATE KEY", keyDER, 0o600},
	} {
		if err := os.WriteFile(w.path, pem.EncodeToMemory(&pem.Block{Type: w.typ, Bytes: w.der}), w.mode); err != nil {
			return f, err
		}
	}
	return f, nil
}

// Roots returns a pool holding the CA of f alone.
func (f TLSFiles) Roots() (*x509.CertPool, error) {
	b, err := os.ReadFile(f.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("testenv: no certificate in %s", f.CAFile)
	}
	return pool, nil
}

// Client returns an HTTP client that trusts f's CA alone.
func (f TLSFiles) Client() (*http.Client, error) {
	roots, err := f.Roots()
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t}, nil
}

// StartBackendTLS starts the S3 server called name (one of Backends)
// serving HTTPS with a certificate from a fresh test CA; p.URL is its
// https:// URL and p.TLS its CA (trust p.TLS.CAFile to reach it).
func StartBackendTLS(name string) (*Process, error) {
	switch name {
	case Versitygw:
		return StartS3TLS()
	case MinIO:
		return StartMinIOTLS()
	}
	return nil, fmt.Errorf("testenv: no S3 backend called %q", name)
}

// BackendTLS is StartBackendTLS for one test, stopped when the test ends.
func BackendTLS(t testing.TB, name string) *Process {
	t.Helper()
	p, err := StartBackendTLS(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(); os.RemoveAll(p.Dir) })
	return p
}

// StartS3TLS is StartS3 serving HTTPS (versitygw --cert/--key).
func StartS3TLS() (*Process, error) {
	dir, data, addr, err := serverDirs("bucketkey-s3tls-")
	if err != nil {
		return nil, err
	}
	f, err := NewTLSFiles(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ready, err := httpsReady(f, "https://"+addr+"/", false)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	env := []string{"ROOT_ACCESS_KEY=" + S3AccessKey, "ROOT_SECRET_KEY=" + S3SecretKey}
	args := []string{"--port", addr, "--region", Region, "--quiet", "--keep-alive", "--cert", f.CertFile, "--key", f.KeyFile, "posix", data}
	p, err := start("versitygw", args, env, dir, addr, ready)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p.URL, p.TLS = "https://"+addr, &f
	return p, nil
}

// StartMinIOTLS is StartMinIO serving HTTPS (its --certs-dir holding
// public.crt and private.key).
func StartMinIOTLS() (*Process, error) {
	dir, data, addr, err := serverDirs("bucketkey-miniotls-")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Process, error) { os.RemoveAll(dir); return nil, err }
	certs := filepath.Join(dir, "certs")
	if err := os.Mkdir(certs, 0o700); err != nil {
		return fail(err)
	}
	f, err := NewTLSFiles(dir)
	if err != nil {
		return fail(err)
	}
	for src, dst := range map[string]string{f.CertFile: "public.crt", f.KeyFile: "private.key"} {
		b, err := os.ReadFile(src)
		if err == nil {
			err = os.WriteFile(filepath.Join(certs, dst), b, 0o600)
		}
		if err != nil {
			return fail(err)
		}
	}
	ready, err := httpsReady(f, "https://"+addr+"/", true)
	if err != nil {
		return fail(err)
	}
	args := []string{"server", "--quiet", "--address", addr, "--certs-dir", certs, data}
	p, err := start(MinIO, args, minioEnv(dir), dir, addr, ready)
	if err != nil {
		return fail(err)
	}
	p.URL, p.TLS = "https://"+addr, &f
	return p, nil
}

// httpsReady is httpReady (or, under5xx, httpServing) over HTTPS trusting
// f's CA.
func httpsReady(f TLSFiles, url string, under5xx bool) (func(ctx context.Context) error, error) {
	c, err := f.Client()
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if under5xx && resp.StatusCode >= 500 {
			return fmt.Errorf("testenv: %s: %s", url, resp.Status)
		}
		return nil
	}, nil
}
