package envelope

import (
	"bytes"
	"errors"
	"testing"
)

func bucketKey(b byte) []byte { return bytes.Repeat([]byte{b}, keySize) }

// fill sets the fields the caller of Seal owns.
func fill(m *Metadata) *Metadata {
	m.KeyID = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	m.WrappedKey = bytes.Repeat([]byte{0xAA}, 184)
	if m.Size < 0 && !m.Multipart {
		m.Size = 0
	}
	return m
}

func TestSealOpen(t *testing.T) {
	bk := bucketKey(1)
	m, dek, err := sealRaw(bk, "photos", "2024/cat.jpg", false, 100)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != writeVersion || m.KeyBucket != "photos" || len(m.Salt) != saltSize || len(m.SealedKey) != sealedKeySize || m.Size != 100 || m.Multipart {
		t.Fatalf("Seal metadata: %+v", m)
	}
	got, err := m.Open(bk, "2024/cat.jpg")
	if err != nil || *got != *dek {
		t.Fatalf("Open: %v", err)
	}
	// Metadata parsed back from headers opens too.
	h := headerOf(fill(m).Headers())
	m2, err := ParseMetadata(h)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m2.Open(bk, "2024/cat.jpg"); err != nil || *got != *dek {
		t.Fatalf("Open parsed: %v", err)
	}

	fails := map[string]func() (*DataKey, error){
		"other name":       func() (*DataKey, error) { return m.Open(bk, "2024/dog.jpg") },
		"other bucket key": func() (*DataKey, error) { return m.Open(bucketKey(2), "2024/cat.jpg") },
		"other key bucket": func() (*DataKey, error) {
			c := *m
			c.KeyBucket = "photos-replica"
			return c.Open(bk, "2024/cat.jpg")
		},
		"edited salt": func() (*DataKey, error) {
			c := *m
			c.Salt = bytes.Clone(m.Salt)
			c.Salt[31] ^= 1
			return c.Open(bk, "2024/cat.jpg")
		},
		"edited sealed key": func() (*DataKey, error) {
			c := *m
			c.SealedKey = bytes.Clone(m.SealedKey)
			c.SealedKey[0] ^= 1
			return c.Open(bk, "2024/cat.jpg")
		},
		// The seal authenticates the object's shape: its size, and whether
		// it is multipart.
		"edited size": func() (*DataKey, error) {
			c := *m
			c.Size = 99
			return c.Open(bk, "2024/cat.jpg")
		},
		"flipped to multipart": func() (*DataKey, error) {
			c := *m
			c.Multipart, c.Size = true, -1
			return c.Open(bk, "2024/cat.jpg")
		},
		// Length prefixes keep (bucket, name) pairs apart that a plain
		// concatenation would merge.
		"shifted boundary": func() (*DataKey, error) {
			c := *m
			c.KeyBucket = "photos2"
			return c.Open(bk, "024/cat.jpg")
		},
	}
	for name, open := range fails {
		if k, err := open(); !errors.Is(err, ErrAuth) || k != nil {
			t.Errorf("%s: err %v", name, err)
		}
	}
	c := *m
	c.Version = 2
	if _, err := c.Open(bk, "2024/cat.jpg"); err == nil {
		t.Error("version 2 opened")
	}
	if _, err := m.Open(bk[:16], "2024/cat.jpg"); err == nil {
		t.Error("short bucket key accepted")
	}
	// A multipart seal records no size and does not open as single-part.
	mp, mk, err := sealRaw(bk, "photos", "big", true, 12345)
	if err != nil || !mp.Multipart || mp.Size != -1 {
		t.Fatalf("multipart Seal: %+v, %v", mp, err)
	}
	if got, err := mp.Open(bk, "big"); err != nil || *got != *mk {
		t.Fatalf("multipart Open: %v", err)
	}
	for _, size := range []int64{0, 12345} {
		c := *mp
		c.Multipart, c.Size = false, size
		if _, err := c.Open(bk, "big"); !errors.Is(err, ErrAuth) {
			t.Errorf("multipart seal opened as single-part of %d bytes: %v", size, err)
		}
	}
	if _, _, err := sealRaw(bk, "photos", "x", false, -1); err == nil {
		t.Error("single-part Seal of -1 bytes accepted")
	}
}

func TestSealIsRandom(t *testing.T) {
	bk := bucketKey(1)
	m1, k1, _ := sealRaw(bk, "b", "o", false, 100)
	m2, k2, _ := sealRaw(bk, "b", "o", false, 100)
	if *k1 == *k2 || bytes.Equal(m1.Salt, m2.Salt) || bytes.Equal(m1.SealedKey, m2.SealedKey) {
		t.Fatal("two Seals share key material")
	}
}

func TestSealRejectsBadInput(t *testing.T) {
	cases := map[string]struct {
		bk         []byte
		bucket, ob string
	}{
		"short key":    {bucketKey(1)[:31], "b", "o"},
		"empty bucket": {bucketKey(1), "", "o"},
		"space bucket": {bucketKey(1), "a b", "o"},
		"long bucket":  {bucketKey(1), string(bytes.Repeat([]byte{'b'}, 256)), "o"},
		"huge name":    {bucketKey(1), "b", string(make([]byte, 1<<16))},
	}
	for name, c := range cases {
		if _, _, err := sealRaw(c.bk, c.bucket, c.ob, false, 100); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// CopyObject: the copy's metadata is resealed for the new name (and maybe a
// new bucket and bucket key) while the ciphertext is copied byte for byte.
func TestResealForCopy(t *testing.T) {
	srcBK, dstBK := bucketKey(1), bucketKey(2)
	m, dek, _ := sealRaw(srcBK, "src-bucket", "a.txt", false, 5000)
	fill(m)
	m.Context = map[string]string{"project": "x"}
	pt := pattern(5000, 1)
	ct := encrypt(t, pt, dek, 0)

	// The proxy opens the source's key and reseals it.
	k, err := m.Open(srcBK, "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	dst := BucketKey{Plaintext: dstBK, KeyID: "dst-key", Wrapped: []byte("dst wrapped"), Bucket: "dst-bucket"}
	c, err := m.Reseal(k, dst, "copy/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	if c.Size != 5000 || c.Multipart || c.KeyBucket != "dst-bucket" || bytes.Equal(c.Salt, m.Salt) {
		t.Fatalf("resealed metadata: %+v", c)
	}
	if c.KeyID != "dst-key" || string(c.WrappedKey) != "dst wrapped" || c.Context != nil {
		t.Fatal("Reseal did not describe the destination's bucket key")
	}
	if err := c.validate(); err != nil {
		t.Fatalf("resealed metadata does not validate: %v", err)
	}
	parsed, err := ParseMetadata(headerOf(c.Headers()))
	if err != nil {
		t.Fatal(err)
	}
	k2, err := parsed.Open(dstBK, "copy/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decrypt(ct, k2, 0); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("copied ciphertext under new metadata: %v", err)
	}
	// The copy's metadata does not carry the old binding...
	for _, open := range []func() (*DataKey, error){
		func() (*DataKey, error) { return parsed.Open(dstBK, "a.txt") },
		func() (*DataKey, error) { return parsed.Open(srcBK, "copy/a.txt") },
		func() (*DataKey, error) { return parsed.Open(srcBK, "a.txt") },
	} {
		if _, err := open(); !errors.Is(err, ErrAuth) {
			t.Errorf("copy metadata opened under an old binding: %v", err)
		}
	}
	// ...and the source's metadata does not open at the copy's name.
	if _, err := m.Open(dstBK, "copy/a.txt"); !errors.Is(err, ErrAuth) {
		t.Errorf("source metadata at copy's name: %v", err)
	}
	// Multipart objects keep their flag, for backends that copy stored
	// bytes as they are (S3 does not: the proxy re-encrypts those).
	mp, dk, _ := sealRaw(srcBK, "b", "big", true, -1)
	rc, _ := mp.Reseal(dk, testBucketKey(dstBK, "b"), "big2")
	if !rc.Multipart || rc.Size != -1 {
		t.Fatalf("multipart reseal: %+v", rc)
	}
	if _, err := fill(rc).Open(dstBK, "big2"); err != nil {
		t.Fatalf("multipart reseal opens: %v", err)
	}
}

func TestWipe(t *testing.T) {
	k := testKey(7)
	k.Wipe()
	if *k != (DataKey{}) {
		t.Fatal("DataKey.Wipe left bytes")
	}
	b := bucketKey(3)
	wipe(b)
	if !bytes.Equal(b, make([]byte, keySize)) {
		t.Fatal("Wipe left bytes")
	}
}
