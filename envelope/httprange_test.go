package envelope

import (
	"errors"
	"testing"
)

func TestParseRange(t *testing.T) {
	const size = 1000
	type want struct {
		r     Range
		ok    bool
		unsat bool
	}
	cases := map[string]want{
		"":                             {},
		"bytes=0-0":                    {Range{0, 1}, true, false},
		"bytes=0-999":                  {Range{0, 1000}, true, false},
		"bytes=0-1000":                 {Range{0, 1000}, true, false}, // end clamped
		"bytes=10-19":                  {Range{10, 10}, true, false},
		"bytes=999-":                   {Range{999, 1}, true, false},
		"bytes=0-":                     {Range{0, 1000}, true, false},
		"bytes=-1":                     {Range{999, 1}, true, false},
		"bytes=-1000":                  {Range{0, 1000}, true, false},
		"bytes=-5000":                  {Range{0, 1000}, true, false}, // suffix clamped
		"bytes=0-99999999999999999999": {Range{0, 1000}, true, false}, // saturates
		"bytes=-99999999999999999999":  {Range{0, 1000}, true, false},
		"bytes= 10 - 19 ":              {}, // spaces: S3 ignores the header
		"bytes= -1":                    {},
		"bytes=0 -1":                   {},
		"bytes=--1":                    {},
		"bytes=00-01":                  {Range{0, 2}, true, false},
		"bytes=1000-":                  {ok: true, unsat: true},
		"bytes=1000-2000":              {ok: true, unsat: true},
		"bytes=99999999999999999999-":  {ok: true, unsat: true},
		"bytes=-0":                     {ok: true, unsat: true},
		"bytes=5-4":                    {}, // end before start: ignored
		"bytes=0-1,5-6":                {}, // multi-range: ignored
		"bytes=":                       {},
		"bytes=-":                      {},
		"bytes=a-b":                    {},
		"bytes=1":                      {},
		"bytes=+1-2":                   {},
		"bytes=1--2":                   {},
		"bytes=0x10-":                  {},
		"items=0-1":                    {},
		"Bytes=0-1":                    {},
		"bytes=0-1 trailing":           {},
	}
	for h, w := range cases {
		r, ok, err := ParseRange(h, size)
		if ok != w.ok || errors.Is(err, ErrUnsatisfiableRange) != w.unsat || (err != nil && !w.unsat) {
			t.Errorf("%q: ok=%v err=%v, want ok=%v unsat=%v", h, ok, err, w.ok, w.unsat)
			continue
		}
		if r != w.r {
			t.Errorf("%q: %+v, want %+v", h, r, w.r)
		}
	}
	// An empty object satisfies no range that names a first byte, nor an
	// empty suffix; S3 answers a non-empty suffix with the whole object.
	for _, h := range []string{"bytes=0-", "bytes=0-0", "bytes=00-01", "bytes=-0"} {
		if _, ok, err := ParseRange(h, 0); !ok || !errors.Is(err, ErrUnsatisfiableRange) {
			t.Errorf("%q of empty object: ok=%v err=%v", h, ok, err)
		}
	}
	for _, h := range []string{"bytes=-1", "bytes=-5000"} {
		if _, ok, err := ParseRange(h, 0); ok || err != nil {
			t.Errorf("%q of empty object: ok=%v err=%v, want the whole object", h, ok, err)
		}
	}
	if _, _, err := ParseRange("bytes=0-1", -1); err == nil {
		t.Error("negative size accepted")
	}
}
