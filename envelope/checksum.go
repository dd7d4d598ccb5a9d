package envelope

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
)

// The plaintext's checksum, as S3 stores one for every object, is kept in
// the metadata next to the envelope: field ck holds it as the proxy
// records it (opaque here: visible ASCII), and field ckt authenticates it
// with a tag under a key derived from the data key, so a value edited at
// the backend, or moved to another object, fails (docs/FORMAT.md,
// "Checksums").
const (
	checksumTag = 16  // bytes of HMAC-SHA256 kept
	maxChecksum = 160 // "SHA512:FULL_OBJECT:" and 88 base64 characters fit
)

// checksumMAC is the tag of a checksum value v under key:
// HMAC-SHA256(HKDF-SHA256(secret=DEK, salt=absent, info=label, 32), label
// || 0x00 || v), truncated to 16 bytes. HMAC, not GCM: one data key may
// tag more than one value over its life (a copy that asks for another
// algorithm re-tags the same data key).
func checksumMAC(key *DataKey, v string) ([]byte, error) {
	if key == nil {
		return nil, fmt.Errorf("envelope: nil data key")
	}
	label := key.format().labels.checksum
	k, err := key.derive(label, "checksum")
	if err != nil {
		return nil, err
	}
	defer wipe(k)
	m := hmac.New(sha256.New, k)
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write([]byte(v))
	return m.Sum(nil)[:checksumTag], nil
}

// SetChecksum records v, the plaintext's checksum as the caller encodes it
// (1..160 bytes of visible ASCII), authenticated under key; "" removes it.
func (m *Metadata) SetChecksum(key *DataKey, v string) error {
	if v == "" {
		m.Checksum, m.ChecksumTag = "", nil
		return nil
	}
	if err := checkVisible(v, maxChecksum); err != nil {
		return fmt.Errorf("envelope: checksum: %w", err)
	}
	tag, err := checksumMAC(key, v)
	if err != nil {
		return err
	}
	m.Checksum, m.ChecksumTag = v, tag
	return nil
}

// OpenChecksum returns the recorded checksum once its tag verified under
// key (the data key Open returned), "" if none is recorded; an error
// wrapping ErrAuth if the tag does not match.
func (m *Metadata) OpenChecksum(key *DataKey) (string, error) {
	if m.Checksum == "" {
		return "", nil
	}
	tag, err := checksumMAC(key, m.Checksum)
	if err != nil {
		return "", err
	}
	if !hmac.Equal(tag, m.ChecksumTag) {
		return "", fmt.Errorf("envelope: recorded checksum: %w", ErrAuth)
	}
	return m.Checksum, nil
}
