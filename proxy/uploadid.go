package proxy

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/s3err"
)

// Upload IDs carry the upload's key material (docs/ARCHITECTURE.md,
// "Multipart key material"): S3 cannot tell UploadPart the metadata set on
// CreateMultipartUpload, so the proxy hands the client
//
//	<backend upload id>.bk1.<base64url(fields || mac)>
//
// where fields are the envelope metadata headers (names without the
// "x-amz-meta-bk-" prefix), each name and value preceded by its uvarint
// length, in sorted order; and mac is the first 16 bytes of
// HMAC-SHA256(DataKey.UploadKeys (HKDF-SHA256 of the data key with its
// format version's upload-ID label), uvarint(len(backend id)) || backend
// id || fields). The sealed data key opens only for the
// object name it was sealed for, so an ID replayed on another key fails;
// the MAC ties the key material to its backend upload, so it cannot be
// grafted onto another upload of the same name.
//
// An upload created with x-amz-checksum-algorithm gets instead
//
//	<backend upload id>.bk2.<base64url(alg || type || fields || mac)>
//
// where alg is the algorithm's number (checksum.Algorithm: 1 CRC32 ... 10
// XXHASH128), type is 1 for COMPOSITE and 2 for FULL_OBJECT, and mac is as
// above under the key envelope.DataKey.UploadKeys(true) over uvarint(len(backend id)) ||
// backend id || alg || type || fields: S3 holds parts and Complete to the
// algorithm declared at CreateMultipartUpload (docs/FORMAT.md, "Multipart
// checksums").
const (
	uploadIDSep    = ".bk1."
	uploadIDSep2   = ".bk2."
	uploadIDMACLen = 16
	maxUploadID    = 4096
)

// Checksum types as the upload ID encodes them.
const (
	ckTypeComposite  = 1
	ckTypeFullObject = 2
)

var uploadB64 = base64.RawURLEncoding

// uploadID is a parsed client upload ID.
type uploadID struct {
	backend string             // the backend's upload ID
	md      *envelope.Metadata // nil for a bare backend ID
	ckAlg   checksum.Algorithm // declared at CreateMultipartUpload, or None
	ckType  string             // checksumComposite or checksumFullObject with ckAlg
	fields  []byte
	mac     []byte
}

// ckSpec is the algorithm and type bytes of a .bk2. ID.
func (u uploadID) ckSpec() []byte {
	if u.ckAlg == checksum.None {
		return nil
	}
	t := byte(ckTypeComposite)
	if u.ckType == checksumFullObject {
		t = ckTypeFullObject
	}
	return []byte{byte(u.ckAlg), t}
}

// encodeUploadID returns the client upload ID for a backend upload whose
// envelope metadata is md and data key dk.
// ckAlg and ckType are the checksum declared at CreateMultipartUpload
// (checksum.None for none).
func encodeUploadID(backend string, md *envelope.Metadata, dk *envelope.DataKey, ckAlg checksum.Algorithm, ckType string) (string, error) {
	u := uploadID{backend: backend, ckAlg: ckAlg, ckType: ckType, fields: encodeFields(md.Headers())}
	mac, err := u.computeMAC(dk)
	if err != nil {
		return "", err
	}
	sep := uploadIDSep
	if ckAlg != checksum.None {
		sep = uploadIDSep2
	}
	raw := append(append(u.ckSpec(), u.fields...), mac...)
	return backend + sep + uploadB64.EncodeToString(raw), nil
}

// parseUploadID splits a client upload ID. A bare backend ID (as
// ListMultipartUploads returns) parses with md nil.
func parseUploadID(id string) (uploadID, error) {
	invalid := func(err error) error {
		return s3err.NoSuchUpload.Wrap(err)
	}
	if id == "" {
		return uploadID{}, invalid(errors.New("proxy: empty upload id"))
	}
	if len(id) > maxUploadID {
		return uploadID{}, invalid(errors.New("proxy: upload id too long"))
	}
	i, v2 := strings.LastIndex(id, uploadIDSep), false
	if j := strings.LastIndex(id, uploadIDSep2); j > i {
		i, v2 = j, true
	}
	if i < 0 {
		return uploadID{backend: id}, nil
	}
	u := uploadID{backend: id[:i]}
	if u.backend == "" {
		return uploadID{}, invalid(errors.New("proxy: upload id has no backend part"))
	}
	raw, err := uploadB64.DecodeString(id[i+len(uploadIDSep):])
	if err != nil {
		return uploadID{}, invalid(fmt.Errorf("proxy: upload id: %w", err))
	}
	if v2 {
		if len(raw) < 2 {
			return uploadID{}, invalid(errors.New("proxy: upload id too short"))
		}
		alg, t := checksum.Algorithm(raw[0]), raw[1]
		if alg == checksum.None || int(alg) > len(checksum.All) {
			return uploadID{}, invalid(errors.New("proxy: upload id: unknown checksum algorithm"))
		}
		switch t {
		case ckTypeComposite:
			u.ckType = checksumComposite
		case ckTypeFullObject:
			u.ckType = checksumFullObject
		default:
			return uploadID{}, invalid(errors.New("proxy: upload id: unknown checksum type"))
		}
		u.ckAlg = alg
		raw = raw[2:]
	}
	if len(raw) < uploadIDMACLen {
		return uploadID{}, invalid(errors.New("proxy: upload id too short"))
	}
	u.fields, u.mac = raw[:len(raw)-uploadIDMACLen], raw[len(raw)-uploadIDMACLen:]
	h, err := decodeFields(u.fields)
	if err != nil {
		return uploadID{}, invalid(err)
	}
	md, err := envelope.ParseMetadata(h)
	if err != nil {
		return uploadID{}, invalid(fmt.Errorf("proxy: upload id: %w", err))
	}
	if !md.Multipart {
		return uploadID{}, invalid(errors.New("proxy: upload id metadata is not multipart"))
	}
	// One encoding per set of fields (sorted, lower-case names, minimal
	// varints), as encodeUploadID writes them: the MAC covers these bytes,
	// and nothing else may spell the same metadata.
	if !bytes.Equal(encodeFields(md.Headers()), u.fields) {
		return uploadID{}, invalid(errors.New("proxy: upload id fields are not in canonical form"))
	}
	u.md = md
	return u, nil
}

// verify checks the ID's MAC with the data key its metadata opened to.
func (u uploadID) verify(dk *envelope.DataKey) error {
	want, err := u.computeMAC(dk)
	if err != nil {
		return err
	}
	if !hmac.Equal(want, u.mac) {
		return s3err.NoSuchUpload.Wrap(errors.New("proxy: upload id does not belong to this upload"))
	}
	return nil
}

// computeMAC is the MAC of u's backend ID, checksum spec and fields under
// dk (its label says which of the two forms it is).
func (u uploadID) computeMAC(dk *envelope.DataKey) ([]byte, error) {
	k, partKey, err := dk.UploadKeys(u.ckAlg != checksum.None)
	if err != nil {
		return nil, fmt.Errorf("proxy: upload id key: %w", err)
	}
	clear(partKey)
	m := hmac.New(sha256.New, k)
	clear(k)
	m.Write(binary.AppendUvarint(nil, uint64(len(u.backend))))
	m.Write([]byte(u.backend))
	m.Write(u.ckSpec())
	m.Write(u.fields)
	return m.Sum(nil)[:uploadIDMACLen], nil
}

func encodeFields(h map[string]string) []byte {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	var b []byte
	for _, k := range names {
		short := strings.TrimPrefix(strings.ToLower(k), envelope.MetaPrefix)
		b = binary.AppendUvarint(b, uint64(len(short)))
		b = append(b, short...)
		b = binary.AppendUvarint(b, uint64(len(h[k])))
		b = append(b, h[k]...)
	}
	return b
}

func decodeFields(b []byte) (http.Header, error) {
	h := make(http.Header)
	next := func() (string, error) {
		n, m := binary.Uvarint(b)
		if m <= 0 || n > uint64(len(b)-m) {
			return "", errors.New("proxy: upload id: truncated field")
		}
		s := string(b[m : m+int(n)])
		b = b[m+int(n):]
		return s, nil
	}
	for len(b) > 0 {
		name, err := next()
		if err != nil {
			return nil, err
		}
		value, err := next()
		if err != nil {
			return nil, err
		}
		if name == "" || strings.ContainsAny(name, " :\r\n") {
			return nil, errors.New("proxy: upload id: bad field name")
		}
		full := envelope.MetaPrefix + name
		if len(h.Values(full)) > 0 {
			return nil, errors.New("proxy: upload id: duplicate field")
		}
		h.Set(full, value)
	}
	return h, nil
}

// String is the client upload ID u was parsed from (its encoding is
// canonical), or the bare backend ID.
func (u uploadID) String() string {
	if u.md == nil {
		return u.backend
	}
	sep := uploadIDSep
	if u.ckAlg != checksum.None {
		sep = uploadIDSep2
	}
	return u.backend + sep + uploadB64.EncodeToString(slices.Concat(u.ckSpec(), u.fields, u.mac))
}
