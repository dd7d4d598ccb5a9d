package testenv

import (
	"maps"
	"strings"
	"testing"

	"github.com/bucketkey/bucketkey/envelope"
)

// sdkMetadata is user metadata as an SDK returns it: lower-case names
// without "x-amz-meta-", next to the client's own.
func sdkMetadata(h map[string]string) map[string]string {
	md := map[string]string{"owner": "team-a"}
	for k, v := range h {
		md[strings.TrimPrefix(k, "x-amz-meta-")] = v
	}
	return md
}

// TestEnvelopeFields: what the proxy writes (packed, with a checksum
// record and a context) spells out as the per-field form of the same
// metadata, and packs back byte for byte; per-field metadata and metadata
// without a version pass through both unchanged.
func TestEnvelopeFields(t *testing.T) {
	bk := envelope.BucketKey{Plaintext: make([]byte, 32), KeyID: "arn:aws:kms:us-east-1:1:key/k", Wrapped: []byte("wrapped"),
		Bucket: "b", Context: map[string]string{"a": "b"}}
	for _, multipart := range []bool{false, true} {
		m, dk, err := envelope.Seal(bk, "o", multipart, 5)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.SetChecksum(dk, "CRC64NVME:FULL_OBJECT:AAAAAAAAAAA="); err != nil {
			t.Fatal(err)
		}
		dk.Wipe()
		packed := sdkMetadata(m.Headers())
		perFieldMD := *m
		perFieldMD.Packed = false
		perField := sdkMetadata(perFieldMD.Headers())
		if !m.Packed || len(packed) != 2 || len(perField) < 9 {
			t.Fatalf("Seal wrote %v", packed)
		}
		if got := EnvelopeFields(packed); !maps.Equal(got, perField) {
			t.Errorf("EnvelopeFields(%v) = %v, want %v", packed, got, perField)
		}
		if got := PackEnvelope(perField); !maps.Equal(got, packed) {
			t.Errorf("PackEnvelope(%v) = %v, want %v", perField, got, packed)
		}
		if got := EnvelopeFields(perField); !maps.Equal(got, perField) {
			t.Errorf("EnvelopeFields of per-field metadata changed it: %v", got)
		}
		delete(perField, "bk-v")
		if got := PackEnvelope(perField); !maps.Equal(got, perField) {
			t.Errorf("PackEnvelope without a version changed it: %v", got)
		}
	}
}
