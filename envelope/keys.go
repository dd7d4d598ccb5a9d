package envelope

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
)

// DataKey is a per-object data encryption key. The payload of a
// single-part object is encrypted under a key derived from it; each stored
// part of a multipart object under a key derived from it, the part number
// and the part's own random header. It knows the format version that
// sealed (or opened) it, which selects the labels and the segment size of
// everything derived from it: readers and writers of an object take the
// version from its key. The zero DataKey is of version 1.
type DataKey struct {
	b [keySize]byte
	f *format
}

// Wipe zeroes the key.
func (k *DataKey) Wipe() { *k = DataKey{} }

// format is the version k belongs to.
func (k *DataKey) format() *format {
	if k == nil {
		return formatV1
	}
	return orV1(k.f)
}

// UploadKeys returns the keys of the proxy's multipart records, each
// HKDF-SHA256(secret=DEK, info=a label of the key's format version), 32
// bytes, which the caller wipes: idKey MACs the upload ID (docs/
// ARCHITECTURE.md, "Multipart key material"; with checksum, under the
// label of upload IDs that carry a declared checksum algorithm), partKey
// the part checksum records (docs/FORMAT.md, "Multipart checksums"). The
// labels are the format's, so the proxy never sees the data key itself.
// One method for both keeps the package's surface narrow (issue 13).
func (k *DataKey) UploadKeys(checksum bool) (idKey, partKey []byte, err error) {
	label := k.format().labels.uploadID
	if checksum {
		label = k.format().labels.uploadIDChecksum
	}
	if idKey, err = k.derive(label, "upload id"); err != nil {
		return nil, nil, err
	}
	if partKey, err = k.derive(k.format().labels.partChecksum, "part checksum"); err != nil {
		clear(idKey)
		return nil, nil, err
	}
	return idKey, partKey, nil
}

// derive is HKDF-SHA256(secret=DEK, salt=absent, info=label), 32 bytes.
func (k *DataKey) derive(label, what string) ([]byte, error) {
	if k == nil {
		return nil, fmt.Errorf("envelope: nil data key")
	}
	out, err := hkdf.Key(sha256.New, k.b[:], nil, label, keySize)
	if err != nil {
		return nil, fmt.Errorf("envelope: derive %s key: %w", what, err)
	}
	return out, nil
}

// Wipe zeroes b, for plaintext key material the caller owns (bucket keys
// from the key cache, derived keys). Go keeps copies out of reach (the key
// schedules inside crypto/aes), so this is hygiene, not a guarantee.
func wipe(b []byte) { clear(b) }

// Sizes of the key material (the labels are the format's, format.go).
const (
	saltSize      = 32
	sealNonceSize = 12
	prefixSize    = 7 // per-stream nonce prefix
	sealedKeySize = keySize + tagSize

	// maxObjectName bounds the object name bound into the object key; the
	// encoding gives it a 16-bit length. S3 allows 1024 bytes.
	maxObjectName = 1<<16 - 1
)

// objectKeyMaterial derives the object key and the nonce that seals the
// data key: HKDF-SHA256(secret=bucketKey, salt=salt, info=label ||
// u16be(len(keyBucket)) || keyBucket || u16be(len(object)) || object),
// 44 bytes: key || nonce.
func objectKeyMaterial(f *format, bucketKey []byte, keyBucket, object string, salt []byte) ([]byte, error) {
	if len(bucketKey) != keySize {
		return nil, fmt.Errorf("envelope: bucket key is %d bytes, want %d", len(bucketKey), keySize)
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
	info := make([]byte, 0, len(f.labels.objectKey)+4+len(keyBucket)+len(object))
	info = append(info, f.labels.objectKey...)
	info = binary.BigEndian.AppendUint16(info, uint16(len(keyBucket)))
	info = append(info, keyBucket...)
	info = binary.BigEndian.AppendUint16(info, uint16(len(object)))
	info = append(info, object...)
	okm, err := hkdf.Key(sha256.New, bucketKey, salt, string(info), keySize+sealNonceSize)
	if err != nil {
		return nil, fmt.Errorf("envelope: derive object key: %w", err)
	}
	return okm, nil
}

// objectKeyAEAD returns the object key as an AEAD and the sealing nonce.
func objectKeyAEAD(f *format, bucketKey []byte, keyBucket, object string, salt []byte) (cipher.AEAD, []byte, error) {
	okm, err := objectKeyMaterial(f, bucketKey, keyBucket, object, salt)
	if err != nil {
		return nil, nil, err
	}
	defer wipe(okm[:keySize])
	aead, err := newGCM(okm[:keySize])
	if err != nil {
		return nil, nil, err
	}
	return aead, okm[keySize:], nil
}

// payloadKeyMaterial derives the key and nonce prefix of one stream:
// HKDF-SHA256(secret=DEK, salt=partSalt, info=label || u16be(part)),
// 39 bytes: key || prefix. A single-part object's stream (part 0) has no
// salt: its data key is fresh, and the object is written once. A part of a
// multipart upload may be uploaded again with other bytes under the same
// data key and number (S3 allows it, and a failed upload is retried), so
// each upload of a part draws a random partSalt (its stored header):
// without it two uploads of part k would reuse the key and nonces.
func payloadKeyMaterial(key *DataKey, part int, partSalt []byte) ([]byte, error) {
	if key == nil {
		return nil, fmt.Errorf("envelope: nil data key")
	}
	if part < 0 || part > maxPart {
		return nil, fmt.Errorf("envelope: part number %d outside 0..%d", part, maxPart)
	}
	switch {
	case part == 0 && partSalt != nil:
		return nil, fmt.Errorf("envelope: a single-part stream has no part salt")
	case part > 0 && len(partSalt) != partHeaderSize:
		return nil, fmt.Errorf("envelope: part salt is %d bytes, want %d", len(partSalt), partHeaderSize)
	}
	info := binary.BigEndian.AppendUint16([]byte(key.format().labels.payload), uint16(part))
	okm, err := hkdf.Key(sha256.New, key.b[:], partSalt, string(info), keySize+prefixSize)
	if err != nil {
		return nil, fmt.Errorf("envelope: derive payload key: %w", err)
	}
	return okm, nil
}

// payloadAEAD returns the payload key of a stream as an AEAD, and its prefix.
func payloadAEAD(key *DataKey, part int, partSalt []byte) (cipher.AEAD, [prefixSize]byte, error) {
	var prefix [prefixSize]byte
	okm, err := payloadKeyMaterial(key, part, partSalt)
	if err != nil {
		return nil, prefix, err
	}
	defer wipe(okm)
	aead, err := newGCM(okm[:keySize])
	if err != nil {
		return nil, prefix, err
	}
	copy(prefix[:], okm[keySize:])
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

// BucketKey is the bucket key an object is sealed under, as the key cache
// lends it: the plaintext key, which derives the object key and is never
// stored, and what the metadata records about it.
type BucketKey struct {
	Plaintext []byte            // the 32-byte bucket key
	KeyID     string            // the KMS key that wraps it, as KMS reported it
	Wrapped   []byte            // the bucket key as KMS wrapped it
	Bucket    string            // the key bucket: the bucket its KMS encryption context names
	Context   map[string]string // additional KMS encryption context, nil if none
}

// Seal starts a new object named object under bucket key bk: it draws a
// fresh data key and salt, derives the object key from bk and the name,
// and returns complete, validated metadata (the current format version,
// the data key sealed, and bk's key id, wrapped key, key bucket and
// context) and the data key, which the caller wipes. size is the plaintext
// size of a single-part object; a multipart object records none (its Size
// is -1, size is ignored). The seal authenticates the object's shape:
// single-part of exactly size bytes, or multipart. Metadata that would not
// be valid (an oversize context) fails with ErrInvalidMetadata.
func Seal(bk BucketKey, object string, multipart bool, size int64) (*Metadata, *DataKey, error) {
	dek := &DataKey{f: formats[writeVersion]}
	if _, err := rand.Read(dek.b[:]); err != nil {
		return nil, nil, fmt.Errorf("envelope: draw data key: %w", err)
	}
	m, err := reseal(dek, bk, object, multipart, size)
	if err != nil {
		dek.Wipe()
		return nil, nil, err
	}
	return m, dek, nil
}

// Reseal returns metadata for the same stored bytes (m's, whose data key
// is key) under a new name: key sealed afresh, under a fresh salt, for
// object under bucket key bk; the shape (multipart, size) is m's; the
// result is complete and validated, as Seal's. This is how CopyObject
// avoids re-encrypting data: the payload depends on the data key only. It
// only helps where the backend copies the stored bytes as they are: S3
// stores a server-side copy of a multipart object as one part, which loses
// the part layout its decryption needs, so the proxy re-encrypts those.
func (m *Metadata) Reseal(key *DataKey, bk BucketKey, object string) (*Metadata, error) {
	n, err := reseal(key, bk, object, m.Multipart, m.Size)
	if err != nil {
		return nil, err
	}
	// The checksum's tag is under the data key, which a copy keeps.
	n.Checksum, n.ChecksumTag = m.Checksum, m.ChecksumTag
	if err := n.validate(); err != nil {
		return nil, err
	}
	return n, nil
}

// reseal seals key for object under bk with a fresh salt, in key's
// version: the stored bytes were written in it, so a copy of an object of
// an older version stays of that version.
func reseal(key *DataKey, bk BucketKey, object string, multipart bool, size int64) (*Metadata, error) {
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("envelope: draw salt: %w", err)
	}
	return sealWith(key.format(), key, bk, object, salt, multipart, size)
}

// sealWith is reseal with the format and randomness supplied, for test
// vectors.
func sealWith(f *format, dek *DataKey, bk BucketKey, object string, salt []byte, multipart bool, size int64) (*Metadata, error) {
	if dek == nil {
		return nil, fmt.Errorf("envelope: nil data key")
	}
	if dek.format() != f {
		return nil, fmt.Errorf("envelope: a v%d data key sealed as v%d", dek.format().version, f.version)
	}
	if multipart {
		size = -1
	} else if size < 0 || size > maxStreamSize {
		return nil, fmt.Errorf("envelope: object size %d outside 0..%d", size, int64(maxStreamSize))
	}
	aead, nonce, err := objectKeyAEAD(f, bk.Plaintext, bk.Bucket, object, salt)
	if err != nil {
		return nil, err
	}
	m := &Metadata{
		Version:    f.version,
		KeyID:      bk.KeyID,
		KeyBucket:  bk.Bucket,
		WrappedKey: bytes.Clone(bk.Wrapped),
		Context:    maps.Clone(bk.Context),
		Salt:       salt,
		SealedKey:  aead.Seal(make([]byte, 0, sealedKeySize), nonce, dek.b[:], sealAD(f, multipart, size)),
		Multipart:  multipart,
		Size:       size,
		Packed:     true,
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// sealAD is the additional data of the sealed data key: the label, then
// the object's shape: 0x00 || u64be(plaintext size) for a single-part
// object, 0x01 || u64be(0) for a multipart one. So the recorded size and
// the multipart flag, which readers rely on before the payload has
// authenticated (a HEAD, a ranged read, a 416), cannot be edited.
func sealAD(f *format, multipart bool, size int64) []byte {
	ad := make([]byte, 0, len(f.labels.sealedKey)+9)
	ad = append(ad, f.labels.sealedKey...)
	if multipart {
		ad = append(ad, 1)
		size = 0
	} else {
		ad = append(ad, 0)
	}
	return binary.BigEndian.AppendUint64(ad, uint64(size))
}

// Open unseals the data key of an object named object, whose metadata is m,
// with the bucket key that m.WrappedKey unwraps to. It fails with ErrAuth if
// the metadata was moved to another object name or key bucket, or edited
// (its size or multipart flag included).
func (m *Metadata) Open(bucketKey []byte, object string) (*DataKey, error) {
	f, err := formatOf(m.Version)
	if err != nil {
		return nil, err
	}
	if len(m.SealedKey) != sealedKeySize {
		return nil, fmt.Errorf("envelope: sealed key is %d bytes, want %d", len(m.SealedKey), sealedKeySize)
	}
	if !m.Multipart && (m.Size < 0 || m.Size > maxStreamSize) {
		return nil, fmt.Errorf("envelope: object size %d outside 0..%d", m.Size, int64(maxStreamSize))
	}
	aead, nonce, err := objectKeyAEAD(f, bucketKey, m.KeyBucket, object, m.Salt)
	if err != nil {
		return nil, err
	}
	dek := &DataKey{f: f}
	if _, err := aead.Open(dek.b[:0], nonce, m.SealedKey, sealAD(f, m.Multipart, m.Size)); err != nil {
		dek.Wipe()
		return nil, fmt.Errorf("envelope: unseal data key: %w", ErrAuth)
	}
	return dek, nil
}
