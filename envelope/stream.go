package envelope

import (
	"crypto/cipher"
	"encoding/binary"
	"sync"
)

// segmentCipher seals and opens the segments of one stream (one object or
// one part). The nonce of segment i is prefix || uint32be(i) || last, with
// last 0x01 for the final segment and 0x00 otherwise (the STREAM
// construction): a segment authenticates only at its own position, and the
// end of the stream is authenticated, so reordering, duplication and
// truncation all fail.
//
// It keeps the nonce in place so that sealing and opening allocate nothing.
type segmentCipher struct {
	aead  cipher.AEAD
	nonce [prefixSize + 5]byte
	sizes sizes // of the key's format version
}

// newSegmentCipher is the cipher of the stream of part (0 for a
// single-part object) with the part's salt (nil for part 0).
func newSegmentCipher(key *DataKey, part int, partSalt []byte) (*segmentCipher, error) {
	aead, prefix, err := payloadAEAD(key, part, partSalt)
	if err != nil {
		return nil, err
	}
	c := &segmentCipher{aead: aead, sizes: key.format().sizes}
	copy(c.nonce[:], prefix[:])
	return c, nil
}

func (c *segmentCipher) setNonce(index uint32, last bool) []byte {
	binary.BigEndian.PutUint32(c.nonce[prefixSize:], index)
	c.nonce[prefixSize+4] = 0
	if last {
		c.nonce[prefixSize+4] = 1
	}
	return c.nonce[:]
}

// seal appends the sealed segment to dst, which must not overlap pt unless
// dst is pt[:0].
func (c *segmentCipher) seal(dst, pt []byte, index uint32, last bool) []byte {
	return c.aead.Seal(dst, c.setNonce(index, last), pt, nil)
}

// open authenticates and decrypts ct into dst (ct[:0] to decrypt in place).
// On failure it zeroes what it may have written, so no unauthenticated
// plaintext survives even in scratch space.
func (c *segmentCipher) open(dst, ct []byte, index uint32, last bool) ([]byte, bool) {
	pt, err := c.aead.Open(dst, c.setNonce(index, last), ct, nil)
	if err != nil {
		clear(dst[len(dst):cap(dst)])
		return nil, false
	}
	return pt, true
}

// segmentBufs recycles segment buffers (a segment and one look-ahead
// byte): allocating and zeroing 64 KiB per object, and collecting it, cost
// more than a megabyte of AES-GCM. A buffer goes back only when its reader
// or writer can no longer hand out slices of it. Recycled buffers may hold
// another object's plaintext until overwritten, exactly as garbage would.
var segmentBufs = sync.Pool{New: func() any {
	b := make([]byte, encSegmentSize+1)
	return &b
}}

// getSegmentBuf returns a buffer for a segment of s and one look-ahead
// byte: from the pool for v1's segment size, otherwise a new one.
func getSegmentBuf(s sizes) *[]byte {
	if s.encSegment() != encSegmentSize {
		b := make([]byte, s.encSegment()+1)
		return &b
	}
	return segmentBufs.Get().(*[]byte)
}

func putSegmentBuf(b *[]byte) {
	if b != nil && len(*b) == encSegmentSize+1 {
		segmentBufs.Put(b)
	}
}
