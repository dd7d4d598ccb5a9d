package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
)

// maxCachedKeys bounds the signing-key cache. A key is valid for one day,
// region and service, so a proxy with a handful of client identities needs
// a handful of entries; the bound only stops a flood of distinct (forged)
// scopes from growing the map.
const maxCachedKeys = 256

// keyCache memoises derived SigV4 signing keys. Deriving one costs four
// HMACs; caching it keeps header verification at one SHA-256 of the
// canonical request plus one HMAC.
type keyCache struct {
	mu sync.Mutex
	m  map[keyID]*signingKey
}

// signingKey is a derived key with a pool of HMAC instances keyed with it:
// resetting a keyed HMAC is cheaper than allocating one per request.
type signingKey struct {
	key  [32]byte
	macs sync.Pool
}

func newSigningKey(k [32]byte) *signingKey { return &signingKey{key: k} }

// mac returns an HMAC-SHA256 keyed with k, reset; give it back with putMAC.
func (k *signingKey) mac() hash.Hash {
	if m, ok := k.macs.Get().(hash.Hash); ok {
		m.Reset()
		return m
	}
	return hmac.New(sha256.New, k.key[:])
}

func (k *signingKey) putMAC(m hash.Hash) { k.macs.Put(m) }

// keyID names a signing key. It holds the secret itself (not the access
// key) so that a rotated secret never reuses a stale key.
type keyID struct {
	secret, date, region, service string
}

func (c *keyCache) get(secret, date, region, service string) *signingKey {
	id := keyID{secret, date, region, service}
	c.mu.Lock()
	k, ok := c.m[id]
	c.mu.Unlock()
	if ok {
		return k
	}
	k = newSigningKey(deriveKey(secret, date, region, service))
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedKeys {
		// Dropping everything is crude but bounded and cheap: the live keys
		// are re-derived on their next use.
		c.m = make(map[keyID]*signingKey)
	}
	c.m[id] = k
	c.mu.Unlock()
	return k
}

// deriveKey computes the SigV4 signing key
// HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func deriveKey(secret, date, region, service string) [32]byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k[:], region)
	k = hmacSHA256(k[:], service)
	return hmacSHA256(k[:], "aws4_request")
}

func hmacSHA256(key []byte, msg string) [32]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	var out [32]byte
	m.Sum(out[:0])
	return out
}
