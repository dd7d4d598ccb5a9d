package sigv4

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// scriptedReader plays a script of reads: each step's data (spread over as
// many reads as the caller's buffer needs) and then, with its last bytes,
// the step's error. It records what it has handed out, for the holdBack
// invariant.
type scriptedReader struct {
	steps []scriptStep
	given int  // bytes returned so far
	ended bool // io.EOF returned
}

type scriptStep struct {
	data string
	err  error
}

func (s *scriptedReader) Read(p []byte) (int, error) {
	if len(s.steps) == 0 {
		s.ended = true
		return 0, io.EOF
	}
	st := &s.steps[0]
	n := copy(p, st.data)
	st.data = st.data[n:]
	s.given += n
	if len(st.data) > 0 {
		return n, nil
	}
	err := st.err
	s.steps = s.steps[1:]
	if err == io.EOF {
		s.ended = true
	}
	return n, err
}

func TestHoldBack(t *testing.T) {
	errCheck := errors.New("check failed")
	for _, tc := range []struct {
		name  string
		steps []scriptStep
		want  string // the whole body, when it ends in io.EOF
		err   error  // the failure, when it does not
	}{
		{name: "empty body", steps: []scriptStep{{"", io.EOF}}},
		{name: "empty body, EOF on a later read", steps: []scriptStep{{"", nil}, {"", io.EOF}}},
		{name: "one byte", steps: []scriptStep{{"x", nil}, {"", io.EOF}}, want: "x"},
		{name: "one byte with EOF", steps: []scriptStep{{"x", io.EOF}}, want: "x"},
		{name: "data then EOF", steps: []scriptStep{{"hello, world", nil}, {"", io.EOF}}, want: "hello, world"},
		{name: "data with EOF", steps: []scriptStep{{"hello, world", io.EOF}}, want: "hello, world"},
		{name: "byte at a time", steps: []scriptStep{{"a", nil}, {"b", nil}, {"c", nil}, {"", io.EOF}}, want: "abc"},
		{name: "large", steps: []scriptStep{{strings.Repeat("0123456789", 10000), nil}, {strings.Repeat("z", 70000), io.EOF}}, want: strings.Repeat("0123456789", 10000) + strings.Repeat("z", 70000)},
		{name: "error on the last read", steps: []scriptStep{{"hello", nil}, {"", errCheck}}, err: errCheck},
		{name: "error with the last bytes", steps: []scriptStep{{"hel", nil}, {"lo", errCheck}}, err: errCheck},
		{name: "error on the first read", steps: []scriptStep{{"", errCheck}}, err: errCheck},
		{name: "error after one byte", steps: []scriptStep{{"x", nil}, {"", errCheck}}, err: errCheck},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var all string
			for _, st := range tc.steps {
				all += st.data
			}
			for _, size := range []int{1, 2, 3, 4096, 1 << 20} {
				src := &scriptedReader{steps: append([]scriptStep(nil), tc.steps...)}
				h := &holdBack{src: src}
				var got []byte
				buf := make([]byte, size)
				var err error
				for reads := 0; ; reads++ {
					if reads > 4*len(all)+10 {
						t.Fatalf("read size %d: no end after %d reads", size, reads)
					}
					var n int
					n, err = h.Read(buf)
					got = append(got, buf[:n]...)
					if err != nil {
						break
					}
					// The invariant: until the source has ended, at least
					// one byte it gave out is held back.
					if !src.ended && src.given > 0 && len(got) >= src.given {
						t.Fatalf("read size %d: released %d of the %d bytes read before the source ended", size, len(got), src.given)
					}
					// And it holds no more than one, so every Read that
					// can make progress does.
					if src.given-len(got) > 1 {
						t.Fatalf("read size %d: %d bytes read but not released", size, src.given-len(got))
					}
				}
				if tc.err == nil {
					if err != io.EOF || string(got) != tc.want {
						t.Fatalf("read size %d: %q, %v; want %q, io.EOF", size, got, err, tc.want)
					}
				} else {
					if !errors.Is(err, tc.err) {
						t.Fatalf("read size %d: error %v, want %v", size, err, tc.err)
					}
					if !strings.HasPrefix(all, string(got)) || len(got) >= src.given && src.given > 0 {
						t.Fatalf("read size %d: released %q of %q before the failure", size, got, all)
					}
				}
				// The end, good or bad, is sticky.
				if n, again := h.Read(buf); n != 0 || again != err {
					t.Fatalf("read size %d: after the end, %d bytes, %v; want 0, %v", size, n, again, err)
				}
			}
		})
	}
}

// TestHoldBackEmptyRead: a zero-length Read neither consumes nor loses
// anything.
func TestHoldBackEmptyRead(t *testing.T) {
	h := &holdBack{src: &scriptedReader{steps: []scriptStep{{"ab", nil}, {"", io.EOF}}}}
	var one [1]byte
	if n, err := h.Read(one[:]); n != 1 || err != nil || one[0] != 'a' {
		t.Fatalf("first byte: %d %v %q", n, err, one[:n])
	}
	if n, err := h.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty read: %d, %v", n, err)
	}
	rest, err := io.ReadAll(h)
	if err != nil || string(rest) != "b" {
		t.Fatalf("rest %q, %v", rest, err)
	}
}

// TestHoldBackAllocs: the wrapper is on every request body's hot path.
func TestHoldBackAllocs(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 1<<20)
	src := bytes.NewReader(data)
	h := &holdBack{src: src}
	buf := make([]byte, 4096)
	for _, size := range []int{1, 4096} {
		if a := testing.AllocsPerRun(100, func() {
			if _, err := h.Read(buf[:size]); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Fatalf("read size %d: %v allocations per Read", size, a)
		}
	}
}
