package proxy

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
)

// writeLog is a net.Conn that records the size and start of each Write.
type writeLog struct {
	net.Conn
	mu     *sync.Mutex
	writes *[]string
}

func (w writeLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	*w.writes = append(*w.writes, string(p[:min(len(p), 8)]))
	w.mu.Unlock()
	return w.Conn.Write(p)
}

// TestUnitSmallPutOneWrite: a small PUT (sealed in a buffer of its own,
// inlinePutMax) reaches the backend in one write, its headers and body
// together; a larger one sealed in a pooled buffer still arrives whole.
func TestUnitSmallPutOneWrite(t *testing.T) {
	var mu sync.Mutex
	var writes []string
	tr := DefaultTransport()
	d := &net.Dialer{}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return writeLog{Conn: c, mu: &mu, writes: &writes}, nil
	}
	tp := newUnitTestProxy(t, func(c *Config) { c.UpstreamTransport = tr })
	b := tp.newBucket(t)
	for _, size := range []int{1, 4 << 10, 12<<10 - 32} {
		data := randBytes(size)
		mu.Lock()
		writes = writes[:0]
		mu.Unlock()
		tp.put(t, b, "small", data)
		mu.Lock()
		got := append([]string(nil), writes...)
		mu.Unlock()
		puts := 0
		for _, w := range got {
			if strings.HasPrefix(w, "PUT ") {
				puts++
			}
		}
		if puts != 1 || len(got) != 1 {
			t.Errorf("PUT of %d bytes: %d writes to the backend (%q), want 1", size, len(got), got)
		}
		mustEqual(t, "GET", tp.get(t, b, "small"), data)
	}
	big := randBytes(100 << 10)
	tp.put(t, b, "pooled", big)
	if !bytes.Equal(tp.get(t, b, "pooled"), big) {
		t.Fatal("the pooled PUT reads back differently")
	}
}
