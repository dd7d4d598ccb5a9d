package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const benchSize = 8 << 20

func benchData() []byte {
	b := make([]byte, benchSize)
	for i := range b {
		b[i] = byte(i * 13)
	}
	return b
}

// BenchmarkSHA256Baseline is the floor for BenchmarkChunkedDecode/signed and
// BenchmarkUpstreamPayload/signed:
// reading the same number of bytes through the same 32 KiB buffer and
// hashing them once.
func BenchmarkSHA256Baseline(b *testing.B) {
	data := benchData()
	buf := make([]byte, 32<<10)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		h := sha256.New()
		if n, err := drain(hashingReader{bytes.NewReader(data), h}, buf); err != nil || n != benchSize {
			b.Fatal(n, err)
		}
		h.Sum(nil)
	}
	reportCPUPerGiB(b, start)
}

// hashingReader hashes what it reads.
type hashingReader struct {
	r io.Reader
	h io.Writer
}

func (h hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

// drain reads r to its end through buf, as a consumer of the body would
// (io.Copy to io.Discard would substitute its own 8 KiB buffer).
func drain(r io.Reader, buf []byte) (int64, error) {
	var total int64
	for {
		n, err := r.Read(buf)
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// BenchmarkChunkedDecode measures removing aws-chunked framing (64 KiB
// chunks) while verifying it: for "signed", SHA-256 of every chunk and the
// chained HMACs.
func BenchmarkChunkedDecode(b *testing.B) {
	data := benchData()
	signed := signedChunkedBody(data, DefaultChunkSize)
	unsigned, err := io.ReadAll(newChunkEncoder(bytes.NewReader(data), benchSize, DefaultChunkSize, nil, checksumCRC32C))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 32<<10)
	b.Run("signed", func(b *testing.B) {
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			chain := newChainSigner(&fuzzKey, "20130524T000000Z", fuzzScope, &fuzzSeed)
			d := newChunkDecoder(bytes.NewReader(signed), benchSize, chain, false, checksumNone)
			if n, err := drain(d, buf); err != nil || n != benchSize {
				b.Fatal(n, err)
			}
		}
	})
	// What a request body costs as Authenticated.Body: the same decoder
	// behind the bodyReader and its holdBack.
	b.Run("signed-body", func(b *testing.B) {
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			chain := newChainSigner(&fuzzKey, "20130524T000000Z", fuzzScope, &fuzzSeed)
			d := newChunkDecoder(bytes.NewReader(signed), benchSize, chain, false, checksumNone)
			vb := &verifiedBody{br: bodyReader{src: d, dec: d, want: -1}}
			vb.hold.src = &vb.br
			if n, err := drain(vb, buf); err != nil || n != benchSize {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("unsigned-trailer-crc32c", func(b *testing.B) {
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			d := newChunkDecoder(bytes.NewReader(unsigned), benchSize, nil, true, checksumCRC32C)
			br := &bodyReader{src: d, dec: d, want: -1, ck: checksumCRC32C.New(), ckAlg: checksumCRC32C}
			if n, err := drain(br, buf); err != nil || n != benchSize {
				b.Fatal(n, err)
			}
		}
	})
}

// BenchmarkVerifyHeaderAuth verifies a typical SDK GET (header auth,
// signing key cached), without a body.
func BenchmarkVerifyHeaderAuth(b *testing.B) {
	r := sdkSign(b, signSpec{method: "GET", target: "/bucket/some/object/key.txt?versionId=3HL4kqtJlcpXroDTDmjVBH40Nrjfkd&partNumber=1", headers: map[string]string{
		"Range":                 "bytes=0-1023",
		"User-Agent":            "aws-sdk-go-v2/1.30.0 os/linux lang/go#1.26 md/GOOS#linux md/GOARCH#amd64 api/s3#1.58.0",
		"Amz-Sdk-Invocation-Id": "5f5ba6c4-8f8b-4f40-9f5e-5a6e2d2c6f55",
		"Amz-Sdk-Request":       "attempt=1; max=3",
		"Accept-Encoding":       "identity",
	}})
	v := testVerifier(testTime)
	if _, err := v.Verify(r, VerifyOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r, VerifyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpstreamPayload is what SignStream's request body costs per
// upstream payload mode, read to its end as the transport would: for
// "signed", SHA-256 of every 64 KiB chunk and its chained signature; for
// "unsigned-trailer", aws-chunked framing and a CRC32C; for "unsigned",
// the passing through. cpu-s/GiB is the process's user+system CPU time
// (getrusage) per GiB of body: compare the modes with each other and with
// BenchmarkSHA256Baseline's ns/op in the same run.
//
//	go test -run '^$' -bench BenchmarkUpstreamPayload -benchmem ./sigv4
func BenchmarkUpstreamPayload(b *testing.B) {
	data := benchData()
	buf := make([]byte, 32<<10)
	for _, mode := range []PayloadMode{PayloadChunked, PayloadUnsignedTrailer, PayloadUnsigned} {
		b.Run(mode.String(), func(b *testing.B) {
			s := testSigner(mode, testTime)
			b.SetBytes(benchSize)
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				req, err := http.NewRequest(http.MethodPut, "http://backend.test/bucket/key", nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.SignStream(context.Background(), req, bytes.NewReader(data), benchSize); err != nil {
					b.Fatal(err)
				}
				if n, err := drain(req.Body, buf); err != nil || n != req.ContentLength {
					b.Fatal(n, err)
				}
			}
			reportCPUPerGiB(b, start)
		})
	}
}

// reportCPUPerGiB reports the process's CPU seconds since start per GiB
// of b.N iterations of benchSize bytes.
func reportCPUPerGiB(b *testing.B, start time.Duration) {
	b.ReportMetric((cpuTime()-start).Seconds()/(float64(b.N)*benchSize/(1<<30)), "cpu-s/GiB")
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSignHeaders signs a typical upstream PutObject (envelope
// metadata, a hex payload hash) with Signer's own header signer and with
// the SDK's, which it replaced.
func BenchmarkSignHeaders(b *testing.B) {
	creds := aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSK}
	newReq := func() *http.Request {
		r, err := http.NewRequest(http.MethodPut, "http://backend.test:7070/bucket/some/object/key.txt?x-id=PutObject", nil)
		if err != nil {
			b.Fatal(err)
		}
		r.URL.RawPath = EscapePath(r.URL.Path)
		r.ContentLength = 4112
		for k, v := range map[string]string{
			"Content-Type": "application/octet-stream", "X-Amz-Content-Sha256": emptySHA256Hex,
			"X-Amz-Meta-Bk-V": "1", "X-Amz-Meta-Bk-Kid": "alias/bucketkey", "X-Amz-Meta-Bk-Salt": "AQIDBAUGBwgJCgsMDQ4PEA",
			"X-Amz-Meta-Bk-Key":  "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8w",
			"X-Amz-Meta-Bk-Size": "4096", "X-Amz-Meta-Bk-Ck": "CRC32 FULL_OBJECT AAAAAA==",
		} {
			r.Header.Set(k, v)
		}
		return r
	}
	b.Run("own", func(b *testing.B) {
		s := &Signer{}
		b.ReportAllocs()
		for b.Loop() {
			s.signHeaders(newReq(), creds, emptySHA256Hex, testRegion, serviceS3, testTime)
		}
	})
	b.Run("sdk", func(b *testing.B) {
		signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
		b.ReportAllocs()
		for b.Loop() {
			if err := signer.SignHTTP(context.Background(), creds, newReq(), emptySHA256Hex, serviceS3, testRegion, testTime); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("request-only", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			newReq()
		}
	})
}

// BenchmarkVerifiedBodySHA256 reads a body sent with a hex
// x-amz-content-sha256 and an x-amz-checksum-crc32 header (as
// aws-sdk-go-v2 sends a PutObject over http) through Authenticated.Body:
// one SHA-256 pass and a CRC32; compare with BenchmarkSHA256Baseline.
func BenchmarkVerifiedBodySHA256(b *testing.B) {
	data := benchData()
	r := sdkSign(b, signSpec{body: data, headers: map[string]string{"X-Amz-Checksum-Crc32": crcB64(checksumCRC32, data)}})
	v := testVerifier(testTime)
	buf := make([]byte, 32<<10)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		r.Body = io.NopCloser(bytes.NewReader(data))
		a, err := v.Verify(r, VerifyOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if n, err := drain(a.Body, buf); err != nil || n != benchSize {
			b.Fatal(n, err)
		}
	}
	reportCPUPerGiB(b, start)
}
