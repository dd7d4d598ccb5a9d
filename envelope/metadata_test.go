package envelope

import (
	"bytes"
	"errors"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// headerOf builds an http.Header the way Go's HTTP client does, with
// canonicalised names ("X-Amz-Meta-Bk-V").
func headerOf(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

func sampleMetadata() *Metadata {
	return &Metadata{
		Version:    1,
		KeyID:      "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		KeyBucket:  "example-bucket",
		WrappedKey: pattern(184, 1),
		Salt:       pattern(saltSize, 2),
		SealedKey:  pattern(sealedKeySize, 3),
		Size:       123456789,
	}
}

// packFields packs per-field headers (lower-case names) as pack would,
// whatever their values: the version first, then the known fields in
// packedOrder and any other field after them, by name.
func packFields(h map[string]string) map[string]string {
	v, ok := h[headerVersion]
	if !ok {
		return h
	}
	var names []string
	for k := range h {
		if short := strings.TrimPrefix(k, MetaPrefix); k != headerVersion && !slices.Contains(packedOrder, short) {
			names = append(names, short)
		}
	}
	slices.Sort(names)
	for _, name := range append(slices.Clone(packedOrder), names...) {
		if val, ok := h[MetaPrefix+name]; ok {
			v += " " + name + "=" + val
		}
	}
	return map[string]string{headerVersion: v}
}

func TestMetadataRoundTrip(t *testing.T) {
	mp := sampleMetadata()
	mp.Multipart, mp.Size = true, -1
	ctx := sampleMetadata()
	ctx.Context = map[string]string{"b": "2", "a": "<1>&\u00e9\n\"", "": "empty key"}
	zero := sampleMetadata()
	zero.Size = 0
	checked := sampleMetadata()
	checked.Checksum, checked.ChecksumTag = "CRC64NVME:FULL_OBJECT:AAAAAAAAAAA=", pattern(checksumTag, 4)
	cases := map[string]*Metadata{"single": sampleMetadata(), "multipart": mp, "context": ctx, "zero": zero, "checksum": checked}
	for name, m := range maps.Clone(cases) {
		p := *m
		p.Packed = true
		cases[name+", packed"] = &p
	}
	for name, m := range cases {
		if err := m.validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		hs := m.Headers()
		for k := range hs {
			if k != strings.ToLower(k) || !isEnvelopeHeader(k) {
				t.Errorf("%s: header name %q", name, k)
			}
		}
		lower := http.Header{}
		for k, v := range hs {
			lower[k] = []string{v}
		}
		for form, h := range map[string]http.Header{"canonical": headerOf(hs), "lower": lower} {
			got, err := ParseMetadata(h)
			if err != nil {
				t.Fatalf("%s/%s: %v", name, form, err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("%s/%s: got %+v, want %+v", name, form, got, m)
			}
			if !reflect.DeepEqual(got.Headers(), hs) {
				t.Fatalf("%s/%s: headers not canonical", name, form)
			}
		}
	}
}

func TestParseMetadataIgnoresOtherHeaders(t *testing.T) {
	h := headerOf(sampleMetadata().Headers())
	h.Set("Content-Length", "5")
	h.Set("X-Amz-Meta-Owner", "me")
	h.Set("X-Amz-Meta-Bkx", "not ours")
	if _, err := ParseMetadata(h); err != nil {
		t.Fatal(err)
	}
}

func TestParseMetadataNotEncrypted(t *testing.T) {
	for name, h := range map[string]http.Header{
		"nil":               nil,
		"plain object":      {"Content-Type": {"text/plain"}, "X-Amz-Meta-Owner": {"me"}},
		"bk-* without bk-v": {"X-Amz-Meta-Bk-Owner": {"me"}},
	} {
		if _, err := ParseMetadata(h); err != ErrNotEncrypted {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

func TestParseMetadataRejects(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := map[string]func(h map[string]string){
		"version 2":       func(h map[string]string) { h[headerVersion] = "2" },
		"version 01":      func(h map[string]string) { h[headerVersion] = "01" },
		"version empty":   func(h map[string]string) { h[headerVersion] = "" },
		"missing kid":     func(h map[string]string) { delete(h, headerKeyID) },
		"missing kb":      func(h map[string]string) { delete(h, headerKeyBucket) },
		"missing wk":      func(h map[string]string) { delete(h, headerWrappedKey) },
		"missing salt":    func(h map[string]string) { delete(h, headerSalt) },
		"missing sk":      func(h map[string]string) { delete(h, headerSealedKey) },
		"missing size":    func(h map[string]string) { delete(h, headerSize) },
		"empty kid":       func(h map[string]string) { h[headerKeyID] = "" },
		"kid with space":  func(h map[string]string) { h[headerKeyID] = "a b" },
		"kid non-ascii":   func(h map[string]string) { h[headerKeyID] = "clé" },
		"oversize kid":    func(h map[string]string) { h[headerKeyID] = long(maxKeyID + 1) },
		"oversize kb":     func(h map[string]string) { h[headerKeyBucket] = long(maxKeyBucket + 1) },
		"oversize wk":     func(h map[string]string) { h[headerWrappedKey] = long(b64.EncodedLen(maxWrappedKey) + 1) },
		"empty wk":        func(h map[string]string) { h[headerWrappedKey] = "" },
		"wk padded":       func(h map[string]string) { h[headerWrappedKey] += "==" },
		"wk std alphabet": func(h map[string]string) { h[headerWrappedKey] = "ab+/" + h[headerWrappedKey][4:] },
		"wk with newline": func(h map[string]string) {
			h[headerWrappedKey] = h[headerWrappedKey][:10] + "\n" + h[headerWrappedKey][11:]
		},
		"wk bad length":       func(h map[string]string) { h[headerWrappedKey] = "abcde" },
		"wk nonzero pad bits": func(h map[string]string) { h[headerWrappedKey] = "AB" },
		"salt short":          func(h map[string]string) { h[headerSalt] = h[headerSalt][1:] },
		"salt long":           func(h map[string]string) { h[headerSalt] += "AA" },
		"sk short":            func(h map[string]string) { h[headerSealedKey] = h[headerSealedKey][4:] },
		"size negative":       func(h map[string]string) { h[headerSize] = "-1" },
		"size leading zero":   func(h map[string]string) { h[headerSize] = "012" },
		"size plus":           func(h map[string]string) { h[headerSize] = "+12" },
		"size too big":        func(h map[string]string) { h[headerSize] = "281474976710657" },
		"size overflow":       func(h map[string]string) { h[headerSize] = "99999999999999999999999" },
		"mp 0":                func(h map[string]string) { h[headerMultipart] = "0" },
		"mp with size":        func(h map[string]string) { h[headerMultipart] = "1" },
		"unknown field":       func(h map[string]string) { h[MetaPrefix+"x"] = "1" },
		"ctx empty object":    func(h map[string]string) { h[headerContext] = b64.EncodeToString([]byte(`{}`)) },
		"ctx null":            func(h map[string]string) { h[headerContext] = b64.EncodeToString([]byte(`null`)) },
		"ctx not json":        func(h map[string]string) { h[headerContext] = b64.EncodeToString([]byte(`a=b`)) },
		"ctx number":          func(h map[string]string) { h[headerContext] = b64.EncodeToString([]byte(`{"a":1}`)) },
		"ctx unsorted":        func(h map[string]string) { h[headerContext] = b64.EncodeToString([]byte(`{"b":"1","a":"2"}`)) },
		"ctx spaces":          func(h map[string]string) { h[headerContext] = b64.EncodeToString([]byte(`{"a": "1"}`)) },
		"ctx duplicate key":   func(h map[string]string) { h[headerContext] = b64.EncodeToString([]byte(`{"a":"1","a":"1"}`)) },
		"ctx html escaped":    func(h map[string]string) { h[headerContext] = b64.EncodeToString([]byte(`{"a":"\u003c"}`)) },
		"ctx bad utf8":        func(h map[string]string) { h[headerContext] = b64.EncodeToString([]byte("{\"a\":\"\xff\"}")) },
		"ctx oversize": func(h map[string]string) {
			h[headerContext] = b64.EncodeToString([]byte(`{"a":"` + long(maxContext) + `"}`))
		},
	}
	for name, edit := range cases {
		hs := sampleMetadata().Headers()
		edit(hs)
		if _, err := ParseMetadata(headerOf(hs)); !errors.Is(err, ErrInvalidMetadata) {
			t.Errorf("%s: err %v", name, err)
		}
		// The same edit to packed metadata.
		if _, err := ParseMetadata(headerOf(packFields(hs))); !errors.Is(err, ErrInvalidMetadata) {
			t.Errorf("%s, packed: err %v", name, err)
		}
	}
	// Spellings only the packed form has: pack writes single spaces,
	// known names in packedOrder, each at most once, and nothing beside.
	m := sampleMetadata()
	m.Packed = true
	good := m.Headers()[headerVersion]
	for name, v := range map[string]string{
		"double space":       strings.Replace(good, " ", "  ", 1),
		"space at the end":   good + " ",
		"space at the start": " " + good,
		"tab":                strings.Replace(good, " ", "\t", 1),
		"out of order":       strings.Replace(good, "kid=", "kb=x kid=", 1),
		"repeated":           good + " size=1",
		"repeated version":   good + " v=1",
		"unknown":            good + " x=1",
		"no equals sign":     good + " ck",
		"empty name":         good + " =1",
		"version only":       "1 ",
		"version 2":          "2" + good[1:],
		"size missing":       good[:strings.LastIndex(good, " ")],
		"per-field name":     strings.Replace(good, "kid=", "x-amz-meta-bk-kid=", 1),
		"upper-case name":    strings.Replace(good, "kid=", "KID=", 1),
		"ck without ckt":     good + " ck=SHA256:FULL_OBJECT:AAAA",
		"ckt before ck":      good + " ckt=" + b64.EncodeToString(make([]byte, checksumTag)) + " ck=x",
		"no ctx value":       strings.Replace(good, " salt=", " ctx= salt=", 1),
		"mp and size":        strings.Replace(good, " size=", " mp=1 size=", 1),
		"mp empty":           strings.Replace(good, " size=123456789", " mp=", 1),
	} {
		if _, err := ParseMetadata(headerOf(map[string]string{headerVersion: v})); !errors.Is(err, ErrInvalidMetadata) {
			t.Errorf("packed, %s: err %v", name, err)
		}
	}
	if _, err := ParseMetadata(headerOf(map[string]string{headerVersion: good, headerSize: "1"})); !errors.Is(err, ErrInvalidMetadata) {
		t.Errorf("packed beside a field header: err %v", err)
	}
	// Repeats: two values, or one name in two spellings.
	h := headerOf(sampleMetadata().Headers())
	h.Add(headerKeyID, "x")
	if _, err := ParseMetadata(h); !errors.Is(err, ErrInvalidMetadata) {
		t.Errorf("two values: %v", err)
	}
	h = headerOf(sampleMetadata().Headers())
	h[headerSize] = []string{"1"}
	if _, err := ParseMetadata(h); !errors.Is(err, ErrInvalidMetadata) {
		t.Errorf("two spellings: %v", err)
	}
	// Errors never echo long attacker-controlled values.
	hs := sampleMetadata().Headers()
	hs[headerVersion] = long(5000)
	if _, err := ParseMetadata(headerOf(hs)); err == nil || len(err.Error()) > 200 {
		t.Errorf("error %q", err)
	}
}

func TestMetadataValidate(t *testing.T) {
	cases := map[string]func(m *Metadata){
		"version":          func(m *Metadata) { m.Version = 0 },
		"kid":              func(m *Metadata) { m.KeyID = "" },
		"kb":               func(m *Metadata) { m.KeyBucket = "" },
		"wk":               func(m *Metadata) { m.WrappedKey = nil },
		"salt":             func(m *Metadata) { m.Salt = m.Salt[1:] },
		"sk":               func(m *Metadata) { m.SealedKey = nil },
		"size unset":       func(m *Metadata) { m.Size = -1 },
		"size huge":        func(m *Metadata) { m.Size = maxStreamSize + 1 },
		"multipart size":   func(m *Metadata) { m.Multipart = true },
		"context bad utf8": func(m *Metadata) { m.Context = map[string]string{"a": "\xff"} },
	}
	for name, edit := range cases {
		m := sampleMetadata()
		edit(m)
		if err := m.validate(); !errors.Is(err, ErrInvalidMetadata) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The measured sizes quoted in docs/FORMAT.md.
func TestMetadataEncodedLen(t *testing.T) {
	// Realistic: an AWS KMS key ARN as GenerateDataKey reports it, a
	// 184-byte KMS ciphertext blob, a bucket name of the maximum 63
	// characters, a 5 TiB single-part size (13 digits), no extra context.
	m := sampleMetadata()
	m.KeyBucket = strings.Repeat("b", 63)
	m.Size = 5 << 40
	if err := m.validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := m.encodedLen(), 621; got != want {
		t.Errorf("realistic metadata is %d bytes, FORMAT.md says %d", got, want)
	}
	m.Multipart, m.Size = true, -1
	if got, want := m.encodedLen(), 607; got != want {
		t.Errorf("realistic multipart metadata is %d bytes, FORMAT.md says %d", got, want)
	}
	// Every field at its limit.
	maxed := &Metadata{
		Version:    1,
		KeyID:      strings.Repeat("k", maxKeyID),
		KeyBucket:  strings.Repeat("b", maxKeyBucket),
		WrappedKey: make([]byte, maxWrappedKey),
		Context:    map[string]string{"k": strings.Repeat("v", maxContext-len(`{"k":""}`))},
		Salt:       make([]byte, saltSize),
		SealedKey:  make([]byte, sealedKeySize),
		Size:       maxStreamSize,
	}
	if err := maxed.validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := maxed.encodedLen(), 1790; got != want || got >= 2048 {
		t.Errorf("maximal metadata is %d bytes, FORMAT.md says %d (S3 limit 2048)", got, want)
	}
	if _, err := ParseMetadata(headerOf(maxed.Headers())); err != nil {
		t.Errorf("maximal metadata does not parse: %v", err)
	}
	// Packed, as Seal writes it: one name, and each field's short name,
	// '=' and a space instead of a header name.
	m.Multipart, m.Size, m.Packed = false, 5<<40, true
	if got, want := m.encodedLen(), 549; got != want {
		t.Errorf("realistic packed metadata is %d bytes, FORMAT.md says %d", got, want)
	}
	m.Multipart, m.Size = true, -1
	if got, want := m.encodedLen(), 535; got != want {
		t.Errorf("realistic packed multipart metadata is %d bytes, FORMAT.md says %d", got, want)
	}
	maxed.Packed = true
	maxed.Checksum, maxed.ChecksumTag = strings.Repeat("c", maxChecksum), make([]byte, checksumTag)
	if got, want := maxed.encodedLen(), 1897; got != want || got >= 2048 {
		t.Errorf("maximal packed metadata is %d bytes, FORMAT.md says %d (S3 limit 2048)", got, want)
	}
	if _, err := ParseMetadata(headerOf(maxed.Headers())); err != nil {
		t.Errorf("maximal packed metadata does not parse: %v", err)
	}
}

func TestIsEnvelopeHeader(t *testing.T) {
	for name, want := range map[string]bool{
		"x-amz-meta-bk-v":      true,
		"X-Amz-Meta-Bk-V":      true,
		"X-AMZ-META-BK-FUTURE": true,
		"x-amz-meta-bk-":       true,
		"x-amz-meta-bk":        false,
		"x-amz-meta-bkv":       false,
		"x-amz-meta-owner":     false,
		"content-length":       false,
		"":                     false,
	} {
		if got := isEnvelopeHeader(name); got != want {
			t.Errorf("IsEnvelopeHeader(%q) = %v", name, got)
		}
	}
}

func TestMetadataHoldsNoSecretInClear(t *testing.T) {
	bk := bucketKey(9)
	m, dek, _ := sealRaw(bk, "b", "o", false, 100)
	for k, v := range fill(m).Headers() {
		raw, _ := b64.DecodeString(v)
		for _, secret := range [][]byte{dek.b[:], bk} {
			if bytes.Contains([]byte(v), secret) || bytes.Contains(raw, secret) {
				t.Errorf("%s carries a key in the clear", k)
			}
		}
	}
}
