package bench

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// startProgress redraws a progress line on cfg.Progress every 200 ms until
// the returned stop function is called; stop draws the final state and ends
// the line.
func startProgress(cfg Config, done *atomic.Int64, start time.Time) (stop func()) {
	if cfg.Progress == nil {
		return func() {}
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	draw := func() {
		n := done.Load()
		el := time.Since(start)
		var frac float64
		if cfg.Count > 0 {
			frac = float64(n) / float64(cfg.Count)
		} else {
			frac = float64(el) / float64(cfg.Duration)
		}
		fmt.Fprintf(cfg.Progress, "\r%s %d ops %.0f ops/s", bar(frac, 30), n, float64(n)/el.Seconds())
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				draw()
				fmt.Fprintln(cfg.Progress)
				return
			case <-t.C:
				draw()
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// bar renders frac (clamped to [0,1]) as a bar of width cells.
func bar(frac float64, width int) string {
	if frac < 0 {
		frac = 0
	}
	if frac > 1 {
		frac = 1
	}
	full := int(frac * float64(width))
	return "[" + strings.Repeat("=", full) + strings.Repeat(" ", width-full) + fmt.Sprintf("] %3.0f%%", frac*100)
}
