package proxy

import (
	"context"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// readAheadGoroutines counts the envelope read-ahead goroutines running.
func readAheadGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "envelope.(*readAhead).fill(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// waitReadAheadGone waits (under a generous deadline, not a timing
// assertion) until no read-ahead goroutine runs.
func waitReadAheadGone(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for readAheadGoroutines() > 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("%d read-ahead goroutines still running", readAheadGoroutines())
		case <-time.After(10 * time.Millisecond): // polling, as a leak check must
		}
	}
}

// TestUnitGetDisconnectStopsReadAhead: a client that goes away in the
// middle of a large GET stops the proxy's backend read and its read-ahead
// goroutine (issue 15); a client that reads to the end leaves none either.
func TestUnitGetDisconnectStopsReadAhead(t *testing.T) {
	tp := newUnitTestProxy(t)
	b := tp.newBucket(t)
	data := randBytes(16 << 20)
	tp.put(t, b, "big", data)
	mustEqual(t, "GET", tp.get(t, b, "big"), data)
	waitReadAheadGone(t)
	for range 3 {
		out, err := tp.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &b, Key: aws.String("big")})
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 1<<20)
		if _, err := io.ReadFull(out.Body, head); err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "first MiB", head, data[:1<<20])
		out.Body.Close() // unread body: the client's connection is closed
	}
	waitReadAheadGone(t)
}
