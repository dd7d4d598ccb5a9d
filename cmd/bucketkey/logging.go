package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
}

// newLogger builds the process logger: text or JSON lines on w. Secrets never
// reach it: the configuration is logged field by field, without them.
func newLogger(w io.Writer, format, level string) *slog.Logger {
	lv, err := parseLevel(level)
	if err != nil {
		lv = slog.LevelInfo
	}
	o := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// maxPendingLog bounds the log bytes a logWriter holds: past it, loggers
// wait for the write under way, as they would for a direct write.
const maxPendingLog = 1 << 20

// logWriter is serve's log output: lines are appended to a buffer that
// one goroutine writes out, everything that accumulated in one write. The
// request log is a line per request; under load one write(2) now carries
// the lines of many, and an idle proxy still writes each line at once (the
// goroutine wakes for it). Lines are never split, reordered or dropped;
// Close writes what is pending, and lines written after Close go straight
// to the output. Write errors are the output's business, as with a direct
// write that slog ignores.
type logWriter struct {
	out     io.Writer
	mu      sync.Mutex
	drained *sync.Cond // signalled when the goroutine took the pending lines
	pending []byte
	spare   []byte
	closed  bool
	wake    chan struct{} // one token: there are pending lines
	quit    chan struct{}
	done    chan struct{}
	onWait  func() // tests: a writer is about to wait for the output
}

func newLogWriter(out io.Writer) *logWriter {
	l := &logWriter{out: out, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	l.drained = sync.NewCond(&l.mu)
	go l.loop()
	return l
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	for len(l.pending) >= maxPendingLog && !l.closed {
		if l.onWait != nil {
			l.onWait()
		}
		l.drained.Wait()
	}
	if l.closed {
		l.mu.Unlock()
		<-l.done // the pending lines went first
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.out.Write(p)
	}
	l.pending = append(l.pending, p...)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default: // a wake-up is on its way
	}
	return len(p), nil
}

func (l *logWriter) loop() {
	defer close(l.done)
	for {
		select {
		case <-l.wake:
			l.flush()
		case <-l.quit:
			l.flush()
			return
		}
	}
}

// flush writes the pending lines in one write.
func (l *logWriter) flush() {
	l.mu.Lock()
	b := l.pending
	l.pending, l.spare = l.spare[:0], nil
	l.drained.Broadcast()
	l.mu.Unlock()
	if len(b) == 0 {
		return
	}
	_, _ = l.out.Write(b)
	if cap(b) <= 64<<10 { // keep a usual buffer, not a burst's
		l.mu.Lock()
		l.spare = b[:0]
		l.mu.Unlock()
	}
}

// Close writes the pending lines and stops the goroutine.
func (l *logWriter) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.drained.Broadcast()
	l.mu.Unlock()
	close(l.quit)
	<-l.done
	return nil
}
