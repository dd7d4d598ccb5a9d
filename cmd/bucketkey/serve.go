package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bucketkey/bucketkey/admin"
	"github.com/bucketkey/bucketkey/keycache"
	"github.com/bucketkey/bucketkey/proxy"
)

const serveSynopsis = "bucketkey serve [--config FILE] --upstream URL (--kms-key-id ID | --kms-local-key FILE) (--client-access-key K --client-secret-key S | --credentials FILE) [flags]"

// runServe is `bucketkey serve`.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) (string, bool)) int {
	var c serveConfig
	s := serveFlags(&c)
	if err := s.parse(args, getenv); err != nil {
		if errors.Is(err, errHelp) {
			s.usage(stdout, serveSynopsis)
			return exitOK
		}
		return configError(stderr, "serve", err)
	}
	r, err := c.validate(s)
	if err != nil {
		return configError(stderr, "serve", err)
	}
	logOut := newLogWriter(stderr)
	defer logOut.Close()
	log := newLogger(logOut, r.LogFormat, r.LogLevel)
	slog.SetDefault(log)
	srv, err := newServer(ctx, r, log)
	if err != nil {
		logOut.Close() // its lines before the error's
		return configError(stderr, "serve", err)
	}
	if err := srv.listen(); err != nil {
		srv.close()
		logOut.Close()
		fmt.Fprintf(stderr, "bucketkey serve: %v\n", err)
		return exitFail
	}
	if err := srv.serve(ctx); err != nil {
		return exitFail
	}
	return exitOK
}

// server is a configured proxy and its admin listener.
// The metrics count the proxy's refusals (bucketkey_refused_objects_total).
var _ proxy.RefusalObserver = (*admin.Metrics)(nil)

type server struct {
	cfg   *resolved
	log   *slog.Logger
	cache *keycache.Cache
	// provider is the cache's key provider; closed after the cache (the
	// local provider then wipes its master key).
	provider keycache.Provider
	proxy    *proxy.Proxy
	admin    *admin.Handler
	keyID    string
	started  time.Time

	proxyLn, adminLn net.Listener
}

// newServer builds the key cache, the proxy and the admin handler. Every
// error it returns is a configuration error.
func newServer(ctx context.Context, r *resolved, log *slog.Logger) (*server, error) {
	upCreds, err := upstreamCredentials(ctx, r)
	if err != nil {
		return nil, err
	}
	provider, keyID, kmsCheck, err := kmsProvider(ctx, r)
	if err != nil {
		return nil, err
	}
	srv := &server{cfg: r, log: log, keyID: keyID, started: time.Now()}
	metrics := admin.NewMetrics(func() keycache.Stats { return srv.cache.Stats() }, !r.Cache.Disabled, r.PricePer10k)
	opts := r.Cache
	opts.OnKMSRequest = metrics.ObserveKMS
	srv.cache, srv.provider = keycache.New(provider, opts), provider

	t := proxy.DefaultTransport()
	if r.UpstreamRoots != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: r.UpstreamRoots, MinVersion: tls.VersionTLS12}
	}
	transport := metrics.InstrumentBackend(t)
	srv.proxy, err = proxy.New(proxy.Config{
		Upstream:            r.Upstream,
		UpstreamRegion:      r.UpstreamRegion,
		UpstreamCredentials: upCreds,
		UpstreamTransport:   transport,
		UpstreamPayload:     r.UpstreamPayload,
		ClientCredentials:   r.Clients,
		Identities:          r.Clients,
		Keys:                srv.cache,
		KMSKeyID:            keyID,
		AcceptKMSKeyIDs:     r.KMSAccept,
		Replicas:            r.Replicas,
		MixedBuckets:        r.Mixed,
		AnonymousBuckets:    r.AnonymousBuckets,
		AnonymousAll:        r.Anonymous,
		VirtualHostDomains:  r.VHosts,
		NoBucketKey:         r.Cache.Disabled,
		BodyIdleTimeout:     r.BodyIdleTimeout,
		Logger:              log,
		Observer:            metrics,
	})
	if err != nil {
		srv.close()
		return nil, err
	}
	checks := []admin.Check{{Name: "upstream", Probe: srv.proxy.CheckUpstream}}
	if kmsCheck != nil {
		checks = append(checks, admin.Check{Name: "kms", Probe: kmsCheck})
	}
	srv.admin = admin.New(admin.Config{
		Stats:       srv.cache.Stats,
		BucketKeys:  !r.Cache.Disabled,
		PricePer10k: r.PricePer10k,
		Metrics:     metrics,
		Checks:      checks,
		Pprof:       r.AdminPprof,
		Token:       r.AdminToken,
		Logger:      log,
	})
	return srv, nil
}

// upstreamCredentials returns the proxy's backend credentials: the static
// pair, or the AWS default chain, which must yield credentials now (a proxy
// that cannot sign fails at start-up, not on the first request).
func upstreamCredentials(ctx context.Context, r *resolved) (aws.CredentialsProvider, error) {
	if r.UpstreamAccessKey != "" {
		return credentials.NewStaticCredentialsProvider(r.UpstreamAccessKey, r.UpstreamSecretKey, ""), nil
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(r.UpstreamRegion))
	if err != nil {
		return nil, fmt.Errorf("AWS configuration for the backend: %v", firstLine(err.Error()))
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := cfg.Credentials.Retrieve(cctx); err != nil {
		return nil, fmt.Errorf("no backend credentials: set --upstream-access-key and --upstream-secret-key, or configure the AWS default chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, web identity, instance role): %v", firstLine(err.Error()))
	}
	return cfg.Credentials, nil
}

// listen opens both listeners, so that a port in use fails start-up before
// anything is served.
func (srv *server) listen() error {
	var err error
	if srv.proxyLn, err = net.Listen("tcp", srv.cfg.Listen); err != nil {
		return fmt.Errorf("S3 listener: %w", err)
	}
	if srv.cfg.TLS != nil {
		srv.proxyLn = tls.NewListener(srv.proxyLn, srv.cfg.TLS)
	}
	if srv.cfg.AdminListen != "" {
		if srv.adminLn, err = net.Listen("tcp", srv.cfg.AdminListen); err != nil {
			srv.proxyLn.Close()
			return fmt.Errorf("admin listener: %w", err)
		}
	}
	return nil
}

// endpoint is the S3 listener's URL.
func (srv *server) endpoint() string {
	scheme := "http"
	if srv.cfg.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + srv.proxyLn.Addr().String()
}

// adminURL is the admin listener's URL, or "".
func (srv *server) adminURL() string {
	if srv.adminLn == nil {
		return ""
	}
	return "http://" + srv.adminLn.Addr().String()
}

// serve runs until ctx ends, then shuts down gracefully: /readyz turns 503;
// for DrainDelay the S3 listener still accepts requests, answering each
// with Connection: close, so that load balancers that learn of the
// shutdown late (endpoint removal in Kubernetes is asynchronous; nginx
// notices on its next connection) send no request into a closed port; then
// the listener stops accepting, in-flight requests get ShutdownTimeout to
// finish, the key cache is closed (wiping its keys) and one line reports the
// session's savings. It returns an error only if a listener failed.
func (srv *server) serve(ctx context.Context) error {
	ps := &http.Server{
		Handler:           srv.proxy,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(srv.log.Handler(), slog.LevelWarn),
	}
	var as *http.Server
	errc := make(chan error, 2)
	go func() { errc <- ps.Serve(srv.proxyLn) }()
	stopReload := srv.reloadOnSIGHUP()
	defer stopReload()
	if srv.adminLn != nil {
		as = &http.Server{Handler: srv.admin, ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(srv.log.Handler(), slog.LevelWarn)}
		go func() { errc <- as.Serve(srv.adminLn) }()
	}
	srv.logStart()

	var failed error
	select {
	case <-ctx.Done():
		srv.log.Info("shutting down", "timeout", srv.cfg.ShutdownTimeout)
	case failed = <-errc:
		srv.log.Error("listener failed", "err", failed)
	}
	srv.admin.Drain()
	if failed == nil && srv.cfg.DrainDelay > 0 {
		ps.SetKeepAlivesEnabled(false)
		srv.log.Info("draining: not ready, still serving", "drain_delay", srv.cfg.DrainDelay)
		drain := time.NewTimer(srv.cfg.DrainDelay)
		select {
		case <-drain.C:
		case failed = <-errc:
			drain.Stop()
			srv.log.Error("listener failed", "err", failed)
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), srv.cfg.ShutdownTimeout)
	defer cancel()
	if err := ps.Shutdown(sctx); err != nil {
		srv.log.Warn("in-flight requests did not finish in time; closing their connections", "timeout", srv.cfg.ShutdownTimeout)
		ps.Close()
	}
	if as != nil {
		actx, acancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = as.Shutdown(actx)
		acancel()
	}
	stats := srv.cache.Stats()
	srv.close()
	srv.logSavings(stats)
	return failed
}

// reloadOnSIGHUP reloads the client credentials file on each SIGHUP, in
// place: connections and requests in flight are not touched. A file that
// does not load leaves the current table (and is logged, without secrets).
// It returns a function that stops listening.
func (srv *server) reloadOnSIGHUP() func() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				if err := srv.cfg.Clients.reload(); err != nil {
					srv.log.Error("credentials not reloaded; keeping the current ones", "err", trimErr(err))
					continue
				}
				clients, mapped := srv.cfg.Clients.counts()
				srv.log.Info("credentials reloaded", "client_access_keys", clients, "clients_with_backend_identity", mapped)
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(hup); close(done) }
}

func (srv *server) logStart() {
	r := srv.cfg
	attrs := []any{
		"listen", srv.endpoint(),
		"admin", srv.adminURL(),
		"upstream", r.Upstream.Redacted(),
		"upstream_region", r.UpstreamRegion,
		"kms_key_id", srv.keyID,
		"bucket_keys", !r.Cache.Disabled,
		"bucket_key_ttl", r.Cache.TTL,
	}
	clients, mapped := r.Clients.counts()
	attrs = append(attrs, "client_access_keys", clients, "clients_with_backend_identity", mapped)
	if len(r.Replicas) > 0 {
		attrs = append(attrs, "replicas", fmt.Sprint(r.Replicas))
	}
	if r.Anonymous {
		attrs = append(attrs, "anonymous", "all buckets")
	} else if len(r.AnonymousBuckets) > 0 {
		attrs = append(attrs, "anonymous_buckets", strings.Join(r.AnonymousBuckets, ","))
	}
	if len(r.Mixed) > 0 {
		attrs = append(attrs, "mixed_buckets", strings.Join(r.Mixed, ","))
	}
	srv.log.Info("bucketkey serving", attrs...)
}

// logSavings writes the one line that sums up the session.
func (srv *server) logSavings(s keycache.Stats) {
	t := s.Total
	srv.log.Info("bucketkey stopped",
		"uptime", time.Since(srv.started).Round(time.Second),
		"objects_encrypted", t.ObjectsEncrypted,
		"objects_decrypted", t.ObjectsDecrypted,
		"kms_requests", t.Actual,
		"kms_requests_baseline", t.BaselineTotal,
		"kms_requests_saved", t.Saved,
		"saved_percent", math.Round(t.Ratio*10000)/100,
		"cost_dollars", roundDollars(admin.Cost(t.Actual, srv.cfg.PricePer10k)),
		"cost_baseline_dollars", roundDollars(admin.Cost(t.BaselineTotal, srv.cfg.PricePer10k)),
		"saved_dollars", roundDollars(admin.Cost(t.BaselineTotal, srv.cfg.PricePer10k)-admin.Cost(t.Actual, srv.cfg.PricePer10k)),
	)
}

func roundDollars(d float64) float64 { return math.Round(d*1e6) / 1e6 }

// trimErr keeps the first line of an error, for one-line messages.
func trimErr(err error) string { return strings.TrimSpace(firstLine(err.Error())) }

// close stops the key cache, which waits for its KMS calls, then the
// provider if it holds anything to release.
func (srv *server) close() {
	srv.cache.Close()
	if c, ok := srv.provider.(io.Closer); ok {
		_ = c.Close()
	}
}
