package envelope

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var updateVectors = flag.Bool("update-vectors", false, "rewrite testdata/envelope/vectors.json from the implementation (a format change!)")

const vectorsPath = "../testdata/envelope/vectors.json"

// vectorFile is testdata/envelope/vectors.json; docs/FORMAT.md describes it.
type vectorFile struct {
	Format    string   `json:"format"`
	Plaintext string   `json:"plaintext"`
	Vectors   []vector `json:"vectors"`
}

type vector struct {
	Name       string            `json:"name"`
	BucketKey  string            `json:"bucket_key"`
	KeyBucket  string            `json:"key_bucket"`
	Object     string            `json:"object"`
	Salt       string            `json:"salt"`
	DataKey    string            `json:"data_key"`
	KeyID      string            `json:"key_id"`
	WrappedKey string            `json:"wrapped_key"`
	Context    map[string]string `json:"context,omitempty"`
	Multipart  bool              `json:"multipart"`

	ObjectKey string            `json:"object_key"`
	SealNonce string            `json:"seal_nonce"`
	SealedKey string            `json:"sealed_key"`
	Metadata  map[string]string `json:"metadata"`
	Parts     []vectorPart      `json:"parts"`
	// Multipart: END(N), and whether it is stored in a marker part after
	// the last part (when the last part does not end the object).
	EndTag string `json:"end_tag,omitempty"`
	Marker bool   `json:"marker,omitempty"`
}

type vectorPart struct {
	Part            int    `json:"part"`
	PayloadKey      string `json:"payload_key"`
	NoncePrefix     string `json:"nonce_prefix"`
	PlaintextSize   int    `json:"plaintext_size"`
	CiphertextSize  int64  `json:"ciphertext_size"`
	CiphertextSHA   string `json:"ciphertext_sha256"`
	CiphertextHex   string `json:"ciphertext,omitempty"` // when at most 1 KiB
	FirstSegmentTag string `json:"first_segment_tag"`
	// Multipart: the end field stored after the stream, and the stored size.
	EndField   string `json:"end_field,omitempty"`
	StoredSize int64  `json:"stored_size,omitempty"`
}

// vectorPlaintext is the plaintext of every vector part: byte i is i mod 251.
func vectorPlaintext(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i % 251)
	}
	return p
}

// vectorInputs are the fixed inputs; everything else is computed.
func vectorInputs() []vector {
	h := func(b byte, n int) string { return hex.EncodeToString(bytes.Repeat([]byte{b}, n)) }
	seq := func(start byte, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = start + byte(i)
		}
		return hex.EncodeToString(b)
	}
	arn := "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	base := func(name, object string, sizes ...int) vector {
		v := vector{
			Name: name, BucketKey: seq(0x00, 32), KeyBucket: "example-bucket", Object: object,
			Salt: seq(0x40, 32), DataKey: seq(0x80, 32), KeyID: arn, WrappedKey: h(0xAA, 184),
		}
		for _, n := range sizes {
			v.Parts = append(v.Parts, vectorPart{PlaintextSize: n})
		}
		return v
	}
	ctx := base("single-part, 200 bytes, extra context", "with/context", 200)
	ctx.Context = map[string]string{"project": "x", "department": "r&d <lab>"}
	mp := base("multipart, aligned part then odd part", "big/upload.bin", 2*SegmentSize, SegmentSize+7)
	mp.Multipart = true
	uni := base("single-part, non-ASCII object name", "photos/été 2024/🐈.jpg", 3)
	uni.KeyBucket = "Legacy_Bucket.1"
	marker := base("multipart, one 5 MiB part, end tag in a marker part", "big/5mib.bin", MinPartSize)
	marker.Multipart = true
	return []vector{
		base("single-part, empty", "empty", 0),
		base("single-part, 1 byte", "one", 1),
		ctx,
		base("single-part, one full segment", "seg", SegmentSize),
		base("single-part, one segment and one byte", "seg+1", SegmentSize+1),
		mp,
		uni,
		marker,
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// computeVector fills in a vector's outputs from its inputs.
func computeVector(t *testing.T, in vector) vector {
	v := in
	bk, salt := unhex(t, v.BucketKey), unhex(t, v.Salt)
	var dek DataKey
	copy(dek[:], unhex(t, v.DataKey))
	okm, err := objectKeyMaterial(bk, v.KeyBucket, v.Object, salt)
	if err != nil {
		t.Fatal(err)
	}
	v.ObjectKey, v.SealNonce = hex.EncodeToString(okm[:KeySize]), hex.EncodeToString(okm[KeySize:])
	m, err := sealWith(&dek, bk, v.KeyBucket, v.Object, salt)
	if err != nil {
		t.Fatal(err)
	}
	v.SealedKey = hex.EncodeToString(m.SealedKey)
	m.KeyID, m.WrappedKey, m.Context, m.Multipart = v.KeyID, unhex(t, v.WrappedKey), v.Context, v.Multipart
	if !v.Multipart {
		m.Size = int64(v.Parts[0].PlaintextSize)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	v.Metadata = m.Headers()
	v.Parts = nil
	nparts := len(in.Parts)
	if v.Multipart {
		v.EndTag = hex.EncodeToString(endTag(t, &dek, nparts))
		v.Marker = !EndsObject(nparts, int64(in.Parts[nparts-1].PlaintextSize))
	}
	for i, p := range in.Parts {
		part := 0
		if v.Multipart {
			part = i + 1
		}
		pk, err := payloadKeyMaterial(&dek, part)
		if err != nil {
			t.Fatal(err)
		}
		ct := encrypt(t, vectorPlaintext(p.PlaintextSize), &dek, part)
		sum := sha256.Sum256(ct)
		tagEnd := min(len(ct), encSegmentSize)
		out := vectorPart{
			Part: part, PayloadKey: hex.EncodeToString(pk[:KeySize]), NoncePrefix: hex.EncodeToString(pk[KeySize:]),
			PlaintextSize: p.PlaintextSize, CiphertextSize: int64(len(ct)), CiphertextSHA: hex.EncodeToString(sum[:]),
			FirstSegmentTag: hex.EncodeToString(ct[tagEnd-TagSize : tagEnd]),
		}
		if len(ct) <= 1024 {
			out.CiphertextHex = hex.EncodeToString(ct)
		}
		if v.Multipart {
			out.EndField = hex.EncodeToString(make([]byte, EndSize))
			if i == nparts-1 && !v.Marker {
				out.EndField = v.EndTag
			}
			out.StoredSize = int64(len(ct)) + EndSize
		}
		v.Parts = append(v.Parts, out)
	}
	return v
}

// TestVectors checks the implementation against the known answers in
// testdata/envelope/vectors.json, and decrypts them through the public API
// as a reader of stored objects would. With -update-vectors it rewrites
// the file instead.
func TestVectors(t *testing.T) {
	if *updateVectors {
		f := vectorFile{Format: "bucketkey/v1", Plaintext: "byte i of every part is i mod 251"}
		for _, in := range vectorInputs() {
			f.Vectors = append(f.Vectors, computeVector(t, in))
		}
		js, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(vectorsPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsPath, append(js, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", vectorsPath)
		return
	}
	js, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("%v (generate with go generate ./envelope)", err)
	}
	var f vectorFile
	if err := json.Unmarshal(js, &f); err != nil {
		t.Fatal(err)
	}
	if f.Format != "bucketkey/v1" || len(f.Vectors) != len(vectorInputs()) {
		t.Fatalf("vectors file: format %q, %d vectors", f.Format, len(f.Vectors))
	}
	for _, want := range f.Vectors {
		t.Run(want.Name, func(t *testing.T) {
			if got := computeVector(t, want); !reflect.DeepEqual(got, want) {
				gj, _ := json.MarshalIndent(got, "", "  ")
				t.Fatalf("implementation disagrees with the vector; it computes:\n%s", gj)
			}
			checkVectorDecrypts(t, want)
		})
	}
}

// checkVectorDecrypts reads the vector back through the public API only.
func checkVectorDecrypts(t *testing.T, v vector) {
	h := http.Header{}
	for k, val := range v.Metadata {
		h.Set(k, val)
	}
	m, err := ParseMetadata(h)
	if err != nil {
		t.Fatal(err)
	}
	dek, err := m.Open(unhex(t, v.BucketKey), v.Object)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(dek[:]) != v.DataKey {
		t.Fatal("unsealed the wrong data key")
	}
	if _, err := m.Open(unhex(t, v.BucketKey), v.Object+"x"); err == nil {
		t.Fatal("opened under another name")
	}
	// The stored object, as the backend holds it.
	var ct, pt []byte
	var stored []int64
	for _, p := range v.Parts {
		c := encrypt(t, vectorPlaintext(p.PlaintextSize), dek, p.Part)
		if p.CiphertextHex != "" && !bytes.Equal(c, unhex(t, p.CiphertextHex)) {
			t.Fatal("ciphertext differs from the vector")
		}
		got, err := decrypt(c, dek, p.Part)
		if err != nil || !bytes.Equal(got, vectorPlaintext(p.PlaintextSize)) {
			t.Fatalf("part %d: %v", p.Part, err)
		}
		ct = append(ct, c...)
		pt = append(pt, got...)
		if m.Multipart {
			ct = append(ct, unhex(t, p.EndField)...)
			stored = append(stored, p.StoredSize)
		}
	}
	l := SingleLayout(int64(len(ct)))
	if m.Multipart {
		if v.Marker {
			ct = append(ct, unhex(t, v.EndTag)...)
			stored = append(stored, EndSize)
		}
		if l, err = MultipartLayout(stored); err != nil {
			t.Fatal(err)
		}
		if l.StoredSize() != int64(len(ct)) {
			t.Fatalf("layout of %d stored bytes, object of %d", l.StoredSize(), len(ct))
		}
	}
	rr, err := NewRangeReader(bytes.NewReader(ct), dek, l, Range{0, int64(len(pt))})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := out.ReadFrom(rr); err != nil || !bytes.Equal(out.Bytes(), pt) {
		t.Fatal(fmt.Errorf("whole-object read: %w", err))
	}
}
