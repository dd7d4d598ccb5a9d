package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// DataKey is a per-object data encryption key. The payload of each part is
// encrypted under a key derived from it and the part number.
type DataKey [KeySize]byte

// Wipe zeroes the key.
func (k *DataKey) Wipe() { *k = DataKey{} }

// Wipe zeroes b, for plaintext key material the caller owns (bucket keys
// from the key cache, derived keys). Go keeps copies out of reach (the key
// schedules inside crypto/aes), so this is hygiene, not a guarantee.
func Wipe(b []byte) { clear(b) }

// Derivation labels. They start with the format name so keys of another
// version or another purpose can never coincide with these.
const (
	objectKeyLabel  = "bucketkey/v1 object key"
	payloadKeyLabel = "bucketkey/v1 payload"
	sealedKeyAAD    = "bucketkey/v1 data key"

	saltSize      = 32
	sealNonceSize = 12
	prefixSize    = 7 // per-stream nonce prefix
	sealedKeySize = KeySize + TagSize

	// maxObjectName bounds the object name bound into the object key; the
	// encoding gives it a 16-bit length. S3 allows 1024 bytes.
	maxObjectName = 1<<16 - 1
)

// objectKeyMaterial derives the object key and the nonce that seals the
// data key: HKDF-SHA256(secret=bucketKey, salt=salt, info=label ||
// u16be(len(keyBucket)) || keyBucket || u16be(len(object)) || object),
// 44 bytes: key || nonce.
func objectKeyMaterial(bucketKey []byte, keyBucket, object string, salt []byte) ([]byte, error) {
	if len(bucketKey) != KeySize {
		return nil, fmt.Errorf("envelope: bucket key is %d bytes, want %d", len(bucketKey), KeySize)
	}
	if err := checkKeyBucket(keyBucket); err != nil {
		return nil, err
	}
	if len(object) > maxObjectName {
		return nil, fmt.Errorf("envelope: object name of %d bytes is too long", len(object))
	}
	if len(salt) != saltSize {
		return nil, fmt.Errorf("envelope: salt is %d bytes, want %d", len(salt), saltSize)
	}
	info := make([]byte, 0, len(objectKeyLabel)+4+len(keyBucket)+len(object))
	info = append(info, objectKeyLabel...)
	info = binary.BigEndian.AppendUint16(info, uint16(len(keyBucket)))
	info = append(info, keyBucket...)
	info = binary.BigEndian.AppendUint16(info, uint16(len(object)))
	info = append(info, object...)
	okm, err := hkdf.Key(sha256.New, bucketKey, salt, string(info), KeySize+sealNonceSize)
	if err != nil {
		return nil, fmt.Errorf("envelope: derive object key: %w", err)
	}
	return okm, nil
}

// objectKeyAEAD returns the object key as an AEAD and the sealing nonce.
func objectKeyAEAD(bucketKey []byte, keyBucket, object string, salt []byte) (cipher.AEAD, []byte, error) {
	okm, err := objectKeyMaterial(bucketKey, keyBucket, object, salt)
	if err != nil {
		return nil, nil, err
	}
	defer Wipe(okm[:KeySize])
	aead, err := newGCM(okm[:KeySize])
	if err != nil {
		return nil, nil, err
	}
	return aead, okm[KeySize:], nil
}

// payloadKeyMaterial derives the key and nonce prefix of the stream of one
// part: HKDF-SHA256(secret=DEK, salt=none, info=label || u16be(part)),
// 39 bytes: key || prefix.
func payloadKeyMaterial(key *DataKey, part int) ([]byte, error) {
	if key == nil {
		return nil, fmt.Errorf("envelope: nil data key")
	}
	if part < 0 || part > MaxPart {
		return nil, fmt.Errorf("envelope: part number %d outside 0..%d", part, MaxPart)
	}
	info := binary.BigEndian.AppendUint16([]byte(payloadKeyLabel), uint16(part))
	okm, err := hkdf.Key(sha256.New, key[:], nil, string(info), KeySize+prefixSize)
	if err != nil {
		return nil, fmt.Errorf("envelope: derive payload key: %w", err)
	}
	return okm, nil
}

// payloadAEAD returns the payload key of a part as an AEAD, and its prefix.
func payloadAEAD(key *DataKey, part int) (cipher.AEAD, [prefixSize]byte, error) {
	var prefix [prefixSize]byte
	okm, err := payloadKeyMaterial(key, part)
	if err != nil {
		return nil, prefix, err
	}
	defer Wipe(okm)
	aead, err := newGCM(okm[:KeySize])
	if err != nil {
		return nil, prefix, err
	}
	copy(prefix[:], okm[KeySize:])
	return aead, prefix, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return aead, nil
}

// Seal starts a new object: it draws a fresh data key and salt, derives the
// object key from bucketKey, keyBucket and object, and returns metadata
// holding the sealed data key (Version, Salt, SealedKey, KeyBucket set; the
// caller fills KeyID, WrappedKey, Context, Multipart, Size) and the data key.
// Size starts at -1 so that metadata whose size was forgotten fails Validate.
func Seal(bucketKey []byte, keyBucket, object string) (*Metadata, *DataKey, error) {
	dek := new(DataKey)
	salt := make([]byte, saltSize)
	if _, err := rand.Read(dek[:]); err != nil {
		return nil, nil, fmt.Errorf("envelope: draw data key: %w", err)
	}
	if _, err := rand.Read(salt); err != nil {
		return nil, nil, fmt.Errorf("envelope: draw salt: %w", err)
	}
	m, err := sealWith(dek, bucketKey, keyBucket, object, salt)
	if err != nil {
		dek.Wipe()
		return nil, nil, err
	}
	return m, dek, nil
}

// sealWith is Seal with the randomness supplied, for test vectors.
func sealWith(dek *DataKey, bucketKey []byte, keyBucket, object string, salt []byte) (*Metadata, error) {
	if dek == nil {
		return nil, fmt.Errorf("envelope: nil data key")
	}
	aead, nonce, err := objectKeyAEAD(bucketKey, keyBucket, object, salt)
	if err != nil {
		return nil, err
	}
	return &Metadata{
		Version:   Version,
		KeyBucket: keyBucket,
		Salt:      salt,
		SealedKey: aead.Seal(make([]byte, 0, sealedKeySize), nonce, dek[:], []byte(sealedKeyAAD)),
		Size:      -1,
	}, nil
}

// Open unseals the data key of an object named object, whose metadata is m,
// with the bucket key that m.WrappedKey unwraps to. It fails with ErrAuth if
// the metadata was moved to another object name or key bucket, or edited.
func (m *Metadata) Open(bucketKey []byte, object string) (*DataKey, error) {
	if m.Version != Version {
		return nil, fmt.Errorf("envelope: unsupported format version %d", m.Version)
	}
	if len(m.SealedKey) != sealedKeySize {
		return nil, fmt.Errorf("envelope: sealed key is %d bytes, want %d", len(m.SealedKey), sealedKeySize)
	}
	aead, nonce, err := objectKeyAEAD(bucketKey, m.KeyBucket, object, m.Salt)
	if err != nil {
		return nil, err
	}
	dek := new(DataKey)
	if _, err := aead.Open(dek[:0], nonce, m.SealedKey, []byte(sealedKeyAAD)); err != nil {
		dek.Wipe()
		return nil, fmt.Errorf("envelope: unseal data key: %w", ErrAuth)
	}
	return dek, nil
}

// Reseal returns a copy of m for the same ciphertext stored under a new
// name: the data key is sealed afresh under a new salt and the object key of
// (bucketKey, keyBucket, object). Multipart and Size are kept; KeyID,
// WrappedKey and Context are cleared, and the caller sets them to describe
// bucketKey (so forgetting fails Validate instead of writing metadata that
// names the source's bucket key). This is how CopyObject avoids
// re-encrypting data: the payload depends on the data key only.
func (m *Metadata) Reseal(key *DataKey, bucketKey []byte, keyBucket, object string) (*Metadata, error) {
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("envelope: draw salt: %w", err)
	}
	n, err := sealWith(key, bucketKey, keyBucket, object, salt)
	if err != nil {
		return nil, err
	}
	n.Multipart = m.Multipart
	n.Size = m.Size
	return n, nil
}
