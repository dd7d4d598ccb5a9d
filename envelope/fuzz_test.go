package envelope

import (
	"bytes"
	"encoding/binary"
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
	f.Add(uint8(0), make([]byte, tagSize), false)
	f.Fuzz(func(t *testing.T, full uint8, tail []byte, oneByte bool) {
		ct := append(bytes.Clone(long[:int(full%3)*E]), tail...)
		r, err := NewReader(bytes.NewReader(ct), key)
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

// FuzzRangeReader builds multipart objects from fuzzed part sizes (with a
// marker part when nparts >= 128), reads a fuzzed range, and optionally
// flips a fuzzed bit of the fetched bytes (the part header fetched
// separately included).
func FuzzRangeReader(f *testing.F) {
	f.Add(uint8(1), uint32(100), uint32(0), int64(0), int64(100), uint32(0), false)
	f.Add(uint8(3), uint32(S), uint32(7), int64(S-1), int64(3), uint32(0), false)
	f.Add(uint8(2), uint32(S+333), uint32(S), int64(5), int64(2*S), uint32(9), true)
	f.Add(uint8(4), uint32(0), uint32(1), int64(0), int64(1), uint32(3), true)
	f.Add(uint8(0), uint32(2*S), uint32(0), int64(0), int64(2*S), uint32(0), false)
	f.Add(uint8(130), uint32(S), uint32(S+9), int64(S+2), int64(S), uint32(0), false)
	f.Add(uint8(129), uint32(10), uint32(10), int64(9), int64(1), uint32(77), true)
	f.Fuzz(func(t *testing.T, nparts uint8, partSize, lastSize uint32, start, length int64, flip uint32, doFlip bool) {
		marker := nparts >= 128
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
			if marker {
				o = withMarker(t, o)
			}
		}
		r := Range{start, length}
		off, n, err := o.l.ciphertextRange(r)
		if err != nil {
			if !errors.Is(err, errUnsatisfiableRange) {
				t.Fatalf("CiphertextRange: %v", err)
			}
			if _, err := NewRangeReader(bytes.NewReader(nil), o.key, o.l, r); !errors.Is(err, errUnsatisfiableRange) {
				t.Fatalf("NewRangeReader accepted a range CiphertextRange refused: %v", err)
			}
			return
		}
		if off < 0 || n <= 0 || off+n > int64(len(o.ct)) {
			t.Fatalf("range %+v -> [%d, +%d) outside %d ciphertext bytes", r, off, n, len(o.ct))
		}
		var src []byte
		if hoff, hn, ok := o.l.headerRange(r); ok {
			if hoff < 0 || hoff+hn > off {
				t.Fatalf("range %+v: header at [%d, +%d) not before the range at %d", r, hoff, hn, off)
			}
			src = bytes.Clone(o.ct[hoff : hoff+hn])
		}
		src = append(src, o.ct[off:off+n]...)
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
		f.Add(hs[headerVersion], hs[headerKeyID], hs[headerKeyBucket], hs[headerWrappedKey], hs[headerContext],
			hs[headerSalt], hs[headerSealedKey], hs[headerMultipart], hs[headerSize], "")
	}
	add(hs)
	m.Context = map[string]string{"a": "b", "<": "\u2028"}
	m.Multipart, m.Size = true, -1
	add(m.Headers())
	f.Add("1", "k", "b", "AA", "e30", "", "", "0", "01", "x-amz-meta-bk-x")
	// Packed: the whole envelope in the version's header.
	m.Packed = true
	f.Add(m.Headers()[headerVersion], "", "", "", "", "", "", "", "", "")
	f.Add("1 kid=k kb=b wk=AA salt=AA sk=AA size=1", "", "", "", "", "", "", "", "", "")
	f.Add("1 kid=k  kb=b", "", "", "", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, v, kid, kb, wk, ctx, salt, sk, mp, size, extra string) {
		h := http.Header{}
		for name, val := range map[string]string{
			headerVersion: v, headerKeyID: kid, headerKeyBucket: kb, headerWrappedKey: wk, headerContext: ctx,
			headerSalt: salt, headerSealedKey: sk, headerMultipart: mp, headerSize: size,
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
		if err := got.validate(); err != nil {
			t.Fatalf("parsed metadata does not validate: %v", err)
		}
		back := got.Headers()
		for name, vals := range h {
			if isEnvelopeHeader(name) && back[strings.ToLower(name)] != vals[0] {
				t.Fatalf("%s=%q re-encodes as %q", name, vals, back[strings.ToLower(name)])
			}
		}
		again, err := ParseMetadata(headerOf(back))
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

// FuzzMultipartLayout parses fuzzed stored part sizes (as HEAD
// ?partNumber=k reports them) into a layout. What it accepts must be
// self-consistent, and the listing size (MultipartPlaintextSize of the
// total and the part count) must never be smaller than the exact size, nor
// larger by more than 16 bytes per part after the first.
func FuzzMultipartLayout(f *testing.F) {
	enc := func(sizes ...int64) []byte {
		var b []byte
		for _, c := range sizes {
			b = binary.BigEndian.AppendUint32(b, uint32(c))
		}
		return b
	}
	f.Add(enc(storedPartSize(minPartSize), storedPartSize(7)))
	f.Add(enc(storedPartSize(minPartSize), storedPartSize(minPartSize), markerSize))
	f.Add(enc(markerSize))
	f.Add(enc(47, 48, 49))
	f.Fuzz(func(t *testing.T, b []byte) {
		var stored []int64
		var total int64
		for len(b) >= 4 && len(stored) < 16 {
			c := int64(binary.BigEndian.Uint32(b))
			stored, total, b = append(stored, c), total+c, b[4:]
		}
		l, err := multipartLayout(formatV1, stored)
		if err != nil {
			return
		}
		parts := len(stored)
		if l.Marker {
			parts--
		}
		if l.storedSize() != total || !l.Multipart || len(l.Parts) != parts {
			t.Fatalf("%v: layout %+v stores %d bytes", stored, l, l.storedSize())
		}
		n, err := l.PlaintextSize()
		if err != nil {
			t.Fatalf("%v: accepted layout has no size: %v", stored, err)
		}
		if off, k := l.endRange(); off+k != total || k != endSize {
			t.Fatalf("%v: end tag at %d+%d", stored, off, k)
		}
		listed, err := PlaintextSize(total, len(stored))
		if err == nil && (listed < n || listed-n > int64(endSize*(len(l.Parts)-1))) {
			t.Fatalf("%v: listing size %d for %d plaintext bytes", stored, listed, n)
		}
	})
}

// FuzzPartReader reads a stored part (GET ?partNumber=k) after a fuzzed
// edit: a bit flip, a truncation or appended bytes. An unedited part reads
// back; an edited one fails with ErrAuth, having released only plaintext.
func FuzzPartReader(f *testing.F) {
	f.Add(uint16(0), uint32(100), false, uint32(0), uint16(0), []byte(nil))
	f.Add(uint16(1), uint32(S+1), true, uint32(5), uint16(0), []byte(nil))
	f.Add(uint16(2), uint32(2*S), false, uint32(0), uint16(3), []byte(nil))
	f.Add(uint16(3), uint32(0), false, uint32(0), uint16(0), []byte{1})
	f.Fuzz(func(t *testing.T, part uint16, size uint32, flip bool, bit uint32, cut uint16, extra []byte) {
		p := 1 + int(part)%maxPart
		size %= 3*S + 1
		key := testKey(5)
		pt := pattern(int(size), byte(p))
		stored := encryptPart(t, key, p, testSalt(p), pt)
		// The part is the object's last (its end field holds END(p)).
		l := Layout{Multipart: true, Parts: make([]int64, p)}
		for i := range l.Parts {
			l.Parts[i] = int64(len(stored)) - partOverhead
		}
		src := bytes.Clone(stored)
		if flip {
			src[int(bit/8)%len(src)] ^= 1 << (bit % 8)
		}
		if c := int(cut) % len(src); c > 0 {
			src = src[:len(src)-c]
		}
		src = append(src, extra...)
		edited := !bytes.Equal(src, stored) // a cut and re-append may restore it
		r, err := NewPartReader(bytes.NewReader(src), key, l, p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if !bytes.Equal(got, pt[:min(len(got), len(pt))]) {
			t.Fatal("released bytes that are not the plaintext")
		}
		switch {
		case edited && !errors.Is(err, ErrAuth):
			t.Fatalf("edited part read: %d bytes, %v", len(got), err)
		case edited && len(got) == len(pt) && len(pt) > 0:
			t.Fatal("edited part released all its plaintext")
		case !edited && (err != nil || len(got) != len(pt)):
			t.Fatalf("part %d of %d bytes: %d bytes, %v", p, size, len(got), err)
		}
	})
}
