package localkey

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/bucketkey/bucketkey/keycache"
)

// Provider is a keycache.Provider over a 256-bit master key kept in a file, for running
// without an AWS account. Its wrapped blobs have the semantics of KMS's: they
// are versioned, authenticated, bound to the key and to the encryption
// context, and useless without the master key.
//
// # Blob format, version 1 (89 bytes)
//
//	offset size field
//	0      1    version, 0x01
//	1      8    key fingerprint: HMAC-SHA256(master, "bucketkey/local/v1 key id")[:8]
//	9      32   salt, from crypto/rand, fresh per blob
//	41     48   AES-256-GCM(wrapKey, nonce = 12 zero bytes, data key (32 bytes), AAD)
//
//	wrapKey = HKDF-SHA256(secret = master, salt = salt, info = "bucketkey/local/v1 wrap", 32 bytes)
//	AAD     = "bucketkey/local/v1" || blob[0:41] || uvarint(len(key id)) || key id
//	          || canonical encryption context
//
// The canonical encryption context is uvarint(number of pairs) followed by
// the pairs sorted by key, each key and value prefixed by its uvarint length.
// The key id in the AAD is the provider's full id ("local:" + hex
// fingerprint), whatever alias the caller used.
//
// Every blob has its own wrapKey (a fresh 256-bit salt), so the fixed nonce
// is never reused under one key and there is no limit on the number of blobs.
// Decrypt with another context, another master key or a modified blob fails:
// KindInvalid for a bad blob or context, KindDenied for a key id that is not
// this provider's or a blob made by another master key.
//
// # Master key file
//
// One line: the 32-byte key in hex (64 characters). Open refuses a file
// that other users can access (any of the mode's "other" bits set) and, with
// create, writes a missing file with mode 0600 from crypto/rand.
//
// Close wipes the master key from memory; the provider fails every call
// after it.
type Provider struct {
	mu     sync.RWMutex // held for reading while master is used; Close writes
	master []byte       // nil once Close has wiped it
	fp     [localFPSize]byte
	keyID  string
}

// errLocalClosed is the cause of the error a closed Provider returns.
var errLocalClosed = errors.New("provider closed, master key wiped")

const (
	localVersion  = 0x01
	localFPSize   = 8
	localSaltSize = 32
	localHeader   = 1 + localFPSize + localSaltSize
	localBlobSize = localHeader + 32 + 16
	localKeyPref  = "local:"
	localAADLabel = "bucketkey/local/v1"
	localWrapInfo = "bucketkey/local/v1 wrap"
	localFPLabel  = "bucketkey/local/v1 key id"
	// Alias names the local provider's only key, for configurations
	// that want a key id that does not depend on the master key.
	Alias = "local"
)

// Open loads the master key at path. With create, a missing file (and its
// directory) is created with a fresh random key, mode 0600; that is dev mode.
func Open(path string, create bool) (*Provider, error) {
	master, err := readMasterKey(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		master, err = createMasterKey(path)
	}
	if err != nil {
		return nil, err
	}
	defer clear(master)
	return New(master)
}

// New returns a local provider over master (32 bytes), which it
// copies; for tests and embedding.
func New(master []byte) (*Provider, error) {
	if len(master) != 32 {
		return nil, fmt.Errorf("keycache: local master key is %d bytes, want 32", len(master))
	}
	l := &Provider{master: append([]byte(nil), master...)}
	mac := hmac.New(sha256.New, l.master)
	mac.Write([]byte(localFPLabel))
	copy(l.fp[:], mac.Sum(nil))
	l.keyID = localKeyPref + hex.EncodeToString(l.fp[:])
	return l, nil
}

func readMasterKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keycache: local master key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keycache: local master key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("keycache: local master key %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o007 != 0 {
		return nil, fmt.Errorf("keycache: local master key %s is accessible to other users (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	buf := make([]byte, 256)
	defer clear(buf)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("keycache: local master key %s: %w", path, err)
	}
	text := strings.TrimSpace(string(buf[:n])) // a copy we cannot wipe; the file holds it anyway
	if len(text) != 64 {
		return nil, fmt.Errorf("keycache: local master key %s: want 64 hex characters", path)
	}
	master, err := hex.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("keycache: local master key %s: not hex", path)
	}
	return master, nil
}

func createMasterKey(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("keycache: create local master key: %w", err)
	}
	master := make([]byte, 32)
	rand.Read(master)
	line := make([]byte, 0, 65)
	line = hex.AppendEncode(line, master)
	line = append(line, '\n')
	defer clear(line)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process won the race: use its key
		clear(master)
		return readMasterKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("keycache: create local master key: %w", err)
	}
	_, err = f.Write(line)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("keycache: create local master key: %w", err)
	}
	return master, nil
}

// Name is "local".
func (l *Provider) Name() string { return "local" }

// Close wipes the master key. Calls that need the key after it fail with an
// *Error of KindUnavailable; one already deriving from the key finishes
// first. It does not close a Cache over l: close that first. Close is
// idempotent and returns nil.
func (l *Provider) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.master)
	l.master = nil
	return nil
}

// KeyID is the provider's key id, "local:" and the key's fingerprint in hex.
// GenerateDataKey reports it; Decrypt accepts it, "" and Alias.
func (l *Provider) KeyID() string { return l.keyID }

func (l *Provider) checkKeyID(op, keyID string) error {
	if keyID == "" || keyID == Alias || keyID == l.keyID {
		return nil
	}
	return keycache.NewError(keycache.KindDenied, op, fmt.Errorf("key %q not found (local provider has %s)", keyID, l.keyID))
}

// aead derives the wrapping AEAD of one blob from the master key, or fails
// with errLocalClosed after Close.
func (l *Provider) aead(salt []byte) (cipher.AEAD, error) {
	l.mu.RLock()
	if l.master == nil {
		l.mu.RUnlock()
		return nil, errLocalClosed
	}
	k, err := hkdf.Key(sha256.New, l.master, salt, localWrapInfo, 32)
	l.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	defer clear(k)
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func (l *Provider) aad(header []byte, encCtx map[string]string) []byte {
	aad := make([]byte, 0, 128)
	aad = append(aad, localAADLabel...)
	aad = append(aad, header...)
	aad = appendString(aad, l.keyID)
	return keycache.AppendCanonicalContext(aad, encCtx)
}

// GenerateDataKey returns a random 32-byte key wrapped under the master key.
func (l *Provider) GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string) (keycache.GeneratedKey, error) {
	if err := ctx.Err(); err != nil {
		return keycache.GeneratedKey{}, keycache.NewError(keycache.KindUnavailable, keycache.OpGenerateDataKey, err)
	}
	if err := l.checkKeyID(keycache.OpGenerateDataKey, keyID); err != nil {
		return keycache.GeneratedKey{}, err
	}
	salt := make([]byte, localSaltSize)
	rand.Read(salt)
	pt := make([]byte, 32)
	rand.Read(pt)
	blob, err := l.wrap(salt, pt, encCtx)
	if err != nil {
		clear(pt)
		return keycache.GeneratedKey{}, keycache.NewError(keycache.KindUnavailable, keycache.OpGenerateDataKey, fmt.Errorf("local: %w", err))
	}
	return keycache.GeneratedKey{Plaintext: pt, Wrapped: blob, KeyID: l.keyID}, nil
}

// wrap seals the data key pt under salt: the deterministic half of
// GenerateDataKey, separate so tests can pin blobs.
func (l *Provider) wrap(salt, pt []byte, encCtx map[string]string) ([]byte, error) {
	blob := make([]byte, localHeader, localBlobSize)
	blob[0] = localVersion
	copy(blob[1:], l.fp[:])
	copy(blob[1+localFPSize:], salt)
	a, err := l.aead(salt)
	if err != nil {
		return nil, err
	}
	var nonce [12]byte
	return a.Seal(blob, nonce[:], pt, l.aad(blob[:localHeader], encCtx)), nil
}

// Decrypt unwraps a blob GenerateDataKey returned with the same context.
func (l *Provider) Decrypt(ctx context.Context, keyID string, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, keycache.NewError(keycache.KindUnavailable, keycache.OpDecrypt, err)
	}
	if err := l.checkKeyID(keycache.OpDecrypt, keyID); err != nil {
		return nil, err
	}
	if len(wrapped) != localBlobSize || wrapped[0] != localVersion {
		return nil, keycache.NewError(keycache.KindInvalid, keycache.OpDecrypt, errors.New("local: not a version 1 local blob"))
	}
	if subtle.ConstantTimeCompare(wrapped[1:1+localFPSize], l.fp[:]) != 1 {
		return nil, keycache.NewError(keycache.KindDenied, keycache.OpDecrypt, errors.New("local: blob was wrapped under another master key"))
	}
	a, err := l.aead(wrapped[1+localFPSize : localHeader])
	if err != nil {
		return nil, keycache.NewError(keycache.KindUnavailable, keycache.OpDecrypt, fmt.Errorf("local: %w", err))
	}
	var nonce [12]byte
	pt, err := a.Open(nil, nonce[:], wrapped[localHeader:], l.aad(wrapped[:localHeader], encCtx))
	if err != nil {
		return nil, keycache.NewError(keycache.KindInvalid, keycache.OpDecrypt, errors.New("local: blob or encryption context is not authentic"))
	}
	return pt, nil
}

// appendString appends s prefixed by its length as a uvarint.
func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
