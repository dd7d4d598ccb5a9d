package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// TestChartIsSelfContainedSVG checks the chart parses as XML, draws one bar
// per row plus its track, marks targets, colours a miss, and escapes text.
func TestChartIsSelfContainedSVG(t *testing.T) {
	bars := []bar{
		{Label: "met <ratio>", Value: 0.95, Text: "x0.95", Target: 0.9},
		{Label: "missed", Value: 3, Text: "x3", Target: 10},
		{Label: "lower", Value: 0.2, Text: "+0.2 ms", Target: 1, Lower: true},
		{Label: "log", Value: 100000, Text: "100,000x", Target: 1000, Log: true},
		{Label: "no target", Value: 2, Text: "+2 ms"},
	}
	var buf bytes.Buffer
	if err := writeChart(&buf, "title & more", "sub", "legend", bars); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
	rects, lines := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, buf.String())
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "rect":
				rects++
			case "line":
				lines++
			}
		}
	}
	if want := 1 + 2*len(bars); rects != want {
		t.Errorf("%d rects, want %d (background, then track and bar per row)", rects, want)
	}
	if lines != 4 {
		t.Errorf("%d target ticks, want 4", lines)
	}
	s := buf.String()
	if strings.Count(s, "MISSED") != 1 || strings.Count(s, "#c62828") != 1 {
		t.Errorf("want exactly one missed target, drawn red")
	}
	if strings.Contains(s, "http://") && !strings.Contains(s, `xmlns="http://www.w3.org/2000/svg"`) || strings.Count(s, "http") != 1 {
		t.Errorf("chart references something besides the SVG namespace")
	}
}

func TestBarScale(t *testing.T) {
	b := bar{Value: 0.5, Target: 0.9}
	if got := b.scale(b.Target); got < 0.59 || got > 0.61 {
		t.Errorf("target drawn at %.2f of the width, want 0.6", got)
	}
	big := bar{Value: 50, Target: 10}
	if got := big.scale(big.Value); got < 0.9 || got > 0.92 {
		t.Errorf("a value past the target drawn at %.2f, want 1/1.1", got)
	}
	if (bar{Value: 1, Target: 1000, Log: true}).scale(1) != 0 {
		t.Error("log scale: 1 must draw nothing")
	}
}
