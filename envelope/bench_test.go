package envelope

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"io"
	"testing"
)

var benchSizes = []int{1 << 20, 64 << 20}

func sizeName(n int) string { return fmt.Sprintf("%dMiB", n>>20) }

// BenchmarkAESGCMBaseline is the physical limit: crypto/cipher AES-256-GCM
// Seal over the same bytes in SegmentSize calls, nothing else.
func BenchmarkAESGCMBaseline(b *testing.B) {
	block, _ := aes.NewCipher(make([]byte, keySize))
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, aead.NonceSize())
	for _, n := range benchSizes {
		pt := pattern(n, 1)
		out := make([]byte, 0, encSegmentSize)
		b.Run(sizeName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				for off := 0; off < n; off += segmentSize {
					aead.Seal(out, nonce, pt[off:off+segmentSize], nil)
				}
			}
		})
	}
}

// BenchmarkAESGCMOpenBaseline is the same for Open, the limit of Decrypt.
func BenchmarkAESGCMOpenBaseline(b *testing.B) {
	block, _ := aes.NewCipher(make([]byte, keySize))
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, aead.NonceSize())
	for _, n := range benchSizes {
		pt := pattern(n, 1)
		var ct []byte
		for off := 0; off < n; off += segmentSize {
			ct = aead.Seal(ct, nonce, pt[off:off+segmentSize], nil)
		}
		b.Run(sizeName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				for off := 0; off < len(ct); off += encSegmentSize {
					if _, err := aead.Open(pt[:0], nonce, ct[off:off+encSegmentSize], nil); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkEncrypt is a whole object through NewWriter into io.Discard,
// written in one call as io.Copy from an in-memory body would.
func BenchmarkEncrypt(b *testing.B) {
	key := testKey(1)
	for _, n := range benchSizes {
		pt := pattern(n, 1)
		b.Run(sizeName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				w, _ := newSingleWriter(io.Discard, key)
				if _, err := w.Write(pt); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecrypt is a whole object through NewReader, copied to
// io.Discard as the proxy copies it to the client (io.Copy uses WriteTo).
func BenchmarkDecrypt(b *testing.B) {
	key := testKey(1)
	for _, n := range benchSizes {
		ct := encrypt(b, pattern(n, 1), key, 0)
		b.Run(sizeName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			src := bytes.NewReader(ct)
			for b.Loop() {
				src.Reset(ct)
				r, _ := NewReader(src, key)
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecryptRange reads the middle half of a 1 MiB multipart object
// across a part boundary.
func BenchmarkDecryptRange(b *testing.B) {
	o := newObject(b, true, 8*S, 8*S)
	r := Range{Start: 4*S + 100, Length: 8 * S}
	off, n, _ := o.l.ciphertextRange(r)
	hoff, hn, _ := o.l.headerRange(r) // the range starts inside part 1
	fetched := append(bytes.Clone(o.ct[hoff:hoff+hn]), o.ct[off:off+n]...)
	b.SetBytes(r.Length)
	b.ReportAllocs()
	src := bytes.NewReader(nil)
	for b.Loop() {
		src.Reset(fetched)
		rr, _ := NewRangeReader(src, o.key, o.l, r)
		if _, err := io.Copy(io.Discard, rr); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealOpen is the per-object key work: Seal on PUT, Open on GET.
func BenchmarkSealOpen(b *testing.B) {
	bk := bucketKey(1)
	b.ReportAllocs()
	for b.Loop() {
		m, _, err := sealRaw(bk, "bucket", "some/object/name", false, 100)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Open(bk, "some/object/name"); err != nil {
			b.Fatal(err)
		}
	}
}
