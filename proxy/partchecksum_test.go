package proxy

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/s3err"
)

// TestUnitPartETagChecksumVector: the part ETag record of docs/FORMAT.md
// ("Multipart checksums"), byte for byte: data key 00 01 .. 1f, part 1 of
// 7 bytes "abcdefg", backend ETag "7ac66c0f148de9519b8bd264312c4d64",
// CRC32 (MSpqpg==, as versitygw's tests give it). The record was computed
// independently (Python hmac/hashlib) from the text of docs/FORMAT.md.
func TestUnitPartETagChecksumVector(t *testing.T) {
	dek := make([]byte, 32)
	for i := range dek {
		dek[i] = byte(i)
	}
	k, err := hkdf.Key(sha256.New, dek, nil, "bucketkey proxy part checksum v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	digest := checksum.CRC32.Sum([]byte("abcdefg"))
	if got := checksum.Encode(digest); got != "MSpqpg==" {
		t.Fatalf("CRC32(abcdefg) = %s", got)
	}
	const backend = "7ac66c0f148de9519b8bd264312c4d64"
	mac := partChecksumMACWith(k, 1, 7, backend, checksum.CRC32, digest)
	raw := append(append([]byte{byte(checksum.CRC32)}, digest...), mac...)
	got := `"` + backend + partChecksumSep + uploadB64.EncodeToString(raw) + `"`
	const want = `"7ac66c0f148de9519b8bd264312c4d64.ck.ATEqaqb5yxt4XVvBARYN0x2AarFu"`
	if got != want {
		t.Errorf("part ETag\n got %s\nwant %s", got, want)
	}
	// The data key's own derivation is the one above.
	_, dk := sealedUpload(t, "bkt", "obj")
	_, k2, _ := dk.UploadKeys(true)
	tag, _ := partChecksumTag(dk, 1, 7, backend, checksum.CRC32, digest)
	if !bytes.Equal(tag, partChecksumMACWith(k2, 1, 7, backend, checksum.CRC32, digest)) {
		t.Error("partChecksumTag is not the MAC under UploadKeys' part key")
	}
}

func TestUnitPartETagChecksumRoundTrip(t *testing.T) {
	_, dk := sealedUpload(t, "bkt", "obj")
	_, other := sealedUpload(t, "bkt", "obj")
	for _, alg := range checksum.All {
		digest := alg.Sum([]byte("part data"))
		for _, backend := range []string{`"0123456789abcdef0123456789abcdef"`, `"CRC64NVME-jSnVw/bqjr4="`, "unquoted-etag", `"x.ck.y"`} {
			etag, err := partETagWithChecksum(dk, 42, 9, backend, alg, digest)
			if err != nil {
				t.Fatal(err)
			}
			inner, _ := unquoteETag(backend)
			got, rec, ok, err := parsePartETag(etag)
			if err != nil || !ok || got != inner || rec.alg != alg || !bytes.Equal(rec.digest, digest) {
				t.Fatalf("%s %s: parsed %q %+v %v %v", alg, backend, got, rec, ok, err)
			}
			if err := rec.verify(dk, 42, 9, inner); err != nil {
				t.Errorf("%s: %v", alg, err)
			}
			// Bound to the part number, size, stored part and data key.
			for name, err := range map[string]error{
				"part":     rec.verify(dk, 43, 9, inner),
				"size":     rec.verify(dk, 42, 10, inner),
				"backend":  rec.verify(dk, 42, 9, inner+"x"),
				"data key": rec.verify(other, 42, 9, inner),
			} {
				if err == nil {
					t.Errorf("%s %s: record verified for another %s", alg, backend, name)
				}
			}
			flipped := rec
			flipped.digest = append([]byte(nil), rec.digest...)
			flipped.digest[0] ^= 1
			if flipped.verify(dk, 42, 9, inner) == nil {
				t.Errorf("%s: altered digest verified", alg)
			}
		}
	}
	// An ETag without a record is returned as it is.
	if b, _, ok, err := parsePartETag(`"abc-0"`); err != nil || ok || b != "abc-0" {
		t.Errorf("bare ETag: %q %v %v", b, ok, err)
	}
	for _, bad := range []string{`"x.ck."`, `"x.ck.!!"`, `".ck.ATEqaqZOOhoIWfPMPpZbA6jHCqOh"`, `"x.ck.CzEqaqZOOhoIWfPMPpZbA6jHCqOh"`, `"x.ck.ATEqaqZOOhoIWfPMPpZbA6jHCqO"`} {
		if _, _, _, err := parsePartETag(bad); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

// FuzzParsePartETag: part ETags come back from clients; parsing never
// panics, and a record that parses re-encodes to the same text.
func FuzzParsePartETag(f *testing.F) {
	f.Add(`"7ac66c0f148de9519b8bd264312c4d64.ck.ATEqaqb5yxt4XVvBARYN0x2AarFu"`)
	f.Add(`"abc-0"`)
	f.Add(`x.ck.`)
	f.Fuzz(func(t *testing.T, e string) {
		backend, rec, ok, err := parsePartETag(e)
		if err != nil || !ok {
			return
		}
		raw := append(append([]byte{byte(rec.alg)}, rec.digest...), rec.mac...)
		inner, _ := unquoteETag(strings.TrimSpace(e))
		if backend+partChecksumSep+uploadB64.EncodeToString(raw) != inner {
			t.Fatalf("%q does not re-encode", e)
		}
	})
}

func TestUnitUploadIDChecksum(t *testing.T) {
	md, dk := sealedUpload(t, "bkt", "obj")
	for _, c := range []struct {
		alg checksum.Algorithm
		typ string
	}{{checksum.CRC32, checksumFullObject}, {checksum.SHA256, checksumComposite}, {checksum.CRC64NVME, checksumFullObject}, {checksum.XXHASH128, checksumComposite}} {
		id, err := encodeUploadID("backend-id", md, dk, c.alg, c.typ)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(id, uploadIDSep2) {
			t.Errorf("%s: %q is not a .bk2. id", c.alg, id)
		}
		u, err := parseUploadID(id)
		if err != nil || u.ckAlg != c.alg || u.ckType != c.typ || u.backend != "backend-id" {
			t.Fatalf("%s: %+v %v", c.alg, u, err)
		}
		if err := u.verify(dk); err != nil {
			t.Errorf("%s: %v", c.alg, err)
		}
		// The declared algorithm and type are authenticated.
		_, enc, _ := strings.Cut(id, uploadIDSep2)
		raw, _ := uploadB64.DecodeString(enc)
		raw[1] ^= 3 // COMPOSITE <-> FULL_OBJECT
		u2, err := parseUploadID("backend-id" + uploadIDSep2 + uploadB64.EncodeToString(raw))
		if err != nil {
			t.Fatal(err)
		}
		if u2.verify(dk) == nil {
			t.Errorf("%s: altered checksum type verified", c.alg)
		}
		// The same fields as a .bk1. id do not verify either.
		v1 := "backend-id" + uploadIDSep + uploadB64.EncodeToString(raw[2:])
		if u3, err := parseUploadID(v1); err == nil && u3.verify(dk) == nil {
			t.Errorf("%s: checksum dropped from the id verified", c.alg)
		}
	}
	for _, bad := range []string{"x.bk2.", "x.bk2.AA", "x.bk2.CwE", "x.bk2.AQM"} {
		if _, err := parseUploadID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestUnitObjectChecksum: COMPOSITE is the algorithm's digest of the
// parts' digests with "-N"; FULL_OBJECT the CRC of the whole plaintext.
func TestUnitObjectChecksum(t *testing.T) {
	parts := [][]byte{bytes.Repeat([]byte("a"), 5<<20), []byte("the last part")}
	sizes := []int64{int64(len(parts[0])), int64(len(parts[1]))}
	whole := append(append([]byte(nil), parts[0]...), parts[1]...)
	for _, alg := range []checksum.Algorithm{checksum.CRC32, checksum.CRC32C, checksum.CRC64NVME} {
		digests := [][]byte{alg.Sum(parts[0]), alg.Sum(parts[1])}
		ck, err := objectChecksum(uploadID{ckAlg: alg, ckType: checksumFullObject}, digests, sizes, true)
		if err != nil || ck.value != checksum.Encode(alg.Sum(whole)) || ck.typ != checksumFullObject {
			t.Errorf("%s FULL_OBJECT: %+v %v, want %s", alg, ck, err, checksum.Encode(alg.Sum(whole)))
		}
	}
	d1, d2 := sha256.Sum256(parts[0]), sha256.Sum256(parts[1])
	outer := sha256.Sum256(append(d1[:], d2[:]...))
	ck, err := objectChecksum(uploadID{ckAlg: checksum.SHA256, ckType: checksumComposite}, [][]byte{d1[:], d2[:]}, sizes, true)
	if want := base64.StdEncoding.EncodeToString(outer[:]) + "-2"; err != nil || ck.value != want {
		t.Errorf("SHA256 COMPOSITE: %+v %v, want %s", ck, err, want)
	}
	if ck, _ := objectChecksum(uploadID{ckAlg: checksum.SHA256, ckType: checksumComposite}, [][]byte{d1[:]}, sizes[:1], false); ck != nil {
		t.Error("checksum of an incomplete record set")
	}
}

func TestUnitCompleteHeaders(t *testing.T) {
	crc := checksum.Encode(checksum.CRC32.Sum([]byte("x")))
	for _, c := range []struct {
		h    map[string]string
		code string
		msg  string
	}{
		{map[string]string{"X-Amz-Checksum-Type": "full_object"}, "", ""},
		{map[string]string{"X-Amz-Checksum-Type": "BOTH"}, "InvalidRequest", "Value for x-amz-checksum-type header is invalid."},
		{map[string]string{"X-Amz-Checksum-Crc32": crc + "-3"}, "", ""},
		{map[string]string{"X-Amz-Checksum-Crc32": crc + "--3"}, "InvalidRequest", "Value for x-amz-checksum-crc32 header is invalid."},
		{map[string]string{"X-Amz-Checksum-Crc32": "invalid"}, "InvalidRequest", "Value for x-amz-checksum-crc32 header is invalid."},
		{map[string]string{"X-Amz-Checksum-Crc32": crc, "X-Amz-Checksum-Sha1": "2jmj7l5rSw0yVb/vlWAYkK/YBwk="}, "InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."},
		{map[string]string{"X-Amz-Mp-Object-Size": "0"}, "", ""},
		{map[string]string{"X-Amz-Mp-Object-Size": "size"}, "InvalidRequest", "Value for x-amz-mp-object-size header is invalid: 'size'"},
		{map[string]string{"X-Amz-Mp-Object-Size": "-1"}, "InvalidRequest", "Value for x-amz-mp-object-size header is less than zero: '-1'"},
	} {
		h := make(map[string][]string)
		for k, v := range c.h {
			h[k] = []string{v}
		}
		_, err := parseCompleteHeaders(h)
		e := s3err.As(err)
		switch {
		case c.code == "" && err != nil:
			t.Errorf("%v: %v", c.h, err)
		case c.code != "" && (e == nil || e.Code != c.code || e.Message != c.msg):
			t.Errorf("%v: %v, want %s %q", c.h, err, c.code, c.msg)
		}
	}
	// x-amz-mp-object-size is the sum of the parts' plaintext sizes.
	sized := completeHeaders{size: 7, hasSize: true}
	if err := sized.checkSize([]int64{3, 4}); err != nil {
		t.Errorf("size 7 of 3+4: %v", err)
	}
	if e := s3err.As(sized.checkSize([]int64{3, 5})); e == nil || e.Message != "The provided 'x-amz-mp-object-size' header value 7 does not match what was computed: 8" {
		t.Errorf("size 7 of 3+5: %v", e)
	}
	if err := (completeHeaders{}).checkSize([]int64{3}); err != nil {
		t.Errorf("no size: %v", err)
	}
	// The type is the upload's.
	u := uploadID{ckAlg: checksum.CRC32, ckType: checksumComposite}
	if e := s3err.As(completeHeaders{typ: checksumFullObject}.checkType(u)); e == nil || e.Message != "The upload was created using the COMPOSITE checksum mode. The complete request must use the same checksum mode." {
		t.Errorf("type mismatch: %v", e)
	}
	if e := s3err.As(completeHeaders{typ: checksumFullObject}.checkType(uploadID{})); e == nil || !strings.Contains(e.Message, "using the null checksum mode") {
		t.Errorf("type without upload checksum: %v", e)
	}
	// The whole object's checksum, with or without "-N".
	ck := &storedChecksum{alg: checksum.CRC32, typ: checksumComposite, value: crc + "-2"}
	for _, ok := range []completeHeaders{{alg: checksum.CRC32, digest: crc}, {alg: checksum.CRC32, digest: crc, parts: "2"}, {alg: checksum.SHA1, digest: "x"}} {
		if err := ok.checkObject(u, ck); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	if e := s3err.As(completeHeaders{alg: checksum.CRC32, digest: crc, parts: "3"}.checkObject(u, ck)); e == nil || e.Code != "BadDigest" {
		t.Errorf("wrong part count: %v", e)
	}
}
