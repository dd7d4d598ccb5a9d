package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/internal/testenv"
	"github.com/bucketkey/bucketkey/s3err"
)

// putInputWithChecksum is a PutObject carrying a precomputed checksum of
// algorithm a in its own field, as an application that checksums its data
// itself sends it.
func putInputWithChecksum(bucket, key string, data []byte, a checksum.Algorithm, value string) *s3.PutObjectInput {
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}
	v := aws.String(value)
	switch a {
	case checksum.CRC32:
		in.ChecksumCRC32 = v
	case checksum.CRC32C:
		in.ChecksumCRC32C = v
	case checksum.CRC64NVME:
		in.ChecksumCRC64NVME = v
	case checksum.SHA1:
		in.ChecksumSHA1 = v
	case checksum.SHA256:
		in.ChecksumSHA256 = v
	case checksum.SHA512:
		in.ChecksumSHA512 = v
	case checksum.MD5:
		in.ChecksumMD5 = v
	case checksum.XXHASH64:
		in.ChecksumXXHASH64 = v
	case checksum.XXHASH3:
		in.ChecksumXXHASH3 = v
	case checksum.XXHASH128:
		in.ChecksumXXHASH128 = v
	}
	return in
}

// TestChecksumEveryAlgorithmVerified: a PutObject with any of the ten
// algorithms S3 accepts, from aws-sdk-go-v2, is verified by the proxy: the
// right value stores the object and is answered back, a wrong one is
// BadDigest and stores nothing.
func TestChecksumEveryAlgorithmVerified(t *testing.T) {
	tp := newTestProxy(t)
	bucket := tp.newBucket(t)
	ctx := context.Background()
	data := randBytes(70000)
	for _, a := range checksum.All {
		t.Run(a.String(), func(t *testing.T) {
			key := "ck-" + a.String()
			good := checksum.Encode(a.Sum(data))
			if _, err := tp.client.PutObject(ctx, putInputWithChecksum(bucket, key, data, a, good)); err != nil {
				t.Fatalf("PutObject with the right %v: %v", a, err)
			}
			mustEqual(t, "GET", tp.get(t, bucket, key), data)

			bad := checksum.Encode(a.Sum(data[1:]))
			_, err := tp.client.PutObject(ctx, putInputWithChecksum(bucket, key+"-bad", data, a, bad))
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "BadDigest" {
				t.Fatalf("PutObject with a wrong %v: %v, want BadDigest", a, err)
			}
			if _, err := backend().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(key + "-bad")}); err == nil {
				t.Fatalf("a PutObject refused for its %v left an object behind", a)
			}
		})
	}
}

// TestChecksumRawRequests: the same rules for hand-made requests, as a
// header and as the trailer of an unsigned aws-chunked body: malformed
// values and two checksums are InvalidRequest.
func TestChecksumRawRequests(t *testing.T) {
	tp := newTestProxy(t)
	bucket := tp.newBucket(t)
	data := []byte("some plaintext for the checksum tests")
	for _, a := range checksum.All {
		good := checksum.Encode(a.Sum(data))
		bad := checksum.Encode(a.Sum(data[1:]))
		other := checksum.CRC32
		if a == other {
			other = checksum.XXHASH3
		}
		for _, tc := range []struct {
			name   string
			hdr    http.Header
			status int
			code   string
		}{
			{"right", http.Header{a.CanonicalHeader(): {good}}, 200, ""},
			{"wrong", http.Header{a.CanonicalHeader(): {bad}}, 400, "BadDigest"},
			{"malformed", http.Header{a.CanonicalHeader(): {good[:len(good)-4]}}, 400, "InvalidRequest"},
			{"two", http.Header{a.CanonicalHeader(): {good}, other.CanonicalHeader(): {checksum.Encode(other.Sum(data))}}, 400, "InvalidRequest"},
		} {
			key := "raw-" + a.String() + "-" + tc.name
			resp := tp.rawRequest(t, http.MethodPut, "/"+bucket+"/"+key, tc.hdr, data)
			body := readAllClose(t, resp.Body)
			if resp.StatusCode != tc.status || (tc.code != "" && errorCode(body) != tc.code) {
				t.Fatalf("%v %s: %d %s, want %d %s", a, tc.name, resp.StatusCode, body, tc.status, tc.code)
			}
			if tc.status == 200 && resp.Header.Get(a.Header()) != good {
				t.Fatalf("%v: answer's %s = %q, want %q", a, a.Header(), resp.Header.Get(a.Header()), good)
			}
		}
		for _, tc := range []struct {
			name, value string
			status      int
			code        string
		}{
			{"trailer right", good, 200, ""},
			{"trailer wrong", bad, 400, "BadDigest"},
			{"trailer malformed", good[1:], 400, "InvalidRequest"},
		} {
			key := "raw-" + a.String() + "-" + strings.ReplaceAll(tc.name, " ", "-")
			resp := unsignedTrailerPut(t, tp.srv.URL+"/"+bucket+"/"+key, data, a.Header(), tc.value)
			body := readAllClose(t, resp.Body)
			if resp.StatusCode != tc.status || (tc.code != "" && errorCode(body) != tc.code) {
				t.Fatalf("%v %s: %d %s, want %d %s", a, tc.name, resp.StatusCode, body, tc.status, tc.code)
			}
			if tc.status == 200 {
				mustEqual(t, a.String()+" trailer GET", tp.get(t, bucket, key), data)
			}
		}
	}
}

// unsignedTrailerPut sends data as STREAMING-UNSIGNED-PAYLOAD-TRAILER with
// one trailer name:value, in chunks of 8 KiB, as the SDKs frame it.
func unsignedTrailerPut(t testing.TB, url string, data []byte, name, value string) *http.Response {
	t.Helper()
	var b bytes.Buffer
	for rest := data; len(rest) > 0; {
		c := rest[:min(len(rest), 8192)] // S3's smallest chunk but the last
		fmt.Fprintf(&b, "%x\r\n%s\r\n", len(c), c)
		rest = rest[len(c):]
	}
	fmt.Fprintf(&b, "0\r\n%s:%s\r\n\r\n", name, value)
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
	req.Header.Set("X-Amz-Trailer", name)
	return signedRawPayload(t, req, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
}

// errorCode is the <Code> of an S3 error body, or "".
func errorCode(body []byte) string {
	_, rest, ok := bytes.Cut(body, []byte("<Code>"))
	if !ok {
		return ""
	}
	code, _, _ := bytes.Cut(rest, []byte("</Code>"))
	return string(code)
}

// checksumOf is the checksum field of algorithm a in an SDK answer.
func checksumOf(a checksum.Algorithm, crc32, crc32c, crc64, sha1, sha256, sha512, md5, xx64, xx3, xx128 *string) string {
	return aws.ToString([]*string{nil, crc32, crc32c, crc64, sha1, sha256, sha512, md5, xx64, xx3, xx128}[a])
}

// TestStoredChecksumReturned: the plaintext checksum a PutObject sent in a
// header is recorded in the envelope and answered, as S3 answers its
// stored checksum, to GET and HEAD with x-amz-checksum-mode ENABLED (and
// validated by the SDK on GET); not to reads that do not ask, nor to
// ranges. An edited record fails.
func TestStoredChecksumReturned(t *testing.T) {
	tp := newTestProxy(t)
	bucket := tp.newBucket(t)
	ctx := context.Background()
	data := randBytes(100000)
	for _, a := range checksum.All {
		key := "stored-" + a.String()
		good := checksum.Encode(a.Sum(data))
		if _, err := tp.client.PutObject(ctx, putInputWithChecksum(bucket, key, data, a, good)); err != nil {
			t.Fatalf("PutObject %v: %v", a, err)
		}
		got, out := getAll(t, tp.client, &s3.GetObjectInput{Bucket: &bucket, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
		mustEqual(t, "GET", got, data)
		if c := checksumOf(a, out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME, out.ChecksumSHA1, out.ChecksumSHA256, out.ChecksumSHA512, out.ChecksumMD5, out.ChecksumXXHASH64, out.ChecksumXXHASH3, out.ChecksumXXHASH128); c != good || out.ChecksumType != types.ChecksumTypeFullObject {
			t.Errorf("GET %v: checksum %q type %q, want %q FULL_OBJECT", a, c, out.ChecksumType, good)
		}
		head, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		if c := checksumOf(a, head.ChecksumCRC32, head.ChecksumCRC32C, head.ChecksumCRC64NVME, head.ChecksumSHA1, head.ChecksumSHA256, head.ChecksumSHA512, head.ChecksumMD5, head.ChecksumXXHASH64, head.ChecksumXXHASH3, head.ChecksumXXHASH128); c != good || head.ChecksumType != types.ChecksumTypeFullObject {
			t.Errorf("HEAD %v: checksum %q type %q, want %q FULL_OBJECT", a, c, head.ChecksumType, good)
		}
		attrs, err := tp.client.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: &bucket, Key: &key, ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesChecksum, types.ObjectAttributesObjectSize}})
		if err != nil {
			t.Fatal(err)
		}
		if ck := attrs.Checksum; ck == nil || checksumOf(a, ck.ChecksumCRC32, ck.ChecksumCRC32C, ck.ChecksumCRC64NVME, ck.ChecksumSHA1, ck.ChecksumSHA256, ck.ChecksumSHA512, ck.ChecksumMD5, ck.ChecksumXXHASH64, ck.ChecksumXXHASH3, ck.ChecksumXXHASH128) != good || ck.ChecksumType != types.ChecksumTypeFullObject || aws.ToInt64(attrs.ObjectSize) != int64(len(data)) {
			t.Errorf("GetObjectAttributes %v: %+v size %d, want %q FULL_OBJECT", a, attrs.Checksum, aws.ToInt64(attrs.ObjectSize), good)
		}
		plain, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
		if err != nil || plain.ChecksumType != "" {
			t.Errorf("HEAD %v without checksum mode: %v, type %q", a, err, plain.ChecksumType)
		}
		resp := tp.rawRequest(t, http.MethodGet, "/"+bucket+"/"+key, http.Header{"Range": {"bytes=10-20"}, "X-Amz-Checksum-Mode": {"ENABLED"}}, nil)
		readAllClose(t, resp.Body)
		if resp.StatusCode != 206 || resp.Header.Get(a.Header()) != "" || resp.Header.Get("X-Amz-Checksum-Type") != "" {
			t.Errorf("ranged GET %v: %d, checksum %q", a, resp.StatusCode, resp.Header.Get(a.Header()))
		}
	}
	// A copy keeps the record (its tag is under the data key, which a
	// copy keeps).
	src, dst := "stored-SHA256", "copied"
	if _, err := tp.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &bucket, Key: &dst, CopySource: aws.String(bucket + "/" + src)}); err != nil {
		t.Fatal(err)
	}
	head, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &dst, ChecksumMode: types.ChecksumModeEnabled})
	if err != nil || aws.ToString(head.ChecksumSHA256) != checksum.Encode(checksum.SHA256.Sum(data)) {
		t.Errorf("HEAD of a copy: %v, SHA256 %q", err, aws.ToString(head.ChecksumSHA256))
	}
	// An edited record fails authentication.
	raw, out := stored(t, bucket, src)
	md := testenv.EnvelopeFields(out.Metadata)
	md["bk-ck"] = "SHA256:FULL_OBJECT:" + checksum.Encode(checksum.SHA256.Sum(data[1:]))
	plantRaw(t, bucket, src, raw, testenv.PackEnvelope(md))
	if _, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &src, ChecksumMode: types.ChecksumModeEnabled}); err == nil {
		t.Error("HEAD with checksum mode of an edited checksum record succeeded")
	}
}

// TestStoredChecksumDefault: a small PutObject with no checksum gets
// CRC64NVME recorded, as S3 adds one; one with a trailing checksum gets
// that; the PutObject answer says so, as S3's does.
func TestStoredChecksumDefault(t *testing.T) {
	tp := newTestProxy(t)
	bucket := tp.newBucket(t)
	ctx := context.Background()
	data := randBytes(1000)
	resp := tp.rawRequest(t, http.MethodPut, "/"+bucket+"/none", nil, data)
	readAllClose(t, resp.Body)
	crc64 := checksum.Encode(checksum.CRC64NVME.Sum(data))
	if resp.StatusCode != 200 || resp.Header.Get("X-Amz-Checksum-Crc64nvme") != crc64 || resp.Header.Get("X-Amz-Checksum-Type") != "FULL_OBJECT" {
		t.Fatalf("PUT without checksum: %d, answer %v", resp.StatusCode, resp.Header)
	}
	resp = unsignedTrailerPut(t, tp.srv.URL+"/"+bucket+"/trailer", data, "x-amz-checksum-xxhash3", checksum.Encode(checksum.XXHASH3.Sum(data)))
	readAllClose(t, resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("PUT with a trailer: %d", resp.StatusCode)
	}
	for key, want := range map[string]string{"none": crc64, "trailer": checksum.Encode(checksum.XXHASH3.Sum(data))} {
		head, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		got := aws.ToString(head.ChecksumCRC64NVME)
		if key == "trailer" {
			got = aws.ToString(head.ChecksumXXHASH3)
		}
		if got != want || head.ChecksumType != types.ChecksumTypeFullObject {
			t.Errorf("HEAD %s: %q %q, want %q FULL_OBJECT", key, got, head.ChecksumType, want)
		}
	}
	// A trailer PUT too large to buffer records no checksum (the metadata
	// leaves first) but answers the verified one, FULL_OBJECT, as S3.
	big := randBytes(maxBufferedChecksum + 1)
	resp = unsignedTrailerPut(t, tp.srv.URL+"/"+bucket+"/big", big, "x-amz-checksum-crc32", checksum.Encode(checksum.CRC32.Sum(big)))
	readAllClose(t, resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("X-Amz-Checksum-Crc32") != checksum.Encode(checksum.CRC32.Sum(big)) || resp.Header.Get("X-Amz-Checksum-Type") != "FULL_OBJECT" {
		t.Errorf("large PUT with a trailer: %d, answer %v", resp.StatusCode, resp.Header)
	}
	// An empty folder marker too (CRC64NVME of nothing).
	tp.put(t, bucket, "dir/", nil)
	head, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("dir/"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil || head.ChecksumType != types.ChecksumTypeFullObject {
		t.Errorf("HEAD dir/: %v %q", err, head.ChecksumType)
	}
}

func TestUploadChecksumUnit(t *testing.T) {
	for _, tc := range []struct {
		alg, typ string
		wantAlg  checksum.Algorithm
		wantType string
		msg      string // of the InvalidRequest, "" for none
	}{
		{"", "", checksum.None, "", ""},
		{"CRC64NVME", "", checksum.CRC64NVME, "FULL_OBJECT", ""},
		{"crc32", "", checksum.CRC32, "COMPOSITE", ""},
		{"CRC32", "FULL_OBJECT", checksum.CRC32, "FULL_OBJECT", ""},
		{"CRC32C", "full_object", checksum.CRC32C, "FULL_OBJECT", ""},
		{"SHA256", "", checksum.SHA256, "COMPOSITE", ""},
		{"XXHASH128", "COMPOSITE", checksum.XXHASH128, "COMPOSITE", ""},
		{"SHA1", "FULL_OBJECT", 0, "", "The FULL_OBJECT checksum type cannot be used with the sha1 checksum algorithm."},
		{"CRC64NVME", "COMPOSITE", 0, "", "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."},
		{"", "COMPOSITE", 0, "", "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."},
		{"BLAKE3", "", 0, "", "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, MD5, SHA1, SHA256, SHA512, XXHASH128, XXHASH3, XXHASH64]"},
		{"CRC32", "BOTH", 0, "", "Value for x-amz-checksum-type header is invalid."},
	} {
		h := http.Header{}
		if tc.alg != "" {
			h.Set("X-Amz-Checksum-Algorithm", tc.alg)
		}
		if tc.typ != "" {
			h.Set("X-Amz-Checksum-Type", tc.typ)
		}
		alg, typ, err := uploadChecksum(h)
		if tc.msg != "" {
			if e := s3err.As(err); e == nil || e.Code != "InvalidRequest" || e.Message != tc.msg {
				t.Errorf("%s/%s: %v, want InvalidRequest %q", tc.alg, tc.typ, err, tc.msg)
			}
			continue
		}
		if err != nil || alg != tc.wantAlg || typ != tc.wantType {
			t.Errorf("%s/%s: %v %s %v, want %v %s", tc.alg, tc.typ, alg, typ, err, tc.wantAlg, tc.wantType)
		}
	}
}

// TestCreateMultipartUploadChecksum: through the proxy, with the SDK, the
// algorithm and type are answered as S3 answers them, and invalid pairs
// are InvalidRequest before anything reaches the backend.
func TestCreateMultipartUploadChecksum(t *testing.T) {
	tp := newTestProxy(t)
	bucket := tp.newBucket(t)
	ctx := context.Background()
	out, err := tp.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("k"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c, ChecksumType: types.ChecksumTypeFullObject})
	if err != nil {
		t.Fatal(err)
	}
	if out.ChecksumAlgorithm != types.ChecksumAlgorithmCrc32c || out.ChecksumType != types.ChecksumTypeFullObject {
		t.Errorf("CreateMultipartUpload answered %q %q", out.ChecksumAlgorithm, out.ChecksumType)
	}
	_, _ = tp.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: aws.String("k"), UploadId: out.UploadId})
	_, err = tp.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("k"), ChecksumAlgorithm: types.ChecksumAlgorithmSha256, ChecksumType: types.ChecksumTypeFullObject})
	if apiCode(err) != "InvalidRequest" {
		t.Fatalf("SHA256 FULL_OBJECT: %v", err)
	}
	ups, err := backend().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil || len(ups.Uploads) != 0 {
		t.Fatalf("uploads left at the backend: %v %d", err, len(ups.Uploads))
	}
}

func TestUnitParseStoredChecksum(t *testing.T) {
	for v, ok := range map[string]bool{
		"CRC64NVME:FULL_OBJECT:jSnVw/bqjr4=":                                  true,
		"CRC32:COMPOSITE:DUoRhQ==-3":                                          true,
		"SHA256:COMPOSITE:uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=-10000": true,
		"CRC32:COMPOSITE:DUoRhQ==":                                            false, // no part count
		"crc32:FULL_OBJECT:DUoRhQ==":                                          false, // not S3's spelling
		"CRC32:BOTH:DUoRhQ==":                                                 false,
		"CRC32:FULL_OBJECT:DUoRhQ":                                            false,
		"CRC32:FULL_OBJECT:jSnVw/bqjr4=":                                      false, // 8 bytes
		"BLAKE3:FULL_OBJECT:DUoRhQ==":                                         false,
		"CRC32":                                                               false,
		"":                                                                    false,
	} {
		c, got := parseStoredChecksum(v)
		if got != ok || (ok && c.String() != v) {
			t.Errorf("parseStoredChecksum(%q) = %+v, %v; want ok=%v", v, c, got, ok)
		}
	}
}

// TestUnitReadExactly: the whole small body read to record its checksum
// is exactly the declared size, to its end; shorter, longer or failing
// bodies are refused with the client's error.
func TestUnitReadExactly(t *testing.T) {
	data := randBytes(100)
	fail := s3err.BadDigest.With("injected")
	for _, tc := range []struct {
		name string
		body io.Reader
		n    int64
		code string
	}{
		{"exact", bytes.NewReader(data), 100, ""},
		{"empty", bytes.NewReader(nil), 0, ""},
		{"short", bytes.NewReader(data[:99]), 100, "IncompleteBody"},
		{"nothing", bytes.NewReader(nil), 100, "IncompleteBody"},
		{"long", bytes.NewReader(data), 99, "IncompleteBody"},
		{"fails at its end", io.MultiReader(bytes.NewReader(data), iotest.ErrReader(fail)), 100, "BadDigest"},
		{"fails midway", io.MultiReader(bytes.NewReader(data[:50]), iotest.ErrReader(fail)), 100, "BadDigest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readExactly(tc.body, tc.n)
			if tc.code == "" {
				if err != nil || !bytes.Equal(got, data[:tc.n]) || int64(len(got)) != tc.n {
					t.Fatalf("%d bytes, %v", len(got), err)
				}
				return
			}
			if e := s3err.As(err); e == nil || e.Code != tc.code || got != nil {
				t.Fatalf("%d bytes, %v; want %s", len(got), err, tc.code)
			}
		})
	}
}
