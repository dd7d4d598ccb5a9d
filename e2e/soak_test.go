package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// The soak test's flags. Without -soak it runs its short form (the one CI
// runs with every `go test ./e2e/`); -soak=10m runs the long form, by
// default with 64 clients and objects up to 16 MiB:
//
//	go test ./e2e/ -run Soak -soak=10m -timeout=30m
var (
	soakFor     = flag.Duration("soak", 0, "run the soak test this long, in its long form (default: the short form)")
	soakClients = flag.Int("soak-clients", 0, "soak: concurrent clients [16 short, 64 long]")
	soakMax     = flag.Int("soak-max", 0, "soak: largest object in bytes [6 MiB short, 16 MiB long]")
)

// soakConfig is what one soak run does.
type soakConfig struct {
	duration time.Duration
	clients  int
	max      int64
}

func soakSettings() soakConfig {
	c := soakConfig{duration: 20 * time.Second, clients: 16, max: 6 << 20}
	if *soakFor > 0 {
		c = soakConfig{duration: *soakFor, clients: 64, max: 16 << 20}
	}
	if *soakClients > 0 {
		c.clients = *soakClients
	}
	if *soakMax > 0 {
		c.max = int64(*soakMax)
	}
	return c
}

const (
	minObject = 1 << 10
	partSize  = 5 << 20 // multipart uploads: 5 MiB parts (a multiple of 64 KiB, so listings are exact)
	maxLive   = 12      // objects a client keeps at most
)

// TestSoak runs clients concurrently through one proxy for a while, each
// doing a random mix of PUT (single and multipart), GET (whole and
// ranged), LIST and DELETE on its own prefix of 1 KiB to max-byte
// objects, and checking every answer against what it stored: every byte
// read back, every listing exact, every delete gone. It requires zero
// errors and zero mismatches, and goroutines, heap and RSS flat (their
// samples are logged for the record).
func TestSoak(t *testing.T) {
	cfg := soakSettings()
	e := newEnv(t, envOptions{})
	b := e.newBucket()
	t.Logf("soak: %d clients for %v, objects of %d B to %d B", cfg.clients, cfg.duration, minObject, cfg.max)

	// Warm up (one object per client), then take the baselines.
	clients := make([]*soakClient, cfg.clients)
	for i := range clients {
		clients[i] = &soakClient{e: e, bucket: b, prefix: fmt.Sprintf("c%03d/", i), max: cfg.max, rng: rand.New(rand.NewPCG(uint64(i), 42)), live: map[string]genObj{}}
		if err := clients[i].put(ctxFor(t, time.Minute), minObject); err != nil {
			t.Fatal(err)
		}
	}
	baseG := settledGoroutines(e)
	baseHeap := heapInUse()
	baseRSS := rssKiB(t)

	var samples []string
	var sampleRSS []int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(sampled)
		tick := time.NewTicker(max(cfg.duration/10, time.Second))
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				r := rssKiB(t)
				sampleRSS = append(sampleRSS, r)
				samples = append(samples, fmt.Sprintf("t=%4.0fs goroutines=%4d rss=%6d KiB heap=%6d KiB", time.Since(start).Seconds(), runtime.NumGoroutine(), r, m.HeapAlloc>>10))
			}
		}
	}()

	deadline := time.Now().Add(cfg.duration)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { c.run(deadline) })
	}
	wg.Wait()
	close(stop)
	<-sampled
	elapsed := time.Since(start)

	var total soakCounts
	var failures []string
	for _, c := range clients {
		total.add(&c.n)
		failures = append(failures, c.failures...)
	}
	for _, s := range samples {
		t.Log(s)
	}
	t.Logf("soak: %d ops in %v (%.0f ops/s): %d PUT (%d multipart), %d GET (%d ranged), %d LIST, %d DELETE; %d MiB up, %d MiB down (%.1f MiB/s)",
		total.ops(), elapsed.Round(time.Second), float64(total.ops())/elapsed.Seconds(),
		total.put.Load(), total.multipart.Load(), total.get.Load(), total.ranged.Load(), total.list.Load(), total.del.Load(),
		total.up.Load()>>20, total.down.Load()>>20, float64(total.up.Load()+total.down.Load())/(1<<20)/elapsed.Seconds())
	t.Logf("soak: %d errors, %d mismatches", total.errors.Load(), total.mismatches.Load())
	if n := total.errors.Load() + total.mismatches.Load(); n > 0 {
		t.Errorf("soak: %d errors and %d mismatches; the first:\n%s", total.errors.Load(), total.mismatches.Load(), strings.Join(failures[:min(len(failures), 10)], "\n"))
	}
	if total.ops() < int64(cfg.clients) {
		t.Errorf("soak: only %d operations", total.ops())
	}

	// Flat: goroutines back to the baseline once connections are idle,
	// heap within 16 MiB of it (not counting the buffer that keeps the
	// proxy's log for the test), RSS in the second half of the run no
	// higher than in the first half plus 25% (a leak grows with time; a
	// working set does not).
	g := noGoroutineLeak(t, baseG, 2, e)
	heap := heapInUse()
	logBuf := uint64(e.log.Cap())
	rss := rssKiB(t)
	t.Logf("soak: goroutines %d -> %d, heap %d -> %d KiB (%d KiB of it the test's log buffer), RSS %d -> %d KiB (after the run)",
		baseG, g, baseHeap>>10, heap>>10, logBuf>>10, baseRSS, rss)
	if heap > baseHeap+logBuf+16<<20 {
		t.Errorf("heap grew from %d KiB to %d KiB, %d KiB of it the log buffer", baseHeap>>10, heap>>10, logBuf>>10)
	}
	if n := len(sampleRSS); n >= 4 {
		first, second := slicesMax(sampleRSS[:n/2]), slicesMax(sampleRSS[n/2:])
		t.Logf("soak: RSS peak %d KiB in the first half, %d KiB in the second", first, second)
		if second > first+first/4 {
			t.Errorf("RSS grew from %d KiB to %d KiB over the run", first, second)
		}
	}

	// Everything the clients left behind is stored encrypted, and a
	// final listing agrees with every client.
	ctx := ctxFor(t, 5*time.Minute)
	for _, c := range clients {
		c.check(ctx)
	}
	e.noPlaintextObjects(b)
}

func slicesMax(s []int64) int64 {
	m := s[0]
	for _, v := range s[1:] {
		m = max(m, v)
	}
	return m
}

// soakCounts counts a client's operations and failures.
type soakCounts struct {
	put, multipart, get, ranged, list, del atomic.Int64
	up, down                               atomic.Int64
	errors, mismatches                     atomic.Int64
}

func (s *soakCounts) ops() int64 { return s.put.Load() + s.get.Load() + s.list.Load() + s.del.Load() }

func (s *soakCounts) add(o *soakCounts) {
	for _, p := range [][2]*atomic.Int64{{&s.put, &o.put}, {&s.multipart, &o.multipart}, {&s.get, &o.get}, {&s.ranged, &o.ranged},
		{&s.list, &o.list}, {&s.del, &o.del}, {&s.up, &o.up}, {&s.down, &o.down}, {&s.errors, &o.errors}, {&s.mismatches, &o.mismatches}} {
		p[0].Add(p[1].Load())
	}
}

// soakClient is one client of the soak: it owns the keys under prefix
// and knows what each should hold.
type soakClient struct {
	e        *env
	bucket   string
	prefix   string
	max      int64
	rng      *rand.Rand
	live     map[string]genObj
	seq      int
	n        soakCounts
	failures []string
}

func (c *soakClient) fail(mismatch bool, format string, args ...any) {
	if mismatch {
		c.n.mismatches.Add(1)
	} else {
		c.n.errors.Add(1)
	}
	if len(c.failures) < 10 {
		c.failures = append(c.failures, c.prefix+": "+fmt.Sprintf(format, args...))
	}
}

// run does random operations until deadline. Each has 2 minutes: a
// request still running then is hung, and counts as an error.
func (c *soakClient) run(deadline time.Time) {
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		var err error
		switch p := c.rng.IntN(100); {
		case len(c.live) == 0 || (p < 35 && len(c.live) < maxLive):
			err = c.put(ctx, c.size())
		case p < 60:
			err = c.get(ctx, false)
		case p < 75:
			err = c.get(ctx, true)
		case p < 85:
			err = c.list(ctx)
		default:
			err = c.delete(ctx)
		}
		cancel()
		if err != nil {
			c.fail(false, "%v", err)
		}
	}
}

// size draws an object size: mostly log-uniform from 1 KiB to 5 MiB (or
// max), sometimes (10%) uniform above 5 MiB up to max.
func (c *soakClient) size() int64 {
	if c.max > partSize && c.rng.IntN(10) == 0 {
		return partSize + 1 + c.rng.Int64N(c.max-partSize)
	}
	hi := float64(min(c.max, partSize))
	lo := float64(minObject)
	return int64(lo * math.Pow(hi/lo, c.rng.Float64()))
}

// put writes a new object of n bytes (multipart for half of those over
// 5 MiB), replacing a random live one half of the time.
func (c *soakClient) put(ctx context.Context, n int64) error {
	key := c.newKey()
	if len(c.live) > 0 && c.rng.IntN(2) == 0 {
		key = c.randomKey() // overwrite
	}
	c.seq++
	obj := genObj{seed: c.rng.Uint64(), size: n}
	c.n.put.Add(1)
	if n > partSize && c.rng.IntN(2) == 0 {
		c.n.multipart.Add(1)
		if err := c.putMultipart(ctx, key, obj); err != nil {
			return fmt.Errorf("multipart PUT %s (%d B): %w", key, n, err)
		}
	} else if _, err := c.e.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &c.bucket, Key: &key, Body: io.NewSectionReader(obj, 0, n)}); err != nil {
		return fmt.Errorf("PUT %s (%d B): %w", key, n, err)
	}
	c.n.up.Add(n)
	c.live[key] = obj
	return nil
}

func (c *soakClient) putMultipart(ctx context.Context, key string, obj genObj) error {
	cr, err := c.e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &c.bucket, Key: &key})
	if err != nil {
		return err
	}
	var parts []types.CompletedPart
	for i, off := int32(1), int64(0); off < obj.size; i, off = i+1, off+partSize {
		n := min(partSize, obj.size-off)
		up, err := c.e.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &c.bucket, Key: &key, UploadId: cr.UploadId, PartNumber: aws.Int32(i), Body: io.NewSectionReader(obj, off, n)})
		if err != nil {
			_, _ = c.e.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &c.bucket, Key: &key, UploadId: cr.UploadId})
			return fmt.Errorf("part %d: %w", i, err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(i), ETag: up.ETag, ChecksumCRC32: up.ChecksumCRC32})
	}
	_, err = c.e.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &c.bucket, Key: &key, UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	return err
}

// get reads a live object, whole or a random range, and compares every
// byte.
func (c *soakClient) get(ctx context.Context, ranged bool) error {
	key := c.randomKey()
	obj := c.live[key]
	in := &s3.GetObjectInput{Bucket: &c.bucket, Key: &key}
	off, n := int64(0), obj.size
	if ranged {
		off = c.rng.Int64N(obj.size)
		n = 1 + c.rng.Int64N(min(obj.size-off, 2<<20))
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))
		c.n.ranged.Add(1)
	}
	c.n.get.Add(1)
	out, err := c.e.client.GetObject(ctx, in)
	if err != nil {
		return fmt.Errorf("GET %s %v: %w", key, aws.ToString(in.Range), err)
	}
	defer out.Body.Close()
	if aws.ToInt64(out.ContentLength) != n {
		c.fail(true, "GET %s %v: Content-Length %d, want %d", key, aws.ToString(in.Range), aws.ToInt64(out.ContentLength), n)
	}
	got, bad, err := compareStream(out.Body, io.NewSectionReader(obj, off, n))
	c.n.down.Add(got)
	if err != nil {
		return fmt.Errorf("GET %s %v: body after %d bytes: %w", key, aws.ToString(in.Range), got, err)
	}
	if bad >= 0 || got != n {
		c.fail(true, "GET %s %v: %d bytes read, want %d, first difference at %d", key, aws.ToString(in.Range), got, n, bad)
	}
	return nil
}

// compareStream reads r to its end and compares it with want; it returns
// the bytes read and the offset of the first difference (-1 if none).
func compareStream(r io.Reader, want io.Reader) (int64, int64, error) {
	var got int64
	bad := int64(-1)
	a, w := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		n, err := io.ReadFull(r, a)
		if n > 0 {
			m, _ := io.ReadFull(want, w[:n])
			if bad < 0 && (m != n || !bytes.Equal(a[:n], w[:n])) {
				i := 0
				for i < m && a[i] == w[i] {
					i++
				}
				bad = got + int64(i)
			}
			got += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			if extra, _ := io.ReadFull(want, w[:1]); extra > 0 && bad < 0 {
				bad = got
			}
			return got, bad, nil
		}
		if err != nil {
			return got, bad, err
		}
	}
}

// list lists the client's prefix: exactly its live keys, with their
// plaintext sizes.
func (c *soakClient) list(ctx context.Context) error {
	c.n.list.Add(1)
	got := map[string]int64{}
	p := s3.NewListObjectsV2Paginator(c.e.client, &s3.ListObjectsV2Input{Bucket: &c.bucket, Prefix: &c.prefix, MaxKeys: aws.Int32(5)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("LIST %s: %w", c.prefix, err)
		}
		for _, o := range page.Contents {
			got[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
		}
	}
	if len(got) != len(c.live) {
		c.fail(true, "LIST: %d keys, want %d", len(got), len(c.live))
	}
	for k, o := range c.live {
		if s, ok := got[k]; !ok || s != o.size {
			c.fail(true, "LIST: %s size %d (listed %v), want %d", k, s, ok, o.size)
		}
	}
	return nil
}

// delete removes a live object and checks it is gone.
func (c *soakClient) delete(ctx context.Context) error {
	key := c.randomKey()
	c.n.del.Add(1)
	if _, err := c.e.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &c.bucket, Key: &key}); err != nil {
		return fmt.Errorf("DELETE %s: %w", key, err)
	}
	delete(c.live, key)
	_, err := c.e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &c.bucket, Key: &key})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "NotFound" {
		c.fail(true, "HEAD %s after DELETE: %v, want NotFound", key, err)
	}
	return nil
}

// check is the final audit of a client: a listing and a read of each
// live object.
func (c *soakClient) check(ctx context.Context) {
	if err := c.list(ctx); err != nil {
		c.e.t.Error(err)
	}
	for k := range c.live {
		out, err := c.e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &c.bucket, Key: aws.String(k)})
		if err != nil {
			c.e.t.Errorf("final GET %s: %v", k, err)
			continue
		}
		_, bad, err := compareStream(out.Body, io.NewSectionReader(c.live[k], 0, c.live[k].size))
		out.Body.Close()
		if err != nil || bad >= 0 {
			c.e.t.Errorf("final GET %s: err %v, first difference at %d", k, err, bad)
		}
	}
	for _, f := range c.failures {
		c.e.t.Log(f)
	}
}

func (c *soakClient) newKey() string {
	return fmt.Sprintf("%sobj-%05d", c.prefix, c.seq)
}

func (c *soakClient) randomKey() string {
	keys := make([]string, 0, len(c.live))
	for k := range c.live {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys[c.rng.IntN(len(keys))]
}

// noPlaintextObjects checks, at the backend, that every object in b
// carries the envelope.
func (e *env) noPlaintextObjects(b string) {
	e.t.Helper()
	ctx := ctxFor(e.t, 5*time.Minute)
	p := s3.NewListObjectsV2Paginator(e.backend, &s3.ListObjectsV2Input{Bucket: &b})
	n := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, o := range page.Contents {
			h, err := e.backend.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: o.Key})
			if err != nil {
				e.t.Fatal(err)
			}
			if testenv.EnvelopeFields(h.Metadata)["bk-v"] != "1" {
				e.t.Errorf("%s/%s is stored without the envelope", b, aws.ToString(o.Key))
			}
			n++
		}
	}
	e.t.Logf("soak: %d objects left, all encrypted at the backend", n)
}

// genObj is a deterministic pseudo-random object: its bytes are a pure
// function of (seed, offset), generated on demand in 4 KiB blocks, so any
// number of large objects can be written and checked without holding
// them in memory.
type genObj struct {
	seed uint64
	size int64
}

const genBlock = 4 << 10

// ReadAt implements io.ReaderAt.
func (g genObj) ReadAt(p []byte, off int64) (int, error) {
	if off >= g.size {
		return 0, io.EOF
	}
	n := 0
	var blk [genBlock]byte
	for len(p) > 0 && off < g.size {
		i := off / genBlock
		var seed [32]byte
		binary.LittleEndian.PutUint64(seed[0:], g.seed)
		binary.LittleEndian.PutUint64(seed[8:], uint64(i))
		_, _ = rand.NewChaCha8(seed).Read(blk[:])
		m := copy(p, blk[off-i*genBlock:min(genBlock, g.size-i*genBlock)])
		p, off, n = p[m:], off+int64(m), n+m
	}
	if len(p) > 0 {
		return n, io.EOF
	}
	return n, nil
}
