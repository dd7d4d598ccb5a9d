// Package admin is bucketkey's admin listener: Prometheus metrics, health and
// readiness probes, the savings as JSON, and a live page that draws them.
//
//	GET /          live page: KMS calls made vs avoided over time (self-contained HTML)
//	GET /stats     savings as JSON (StatsDoc), totals and per bucket
//	GET /metrics   Prometheus exposition (Metrics)
//	GET /healthz   200 while the process serves
//	GET /readyz    200 when every Check passes (results cached for CheckTTL), else 503
//	/debug/pprof/  Go profiles, only with Config.Pprof (never cmdline: it
//	               would show secrets given as flags)
//
// With Config.Token set, every endpoint but /healthz and /readyz asks for
// "Authorization: Bearer <token>" (401 otherwise). Everything here reads
// keycache's accounting; nothing here sees a key or a credential.
package admin

import (
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bucketkey/bucketkey/keycache"
)

// Config configures the admin handler.
type Config struct {
	// Stats returns the accounting snapshot (keycache.Cache.Stats). Required.
	Stats func() keycache.Stats
	// BucketKeys is false when the proxy runs the one-call-per-object
	// baseline (--no-bucket-key); the page and /stats say so.
	BucketKeys bool
	// PricePer10k is the KMS request price in dollars per 10,000 requests
	// the savings are reported at [DefaultPricePer10k].
	PricePer10k float64
	// Metrics is the registry /metrics serves [NewMetrics(Stats, BucketKeys, PricePer10k)].
	Metrics *Metrics
	// Checks are the readiness probes (upstream, KMS).
	Checks []Check
	// CheckTTL is how long probe results are reused [5s], so that a probe
	// storm does not become a KMS or S3 request storm.
	CheckTTL time.Duration
	// CheckTimeout bounds one probe [3s].
	CheckTimeout time.Duration
	// Pprof serves Go's profiles under /debug/pprof/ (CPU profiles and
	// traces cost CPU while they run) [off]. /debug/pprof/cmdline is never
	// served.
	Pprof bool
	// Token, if set, is the bearer token every endpoint but /healthz and
	// /readyz requires [none].
	Token  []byte
	Logger *slog.Logger // [slog.Default()]
	Now    func() time.Time
}

// Handler serves the admin endpoints.
type Handler struct {
	cfg   Config
	mux   *http.ServeMux
	ready *readiness
}

// New returns the admin handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PricePer10k <= 0 {
		cfg.PricePer10k = DefaultPricePer10k
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(cfg.Stats, cfg.BucketKeys, cfg.PricePer10k)
	}
	if cfg.CheckTTL <= 0 {
		cfg.CheckTTL = 5 * time.Second
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = 3 * time.Second
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	h.ready = newReadiness(cfg.Checks, cfg.CheckTTL, cfg.CheckTimeout, cfg.Now, cfg.Logger)
	h.ready.observe = cfg.Metrics.ops.observeReady
	for _, c := range cfg.Checks {
		cfg.Metrics.ops.checkDeclared(c.Name)
	}
	h.mux.HandleFunc("GET /{$}", h.page)
	h.mux.HandleFunc("GET /stats", h.stats)
	h.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Metrics.Registry(), promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}))
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	h.mux.HandleFunc("GET /readyz", h.ready.serve)
	if cfg.Pprof {
		h.mux.HandleFunc("/debug/pprof/", pprof.Index)
		h.mux.HandleFunc("/debug/pprof/cmdline", http.NotFound)
		h.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		h.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		h.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(h.cfg.Token) > 0 && r.URL.Path != "/healthz" && r.URL.Path != "/readyz" && !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="bucketkey admin"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// authorized reports whether r carries the bearer token, compared in
// constant time.
func (h *Handler) authorized(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), h.cfg.Token) == 1
}

// Drain makes /readyz answer 503 from now on, so that load balancers stop
// sending requests while in-flight ones finish. /healthz, /metrics and
// /stats keep answering.
func (h *Handler) Drain() {
	h.ready.draining.Store(true)
	h.cfg.Metrics.ops.draining.Set(1)
}

// Doc returns the current /stats document.
func (h *Handler) Doc() StatsDoc {
	return NewStatsDoc(h.cfg.Stats(), h.cfg.BucketKeys, h.cfg.PricePer10k, h.cfg.Now())
}

func (h *Handler) stats(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(h.Doc())
}
