package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bucketkey/bucketkey/checksum"
)

// TestStreamSignerMatchesS3Example checks, before relying on it, that the
// SDK's StreamSigner with empty headers computes S3's chunk signatures: the
// reference's chunked-upload example, chained from its seed.
func TestStreamSignerMatchesS3Example(t *testing.T) {
	seed, _ := hex.DecodeString(chunkedSeed)
	ss := v4.NewStreamSigner(aws.Credentials{AccessKeyID: exampleAK, SecretAccessKey: exampleSK}, "s3", "us-east-1", seed)
	for _, step := range []struct {
		n   int
		sig string
	}{{65536, chunkedSig1}, {1024, chunkedSig2}, {0, chunkedSigEnd}} {
		got, err := ss.GetSignature(context.Background(), nil, bytes.Repeat([]byte("a"), step.n), exampleTime)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got) != step.sig {
			t.Fatalf("chunk of %d bytes: %x, want %s", step.n, got, step.sig)
		}
	}
}

func testSigner(mode PayloadMode, now time.Time) *Signer {
	return &Signer{
		Credentials: credentials.NewStaticCredentialsProvider(testAK, testSK, ""),
		Region:      testRegion,
		Mode:        mode,
		Now:         func() time.Time { return now },
	}
}

// newUpstreamRequest builds a request to the stub for an object key (as
// decoded): the Signer escapes the path.
func newUpstreamRequest(t *testing.T, method, base, key string) *http.Request {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = key
	req, err := http.NewRequest(method, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Path = key // exactly, without url.Parse's interpretation of '%'
	req.URL.RawPath = ""
	return req
}

var payloadOf = map[PayloadMode]string{
	PayloadChunked:         streamingSigned,
	PayloadUnsignedTrailer: streamingUnsignedTrailer,
	PayloadUnsigned:        unsignedPayload,
}

// TestSignerRoundTrip sends Signer's output in every payload mode over HTTP
// to a server that verifies it with Verifier.
func TestSignerRoundTrip(t *testing.T) {
	now := time.Now().UTC()
	stub, srv := newStub(t, false, func() time.Time { return now })
	keys := []string{"/bucket/plain", "/bucket/a b/c+d/ü/x%y/a//b/./c/~!$&'()*,;=:@"}
	for _, mode := range []PayloadMode{PayloadChunked, PayloadUnsignedTrailer, PayloadUnsigned} {
		s := testSigner(mode, now)
		for _, size := range []int{0, 1, 8191, 65536, 65537, 200000} {
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(i * 7)
			}
			key := keys[size%2]
			req := newUpstreamRequest(t, "PUT", srv.URL, key)
			req.Header.Set("X-Amz-Meta-Mode", mode.String())
			req.Header.Set("Content-Encoding", "gzip")
			if err := s.SignStream(context.Background(), req, bytes.NewReader(data), int64(size)); err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatalf("%v size %d: %v", mode, size, err)
			}
			resp.Body.Close()
			rec := stub.next(t)
			if resp.StatusCode != 200 || rec.err != nil {
				t.Fatalf("%v size %d: status %d, %v", mode, size, resp.StatusCode, rec)
			}
			if rec.payload != payloadOf[mode] || !bytes.Equal(rec.body, data) || rec.contentLength != int64(size) {
				t.Fatalf("%v size %d: %v", mode, size, rec)
			}
			if mode == PayloadUnsignedTrailer && (rec.ckAlg != "CRC64NVME" || rec.ck != crcB64(checksumCRC64NVME, data)) {
				t.Fatalf("%v size %d: checksum %s %s", mode, size, rec.ckAlg, rec.ck)
			}
			if got, _ := stub.object(key); !bytes.Equal(got, data) {
				t.Fatalf("%v size %d: stored %d bytes under %q", mode, size, len(got), key)
			}
		}
	}

	// A checksum of each algorithm, in the trailer of a streamed body
	// (signed, or unsigned) and in the header of an in-memory one: the
	// verifier checks it against the body and reports it.
	for _, mode := range []PayloadMode{PayloadChunked, PayloadUnsignedTrailer} {
		s := testSigner(mode, now)
		for _, ck := range checksum.All {
			for _, size := range []int{0, 70000} {
				data := bytes.Repeat([]byte{byte(ck)}, size)
				for _, stream := range []bool{true, false} {
					req := newUpstreamRequest(t, "PUT", srv.URL, keys[0])
					var err error
					if stream {
						err = s.SignStreamChecksum(context.Background(), req, bytes.NewReader(data), int64(size), ck)
					} else {
						err = s.SignBodyChecksum(context.Background(), req, data, ck)
					}
					if err != nil {
						t.Fatal(err)
					}
					resp, err := srv.Client().Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					rec := stub.next(t)
					if resp.StatusCode != 200 || rec.err != nil || !bytes.Equal(rec.body, data) {
						t.Fatalf("%v %v size %d stream %v: status %d, %v", mode, ck, size, stream, resp.StatusCode, rec)
					}
					if want := checksum.Encode(ck.Sum(data)); rec.ckAlg != ck.String() || rec.ck != want {
						t.Fatalf("%v %v size %d stream %v: checksum %s %s, want %s", mode, ck, size, stream, rec.ckAlg, rec.ck, want)
					}
				}
			}
		}
	}

	// In-memory bodies: a DeleteObjects with its Content-MD5, and a GET.
	s := testSigner(PayloadChunked, now)
	xml := []byte(`<Delete><Object><Key>plain</Key></Object></Delete>`)
	req := newUpstreamRequest(t, "POST", srv.URL, "/bucket")
	req.URL.RawQuery = "delete="
	if err := s.Sign(context.Background(), req, xml); err != nil {
		t.Fatal(err)
	}
	if req.Header.Get("Content-Md5") != md5B64(xml) {
		t.Fatalf("Content-MD5 %q", req.Header.Get("Content-Md5"))
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if rec := stub.next(t); resp.StatusCode != 200 || !bytes.Equal(rec.body, xml) {
		t.Fatalf("DeleteObjects: %d %v", resp.StatusCode, rec)
	}
	req = newUpstreamRequest(t, "GET", srv.URL, keys[1])
	req.Header.Set("Range", "bytes=0-9")
	if err := s.Sign(context.Background(), req, nil); err != nil {
		t.Fatal(err)
	}
	resp, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if rec := stub.next(t); resp.StatusCode != 206 || len(got) != 10 || rec.err != nil {
		t.Fatalf("GET: %d %d bytes %v", resp.StatusCode, len(got), rec)
	}
}

// TestSignStreamBodyFailure: when the source body fails, is short or is
// long, the upstream request fails and the server never sees a verified
// body (no object would be stored).
func TestSignStreamBodyFailure(t *testing.T) {
	now := time.Now().UTC()
	stub, srv := newStub(t, false, func() time.Time { return now })
	data := bytes.Repeat([]byte("z"), 150000)
	for _, mode := range []PayloadMode{PayloadChunked, PayloadUnsignedTrailer, PayloadUnsigned} {
		for name, body := range map[string]io.Reader{
			"error": &errReader{data: data[:100000], err: errInjected},
			"short": bytes.NewReader(data[:100000]),
			"long":  bytes.NewReader(append(data, 'x')),
		} {
			t.Run(mode.String()+"/"+name, func(t *testing.T) {
				req := newUpstreamRequest(t, "PUT", srv.URL, "/bucket/failing")
				if err := testSigner(mode, now).SignStream(context.Background(), req, body, int64(len(data))); err != nil {
					t.Fatal(err)
				}
				resp, err := srv.Client().Do(req)
				if err == nil {
					resp.Body.Close()
					t.Fatalf("the request succeeded with status %d", resp.StatusCode)
				}
				if name == "error" && !errors.Is(err, errInjected) {
					t.Errorf("client error %v does not wrap the body's", err)
				}
				rec := stub.next(t)
				if rec.err == nil {
					t.Fatalf("the server accepted the body: %v", rec)
				}
				if _, ok := stub.object("/bucket/failing"); ok {
					t.Fatal("an object was stored")
				}
			})
		}
	}
}

// TestChunkedLengthExact compares the computed Content-Length with the
// encoder's actual output for sizes around chunk boundaries.
func TestChunkedLengthExact(t *testing.T) {
	for _, chunk := range []int{8192, 65536} {
		for _, size := range []int{0, 1, 15, 16, 255, 256, chunk - 1, chunk, chunk + 1, 3*chunk - 1, 3 * chunk, 1 << 20} {
			for _, signed := range []bool{false, true} {
				for _, ck := range append([]checksum.Algorithm{checksum.None}, checksum.All...) {
					if ck == checksum.None && !signed {
						continue // an unsigned body always has a trailer
					}
					var chain *chainSigner
					if signed {
						chain = newChainSigner(&fuzzKey, "20130524T000000Z", fuzzScope, &fuzzSeed)
					}
					out, err := io.ReadAll(newChunkEncoder(bytes.NewReader(make([]byte, size)), int64(size), chunk, chain, ck))
					if err != nil {
						t.Fatal(err)
					}
					if got := chunkedLength(int64(size), chunk, signed, ck); got != int64(len(out)) {
						t.Fatalf("chunk %d size %d signed %v %v: computed %d, encoded %d", chunk, size, signed, ck, got, len(out))
					}
				}
			}
		}
	}
}

func TestSignerConfigErrors(t *testing.T) {
	req := newUpstreamRequest(t, "PUT", "http://example.test", "/b/k")
	s := testSigner(PayloadChunked, testTime)
	if err := s.SignStream(context.Background(), req, strings.NewReader(""), -1); err == nil {
		t.Error("negative size accepted")
	}
	s.ChunkSize = 4096
	if err := s.SignStream(context.Background(), req, strings.NewReader(""), 0); err == nil {
		t.Error("a chunk size under 8 KiB accepted")
	}
	s = testSigner(PayloadMode(7), testTime)
	if err := s.SignStream(context.Background(), req, strings.NewReader(""), 0); err == nil {
		t.Error("unknown mode accepted")
	}
	if err := (&Signer{Region: testRegion}).Sign(context.Background(), req, nil); err == nil {
		t.Error("no credentials accepted")
	}
}

// TestSignStreamDropsClientDigests: SignStream sends a body its caller
// produced (the proxy's ciphertext), so whatever digest headers the request
// still carries from the client (of the plaintext) are deleted, under any
// key case, before it sets its own; the backend then accepts the upload.
func TestSignStreamDropsClientDigests(t *testing.T) {
	now := time.Now().UTC()
	stub, srv := newStub(t, false, func() time.Time { return now })
	plaintext := []byte("what the client sent")
	data := bytes.Repeat([]byte("ciphertext "), 2000)
	client := map[string]string{
		"Content-Md5":                  md5B64(plaintext),
		"X-Amz-Checksum-Crc32":         crcB64(checksumCRC32, plaintext),
		"x-amz-checksum-sha256":        crcB64(checksumSHA256, plaintext), // a key net/http would not make
		"X-Amz-Checksum-Type":          "FULL_OBJECT",
		"X-Amz-Trailer":                "x-amz-checksum-crc32",
		"X-Amz-Sdk-Checksum-Algorithm": "CRC32",
	}
	for _, tc := range []struct {
		mode PayloadMode
		want map[string]string // the digest headers SignStream sets itself
	}{
		{PayloadChunked, nil},
		{PayloadUnsigned, nil},
		{PayloadUnsignedTrailer, map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc64nvme", "X-Amz-Sdk-Checksum-Algorithm": "CRC64NVME"}},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			req := newUpstreamRequest(t, "PUT", srv.URL, "/bucket/digests")
			for k, v := range client {
				req.Header[k] = []string{v}
			}
			req.Header.Set("X-Amz-Meta-Kept", "yes")
			if err := testSigner(tc.mode, now).SignStream(context.Background(), req, bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatal(err)
			}
			for k := range req.Header {
				lk := strings.ToLower(k)
				if lk != "content-md5" && lk != "x-amz-trailer" && lk != "x-amz-sdk-checksum-algorithm" && !strings.HasPrefix(lk, "x-amz-checksum-") {
					continue
				}
				if want, ok := tc.want[k]; !ok || req.Header.Get(k) != want {
					t.Errorf("%s: %q sent, want %q", k, req.Header[k], want)
				}
			}
			if req.Header.Get("X-Amz-Meta-Kept") != "yes" {
				t.Error("an unrelated header was dropped")
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if rec := stub.next(t); resp.StatusCode != 200 || rec.err != nil || !bytes.Equal(rec.body, data) {
				t.Fatalf("status %d: %v", resp.StatusCode, rec)
			}
		})
	}
}

// TestChainSignerMatchesS3Example: the chain signer SignStream uses
// computes the chunk signatures of the S3 reference's chunked-upload
// example from its seed.
func TestChainSignerMatchesS3Example(t *testing.T) {
	var seed [32]byte
	if !parseSignature(chunkedSeed, &seed) {
		t.Fatal("bad seed")
	}
	s := testSigner(PayloadChunked, exampleTime)
	s.Region = exampleRegion
	c := s.chain(aws.Credentials{AccessKeyID: exampleAK, SecretAccessKey: exampleSK}, exampleTime, &seed)
	for _, step := range []struct {
		n   int
		sig string
	}{{65536, chunkedSig1}, {1024, chunkedSig2}, {0, chunkedSigEnd}} {
		sum := sha256.Sum256(bytes.Repeat([]byte("a"), step.n))
		if got := string(c.sign(chunkPayloadAlgorithm, &sum)); got != step.sig {
			t.Fatalf("chunk of %d bytes: %s, want %s", step.n, got, step.sig)
		}
	}
}

// TestSignStreamS3Example signs the S3 reference's chunked-upload example
// with SignStream: the same Authorization header (the seed) and, byte for
// byte, the same aws-chunked body.
func TestSignStreamS3Example(t *testing.T) {
	s := &Signer{
		Credentials: credentials.NewStaticCredentialsProvider(exampleAK, exampleSK, ""),
		Region:      exampleRegion, Mode: PayloadChunked, ChunkSize: 65536,
		Now: func() time.Time { return exampleTime },
	}
	req, err := http.NewRequest(http.MethodPut, "http://s3.amazonaws.com/examplebucket/chunkObject.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	if err := s.SignStream(context.Background(), req, bytes.NewReader(bytes.Repeat([]byte("a"), 66560)), 66560); err != nil {
		t.Fatal(err)
	}
	// The example's seed, in the SDK's spelling of the header.
	want := strings.ReplaceAll(exampleAuth("content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class", chunkedSeed), ",", ", ")
	if got := req.Header.Get("Authorization"); got != want {
		t.Fatalf("Authorization\n%s\nwant\n%s", got, want)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	if want := chunkedExampleBody([3]string{chunkedSig1, chunkedSig2, chunkedSigEnd}, ""); !bytes.Equal(body, want) || int64(len(body)) != req.ContentLength {
		t.Fatalf("body of %d bytes (Content-Length %d) differs from the example's %d", len(body), req.ContentLength, len(want))
	}
}

// TestSignStreamChunksMatchSDK: SignStream's signed aws-chunked bodies are
// byte for byte what the SDK's stream signer makes from the same seed, for
// sizes around the chunk size, chunk sizes, and a mapped identity.
func TestSignStreamChunksMatchSDK(t *testing.T) {
	mapped := aws.Credentials{AccessKeyID: "MAPPED", SecretAccessKey: "mapped/secret+key", SessionToken: "tok"}
	for _, chunk := range []int{8 << 10, 64 << 10, 100000} {
		for _, size := range []int{0, 1, chunk - 1, chunk, chunk + 1, 3*chunk + 17} {
			for _, ctx := range []context.Context{context.Background(), WithCredentials(context.Background(), mapped)} {
				creds := aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSK}
				if _, ok := identityOf(ctx); ok {
					creds = mapped
				}
				data := make([]byte, size)
				for i := range data {
					data[i] = byte(i*31 + chunk)
				}
				s := testSigner(PayloadChunked, testTime)
				s.ChunkSize = chunk
				req, err := http.NewRequest(http.MethodPut, "http://backend.test/bucket/k", nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.SignStream(ctx, req, bytes.NewReader(data), int64(size)); err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(req.Body)
				if err != nil {
					t.Fatal(err)
				}
				seed, err := seedSignature(req.Header.Get("Authorization"))
				if err != nil {
					t.Fatal(err)
				}
				want := sdkChunkedBody(creds, testRegion, seed[:], testTime, data, chunk)
				if !bytes.Equal(got, want) || int64(len(got)) != req.ContentLength {
					t.Fatalf("chunk %d, size %d, %s: body differs from the SDK's (%d, %d bytes, Content-Length %d)", chunk, size, creds.AccessKeyID, len(got), len(want), req.ContentLength)
				}
			}
		}
	}
}
