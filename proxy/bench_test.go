package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/envelope"
)

// patternReader is a seekable stream of size bytes repeating a random
// pattern whose period is not a multiple of anything the format uses, so
// large objects need no memory to produce or to check.
type patternReader struct {
	pattern []byte
	size    int64
	off     int64
}

func newPattern(size int64) *patternReader {
	return &patternReader{pattern: randBytes(1<<20 + 7), size: size}
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(b) && p.off < p.size {
		i := p.off % int64(len(p.pattern))
		m := copy(b[n:], p.pattern[i:])
		if rest := p.size - p.off; int64(m) > rest {
			m = int(rest)
		}
		n += m
		p.off += int64(m)
	}
	return n, nil
}

func (p *patternReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += p.off
	case io.SeekEnd:
		off += p.size
	}
	if off < 0 {
		return 0, errors.New("negative seek")
	}
	p.off = off
	return off, nil
}

// check compares r with the pattern from the start.
func (p *patternReader) check(r io.Reader) (int64, error) {
	want := &patternReader{pattern: p.pattern, size: p.size}
	a, b := make([]byte, 256<<10), make([]byte, 256<<10)
	var total int64
	for {
		n, err := io.ReadFull(r, a)
		if n > 0 {
			if _, werr := io.ReadFull(want, b[:n]); werr != nil || !bytes.Equal(a[:n], b[:n]) {
				return total, fmt.Errorf("mismatch near byte %d", total)
			}
			total += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// vmHWM returns the process's peak resident set size in bytes.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return -1
}

// benchRoundTrip PUTs and GETs size bytes through c per iteration.
func benchRoundTrip(b *testing.B, c *s3.Client, bucket string, size int64) {
	ctx := context.Background()
	src := newPattern(size)
	b.SetBytes(2 * size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			b.Fatal(err)
		}
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("bench"), Body: src, ContentLength: aws.Int64(size)}); err != nil {
			b.Fatal(err)
		}
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("bench")})
		if err != nil {
			b.Fatal(err)
		}
		n, err := src.check(out.Body)
		out.Body.Close()
		if err != nil || n != size {
			b.Fatalf("read back %d of %d bytes: %v", n, size, err)
		}
	}
}

// BenchmarkProxyPutGet is plaintext PUT+GET through the proxy (SDK
// defaults, CRC32 request checksums) next to the same traffic straight to
// the backend, for the proxy's throughput cost:
//
//	go test -run XXX -bench 'PutGet' -benchtime 5x ./proxy/
func BenchmarkProxyPutGet(b *testing.B) {
	tp := newTestProxy(b)
	bucket := tp.newBucket(b)
	for _, size := range []int64{1 << 20, 64 << 20} {
		b.Run(fmt.Sprintf("proxy/%dMiB", size>>20), func(b *testing.B) { benchRoundTrip(b, tp.client, bucket, size) })
		b.Run(fmt.Sprintf("direct/%dMiB", size>>20), func(b *testing.B) { benchRoundTrip(b, backend(), bucket, size) })
	}
}

// BenchmarkPeakRSS streams one object of BUCKETKEY_RSS_BYTES (default
// 2 GiB) up and down through the proxy and reports the test process's
// peak RSS (proxy, client and all) after a 64 MiB warm-up and after the
// big object: flat memory means the two agree.
//
//	go test -run XXX -bench PeakRSS -benchtime 1x -timeout 30m ./proxy/
func BenchmarkPeakRSS(b *testing.B) {
	size := int64(2 << 30)
	if v := os.Getenv("BUCKETKEY_RSS_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	tp := newTestProxy(b)
	bucket := tp.newBucket(b)
	c := newS3Client(tp.srv.URL, clientAccessKey, clientSecretKey)
	var warm int64
	b.Run("warmup-64MiB", func(b *testing.B) {
		benchRoundTrip(b, c, bucket, 64<<20)
		warm = vmHWM()
	})
	b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
		benchRoundTrip(b, c, bucket, size)
		b.ReportMetric(float64(warm)/(1<<20), "peakRSS-after-64MiB-MiB")
		b.ReportMetric(float64(vmHWM())/(1<<20), "peakRSS-MiB")
	})
}

// BenchmarkHeadSeal: what opening the seal adds to a HEAD (issue 12, item
// 5). direct-HEAD and proxy-HEAD are HEADs of a 4 KiB object straight to
// the backend and through the proxy (which opens the seal); open-seal is
// the seal alone, with the bucket key in the unwrap cache, as every HEAD
// after the first finds it. Compare open-seal with proxy-HEAD in the same
// run:
//
//	go test -run '^$' -bench BenchmarkHeadSeal -benchtime 2000x ./proxy
func BenchmarkHeadSeal(b *testing.B) {
	tp := newTestProxy(b)
	ctx := context.Background()
	bucket := tp.newBucket(b)
	tp.put(b, bucket, "k", randBytes(4<<10))
	_, out := stored(b, bucket, "k")
	md, err := envelope.ParseMetadata(metaHeader(out.Metadata))
	if err != nil {
		b.Fatal(err)
	}
	head := func(c *s3.Client) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("k")}); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("direct-HEAD", head(backend()))
	b.Run("proxy-HEAD", head(tp.client))
	b.Run("open-seal", func(b *testing.B) {
		rq := tp.internalRequest(bucket, "k")
		b.ReportAllocs()
		for b.Loop() {
			dk, err := tp.openDataKey(ctx, rq, md, bucket, "k", true)
			if err != nil {
				b.Fatal(err)
			}
			dk.Wipe()
		}
	})
}
