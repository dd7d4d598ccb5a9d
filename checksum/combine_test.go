package checksum

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestCombineCRCMatchesConcatenation cross-checks CombineCRC against the
// CRC of the concatenated bytes, for every CRC S3 combines, at lengths
// around the byte and word boundaries and at random splits.
func TestCombineCRCMatchesConcatenation(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 1<<16+7)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	splits := [][2]int{{0, 0}, {0, 1}, {1, 0}, {1, 1}, {3, 5}, {8, 8}, {100, 1}, {1 << 16, 7}, {7, 1 << 16}}
	for range 20 {
		a := rng.IntN(len(data))
		splits = append(splits, [2]int{a, rng.IntN(len(data) - a + 1)})
	}
	for _, alg := range []Algorithm{CRC32, CRC32C, CRC64NVME} {
		for _, s := range splits {
			A, B := data[:s[0]], data[s[0]:s[0]+s[1]]
			got, err := CombineCRC(alg, alg.Sum(A), alg.Sum(B), int64(len(B)))
			if err != nil {
				t.Fatal(err)
			}
			if want := alg.Sum(data[:s[0]+s[1]]); !bytes.Equal(got, want) {
				t.Errorf("%s split %v: combined %x, want %x", alg, s, got, want)
			}
		}
	}
}

// TestCombineCRCParts combines many parts in order, as a multipart
// upload's FULL_OBJECT checksum is made.
func TestCombineCRCParts(t *testing.T) {
	whole := bytes.Repeat([]byte("bucketkey multipart "), 5000)
	for _, alg := range []Algorithm{CRC32, CRC32C, CRC64NVME} {
		var acc []byte
		for off := 0; off < len(whole); off += 7777 {
			part := whole[off:min(off+7777, len(whole))]
			if acc == nil {
				acc = alg.Sum(part)
				continue
			}
			var err error
			if acc, err = CombineCRC(alg, acc, alg.Sum(part), int64(len(part))); err != nil {
				t.Fatal(err)
			}
		}
		if want := alg.Sum(whole); !bytes.Equal(acc, want) {
			t.Errorf("%s: %x, want %x", alg, acc, want)
		}
	}
	if _, err := CombineCRC(SHA256, make([]byte, 32), make([]byte, 32), 1); err == nil {
		t.Error("SHA256 combined")
	}
	if _, err := CombineCRC(CRC32, []byte{1}, make([]byte, 4), 1); err == nil {
		t.Error("short CRC combined")
	}
}
