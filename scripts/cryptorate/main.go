// Command cryptorate prints, as JSON, the CPU seconds one core spends per
// GiB on the passes bucketkey's PUT path adds to a plain proxy's: SHA-256
// and AES-256-GCM, in the proxy's 64 KiB segments. scripts/benchmarks.sh
// runs it on the machine of the run; scripts/benchreport turns it into the
// CPU-per-GiB goal (plain proxy + one SHA-256 pass + one AES-GCM pass, +20%).
// Benchmark tooling, not product.
package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

const segment = 64 << 10

// Rates is what cryptorate prints.
type Rates struct {
	SHA256     float64 `json:"sha256_sec_per_gib"`
	AESGCMSeal float64 `json:"aesgcm_seal_sec_per_gib"`
	AESGCMOpen float64 `json:"aesgcm_open_sec_per_gib"`
}

func main() {
	buf := make([]byte, segment, segment+16)
	key := make([]byte, 32)
	nonce := make([]byte, 12)
	if _, err := rand.Read(buf); err != nil {
		fmt.Fprintln(os.Stderr, "cryptorate:", err)
		os.Exit(1)
	}
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	sealed := gcm.Seal(nil, nonce, buf, nil)
	out := make([]byte, 0, segment+16)
	r := Rates{
		SHA256: secPerGiB(func() {
			h := sha256.New()
			h.Write(buf)
			h.Sum(out[:0])
		}),
		AESGCMSeal: secPerGiB(func() { gcm.Seal(out[:0], nonce, buf, nil) }),
		AESGCMOpen: secPerGiB(func() {
			if _, err := gcm.Open(out[:0], nonce, sealed, nil); err != nil {
				panic(err)
			}
		}),
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		fmt.Fprintln(os.Stderr, "cryptorate:", err)
		os.Exit(1)
	}
}

// secPerGiB runs f (one 64 KiB segment) as a benchmark: seconds per GiB.
func secPerGiB(f func()) float64 {
	res := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			f()
		}
	})
	return float64(res.NsPerOp()) * (1 << 30 / segment) / 1e9
}
