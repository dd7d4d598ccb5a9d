package proxy

import (
	"strings"
	"testing"

	"github.com/bucketkey/bucketkey/checksum"
)

// TestUnitUploadRecordRoundTrip: an upload record's key gives back the
// backend ID and the exact client ID it records, for both ID forms and
// backend IDs as S3 (long, base64), MinIO and versitygw (UUID) make them;
// keys that are not records are refused, and a record grafted onto
// another upload parses but does not verify.
func TestUnitUploadRecordRoundTrip(t *testing.T) {
	md, dk := sealedUpload(t, "bkt", "obj")
	s3Like := "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA" + strings.Repeat("x", 70)
	for _, backend := range []string{"29c51c49-c01f-428e-a4f8-32f8707395de", s3Like, "a/b.bk1.c", "x"} {
		for _, alg := range []checksum.Algorithm{checksum.None, checksum.ByName("CRC64NVME")} {
			typ := ""
			if alg != checksum.None {
				typ = checksumFullObject
			}
			id, err := encodeUploadID(backend, md, dk, alg, typ)
			if err != nil {
				t.Fatal(err)
			}
			k, ok := companionKey(backend, id)
			if !ok {
				t.Fatalf("no record key for %q (%d bytes)", id, len(id))
			}
			if !strings.HasPrefix(k, companionPrefix+backend+"/.bk") || len(k) > maxKeyLen {
				t.Errorf("record key %q", k)
			}
			if backend == s3Like {
				t.Logf("record key of %d bytes (S3 allows %d) for a %d-byte backend ID, checksum %v", len(k), maxKeyLen, len(backend), alg)
			}
			gotBackend, gotID, err := parseCompanionKey(k)
			if err != nil || gotBackend != backend || gotID != id {
				t.Fatalf("parse %q: %q %q %v, want %q %q", k, gotBackend, gotID, err, backend, id)
			}
			u, err := parseUploadID(gotID)
			if err != nil || u.String() != id {
				t.Fatalf("the recorded ID re-encodes as %q (%v), want %q", u.String(), err, id)
			}
			if err := u.verify(dk); err != nil {
				t.Errorf("the recorded ID does not verify: %v", err)
			}
			// A record forged at the backend for another upload: the
			// key material it carries does not verify there.
			forged := companionPrefix + "other-upload/" + strings.TrimPrefix(id, backend)
			if _, fid, err := parseCompanionKey(forged); err != nil {
				t.Errorf("forged record did not parse: %v", err)
			} else if fu, _ := parseUploadID(fid); fu.verify(dk) == nil {
				t.Error("a record moved to another upload verified")
			}
		}
	}
	id, _ := encodeUploadID("b", md, dk, checksum.None, "")
	if _, ok := companionKey(strings.Repeat("b", maxKeyLen), strings.Repeat("b", maxKeyLen)+strings.TrimPrefix(id, "b")); ok {
		t.Error("a record key over S3's 1024 bytes was made")
	}
	if _, ok := companionKey("other", id); ok {
		t.Error("a record of an ID that does not wrap the backend ID was made")
	}
	for _, bad := range []string{
		"", "b" + strings.TrimPrefix(id, "b"), companionPrefix, companionPrefix + "b",
		companionPrefix + "/" + strings.TrimPrefix(id, "b"),
		companionPrefix + "b/" + strings.TrimPrefix(id, "b") + "/x",
		companionPrefix + "b/.bk1.AAAA",
		companionPrefix + "b/bare",
	} {
		if b, i, err := parseCompanionKey(bad); err == nil {
			t.Errorf("%q parsed as a record: %q %q", bad, b, i)
		}
	}
}

// FuzzParseCompanionKey: record keys are listed from the backend, where
// anyone with its credentials can create uploads; parsing never panics,
// and what parses is exactly the key companionKey makes for it.
func FuzzParseCompanionKey(f *testing.F) {
	md, dk := sealedUpload(f, "bkt", "obj")
	id, _ := encodeUploadID("backend", md, dk, checksum.None, "")
	k, _ := companionKey("backend", id)
	f.Add(k)
	f.Add(companionPrefix + "a/b/.bk2.AAAA")
	f.Add(companionPrefix + "x/.bk1./.bk1.")
	f.Fuzz(func(t *testing.T, key string) {
		backend, id, err := parseCompanionKey(key)
		if err != nil {
			return
		}
		again, ok := companionKey(backend, id)
		if !ok && len(key) <= maxKeyLen || ok && again != key {
			t.Fatalf("%q parses as %q %q, which records as %q", key, backend, id, again)
		}
		if u, err := parseUploadID(id); err != nil || u.backend != backend || u.String() != id {
			t.Fatalf("%q: recorded ID %q does not parse back (%v)", key, id, err)
		}
	})
}
