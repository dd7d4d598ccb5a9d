// Package checksum is the one table of the x-amz-checksum-* algorithms S3
// accepts: their names as S3 spells them in headers, trailers and XML,
// their digest sizes, and hashes from the standard library or maintained
// libraries (minio/crc64nvme, cespare/xxhash/v2, zeebo/xxh3). A digest
// travels as the standard base64 of its big-endian bytes, as the AWS SDKs
// and S3 encode it (XXHASH64("Hello world") is 0xc500b0c912b376d8, sent as
// "xQCwyRKzdtg=").
package checksum

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/minio/crc64nvme"
	"github.com/zeebo/xxh3"
)

// Algorithm is one of the checksum algorithms S3 accepts; None is the zero
// value.
type Algorithm uint8

// The algorithms, in the order S3's API reference lists them.
const (
	None Algorithm = iota
	CRC32
	CRC32C
	CRC64NVME
	SHA1
	SHA256
	SHA512
	MD5
	XXHASH64
	XXHASH3
	XXHASH128
)

// All lists every algorithm, None excluded.
var All = []Algorithm{CRC32, CRC32C, CRC64NVME, SHA1, SHA256, SHA512, MD5, XXHASH64, XXHASH3, XXHASH128}

var table = [...]struct {
	name      string // as in x-amz-sdk-checksum-algorithm and ChecksumAlgorithm
	header    string // lower-case header and trailer name
	canonical string // the header's key in a net/http Header
	xml       string // the element name in S3's XML answers
	size      int
}{
	None:      {},
	CRC32:     {"CRC32", "x-amz-checksum-crc32", "X-Amz-Checksum-Crc32", "ChecksumCRC32", 4},
	CRC32C:    {"CRC32C", "x-amz-checksum-crc32c", "X-Amz-Checksum-Crc32c", "ChecksumCRC32C", 4},
	CRC64NVME: {"CRC64NVME", "x-amz-checksum-crc64nvme", "X-Amz-Checksum-Crc64nvme", "ChecksumCRC64NVME", 8},
	SHA1:      {"SHA1", "x-amz-checksum-sha1", "X-Amz-Checksum-Sha1", "ChecksumSHA1", 20},
	SHA256:    {"SHA256", "x-amz-checksum-sha256", "X-Amz-Checksum-Sha256", "ChecksumSHA256", 32},
	SHA512:    {"SHA512", "x-amz-checksum-sha512", "X-Amz-Checksum-Sha512", "ChecksumSHA512", 64},
	MD5:       {"MD5", "x-amz-checksum-md5", "X-Amz-Checksum-Md5", "ChecksumMD5", 16},
	XXHASH64:  {"XXHASH64", "x-amz-checksum-xxhash64", "X-Amz-Checksum-Xxhash64", "ChecksumXXHASH64", 8},
	XXHASH3:   {"XXHASH3", "x-amz-checksum-xxhash3", "X-Amz-Checksum-Xxhash3", "ChecksumXXHASH3", 8},
	XXHASH128: {"XXHASH128", "x-amz-checksum-xxhash128", "X-Amz-Checksum-Xxhash128", "ChecksumXXHASH128", 16},
}

// String is the algorithm's name as S3 spells it ("CRC64NVME"), "" for None.
func (a Algorithm) String() string { return table[a].name }

// Header is the lower-case header and trailer name ("x-amz-checksum-crc32").
func (a Algorithm) Header() string { return table[a].header }

// CanonicalHeader is Header as a net/http Header key ("X-Amz-Checksum-Crc32").
func (a Algorithm) CanonicalHeader() string { return table[a].canonical }

// XMLElement is the element S3's XML answers carry it in ("ChecksumCRC32").
func (a Algorithm) XMLElement() string { return table[a].xml }

// Size is the digest length in bytes.
func (a Algorithm) Size() int { return table[a].size }

// CRC reports whether a is a CRC, the only kind S3 combines into a
// FULL_OBJECT checksum of a multipart upload.
func (a Algorithm) CRC() bool { return a == CRC32 || a == CRC32C || a == CRC64NVME }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// New returns a fresh hash computing a's digest (big-endian Sum), or nil
// for None.
func (a Algorithm) New() hash.Hash {
	switch a {
	case CRC32:
		return crc32.NewIEEE()
	case CRC32C:
		return crc32.New(castagnoli)
	case CRC64NVME:
		return crc64nvme.New()
	case SHA1:
		return sha1.New()
	case SHA256:
		return sha256.New()
	case SHA512:
		return sha512.New()
	case MD5:
		return md5.New()
	case XXHASH64:
		return xxhash.New()
	case XXHASH3:
		return xxh3.New()
	case XXHASH128:
		return xxh3128{xxh3.New()}
	}
	return nil
}

// xxh3128 is XXH3's 128-bit digest as a hash.Hash (zeebo/xxh3's Hasher
// sums 64 bits; its Sum128 gives the rest).
type xxh3128 struct{ *xxh3.Hasher }

func (h xxh3128) Size() int { return 16 }

func (h xxh3128) Sum(b []byte) []byte {
	d := h.Sum128().Bytes()
	return append(b, d[:]...)
}

// ByName maps a name as in x-amz-sdk-checksum-algorithm (any case).
func ByName(s string) Algorithm {
	for _, a := range All {
		if strings.EqualFold(s, table[a].name) {
			return a
		}
	}
	return None
}

// ByHeader maps a header or trailer name (any case).
func ByHeader(s string) Algorithm {
	for _, a := range All {
		if strings.EqualFold(s, table[a].header) {
			return a
		}
	}
	return None
}

// Encode is a digest as it travels: standard base64 with padding.
func Encode(sum []byte) string { return base64.StdEncoding.EncodeToString(sum) }

// Decode parses a header or trailer value of algorithm a: standard base64
// of exactly a.Size() bytes, in its one canonical spelling.
func (a Algorithm) Decode(s string) ([]byte, bool) {
	if a == None || len(s) != base64.StdEncoding.EncodedLen(a.Size()) {
		return nil, false
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != a.Size() {
		return nil, false
	}
	return b, true
}

// Sum is a's digest of b.
func (a Algorithm) Sum(b []byte) []byte {
	h := a.New()
	h.Write(b)
	return h.Sum(nil)
}
