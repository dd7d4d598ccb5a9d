package envelope

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// readAll reads r with reads of n bytes (0: WriteTo).
func readAll(r io.Reader, n int) ([]byte, error) {
	var out bytes.Buffer
	if n == 0 {
		_, err := r.(io.WriterTo).WriteTo(&out)
		return out.Bytes(), err
	}
	buf := make([]byte, n)
	for {
		m, err := r.Read(buf)
		out.Write(buf[:m])
		if errors.Is(err, io.EOF) {
			return out.Bytes(), nil
		}
		if err != nil {
			return out.Bytes(), err
		}
	}
}

// Long streams read ahead: every size around the switch and the batch,
// read in small, segment-sized and larger reads and with WriteTo, gives
// the plaintext back.
func TestReadAheadRoundTrip(t *testing.T) {
	key := testKey(21)
	for _, n := range []int{0, 1, S, 2 * S, 2*S + 1, 3 * S, 3*S + 1, 5 * S, 6*S + 7, 9*S + 7, 13 * S} {
		pt := pattern(n, 3)
		ct := encrypt(t, pt, key, 0)
		for _, rs := range []int{0, 1000, S, 3*S + 5} {
			r, err := NewReader(bytes.NewReader(ct), key)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(r, rs)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("n=%d, reads of %d: %d bytes, err %v", n, rs, len(got), err)
			}
			r.(io.Closer).Close()
		}
	}
}

// With read-ahead, a flip in segment i (the ones read ahead included)
// releases exactly the segments before i, and a cut stream or trailing
// bytes release only whole authenticated segments.
func TestReadAheadTamper(t *testing.T) {
	key := testKey(22)
	pt := pattern(9*S+7, 4)
	ct := encrypt(t, pt, key, 0)
	for seg := range 10 {
		for _, off := range []int{0, S / 2, E - 1} {
			pos := min(seg*E+off, len(ct)-1)
			bad := bytes.Clone(ct)
			bad[pos] ^= 0x10
			got, err := decrypt(bad, key, 0)
			if !errors.Is(err, ErrAuth) || !bytes.Equal(got, pt[:seg*S]) {
				t.Fatalf("flip at %d (segment %d): released %d bytes, err %v", pos, seg, len(got), err)
			}
		}
	}
	for b := 2 * E; b <= len(ct); b += E {
		for _, d := range []int{-tagSize - 1, -tagSize, -1, 0, 1, tagSize, tagSize + 1} {
			c := b + d
			if c < 0 || c >= len(ct) {
				continue
			}
			got, err := decrypt(ct[:c], key, 0)
			if !errors.Is(err, ErrAuth) || len(got)%S != 0 || !bytes.Equal(got, pt[:len(got)]) {
				t.Fatalf("cut at %d: released %d bytes, err %v", c, len(got), err)
			}
		}
	}
	for _, extra := range [][]byte{{0}, make([]byte, tagSize), make([]byte, E)} {
		got, err := decrypt(append(bytes.Clone(ct), extra...), key, 0)
		if !errors.Is(err, ErrAuth) || len(got) > len(pt) {
			t.Fatalf("+%d bytes: released %d bytes, err %v", len(extra), len(got), err)
		}
	}
}

// A reader abandoned in the middle of a long stream ends its read-ahead
// goroutine once its source is closed, as the proxy does when a client
// goes away (the goroutine is blocked in a read of the source then).
func TestReadAheadStopsOnClose(t *testing.T) {
	key := testKey(23)
	pt := pattern(20*S, 5)
	ct := encrypt(t, pt, key, 0)
	for _, closeFirst := range []string{"source", "reader"} {
		t.Run(closeFirst, func(t *testing.T) {
			pr, pw := io.Pipe()
			go func() {
				pw.Write(ct[:8*E]) // then blocks until the reader is closed
				pw.CloseWithError(errors.New("source closed"))
			}()
			r, err := NewReader(pr, key)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 4*S)
			if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, pt[:4*S]) {
				t.Fatalf("first segments: %v", err)
			}
			ra := r.(*plainReader).src.(*streamSource).ra
			if ra == nil {
				t.Fatal("no read-ahead after 4 segments")
			}
			if closeFirst == "source" {
				pr.Close()
				r.(io.Closer).Close()
			} else {
				r.(io.Closer).Close()
				pr.Close()
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			select {
			case <-ra.exited:
			case <-ctx.Done():
				t.Fatal("read-ahead goroutine still running after close")
			}
			if _, err := r.Read(got); err == nil {
				t.Fatal("read after Close succeeded")
			}
		})
	}
}

// A source error reaches the reader after the segments before it, with
// read-ahead too.
func TestReadAheadPassesSourceErrors(t *testing.T) {
	boom := errors.New("connection reset")
	ct := encrypt(t, pattern(8*S, 1), testKey(1), 0)
	for _, at := range []int{3*E + 5, 5 * E, 7*E + 1} {
		r, _ := NewReader(io.MultiReader(bytes.NewReader(ct[:at]), errReader{boom}), testKey(1))
		got, err := readAll(r, 0)
		if !errors.Is(err, boom) || errors.Is(err, ErrAuth) {
			t.Fatalf("at %d: err %v", at, err)
		}
		if want := (at/E - 1) * S; len(got) != want && len(got) != want+S {
			t.Fatalf("at %d: released %d bytes", at, len(got))
		}
		if _, err := r.Read(make([]byte, 1)); !errors.Is(err, boom) {
			t.Fatalf("at %d: error not sticky: %v", at, err)
		}
	}
}

// At most readAheadStreams streams read ahead at once: the streams past
// the budget are read one segment at a time, give the same plaintext, and
// every slot is back once the streams end.
func TestReadAheadBudget(t *testing.T) {
	if n := len(readAheadSlots); n != 0 {
		t.Fatalf("%d read-ahead slots taken before the test", n)
	}
	key := testKey(25)
	pt := pattern(10*S+3, 6)
	ct := encrypt(t, pt, key, 0)
	readers := make([]io.Reader, readAheadStreams+3)
	ahead := 0
	for i := range readers {
		r, err := NewReader(bytes.NewReader(ct), key)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 4*S)
		if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, pt[:4*S]) {
			t.Fatalf("stream %d, first segments: %v", i, err)
		}
		if r.(*plainReader).src.(*streamSource).ra != nil {
			ahead++
		}
		readers[i] = r
	}
	if ahead != readAheadStreams {
		t.Fatalf("%d of %d streams read ahead, want %d", ahead, len(readers), readAheadStreams)
	}
	for i, r := range readers {
		rest, err := readAll(r, S)
		if err != nil || !bytes.Equal(rest, pt[4*S:]) {
			t.Fatalf("stream %d, the rest: %d bytes, err %v", i, len(rest), err)
		}
		r.(io.Closer).Close()
	}
	if n := len(readAheadSlots); n != 0 {
		t.Fatalf("%d read-ahead slots still taken after every stream ended", n)
	}
}
