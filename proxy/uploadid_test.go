package proxy

import (
	"crypto/rand"
	"strings"
	"testing"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/s3err"
)

// sealedUpload returns the metadata and data key of a fresh multipart
// upload of bucket/key.
func sealedUpload(t testing.TB, bucket, key string) (*envelope.Metadata, *envelope.DataKey) {
	t.Helper()
	bk := make([]byte, 32)
	_, _ = rand.Read(bk)
	md, dk, err := envelope.Seal(envelope.BucketKey{
		Plaintext: bk, KeyID: "arn:aws:kms:us-east-1:111122223333:key/k", Wrapped: []byte("wrapped-bucket-key"),
		Bucket: bucket, Context: map[string]string{"project": "x"},
	}, key, true, -1)
	if err != nil {
		t.Fatal(err)
	}
	return md, dk
}

func TestUnitUploadIDRoundTrip(t *testing.T) {
	md, dk := sealedUpload(t, "bkt", "obj")
	for _, backend := range []string{"29c51c49-c01f-428e-a4f8-32f8707395de", "VXBsb2FkIElE.with.dots.bk1.inside", "x"} {
		id, err := encodeUploadID(backend, md, dk, checksum.None, "")
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(id, " /+=&?") {
			t.Errorf("upload id %q needs escaping", id)
		}
		u, err := parseUploadID(id)
		if err != nil {
			t.Fatalf("parse %q: %v", id, err)
		}
		if u.backend != backend {
			t.Errorf("backend id %q, want %q", u.backend, backend)
		}
		if u.md == nil || u.md.KeyID != md.KeyID || string(u.md.SealedKey) != string(md.SealedKey) || u.md.Context["project"] != "x" || !u.md.Multipart {
			t.Errorf("metadata did not round-trip: %+v", u.md)
		}
		if err := u.verify(dk); err != nil {
			t.Errorf("verify: %v", err)
		}
		// Another upload's key material does not verify for this backend id.
		md2, dk2 := sealedUpload(t, "bkt", "obj")
		other, _ := encodeUploadID("other-backend-id", md2, dk2, checksum.None, "")
		_, km, _ := strings.Cut(other, uploadIDSep)
		grafted, err := parseUploadID(backend + uploadIDSep + km)
		if err != nil {
			t.Fatal(err)
		}
		if err := grafted.verify(dk2); err == nil {
			t.Error("grafted key material verified")
		}
		if len(id) > 1024 {
			t.Errorf("upload id of %d bytes", len(id))
		}
	}
	// Bare ids pass through.
	u, err := parseUploadID("bare-backend-id")
	if err != nil || u.md != nil || u.backend != "bare-backend-id" {
		t.Errorf("bare id: %+v %v", u, err)
	}
	for _, bad := range []string{"", "x.bk1.", "x.bk1.!!!", ".bk1.AAAA", "x.bk1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", strings.Repeat("a", maxUploadID+1)} {
		if _, err := parseUploadID(bad); err == nil {
			t.Errorf("upload id %q accepted", bad)
		} else if e := s3err.As(err); e == nil || e.Code != "NoSuchUpload" {
			t.Errorf("upload id %q: %v, want NoSuchUpload", bad, err)
		}
	}
}

// FuzzParseUploadID: client upload IDs are untrusted; parsing never
// panics, and what parses re-encodes to the same fields.
func FuzzParseUploadID(f *testing.F) {
	md, dk := sealedUpload(f, "bkt", "obj")
	id, _ := encodeUploadID("backend", md, dk, checksum.None, "")
	f.Add(id)
	f.Add("bare")
	f.Add("a.bk1.AAAA")
	f.Fuzz(func(t *testing.T, id string) {
		u, err := parseUploadID(id)
		if err != nil || u.md == nil {
			return
		}
		if got := encodeFields(u.md.Headers()); string(got) != string(u.fields) {
			t.Fatalf("fields do not re-encode canonically")
		}
	})
}
