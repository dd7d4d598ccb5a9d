package keycache

import (
	"encoding/binary"
	"hash/maphash"
	"slices"
)

// AppendCanonicalContext appends an unambiguous, order-independent encoding
// of an encryption context to b: the number of pairs as a uvarint, then the
// pairs sorted by key, each key and value prefixed by its length as a
// uvarint. It is the encoding for providers that bind a context themselves
// (the local provider authenticates it as AAD; a provider over a KMS without
// encryption contexts would do the same), and it names cache entries.
func AppendCanonicalContext(b []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, m[k])
	}
	return b
}

// appendString appends s prefixed by its length.
func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// hashContext hashes an extra encryption context without allocating, so the
// hot path can key the cache by it. It is order independent (a sum of
// per-pair hashes) and 0 for an empty context. Equal hashes do not prove
// equal contexts: entries keep the context and the hot path compares it.
func hashContext(seed maphash.Seed, m map[string]string) uint64 {
	if len(m) == 0 {
		return 0
	}
	var sum uint64
	var h maphash.Hash
	h.SetSeed(seed)
	for k, v := range m {
		h.Reset()
		var n [binary.MaxVarintLen64]byte
		_, _ = h.Write(binary.AppendUvarint(n[:0], uint64(len(k))))
		_, _ = h.WriteString(k)
		_, _ = h.WriteString(v)
		sum += h.Sum64()
	}
	return sum | 1 // never 0 for a non-empty context
}

// contextEqual reports whether two extra contexts are equal, nil and empty
// being equal.
func contextEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		if vb, ok := b[k]; !ok || va != vb {
			return false
		}
	}
	return true
}

// cloneContext copies an extra context so later changes by the caller do not
// change a cache entry; nil for an empty one.
func cloneContext(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
