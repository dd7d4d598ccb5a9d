package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// gatedOutput records each Write; the first one closes started and
// waits for open, so that a test can pile lines up behind a write in
// progress.
type gatedOutput struct {
	started, open chan struct{}
	mu            sync.Mutex
	writes        [][]byte
}

func (g *gatedOutput) Write(p []byte) (int, error) {
	g.mu.Lock()
	first := len(g.writes) == 0
	g.writes = append(g.writes, bytes.Clone(p))
	g.mu.Unlock()
	if first {
		close(g.started)
		<-g.open
	}
	return len(p), nil
}

// TestLogWriterBatches: lines logged while a write is under way go out
// together in the next write, each whole, once, in each writer's order;
// pending lines never exceed maxPendingLog (a writer waits instead); Close
// writes what is pending, and a line after Close goes straight out.
func TestLogWriterBatches(t *testing.T) {
	out := &gatedOutput{started: make(chan struct{}), open: make(chan struct{})}
	l := newLogWriter(out)
	waiting := make(chan struct{}, 1)
	l.onWait = func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	if _, err := l.Write([]byte("first\n")); err != nil {
		t.Fatal(err)
	}
	<-out.started
	const writers, lines = 8, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(l, "w%d line %d\n", w, i)
			}
		})
	}
	wg.Wait() // every line is pending
	big := strings.Repeat("x", 1023) + "\n"
	bigDone := make(chan struct{})
	go func() { // 2 MiB: waits for the gate once 1 MiB is pending
		defer close(bigDone)
		for range 2 << 10 {
			_, _ = l.Write([]byte(big))
		}
	}()
	select {
	case <-waiting:
	case <-bigDone:
		t.Error("2 MiB logged during one write without waiting: pending lines are not bounded")
	}
	close(out.open)
	<-bigDone
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(l, "after close\n")

	var all bytes.Buffer
	for i, w := range out.writes {
		if len(w) > maxPendingLog+len(big) {
			t.Errorf("write %d: %d bytes, more than the %d pending a logWriter may hold", i, len(w), maxPendingLog)
		}
		if len(w) == 0 || w[len(w)-1] != '\n' {
			t.Errorf("write %d splits a line", i)
		}
		all.Write(w)
	}
	got := strings.Split(strings.TrimSuffix(all.String(), "\n"), "\n")
	next := make([]int, writers)
	counts := map[string]int{}
	for _, line := range got {
		var w, i int
		if _, err := fmt.Sscanf(line, "w%d line %d", &w, &i); err == nil {
			if i != next[w] {
				t.Fatalf("writer %d: line %d after %d: reordered or lost", w, i, next[w]-1)
			}
			next[w]++
			continue
		}
		counts[line]++
	}
	for w, n := range next {
		if n != lines {
			t.Errorf("writer %d: %d lines out, want %d", w, n, lines)
		}
	}
	if counts["first"] != 1 || counts[strings.TrimSuffix(big, "\n")] != 2<<10 || counts["after close"] != 1 || got[len(got)-1] != "after close" {
		t.Errorf("first %d, big %d, after close %d (last line %.20q)", counts["first"], counts[strings.TrimSuffix(big, "\n")], counts["after close"], got[len(got)-1])
	}
	// The small lines were all logged while the first write waited: they
	// go out in the next write, not in a write per line.
	withSmall := 0
	for _, w := range out.writes {
		if bytes.Contains(w, []byte(" line ")) {
			withSmall++
		}
	}
	if withSmall != 1 {
		t.Errorf("%d writes carry the %d lines logged during one write: they are not batched", withSmall, writers*lines)
	}
}
