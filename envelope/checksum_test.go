package envelope

import (
	"errors"
	"net/http"
	"testing"
)

func TestChecksumRoundTrip(t *testing.T) {
	dk, other := new(DataKey), new(DataKey)
	copy(dk.b[:], pattern(keySize, 7))
	copy(other.b[:], pattern(keySize, 8))
	m := sampleMetadata()
	const v = "CRC64NVME:FULL_OBJECT:jSnVw/bqjr4="
	if err := m.SetChecksum(dk, v); err != nil {
		t.Fatal(err)
	}
	if err := m.validate(); err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	for k, val := range m.Headers() {
		h.Set(k, val)
	}
	back, err := ParseMetadata(h)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := back.OpenChecksum(dk); err != nil || got != v {
		t.Fatalf("OpenChecksum: %q, %v", got, err)
	}
	for name, tc := range map[string]struct {
		m   func() *Metadata
		key *DataKey
	}{
		"other data key": {func() *Metadata { return back }, other},
		"value edited": {func() *Metadata {
			c := *back
			c.Checksum = "CRC64NVME:FULL_OBJECT:jSnVw/bqjr5="
			return &c
		}, dk},
		"tag edited": {func() *Metadata {
			c := *back
			c.ChecksumTag = append([]byte(nil), back.ChecksumTag...)
			c.ChecksumTag[0] ^= 1
			return &c
		}, dk},
	} {
		if _, err := tc.m().OpenChecksum(tc.key); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: %v, want ErrAuth", name, err)
		}
	}
	// No checksum recorded: nothing to open, nothing in the headers.
	plain := sampleMetadata()
	if got, err := plain.OpenChecksum(dk); got != "" || err != nil {
		t.Errorf("no checksum: %q %v", got, err)
	}
	if _, ok := plain.Headers()[headerChecksum]; ok {
		t.Error("a checksum header without a checksum")
	}
	// Malformed fields are refused.
	for name, mut := range map[string]func(http.Header){
		"tag alone":     func(h http.Header) { h.Del(headerChecksum) },
		"value alone":   func(h http.Header) { h.Del(headerChecksumTag) },
		"short tag":     func(h http.Header) { h.Set(headerChecksumTag, "AAAA") },
		"space":         func(h http.Header) { h.Set(headerChecksum, "CRC32 x") },
		"value too big": func(h http.Header) { h.Set(headerChecksum, string(make([]byte, 200))) },
	} {
		c := h.Clone()
		mut(c)
		if _, err := ParseMetadata(c); !errors.Is(err, ErrInvalidMetadata) {
			t.Errorf("%s: %v, want ErrInvalidMetadata", name, err)
		}
	}
}

// FuzzParseChecksumMetadata: the checksum fields parse canonically or not
// at all, on otherwise valid metadata.
func FuzzParseChecksumMetadata(f *testing.F) {
	dk := new(DataKey)
	m := sampleMetadata()
	_ = m.SetChecksum(dk, "SHA256:FULL_OBJECT:uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=")
	f.Add(m.Headers()[headerChecksum], m.Headers()[headerChecksumTag])
	f.Add("", "AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("x", "AAAAAAAAAAAAAAAAAAAAA=")
	f.Fuzz(func(t *testing.T, ck, ckt string) {
		h := http.Header{}
		for k, v := range sampleMetadata().Headers() {
			h.Set(k, v)
		}
		if ck != "" {
			h.Set(headerChecksum, ck)
		}
		if ckt != "" {
			h.Set(headerChecksumTag, ckt)
		}
		got, err := ParseMetadata(h)
		if err != nil {
			return
		}
		again := got.Headers()
		if again[headerChecksum] != ck || again[headerChecksumTag] != ckt {
			t.Fatalf("not canonical: %q %q -> %q %q", ck, ckt, again[headerChecksum], again[headerChecksumTag])
		}
		_, _ = got.OpenChecksum(dk)
	})
}
