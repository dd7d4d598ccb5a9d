package envelope

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
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

	ObjectKey string `json:"object_key"`
	SealNonce string `json:"seal_nonce"`
	SealedKey string `json:"sealed_key"`
	// Metadata is the packed form Seal writes, MetadataPerField the same
	// fields a header each, as bucketkey wrote before; both must read.
	Metadata         map[string]string `json:"metadata"`
	MetadataPerField map[string]string `json:"metadata_per_field"`
	Parts            []vectorPart      `json:"parts"`
	// Multipart: END(N), and whether it is stored in a marker part after
	// the last part (when the last part does not end the object).
	EndTag string `json:"end_tag,omitempty"`
	Marker bool   `json:"marker,omitempty"`
}

type vectorPart struct {
	Part int `json:"part"`
	// Multipart: the part's random header (an input: the writer draws it).
	Header          string `json:"header,omitempty"`
	PayloadKey      string `json:"payload_key"`
	NoncePrefix     string `json:"nonce_prefix"`
	PlaintextSize   int    `json:"plaintext_size"`
	CiphertextSize  int64  `json:"ciphertext_size"`
	CiphertextSHA   string `json:"ciphertext_sha256"`
	CiphertextHex   string `json:"ciphertext,omitempty"` // when at most 1 KiB
	FirstSegmentTag string `json:"first_segment_tag"`
	// Multipart: the end field stored after the stream, the stored part's
	// size (header, stream, end field) and its SHA-256.
	EndField   string `json:"end_field,omitempty"`
	StoredSize int64  `json:"stored_size,omitempty"`
	StoredSHA  string `json:"stored_sha256,omitempty"`
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
	// Multipart vectors give each part a header.
	multipart := func(v vector) vector {
		v.Multipart = true
		for i := range v.Parts {
			v.Parts[i].Header = seq(byte(0xC0+0x10*i), partHeaderSize)
		}
		return v
	}
	ctx := base("single-part, 200 bytes, extra context", "with/context", 200)
	ctx.Context = map[string]string{"project": "x", "department": "r&d <lab>"}
	// Part 1 holds exactly 5 MiB (80 full segments), the smallest part that
	// may be followed; part 2 is odd and, under 5 MiB, ends the object.
	mp := multipart(base("multipart, a 5 MiB part then an odd part", "big/upload.bin", minPartSize, segmentSize+7))
	uni := base("single-part, non-ASCII object name", "photos/été 2024/🐈.jpg", 3)
	uni.KeyBucket = "Legacy_Bucket.1"
	marker := multipart(base("multipart, one 5 MiB part, end tag in a marker part", "big/5mib.bin", minPartSize))
	return []vector{
		base("single-part, empty", "empty", 0),
		base("single-part, 1 byte", "one", 1),
		ctx,
		base("single-part, one full segment", "seg", segmentSize),
		base("single-part, one segment and one byte", "seg+1", segmentSize+1),
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
	copy(dek.b[:], unhex(t, v.DataKey))
	okm, err := objectKeyMaterial(formatV1, bk, v.KeyBucket, v.Object, salt)
	if err != nil {
		t.Fatal(err)
	}
	v.ObjectKey, v.SealNonce = hex.EncodeToString(okm[:keySize]), hex.EncodeToString(okm[keySize:])
	size := int64(-1)
	if !v.Multipart {
		size = int64(v.Parts[0].PlaintextSize)
	}
	bucketKey := BucketKey{Plaintext: bk, KeyID: v.KeyID, Wrapped: unhex(t, v.WrappedKey), Bucket: v.KeyBucket, Context: v.Context}
	m, err := sealWith(formatV1, &dek, bucketKey, v.Object, salt, v.Multipart, size)
	if err != nil {
		t.Fatal(err)
	}
	v.SealedKey = hex.EncodeToString(m.SealedKey)
	v.Metadata = m.Headers()
	perField := *m
	perField.Packed = false
	v.MetadataPerField = perField.Headers()
	v.Parts = nil
	nparts := len(in.Parts)
	if v.Multipart {
		v.EndTag = hex.EncodeToString(mustEndTag(t, &dek, nparts))
		v.Marker = !endsObject(nparts, int64(in.Parts[nparts-1].PlaintextSize))
	}
	for i, p := range in.Parts {
		part := 0
		var header []byte
		if v.Multipart {
			part, header = i+1, unhex(t, p.Header)
		}
		pk, err := payloadKeyMaterial(&dek, part, header)
		if err != nil {
			t.Fatal(err)
		}
		pt := vectorPlaintext(p.PlaintextSize)
		var ct []byte // the stream
		out := vectorPart{Part: part, Header: p.Header, PlaintextSize: p.PlaintextSize}
		if v.Multipart {
			// The stored part as the part writer makes it.
			stored := encryptPart(t, &dek, part, header, pt)
			if !bytes.Equal(stored[:partHeaderSize], header) {
				t.Fatal("the part writer did not store the header first")
			}
			ct = stored[partHeaderSize : len(stored)-endSize]
			sum := sha256.Sum256(stored)
			out.EndField = hex.EncodeToString(stored[len(stored)-endSize:])
			out.StoredSize, out.StoredSHA = int64(len(stored)), hex.EncodeToString(sum[:])
		} else {
			ct = encrypt(t, pt, &dek, 0)
		}
		sum := sha256.Sum256(ct)
		tagEnd := min(len(ct), encSegmentSize)
		out.PayloadKey, out.NoncePrefix = hex.EncodeToString(pk[:keySize]), hex.EncodeToString(pk[keySize:])
		out.CiphertextSize, out.CiphertextSHA = int64(len(ct)), hex.EncodeToString(sum[:])
		out.FirstSegmentTag = hex.EncodeToString(ct[tagEnd-tagSize : tagEnd])
		if len(ct) <= 1024 {
			out.CiphertextHex = hex.EncodeToString(ct)
		}
		v.Parts = append(v.Parts, out)
	}
	return v
}

// encryptPart is the stored part (header, stream, end field) of part with
// the given header.
func encryptPart(t testing.TB, key *DataKey, part int, header, pt []byte) []byte {
	t.Helper()
	return writeAll(t, pt, func(w io.Writer) (io.WriteCloser, error) {
		return newPartWriter(w, key, part, int64(len(pt)), header)
	})
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
	parse := func(md map[string]string) *Metadata {
		h := http.Header{}
		for k, val := range md {
			h.Set(k, val)
		}
		m, err := ParseMetadata(h)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m, perField := parse(v.Metadata), parse(v.MetadataPerField)
	if !m.Packed || perField.Packed {
		t.Fatalf("packed metadata read as Packed %v, per-field as %v", m.Packed, perField.Packed)
	}
	perField.Packed = true
	if !reflect.DeepEqual(perField, m) {
		t.Fatal("the two forms of the metadata differ")
	}
	dek, err := m.Open(unhex(t, v.BucketKey), v.Object)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(dek.b[:]) != v.DataKey {
		t.Fatal("unsealed the wrong data key")
	}
	if _, err := m.Open(unhex(t, v.BucketKey), v.Object+"x"); err == nil {
		t.Fatal("opened under another name")
	}
	// The stored object, as the backend holds it.
	var ct, pt, parts [][]byte
	var stored []int64
	for _, p := range v.Parts {
		plain := vectorPlaintext(p.PlaintextSize)
		var c []byte
		if m.Multipart {
			c = encryptPart(t, dek, p.Part, unhex(t, p.Header), plain)
			stored = append(stored, p.StoredSize)
			if s := sha256.Sum256(c); hex.EncodeToString(s[:]) != p.StoredSHA {
				t.Fatalf("part %d: stored part differs from the vector", p.Part)
			}
		} else {
			c = encrypt(t, plain, dek, 0)
			if got, err := decrypt(c, dek, 0); err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("NewReader: %v", err)
			}
			if p.CiphertextHex != "" && !bytes.Equal(c, unhex(t, p.CiphertextHex)) {
				t.Fatal("ciphertext differs from the vector")
			}
		}
		ct, pt, parts = append(ct, c), append(pt, plain), append(parts, plain)
	}
	if m.Multipart && v.Marker {
		mk, err := Marker(dek, len(v.Parts), 5<<20)
		if err != nil {
			t.Fatal(err)
		}
		ct, stored = append(ct, mk), append(stored, markerSize)
	}
	obj, whole := bytes.Join(ct, nil), bytes.Join(pt, nil)
	l := singleLayout(int64(len(obj)))
	if m.Multipart {
		if l, err = multipartLayout(formatV1, stored); err != nil {
			t.Fatal(err)
		}
		if l.storedSize() != int64(len(obj)) {
			t.Fatalf("layout of %d stored bytes, object of %d", l.storedSize(), len(obj))
		}
		off, n := l.endRange()
		if err := l.checkTag(dek, obj[off:off+n]); err != nil {
			t.Fatalf("end tag: %v", err)
		}
		if hex.EncodeToString(obj[off:off+n]) != v.EndTag {
			t.Fatal("the object does not end with the vector's end tag")
		}
		for i := range v.Parts { // GET ?partNumber=k
			r, err := NewPartReader(bytes.NewReader(ct[i]), dek, l, i+1)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, parts[i]) {
				t.Fatalf("part %d: %v", i+1, err)
			}
		}
	}
	read := func(r Range) []byte {
		off, n, err := l.ciphertextRange(r)
		if err != nil {
			t.Fatal(err)
		}
		src := io.Reader(bytes.NewReader(obj[off : off+n]))
		if hoff, hn, ok := l.headerRange(r); ok {
			src = io.MultiReader(bytes.NewReader(obj[hoff:hoff+hn]), src)
		}
		rr, err := NewRangeReader(src, dek, l, r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rr)
		if err != nil {
			t.Fatal(fmt.Errorf("range %+v: %w", r, err))
		}
		return got
	}
	if got := read(Range{0, int64(len(whole))}); !bytes.Equal(got, whole) {
		t.Fatal("whole-object read differs")
	}
	if len(whole) > segmentSize+10 { // a range from the middle of a segment past the first
		r := Range{segmentSize + 3, 7}
		if got := read(r); !bytes.Equal(got, whole[r.Start:r.Start+r.Length]) {
			t.Fatal("ranged read differs")
		}
	}
}

// TestVectorsIndependentImplementation runs testdata/envelope/verify.py, an
// implementation of docs/FORMAT.md in Python written from the spec, over
// the vectors: the spec, the vectors and the Go code must agree. It needs
// python3 with the cryptography package (in the machine image, as boto3 is).
func TestVectorsIndependentImplementation(t *testing.T) {
	out, err := exec.Command("python3", "../testdata/envelope/verify.py").CombinedOutput()
	if err != nil {
		t.Fatalf("verify.py: %v\n%s", err, out)
	}
	if n := bytes.Count(out, []byte("ok ")); n != len(vectorInputs()) {
		t.Fatalf("verify.py checked %d vectors, want %d:\n%s", n, len(vectorInputs()), out)
	}
}
