package envelope

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// FuzzReader decrypts arbitrary bytes. Whatever the input, the reader must
// not panic, must release only whole authenticated segments, and anything
// it accepts must be exactly what the writer makes of its output (the
// encoding is unique).
//
// To reach multi-segment streams without 64 KiB inputs (which the fuzzer
// mutates and minimises slowly), the input is the fuzzed tail after the
// first full%3 segments of a fixed valid stream. Run it with a short
// minimisation time: go test -fuzz=FuzzReader -fuzzminimizetime=5s
func FuzzReader(f *testing.F) {
	key := testKey(0x5e)
	long := encrypt(f, pattern(3*S, 1), key, 0)
	for _, n := range []int{0, 1, 17, 100} {
		f.Add(uint8(0), encrypt(f, pattern(n, 1), key, 0), false)
	}
	f.Add(uint8(0), encrypt(f, pattern(100, 1), key, 0), true)
	f.Add(uint8(1), encrypt(f, pattern(S+3, 1), key, 0)[E:], false)     // valid: 2 segments
	f.Add(uint8(2), encrypt(f, pattern(2*S+50, 1), key, 0)[2*E:], true) // valid: 3 segments
	f.Add(uint8(2), long[2*E:], false)                                  // valid: full final segment
	f.Add(uint8(1), []byte{}, false)                                    // truncated at a boundary
	f.Add(uint8(0), make([]byte, TagSize), false)
	f.Fuzz(func(t *testing.T, full uint8, tail []byte, oneByte bool) {
		ct := append(bytes.Clone(long[:int(full%3)*E]), tail...)
		r, err := NewReader(bytes.NewReader(ct), key, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		if oneByte {
			got, err = io.ReadAll(iotest.OneByteReader(r))
		} else {
			var b bytes.Buffer
			_, err = io.Copy(&b, r) // the WriteTo path
			got = b.Bytes()
		}
		if err != nil {
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("error %v does not wrap ErrAuth", err)
			}
			if len(got)%S != 0 || !bytes.Equal(got, pattern(3*S, 1)[:len(got)]) {
				t.Fatalf("released %d bytes that are not whole authenticated segments", len(got))
			}
			return
		}
		if again := encrypt(t, got, key, 0); !bytes.Equal(again, ct) {
			t.Fatalf("accepted a ciphertext the writer would not produce")
		}
	})
}

// FuzzRangeReader builds multipart objects from fuzzed part sizes, reads a
// fuzzed range, and optionally flips a fuzzed bit of the fetched bytes.
func FuzzRangeReader(f *testing.F) {
	f.Add(uint8(1), uint32(100), uint32(0), int64(0), int64(100), uint32(0), false)
	f.Add(uint8(3), uint32(S), uint32(7), int64(S-1), int64(3), uint32(0), false)
	f.Add(uint8(2), uint32(S+333), uint32(S), int64(5), int64(2*S), uint32(9), true)
	f.Add(uint8(4), uint32(0), uint32(1), int64(0), int64(1), uint32(3), true)
	f.Add(uint8(0), uint32(2*S), uint32(0), int64(0), int64(2*S), uint32(0), false)
	f.Fuzz(func(t *testing.T, nparts uint8, partSize, lastSize uint32, start, length int64, flip uint32, doFlip bool) {
		nparts = nparts % 5
		partSize %= 3*S + 1
		lastSize %= 3*S + 1
		var o *object
		if nparts == 0 {
			o = newObject(t, false, int(partSize))
		} else {
			sizes := make([]int, nparts)
			for i := range sizes {
				sizes[i] = int(partSize)
			}
			sizes[nparts-1] = int(lastSize)
			o = newObject(t, true, sizes...)
		}
		r := Range{start, length}
		off, n, err := o.l.CiphertextRange(r)
		if err != nil {
			if !errors.Is(err, ErrUnsatisfiableRange) {
				t.Fatalf("CiphertextRange: %v", err)
			}
			if _, err := NewRangeReader(bytes.NewReader(nil), o.key, o.l, r); !errors.Is(err, ErrUnsatisfiableRange) {
				t.Fatalf("NewRangeReader accepted a range CiphertextRange refused: %v", err)
			}
			return
		}
		if off < 0 || n <= 0 || off+n > int64(len(o.ct)) {
			t.Fatalf("range %+v -> [%d, +%d) outside %d ciphertext bytes", r, off, n, len(o.ct))
		}
		src := bytes.Clone(o.ct[off : off+n])
		if doFlip {
			src[int(flip/8)%len(src)] ^= 1 << (flip % 8)
		}
		rr, err := NewRangeReader(bytes.NewReader(src), o.key, o.l, r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rr)
		want := o.pt[start : start+length]
		if !bytes.Equal(got, want[:min(len(got), len(want))]) {
			t.Fatal("released bytes that are not the plaintext")
		}
		if doFlip {
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("flipped bit not detected: %v", err)
			}
		} else if err != nil || len(got) != len(want) {
			t.Fatalf("%d of %d bytes, %v", len(got), len(want), err)
		}
	})
}

// FuzzParseMetadata parses arbitrary header values. Whatever parses must
// validate, and must encode back to the very same headers.
func FuzzParseMetadata(f *testing.F) {
	m := sampleMetadata()
	hs := m.Headers()
	add := func(hs map[string]string) {
		f.Add(hs[HeaderVersion], hs[HeaderKeyID], hs[HeaderKeyBucket], hs[HeaderWrappedKey], hs[HeaderContext],
			hs[HeaderSalt], hs[HeaderSealedKey], hs[HeaderMultipart], hs[HeaderSize], "")
	}
	add(hs)
	m.Context = map[string]string{"a": "b", "<": "\u2028"}
	m.Multipart, m.Size = true, -1
	add(m.Headers())
	f.Add("1", "k", "b", "AA", "e30", "", "", "0", "01", "x-amz-meta-bk-x")
	f.Fuzz(func(t *testing.T, v, kid, kb, wk, ctx, salt, sk, mp, size, extra string) {
		h := http.Header{}
		for name, val := range map[string]string{
			HeaderVersion: v, HeaderKeyID: kid, HeaderKeyBucket: kb, HeaderWrappedKey: wk, HeaderContext: ctx,
			HeaderSalt: salt, HeaderSealedKey: sk, HeaderMultipart: mp, HeaderSize: size,
		} {
			if val != "" {
				h.Set(name, val)
			}
		}
		if extra != "" {
			h[extra] = []string{v}
		}
		got, err := ParseMetadata(h)
		if err != nil {
			if err != ErrNotEncrypted && !errors.Is(err, ErrInvalidMetadata) {
				t.Fatalf("error %v wraps neither ErrNotEncrypted nor ErrInvalidMetadata", err)
			}
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("parsed metadata does not validate: %v", err)
		}
		back := got.Headers()
		for name, vals := range h {
			if IsEnvelopeHeader(name) && back[strings.ToLower(name)] != vals[0] {
				t.Fatalf("%s=%q re-encodes as %q", name, vals, back[strings.ToLower(name)])
			}
		}
		again, err := ParseMetadata(headerOf(back))
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

// FuzzParseRange checks ParseRange's invariants on any header and size.
func FuzzParseRange(f *testing.F) {
	for _, h := range []string{"bytes=0-0", "bytes=5-", "bytes=-5", "bytes=5-2", "bytes=0-1,2-3", "bytes=-0", "bytes= 1 - 2", "bytes=99999999999999999999-"} {
		f.Add(h, int64(100))
	}
	f.Add("bytes=0-", int64(0))
	f.Fuzz(func(t *testing.T, h string, size int64) {
		r, ok, err := ParseRange(h, size)
		switch {
		case size < 0:
			if err == nil {
				t.Fatal("negative size accepted")
			}
		case err != nil:
			if !ok || !errors.Is(err, ErrUnsatisfiableRange) {
				t.Fatalf("ok=%v err=%v", ok, err)
			}
		case ok:
			if r.Start < 0 || r.Length < 1 || r.Start > size-r.Length {
				t.Fatalf("%+v outside a %d-byte object", r, size)
			}
		default:
			if r != (Range{}) {
				t.Fatalf("ok=false with range %+v", r)
			}
		}
	})
}
