package proxy

import (
	"errors"
	"testing"

	"github.com/bucketkey/bucketkey/envelope"
)

func TestUnitparseRange(t *testing.T) {
	const size = 1000
	type want struct {
		r     envelope.Range
		ok    bool
		unsat bool
	}
	cases := map[string]want{
		"":                             {},
		"bytes=0-0":                    {envelope.Range{Start: 0, Length: 1}, true, false},
		"bytes=0-999":                  {envelope.Range{Start: 0, Length: 1000}, true, false},
		"bytes=0-1000":                 {envelope.Range{Start: 0, Length: 1000}, true, false}, // end clamped
		"bytes=10-19":                  {envelope.Range{Start: 10, Length: 10}, true, false},
		"bytes=999-":                   {envelope.Range{Start: 999, Length: 1}, true, false},
		"bytes=0-":                     {envelope.Range{Start: 0, Length: 1000}, true, false},
		"bytes=-1":                     {envelope.Range{Start: 999, Length: 1}, true, false},
		"bytes=-1000":                  {envelope.Range{Start: 0, Length: 1000}, true, false},
		"bytes=-5000":                  {envelope.Range{Start: 0, Length: 1000}, true, false}, // suffix clamped
		"bytes=0-99999999999999999999": {envelope.Range{Start: 0, Length: 1000}, true, false}, // saturates
		"bytes=-99999999999999999999":  {envelope.Range{Start: 0, Length: 1000}, true, false},
		"bytes= 10 - 19 ":              {}, // spaces: S3 ignores the header
		"bytes= -1":                    {},
		"bytes=0 -1":                   {},
		"bytes=--1":                    {},
		"bytes=00-01":                  {envelope.Range{Start: 0, Length: 2}, true, false},
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
		r, ok, err := parseRange(h, size)
		if ok != w.ok || errors.Is(err, errUnsatisfiableRange) != w.unsat || (err != nil && !w.unsat) {
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
		if _, ok, err := parseRange(h, 0); !ok || !errors.Is(err, errUnsatisfiableRange) {
			t.Errorf("%q of empty object: ok=%v err=%v", h, ok, err)
		}
	}
	for _, h := range []string{"bytes=-1", "bytes=-5000"} {
		if _, ok, err := parseRange(h, 0); ok || err != nil {
			t.Errorf("%q of empty object: ok=%v err=%v, want the whole object", h, ok, err)
		}
	}
	if _, _, err := parseRange("bytes=0-1", -1); err == nil {
		t.Error("negative size accepted")
	}
}

// FuzzParseRange checks ParseRange's invariants on any header and size.
func FuzzParseRange(f *testing.F) {
	for _, h := range []string{"bytes=0-0", "bytes=5-", "bytes=-5", "bytes=5-2", "bytes=0-1,2-3", "bytes=-0", "bytes= 1 - 2", "bytes=99999999999999999999-"} {
		f.Add(h, int64(100))
	}
	f.Add("bytes=0-", int64(0))
	f.Fuzz(func(t *testing.T, h string, size int64) {
		r, ok, err := parseRange(h, size)
		switch {
		case size < 0:
			if err == nil {
				t.Fatal("negative size accepted")
			}
		case err != nil:
			if !ok || !errors.Is(err, errUnsatisfiableRange) {
				t.Fatalf("ok=%v err=%v", ok, err)
			}
		case ok:
			if r.Start < 0 || r.Length < 1 || r.Start > size-r.Length {
				t.Fatalf("%+v outside a %d-byte object", r, size)
			}
		default:
			if r != (envelope.Range{}) {
				t.Fatalf("ok=false with range %+v", r)
			}
		}
	})
}
