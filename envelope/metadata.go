package envelope

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrInvalidMetadata: the object carries envelope metadata (x-amz-meta-bk-v)
// that is malformed, incomplete, oversize or of an unknown version. The
// object cannot be decrypted; it is not a pre-proxy object either.
var ErrInvalidMetadata = errors.New("envelope: invalid envelope metadata")

// Metadata header names. S3 returns user metadata names in lower case; the
// whole "x-amz-meta-bk-" prefix is reserved for the envelope.
const (
	MetaPrefix = "x-amz-meta-bk-"

	headerVersion     = MetaPrefix + "v"
	headerKeyID       = MetaPrefix + "kid"
	headerKeyBucket   = MetaPrefix + "kb"
	headerWrappedKey  = MetaPrefix + "wk"
	headerContext     = MetaPrefix + "ctx"
	headerSalt        = MetaPrefix + "salt"
	headerSealedKey   = MetaPrefix + "sk"
	headerMultipart   = MetaPrefix + "mp"
	headerSize        = MetaPrefix + "size"
	headerChecksum    = MetaPrefix + "ck"
	headerChecksumTag = MetaPrefix + "ckt"
)

// Field limits, chosen so that even a maximal set stays under S3's 2 KB
// user-metadata limit (see docs/FORMAT.md for the measured sizes).
const (
	maxKeyID      = 256 // KMS reports key ARNs of about 75 bytes
	maxKeyBucket  = 255 // S3 bucket names are 3..63 (legacy: 255)
	maxWrappedKey = 512 // an AWS KMS data-key blob is 184 bytes
	maxContext    = 255 // canonical JSON bytes of the extra context
)

var b64 = base64.RawURLEncoding.Strict()

// Metadata is everything needed to decrypt an object, stored as
// x-amz-meta-* headers next to it. It holds no secret in the clear.
type Metadata struct {
	Version    int
	KeyID      string // KMS key id (as KMS reported it) that wraps the bucket key
	KeyBucket  string // bucket named in the bucket key's KMS encryption context
	WrappedKey []byte // the bucket key as KMS wrapped it
	// Context is any additional KMS encryption context the client supplied
	// (x-amz-server-side-encryption-context), nil if none.
	Context   map[string]string
	Salt      []byte // per-object randomness for the object-key derivation
	SealedKey []byte // the data key, sealed under the object key
	Multipart bool
	Size      int64 // plaintext size; -1 when not recorded (multipart)
	// Checksum is the plaintext's checksum as the proxy records it, ""
	// if none; ChecksumTag authenticates it (SetChecksum, OpenChecksum).
	Checksum    string
	ChecksumTag []byte
	// Packed says how the metadata is stored: true for one header,
	// x-amz-meta-bk-v holding the version and then every other field as
	// name=value, space-separated; false for a header per field, as
	// bucketkey wrote before the packed form (docs/FORMAT.md, "Metadata").
	// Seal and Reseal write it packed, because a backend's cost is per
	// header: every x-amz-* header must be signed, and canonicalised by
	// the backend, on every PUT. ParseMetadata reports the form it read,
	// so that Headers reproduces its input.
	Packed bool
}

// packedOrder is the order of the fields after the version in packed
// metadata: the order of docs/FORMAT.md's table, by short name (the
// header name without MetaPrefix).
var packedOrder = []string{"kid", "kb", "wk", "ctx", "salt", "sk", "mp", "size", "ck", "ckt"}

// Headers returns m as lower-case "x-amz-meta-..." header names and
// values: one header if m is Packed, one per field otherwise. Metadata
// from Seal, Reseal and ParseMetadata is valid; Headers of invalid
// metadata would not parse back.
func (m *Metadata) Headers() map[string]string {
	fields := m.fields()
	if m.Packed {
		return map[string]string{headerVersion: pack(fields)}
	}
	h := make(map[string]string, len(fields))
	for _, f := range fields {
		h[MetaPrefix+f.name] = f.value
	}
	return h
}

// field is one metadata field: its short name (the header name without
// MetaPrefix) and its value as stored.
type field struct{ name, value string }

// fields returns m's fields as stored, the version first and the rest in
// packedOrder.
func (m *Metadata) fields() []field {
	f := make([]field, 0, 1+len(packedOrder))
	f = append(f,
		field{"v", strconv.Itoa(m.Version)},
		field{"kid", m.KeyID},
		field{"kb", m.KeyBucket},
		field{"wk", b64.EncodeToString(m.WrappedKey)})
	if len(m.Context) > 0 {
		js, _ := canonicalContext(m.Context)
		f = append(f, field{"ctx", b64.EncodeToString(js)})
	}
	f = append(f,
		field{"salt", b64.EncodeToString(m.Salt)},
		field{"sk", b64.EncodeToString(m.SealedKey)})
	if m.Multipart {
		f = append(f, field{"mp", "1"})
	} else {
		f = append(f, field{"size", strconv.FormatInt(m.Size, 10)})
	}
	if m.Checksum != "" {
		f = append(f, field{"ck", m.Checksum}, field{"ckt", b64.EncodeToString(m.ChecksumTag)})
	}
	return f
}

// pack joins fields (the version first) into the value of a packed
// x-amz-meta-bk-v: "1 kid=... kb=... ...". Values are visible ASCII, so a
// space never occurs inside one.
func pack(fields []field) string {
	n := len(fields[0].value)
	for _, f := range fields[1:] {
		n += 2 + len(f.name) + len(f.value)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(fields[0].value)
	for _, f := range fields[1:] {
		b.WriteByte(' ')
		b.WriteString(f.name)
		b.WriteByte('=')
		b.WriteString(f.value)
	}
	return b.String()
}

// unpack splits a packed x-amz-meta-bk-v value into its fields, keyed by
// header name as ParseMetadata collects separate headers. It accepts only
// the one spelling pack writes: single spaces, no space at either end,
// every name known, in packedOrder, at most once. The values are checked
// by the caller, as those of separate headers are.
func unpack(v string) (map[string]string, error) {
	version, rest, _ := strings.Cut(v, " ")
	fields := make(map[string]string, 1+len(packedOrder))
	fields[headerVersion] = version
	next := 0 // packedOrder[next:] may still follow
	for rest != "" {
		item, after, more := strings.Cut(rest, " ")
		if more && after == "" {
			return nil, errors.New("packed: space at the end")
		}
		rest = after
		name, value, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("packed: %s is not name=value", clip(item))
		}
		i := slices.Index(packedOrder[next:], name)
		if i < 0 {
			if slices.Contains(packedOrder, name) {
				return nil, fmt.Errorf("packed: %s repeated or out of order", clip(name))
			}
			return nil, fmt.Errorf("packed: %s: unknown field", clip(name))
		}
		next += i + 1
		fields[MetaPrefix+name] = value
	}
	return fields, nil
}

// encodedLen is an upper bound of what m counts against S3's 2 KB
// user-metadata limit: the bytes of every header name, with its
// x-amz-meta- prefix (the conservative reading), and value. S3 (and
// versitygw) count each key without the prefix; the proxy counts that way
// when it checks the client's metadata and the envelope's together.
func (m *Metadata) encodedLen() int {
	n := 0
	for k, v := range m.Headers() {
		n += len(k) + len(v)
	}
	return n
}

// validate checks that m can be stored and read back: the writer calls it
// before sending metadata upstream, ParseMetadata before returning.
func (m *Metadata) validate() error {
	bad := func(name, format string, args ...any) error {
		return fmt.Errorf("envelope: metadata %s: %s: %w", name, fmt.Sprintf(format, args...), ErrInvalidMetadata)
	}
	if _, err := formatOf(m.Version); err != nil {
		return bad(headerVersion, "unsupported version %d", m.Version)
	}
	if err := checkVisible(m.KeyID, maxKeyID); err != nil {
		return bad(headerKeyID, "%v", err)
	}
	if err := checkVisible(m.KeyBucket, maxKeyBucket); err != nil {
		return bad(headerKeyBucket, "%v", err)
	}
	if len(m.WrappedKey) == 0 || len(m.WrappedKey) > maxWrappedKey {
		return bad(headerWrappedKey, "%d bytes, want 1..%d", len(m.WrappedKey), maxWrappedKey)
	}
	if len(m.Context) > 0 {
		js, err := canonicalContext(m.Context)
		if err != nil {
			return bad(headerContext, "%v", err)
		}
		if len(js) > maxContext {
			return bad(headerContext, "%d bytes of JSON, want at most %d", len(js), maxContext)
		}
	}
	if len(m.Salt) != saltSize {
		return bad(headerSalt, "%d bytes, want %d", len(m.Salt), saltSize)
	}
	if len(m.SealedKey) != sealedKeySize {
		return bad(headerSealedKey, "%d bytes, want %d", len(m.SealedKey), sealedKeySize)
	}
	if m.Checksum != "" || m.ChecksumTag != nil {
		if err := checkVisible(m.Checksum, maxChecksum); err != nil {
			return bad(headerChecksum, "%v", err)
		}
		if len(m.ChecksumTag) != checksumTag {
			return bad(headerChecksumTag, "%d bytes, want %d", len(m.ChecksumTag), checksumTag)
		}
	}
	switch {
	case m.Multipart && m.Size != -1:
		return bad(headerSize, "recorded for a multipart object")
	case !m.Multipart && (m.Size < 0 || m.Size > maxStreamSize):
		return bad(headerSize, "%d outside 0..%d", m.Size, int64(maxStreamSize))
	}
	return nil
}

// ParseMetadata reads envelope metadata from response or request headers.
// Header names may be in any case (Go canonicalises "X-Amz-Meta-Bk-V"). It
// returns ErrNotEncrypted if there is no x-amz-meta-bk-v (a pre-proxy
// object), and an error wrapping ErrInvalidMetadata for unknown versions,
// missing, duplicate, unknown or malformed fields, and oversize values.
// Parsing is canonical: Headers of the result reproduces the input.
func ParseMetadata(h http.Header) (*Metadata, error) {
	fields := make(map[string]string, 9)
	for k, vs := range h {
		if !isEnvelopeHeader(k) {
			continue
		}
		name := fieldName(k)
		if _, dup := fields[name]; dup || len(vs) != 1 {
			return nil, fmt.Errorf("envelope: metadata %s: repeated: %w", name, ErrInvalidMetadata)
		}
		fields[name] = vs[0]
	}
	v, ok := fields[headerVersion]
	if !ok {
		return nil, ErrNotEncrypted
	}
	bad := func(name, format string, args ...any) error {
		return fmt.Errorf("envelope: metadata %s: %s: %w", name, fmt.Sprintf(format, args...), ErrInvalidMetadata)
	}
	packed := strings.IndexByte(v, ' ') >= 0
	if packed {
		if len(fields) != 1 {
			return nil, bad(headerVersion, "packed, with other envelope headers beside it")
		}
		var err error
		if fields, err = unpack(v); err != nil {
			return nil, bad(headerVersion, "%v", err)
		}
	}
	take := func(name string, required bool) (string, bool, error) {
		v, ok := fields[name]
		delete(fields, name)
		if !ok && required {
			return "", false, bad(name, "missing")
		}
		return v, ok, nil
	}
	m := &Metadata{Size: -1, Packed: packed}
	v, _, _ = take(headerVersion, true)
	n, valid := canonicalDecimal(v)
	if !valid || n > math.MaxInt32 {
		return nil, bad(headerVersion, "unsupported version %s", clip(v))
	}
	if _, err := formatOf(int(n)); err != nil {
		return nil, bad(headerVersion, "unsupported version %s", clip(v))
	}
	m.Version = int(n)
	var err error
	if m.KeyID, _, err = take(headerKeyID, true); err != nil {
		return nil, err
	}
	if m.KeyBucket, _, err = take(headerKeyBucket, true); err != nil {
		return nil, err
	}
	// Binary fields: base64url without padding, length-checked before
	// decoding (the decoder skips CR and LF, which would make parsing
	// non-canonical).
	binary := []struct {
		name     string
		dst      *[]byte
		min, max int
	}{
		{headerWrappedKey, &m.WrappedKey, 1, maxWrappedKey},
		{headerSalt, &m.Salt, saltSize, saltSize},
		{headerSealedKey, &m.SealedKey, sealedKeySize, sealedKeySize},
	}
	for _, f := range binary {
		s, _, err := take(f.name, true)
		if err != nil {
			return nil, err
		}
		if *f.dst, err = decodeB64(s, f.min, f.max); err != nil {
			return nil, bad(f.name, "%v", err)
		}
	}
	if s, ok, _ := take(headerContext, false); ok {
		if m.Context, err = parseContext(s); err != nil {
			return nil, bad(headerContext, "%v", err)
		}
	}
	if s, ok, _ := take(headerMultipart, false); ok {
		if s != "1" {
			return nil, bad(headerMultipart, "want 1, have %s", clip(s))
		}
		m.Multipart = true
	}
	if s, ok, _ := take(headerSize, !m.Multipart); ok {
		n, valid := canonicalDecimal(s)
		if !valid {
			return nil, bad(headerSize, "not a canonical decimal: %s", clip(s))
		}
		m.Size = n
	} else if !m.Multipart {
		return nil, bad(headerSize, "missing")
	}
	if s, ok, _ := take(headerChecksum, false); ok {
		t, _, err := take(headerChecksumTag, true)
		if err != nil {
			return nil, err
		}
		if m.ChecksumTag, err = decodeB64(t, checksumTag, checksumTag); err != nil {
			return nil, bad(headerChecksumTag, "%v", err)
		}
		m.Checksum = s
	}
	for name := range fields {
		return nil, bad(clip(name), "unknown field")
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// fieldNames are the metadata fields' header names in lower case.
var fieldNames = []string{
	headerVersion, headerKeyID, headerKeyBucket, headerWrappedKey, headerContext, headerSalt,
	headerSealedKey, headerMultipart, headerSize, headerChecksum, headerChecksumTag,
}

// fieldName returns header name k in lower case: the field's own name
// when it is one, without allocating, as ParseMetadata does per field of
// every read.
func fieldName(k string) string {
	for _, n := range fieldNames {
		if len(k) == len(n) && strings.EqualFold(k, n) {
			return n
		}
	}
	return strings.ToLower(k)
}

// IsEnvelopeHeader reports whether a header name (any case) is reserved for
// envelope metadata; the proxy strips such headers from client requests.
func isEnvelopeHeader(name string) bool {
	return len(name) >= len(MetaPrefix) && strings.EqualFold(name[:len(MetaPrefix)], MetaPrefix)
}

// checkVisible accepts 1..max bytes of visible ASCII (0x21..0x7e): what an
// HTTP header value carries unchanged through every S3 implementation.
func checkVisible(s string, max int) error {
	if len(s) == 0 || len(s) > max {
		return fmt.Errorf("%d bytes, want 1..%d", len(s), max)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return fmt.Errorf("byte %d is not visible ASCII", i)
		}
	}
	return nil
}

func checkKeyBucket(s string) error {
	if err := checkVisible(s, maxKeyBucket); err != nil {
		return fmt.Errorf("envelope: key bucket: %w", err)
	}
	return nil
}

// decodeB64 decodes unpadded base64url of a decoded length in [min, max].
func decodeB64(s string, min, max int) ([]byte, error) {
	if len(s) < b64.EncodedLen(min) || len(s) > b64.EncodedLen(max) {
		return nil, fmt.Errorf("%d characters, want %d..%d", len(s), b64.EncodedLen(min), b64.EncodedLen(max))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, fmt.Errorf("character %d is not base64url", i)
		}
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bad base64url: %w", err)
	}
	return b, nil
}

// canonicalContext encodes an encryption context as JSON with keys sorted
// by byte order, no insignificant space, and no HTML escaping.
func canonicalContext(c map[string]string) ([]byte, error) {
	for k, v := range c {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("context entry is not valid UTF-8")
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// parseContext decodes a ctx value and insists it is canonical, so that
// one context has exactly one encoding.
func parseContext(s string) (map[string]string, error) {
	js, err := decodeB64(s, 1, maxContext)
	if err != nil {
		return nil, err
	}
	var c map[string]string
	if err := json.Unmarshal(js, &c); err != nil {
		return nil, fmt.Errorf("not a JSON object of strings")
	}
	if len(c) == 0 {
		return nil, fmt.Errorf("empty context (omit the field)")
	}
	if again, err := canonicalContext(c); err != nil || !bytes.Equal(again, js) {
		return nil, fmt.Errorf("JSON is not in canonical form")
	}
	return c, nil
}

// clip quotes an untrusted value for an error message, at most 16 bytes of it.
func clip(s string) string {
	if len(s) > 16 {
		return strconv.Quote(s[:16]) + "..."
	}
	return strconv.Quote(s)
}

// canonicalDecimal parses a non-negative decimal without sign or leading
// zeros; too large for int64 is not valid.
func canonicalDecimal(s string) (int64, bool) {
	if s == "" || s[0] < '0' || s[0] > '9' || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
