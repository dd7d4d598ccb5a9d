package admin

import (
	_ "embed"
	"net/http"
)

// pageHTML is the live page: one self-contained document (inline CSS, JS and
// an SVG chart) that polls /stats, so it works with no network and no build
// step.
//
//go:embed page.html
var pageHTML []byte

func (h *Handler) page(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(pageHTML)
}
