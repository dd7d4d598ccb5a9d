package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
)

// bar is one row of the chart: a measured value against its target.
type bar struct {
	Label  string
	Value  float64
	Text   string  // the value as printed next to the bar
	Target float64 // 0: no target
	// Lower is true when smaller is better (latency, memory).
	Lower bool
	// Log draws the row on a log10 scale (ratios spanning decades).
	Log bool
	// Max, if set, is the value at the full width (rows sharing a scale).
	Max float64
	// Ref, if set, draws a grey tick at this value (e.g. 1: the baseline).
	Ref float64
}

// met reports whether the row meets its target (true without one).
func (b bar) met() bool {
	switch {
	case b.Target == 0:
		return true
	case b.Lower:
		return b.Value < b.Target
	default:
		return b.Value >= b.Target
	}
}

// scale maps a row's values to [0, 1] of the bar width: the target sits at
// 60% when the value allows, so misses and margins both show.
func (b bar) scale(v float64) float64 {
	top := math.Max(b.Value*1.1, b.Target/0.6)
	if b.Max > 0 {
		top = b.Max
	}
	if b.Log {
		if v <= 1 {
			return 0
		}
		return math.Min(1, math.Log10(v)/math.Log10(math.Max(top, 10)))
	}
	if top <= 0 {
		return 0
	}
	return math.Min(1, math.Max(0, v/top))
}

// writeChart draws bars as a self-contained SVG: no fonts, scripts or
// external assets beyond the viewer's default sans-serif.
func writeChart(w io.Writer, title, subtitle, legend string, bars []bar) error {
	const (
		width   = 1080
		labelW  = 370
		barW    = 420
		rowH    = 34
		top     = 70
		bottom  = 40
		barH    = 18
		fontCSS = `font-family="sans-serif"`
	)
	height := top + rowH*len(bars) + bottom
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" %s font-size="13">`+"\n", width, height, width, height, fontCSS)
	p(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	p(`<text x="16" y="26" font-size="17" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	p(`<text x="16" y="48" fill="#555555">%s</text>`+"\n", html.EscapeString(subtitle))
	for i, b := range bars {
		y := top + i*rowH
		color := "#2e7d32" // met
		switch {
		case b.Target == 0:
			color = "#78909c"
		case !b.met():
			color = "#c62828"
		}
		p(`<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelW-10, y+barH-4, html.EscapeString(b.Label))
		p(`<rect x="%d" y="%d" width="%d" height="%d" fill="#eceff1"/>`+"\n", labelW, y, barW, barH)
		p(`<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`+"\n", labelW, y, b.scale(b.Value)*barW, barH, color, html.EscapeString(b.Text))
		text := b.Text
		if b.Ref != 0 {
			x := float64(labelW) + b.scale(b.Ref)*barW
			p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#555555" stroke-width="1" stroke-dasharray="3,2"/>`+"\n", x, y-3, x, y+barH+3)
		}
		if b.Target != 0 {
			x := float64(labelW) + b.scale(b.Target)*barW
			p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000000" stroke-width="2"/>`+"\n", x, y-3, x, y+barH+3)
			verdict := "met"
			if !b.met() {
				verdict = "MISSED"
			}
			text += fmt.Sprintf("  (target %s%s: %s)", map[bool]string{true: "< ", false: ">= "}[b.Lower], num(b.Target), verdict)
		}
		p(`<text x="%d" y="%d">%s</text>`+"\n", labelW+barW+8, y+barH-4, html.EscapeString(text))
	}
	p(`<text x="16" y="%d" fill="#555555">%s</text>`+"\n", height-14, html.EscapeString(legend))
	p("</svg>\n")
	return nil
}

// num prints a target without trailing zeros.
func num(f float64) string { return strconv.FormatFloat(f, 'g', 3, 64) }
