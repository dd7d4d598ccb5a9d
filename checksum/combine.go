package checksum

import (
	"encoding/binary"
	"errors"
)

// S3 gives a multipart upload of a CRC algorithm a FULL_OBJECT checksum:
// the CRC of the whole object, which it derives from the parts' CRCs and
// lengths without reading the object again. The CRCs S3 uses are all
// reflected, with all-ones initial value and final XOR, so for parts A
// and B
//
//	crc(A || B) = crc(A) * x^(8 len(B)) mod P  XOR  crc(B)
//
// with the product taken in GF(2)[x] modulo the CRC's polynomial P (the
// method of zlib's crc32_combine, in its x^(2^k) table form).

// crcPoly is the reflected polynomial and width in bits of a CRC algorithm.
func crcPoly(a Algorithm) (poly uint64, width uint) {
	switch a {
	case CRC32:
		return 0xedb88320, 32
	case CRC32C:
		return 0x82f63b78, 32
	case CRC64NVME:
		return 0x9a6c9329ac4bc9b5, 64
	}
	return 0, 0
}

// multModP multiplies a and b modulo the reflected polynomial poly of the
// given width (bit width-1 is x^0).
func multModP(a, b, poly uint64, width uint) uint64 {
	m := uint64(1) << (width - 1)
	var p uint64
	for {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				break
			}
		}
		m >>= 1
		if b&1 != 0 {
			b = b>>1 ^ poly
		} else {
			b >>= 1
		}
	}
	return p
}

// xPow8nModP is x^(8n) mod poly.
func xPow8nModP(n uint64, poly uint64, width uint) uint64 {
	p := uint64(1) << (width - 1)  // x^0
	sq := uint64(1) << (width - 2) // x^1, squared below to x^(2^k)
	for k := 0; k < 3; k++ {
		sq = multModP(sq, sq, poly, width)
	}
	// sq is x^8 = x^(2^3)
	for n != 0 {
		if n&1 != 0 {
			p = multModP(sq, p, poly, width)
		}
		n >>= 1
		sq = multModP(sq, sq, poly, width)
	}
	return p
}

// CombineCRC returns the CRC of a's of the concatenation A || B, given
// the big-endian digests crcA of A and crcB of B and B's length in bytes.
// a must be CRC32, CRC32C or CRC64NVME.
func CombineCRC(a Algorithm, crcA, crcB []byte, lenB int64) ([]byte, error) {
	poly, width := crcPoly(a)
	if width == 0 {
		return nil, errors.New("checksum: " + a.String() + " is not a CRC")
	}
	if len(crcA) != a.Size() || len(crcB) != a.Size() || lenB < 0 {
		return nil, errors.New("checksum: bad CRC combine input")
	}
	var x, y uint64
	if width == 32 {
		x, y = uint64(binary.BigEndian.Uint32(crcA)), uint64(binary.BigEndian.Uint32(crcB))
	} else {
		x, y = binary.BigEndian.Uint64(crcA), binary.BigEndian.Uint64(crcB)
	}
	r := multModP(xPow8nModP(uint64(lenB), poly, width), x, poly, width) ^ y
	out := make([]byte, a.Size())
	if width == 32 {
		binary.BigEndian.PutUint32(out, uint32(r))
	} else {
		binary.BigEndian.PutUint64(out, r)
	}
	return out, nil
}
