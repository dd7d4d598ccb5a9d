package proxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/s3err"
)

// Multipart checksums (docs/FORMAT.md, "Multipart checksums"). S3 keeps
// each part's checksum and checks the ones a CompleteMultipartUpload
// names against it; the backend only ever holds ciphertext parts, whose
// checksums are not the plaintext's, and the parts of an upload in
// progress cannot be read back. So the proxy hands each part's plaintext
// checksum to the client inside the part's ETag, which clients keep and
// send back in the CompleteMultipartUpload, authenticated under the
// upload's data key:
//
//	"<backend ETag>.ck.<base64url(alg || digest || mac)>"
//
// where the backend ETag is the backend's own (unquoted), alg the
// algorithm's number (checksum.Algorithm), digest its big-endian digest
// of the part's plaintext, and mac the first 16 bytes of
//
//	HMAC-SHA256(HKDF-SHA256(data key, info = "bucketkey proxy part checksum v1"),
//	            u16be(part number) || u64be(plaintext size) ||
//	            uvarint(len(backend ETag)) || backend ETag || alg || digest)
//
// so a record holds only for the stored part it was made for (the backend
// ETag names those exact stored bytes), under its number, in its upload.
const (
	partChecksumSep = ".ck."
	partChecksumMAC = 16
)

// partChecksum is a part's plaintext checksum as a part ETag carries it.
type partChecksum struct {
	alg    checksum.Algorithm
	digest []byte
	mac    []byte
}

// partChecksumTag computes the record's MAC under the data key's
// part-checksum key.
func partChecksumTag(dk *envelope.DataKey, part int, size int64, backendETag string, alg checksum.Algorithm, digest []byte) ([]byte, error) {
	idKey, k, err := dk.UploadKeys(true)
	if err != nil {
		return nil, fmt.Errorf("proxy: part checksum key: %w", err)
	}
	clear(idKey)
	defer clear(k)
	return partChecksumMACWith(k, part, size, backendETag, alg, digest), nil
}

// partChecksumMACWith is the record's MAC under key k.
func partChecksumMACWith(k []byte, part int, size int64, backendETag string, alg checksum.Algorithm, digest []byte) []byte {
	m := hmac.New(sha256.New, k)
	var b []byte
	b = binary.BigEndian.AppendUint16(b, uint16(part))
	b = binary.BigEndian.AppendUint64(b, uint64(size))
	b = binary.AppendUvarint(b, uint64(len(backendETag)))
	b = append(b, backendETag...)
	b = append(b, byte(alg))
	b = append(b, digest...)
	m.Write(b)
	return m.Sum(nil)[:partChecksumMAC]
}

// partETagWithChecksum is the ETag the client gets for part number part
// of size plaintext bytes, stored by the backend under backendETag
// (quoted or not), whose plaintext checksum of alg is digest.
func partETagWithChecksum(dk *envelope.DataKey, part int, size int64, backendETag string, alg checksum.Algorithm, digest []byte) (string, error) {
	inner, _ := unquoteETag(backendETag)
	mac, err := partChecksumTag(dk, part, size, inner, alg, digest)
	if err != nil {
		return "", err
	}
	raw := append(append([]byte{byte(alg)}, digest...), mac...)
	return `"` + inner + partChecksumSep + uploadB64.EncodeToString(raw) + `"`, nil
}

// parsePartETag splits a part ETag a client sent back (quoted or not)
// into the backend's ETag (unquoted) and the checksum record, if it
// carries one (ok). A malformed record is an error; an ETag without one
// is returned as it is, with ok false.
func parsePartETag(e string) (backend string, c partChecksum, ok bool, err error) {
	inner, _ := unquoteETag(strings.TrimSpace(e))
	i := strings.LastIndex(inner, partChecksumSep)
	if i < 0 {
		return inner, partChecksum{}, false, nil
	}
	raw, err := uploadB64.DecodeString(inner[i+len(partChecksumSep):])
	if err != nil {
		return "", partChecksum{}, false, fmt.Errorf("proxy: part ETag checksum: %w", err)
	}
	if len(raw) < 1 {
		return "", partChecksum{}, false, errors.New("proxy: part ETag checksum is empty")
	}
	alg := checksum.Algorithm(raw[0])
	if alg == checksum.None || int(alg) > len(checksum.All) || len(raw) != 1+alg.Size()+partChecksumMAC {
		return "", partChecksum{}, false, errors.New("proxy: part ETag checksum of unknown algorithm or size")
	}
	if i == 0 {
		return "", partChecksum{}, false, errors.New("proxy: part ETag without a backend ETag")
	}
	return inner[:i], partChecksum{alg: alg, digest: raw[1 : 1+alg.Size()], mac: raw[1+alg.Size():]}, true, nil
}

// verify checks the record's MAC for part number part of size plaintext
// bytes stored under backendETag (unquoted).
func (c partChecksum) verify(dk *envelope.DataKey, part int, size int64, backendETag string) error {
	want, err := partChecksumTag(dk, part, size, backendETag, c.alg, c.digest)
	if err != nil {
		return err
	}
	if !hmac.Equal(want, c.mac) {
		return errors.New("proxy: part ETag checksum does not authenticate")
	}
	return nil
}

// partChecksummer holds an UploadPart (or the plaintext an UploadPartCopy
// writes) to the checksum algorithm its upload declared, as S3 does: a
// part that names another algorithm is refused, and so is a part of a
// COMPOSITE upload that names none (S3 has nothing to compose); a part of
// a FULL_OBJECT upload that names none gets its checksum computed. client
// is the algorithm the request names (for a copy, the upload's), and
// clientSum its verified value once body has ended. It returns the body to
// store, the algorithm of the part's checksum record (the upload's) and a
// function giving the part's digest once the body has been read whole
// (nil for an upload that declared none: its parts' ETags stay the
// backend's, the same as ListParts reports, and a checksum the client
// sent is answered as sigv4 verified it).
func partChecksummer(u uploadID, client checksum.Algorithm, body io.Reader, clientSum func() string) (io.Reader, checksum.Algorithm, func() []byte, error) {
	fromClient := func() []byte {
		d, _ := client.Decode(clientSum())
		return d
	}
	switch {
	case u.ckAlg == checksum.None:
		return body, checksum.None, nil, nil
	case client == checksum.None && u.ckType == checksumComposite:
		return nil, checksum.None, nil, errChecksumTypeMismatch(u.ckAlg, "null")
	case client != checksum.None && client != u.ckAlg:
		return nil, checksum.None, nil, errChecksumTypeMismatch(u.ckAlg, client.String())
	case client == u.ckAlg && clientSum != nil:
		return body, client, fromClient, nil // sigv4 computes and verifies it
	}
	h := u.ckAlg.New()
	return io.TeeReader(body, h), u.ckAlg, func() []byte { return h.Sum(nil) }, nil
}

// errChecksumTypeMismatch is S3's answer to a part whose checksum
// algorithm is not its upload's.
func errChecksumTypeMismatch(want checksum.Algorithm, got string) error {
	return s3err.InvalidRequest.With("Checksum Type mismatch occurred, expected checksum Type: " + want.String() + ", actual checksum Type: " + got)
}

// withPartChecksum prepares the answer to a stored part whose checksum
// is known (partChecksummer's alg and sum): the part's ETag carries its
// checksum record (partETagWithChecksum), and h gets
// x-amz-checksum-<algorithm>, as S3 answers. resp is the backend's answer.
func withPartChecksum(h http.Header, resp *http.Response, dk *envelope.DataKey, part int, size int64, alg checksum.Algorithm, sum func() []byte) error {
	if sum == nil || !ok2xx(resp.StatusCode) {
		return nil
	}
	digest := sum()
	if len(digest) != alg.Size() {
		return fmt.Errorf("proxy: no %s digest of part %d", alg, part)
	}
	e := resp.Header.Get("ETag")
	if e == "" {
		return fmt.Errorf("proxy: the backend stored part %d without an ETag", part)
	}
	etag, err := partETagWithChecksum(dk, part, size, e, alg, digest)
	if err != nil {
		return err
	}
	resp.Header.Set("ETag", etag)
	h.Set(alg.CanonicalHeader(), checksum.Encode(digest))
	return nil
}
