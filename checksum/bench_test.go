package checksum

import (
	"crypto/aes"
	"crypto/cipher"
	"testing"
	"time"
)

// BenchmarkCRC64NVMEvsAESGCM measures what recording a full-object
// CRC64NVME of the plaintext costs next to encrypting it (AES-256-GCM in
// 64 KiB segments, as envelope's writer seals them), on the same 64 MiB
// in the same run, alternating segment by segment, so that machine load
// affects both alike.
// It reports each as CPU seconds per GiB and the ratio crc/gcm.
func BenchmarkCRC64NVMEvsAESGCM(b *testing.B) {
	const size, seg = 64 << 20, 64 << 10
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	block, _ := aes.NewCipher(make([]byte, 32))
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, 12)
	out := make([]byte, 0, seg+16)
	var tGCM, tCRC time.Duration
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		// Segment by segment, as the proxy does both: each 64 KiB is
		// sealed, then fed to the CRC.
		h := CRC64NVME.New()
		for off := 0; off < size; off += seg {
			t0 := time.Now()
			out = gcm.Seal(out[:0], nonce, data[off:off+seg], nil)
			t1 := time.Now()
			h.Write(data[off : off+seg])
			tCRC += time.Since(t1)
			tGCM += t1.Sub(t0)
		}
		_ = h.Sum(nil)
	}
	perGiB := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) * float64(1<<30) / size }
	b.ReportMetric(perGiB(tGCM), "gcm-s/GiB")
	b.ReportMetric(perGiB(tCRC), "crc64nvme-s/GiB")
	b.ReportMetric(float64(tCRC)/float64(tGCM), "crc/gcm")
}

// BenchmarkAlgorithms is each algorithm over 64 MiB in 64 KiB writes, as
// the proxy feeds them: what the ciphertext's checksum the proxy sends its
// backend (docs/ARCHITECTURE.md, "The ciphertext's checksum upstream")
// costs per GiB, one more pass over the bytes in the client's algorithm.
//
//	go test -run '^$' -bench Algorithms -benchtime 5x ./checksum
func BenchmarkAlgorithms(b *testing.B) {
	const size, seg = 64 << 20, 64 << 10
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, a := range All {
		b.Run(a.String(), func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				h := a.New()
				for off := 0; off < size; off += seg {
					h.Write(data[off : off+seg])
				}
				_ = h.Sum(nil)
			}
		})
	}
}
