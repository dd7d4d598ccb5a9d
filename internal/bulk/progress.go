package bulk

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Progress reports a run as it goes: on a terminal, one bar redrawn in
// place (objects, bytes, rate, ETA); otherwise a plain log line now and
// then. Quiet prints nothing while the run goes on.
type Progress struct {
	W        io.Writer
	Terminal bool
	Quiet    bool
	Every    time.Duration // between plain lines [10s]; the bar redraws every 200ms
	// Extra, if set, adds to each report (e.g. "KMS requests 3").
	Extra func() string

	stopc chan struct{}
	done  sync.WaitGroup
	began time.Time
}

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (p *Progress) start(w *walk) {
	p.began = time.Now()
	if p.Quiet || p.W == nil {
		return
	}
	every := p.Every
	if every <= 0 {
		every = 10 * time.Second
	}
	if p.Terminal {
		every = 200 * time.Millisecond
	}
	p.stopc = make(chan struct{})
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stopc:
				if p.Terminal {
					p.draw(w.snapshot())
					fmt.Fprintln(p.W)
				}
				return
			case <-t.C:
				p.draw(w.snapshot())
			}
		}
	}()
}

func (p *Progress) stop() {
	if p.stopc != nil {
		close(p.stopc)
		p.done.Wait()
	}
}

func (p *Progress) draw(s snapshot) {
	el := time.Since(p.began)
	line := Line(s.done, s.failed, s.listed, s.listDone, s.bytes, el)
	if p.Extra != nil {
		line += "  " + p.Extra()
	}
	if p.Terminal {
		fmt.Fprintf(p.W, "\r%s\x1b[K", line)
		return
	}
	fmt.Fprintln(p.W, "progress: "+line)
}

// Line formats one progress report: a bar when the total is known, the
// objects finished of those listed, bytes, rate and ETA.
func Line(done, failed, listed int64, listDone bool, bytes int64, el time.Duration) string {
	var b strings.Builder
	finished := done + failed
	total := fmt.Sprint(listed)
	if !listDone {
		total += "+"
	}
	if listDone && listed > 0 {
		const width = 24
		n := int(float64(width) * float64(finished) / float64(listed))
		n = min(max(n, 0), width)
		b.WriteString("[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "] ")
	}
	fmt.Fprintf(&b, "%d/%s objects", finished, total)
	if failed > 0 {
		fmt.Fprintf(&b, " (%d failed)", failed)
	}
	fmt.Fprintf(&b, "  %s", HumanBytes(bytes))
	secs := el.Seconds()
	if secs > 0 {
		rate := float64(finished) / secs
		fmt.Fprintf(&b, "  %.0f obj/s  %s/s", rate, HumanBytes(int64(float64(bytes)/secs)))
		if listDone && rate > 0 && listed > finished {
			eta := time.Duration(float64(listed-finished) / rate * float64(time.Second))
			fmt.Fprintf(&b, "  ETA %s", eta.Round(time.Second))
		}
	}
	return b.String()
}

// HumanBytes formats n bytes with a binary unit.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
