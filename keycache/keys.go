package keycache

import (
	"fmt"
	"log/slog"
	"strconv"
)

// GeneratedKey is a fresh data key from a provider.
//
// It prints redacted (String, GoString, Format, MarshalJSON, LogValue) so a
// stray log line cannot leak the plaintext.
type GeneratedKey struct {
	Plaintext []byte // 32 bytes; the caller owns it and wipes it
	Wrapped   []byte // the provider's ciphertext blob
	KeyID     string // the key id as the provider reports it (an ARN for KMS)
}

// Key is a bucket key lent to a callback. Plaintext is valid only during the
// callback: the cache zeroes it when the key is evicted or replaced. Wrapped
// is also owned by the cache; callers copy it if they keep it.
//
// It prints redacted, like GeneratedKey.
type Key struct {
	Plaintext []byte
	Wrapped   []byte
	KeyID     string // as the provider reported it
}

func redacted(typ string, plaintext, wrapped []byte, keyID string) string {
	return typ + "{KeyID:" + strconv.Quote(keyID) +
		" Plaintext:[REDACTED " + strconv.Itoa(len(plaintext)) + " bytes]" +
		" Wrapped:[" + strconv.Itoa(len(wrapped)) + " bytes]}"
}

// String describes the key without its plaintext.
func (k GeneratedKey) String() string {
	return redacted("keycache.GeneratedKey", k.Plaintext, k.Wrapped, k.KeyID)
}

// GoString is String, so %#v redacts too.
func (k GeneratedKey) GoString() string { return k.String() }

// Format prints String for every verb (%x, %v, %+v, %#v, %s, %q, ...).
func (k GeneratedKey) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(k.String())) }

// MarshalJSON writes the redacted description, never the key bytes.
func (k GeneratedKey) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(k.String())), nil }

// LogValue makes log/slog print the redacted description.
func (k GeneratedKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// String describes the key without its plaintext.
func (k Key) String() string { return redacted("keycache.Key", k.Plaintext, k.Wrapped, k.KeyID) }

// GoString is String, so %#v redacts too.
func (k Key) GoString() string { return k.String() }

// Format prints String for every verb (%x, %v, %+v, %#v, %s, %q, ...).
func (k Key) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(k.String())) }

// MarshalJSON writes the redacted description, never the key bytes.
func (k Key) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(k.String())), nil }

// LogValue makes log/slog print the redacted description.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// wipe zeroes b. Go gives no guarantee that no copy exists elsewhere (the GC
// may have moved nothing, but the provider's HTTP buffers are beyond reach);
// this is the "where Go allows" of the brief.
func wipe(b []byte) { clear(b) }
