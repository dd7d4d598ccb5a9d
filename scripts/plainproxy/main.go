// Command plainproxy is the floor scripts/benchmarks.sh measures bucketkey
// against: net/http/httputil.ReverseProxy in front of the same backend, on
// the same hop, with no crypto. It keeps the client's Host header, so the
// client's own SigV4 signature (made with the backend's credentials)
// verifies at the backend unchanged. Benchmark tooling, not product.
//
//	go run ./scripts/plainproxy -listen 127.0.0.1:7071 -upstream http://127.0.0.1:7070
//
// It prints each distinct x-amz-content-sha256 payload mode it sees on a
// PUT once to stderr ("client payload: ..."), so that the benchmark knows
// whether the client signed its payload (one SHA-256 pass at the proxy).
package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	_ "net/http/pprof"
	"net/url"
	"os"
	"sync"

	"github.com/bucketkey/bucketkey/proxy"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "`address` to listen on")
	upstream := flag.String("upstream", "", "backend `URL` (http or https)")
	ca := flag.String("upstream-ca", "", "trust this PEM CA `file` for the backend")
	debug := flag.String("pprof-listen", "", "serve /debug/pprof on this `address` too (for profiles)")
	flag.Parse()
	if *debug != "" {
		go func() { log.Fatal(http.ListenAndServe(*debug, nil)) }() // net/http/pprof registers on the default mux
	}
	h, err := newHandler(*upstream, *ca, os.Stderr)
	if err != nil {
		log.Fatalf("plainproxy: %v", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("plainproxy: %v", err)
	}
	fmt.Fprintf(os.Stderr, "plainproxy: listening on %s, backend %s\n", ln.Addr(), *upstream)
	log.Fatal(http.Serve(ln, h))
}

// newHandler returns the reverse proxy to upstream, logging payload modes to logw.
func newHandler(upstream, caFile string, logw io.Writer) (http.Handler, error) {
	target, err := url.Parse(upstream)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return nil, fmt.Errorf("-upstream %q: want an http(s) URL", upstream)
	}
	// The same transport settings as bucketkey's backend transport
	// (keep-alive, pool size), so that the two differ in their work only.
	tr := proxy.DefaultTransport()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, errors.New("-upstream-ca: no PEM certificate in " + caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // the Host the client signed
		},
		Transport: tr,
	}
	var seen sync.Map
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			mode := r.Header.Get("X-Amz-Content-Sha256")
			if len(mode) == 64 {
				mode = "hex SHA-256"
			}
			if _, loaded := seen.LoadOrStore(mode, true); !loaded {
				fmt.Fprintf(logw, "plainproxy: client payload: %s\n", mode)
			}
		}
		rp.ServeHTTP(w, r)
	}), nil
}
