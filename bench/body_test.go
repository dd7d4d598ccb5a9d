package bench

import (
	"io"
	"testing"
)

// TestBlockReader checks the generated body repeats its block to the exact
// size and seeks back, as the SDK does after hashing it.
func TestBlockReader(t *testing.T) {
	r := (&objectBody{block: []byte("abc"), size: 10}).reader()
	got, err := io.ReadAll(io.Reader(r))
	if err != nil || string(got) != "abcabcabca" {
		t.Fatalf("read %q, %v", got, err)
	}
	if pos, err := r.Seek(4, io.SeekStart); err != nil || pos != 4 {
		t.Fatalf("seek: %d, %v", pos, err)
	}
	got, _ = io.ReadAll(io.Reader(r))
	if string(got) != "bcabca" {
		t.Fatalf("after seek: %q", got)
	}
	if pos, _ := r.Seek(-3, io.SeekEnd); pos != 7 {
		t.Fatalf("SeekEnd: %d", pos)
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("negative position accepted")
	}
	empty, err := newPayload(0)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := empty.reader().Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("empty body: %d, %v", n, err)
	}
	big, err := newPayload(maxBlock + 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(big.block) != maxBlock {
		t.Fatalf("block of %d bytes for a larger object, want %d", len(big.block), maxBlock)
	}
	n, err := io.Copy(io.Discard, big.reader())
	if err != nil || n != maxBlock+5 {
		t.Fatalf("big body: %d bytes, %v", n, err)
	}
}

func TestCompareKMSPerOp(t *testing.T) {
	a := &Result{Ops: 1000, OpsPerSec: 1, KMS: &KMSDelta{Requests: 1}}
	b := &Result{Ops: 100, OpsPerSec: 1, KMS: &KMSDelta{Requests: 100}}
	if c := Compare(a, b); c.KMSPerOpRatio != 0.001 {
		t.Fatalf("KMS per op ratio %v, want 0.001", c.KMSPerOpRatio)
	}
	if c := Compare(b, &Result{Ops: 1, OpsPerSec: 1}); c.KMSPerOpRatio != 0 {
		t.Fatalf("without KMS figures: %v", c.KMSPerOpRatio)
	}
}
