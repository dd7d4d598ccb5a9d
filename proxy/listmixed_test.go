package proxy

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/keycache"
	"github.com/bucketkey/bucketkey/keycache/localkey"
	"github.com/bucketkey/bucketkey/sigv4"
)

// upstreamRecorder is the proxy's transport to the real backend, counting
// requests by method; onHead, if set, runs before each HEAD is sent and
// may fail it (a fault the backend itself cannot be made to produce on
// cue).
type upstreamRecorder struct {
	rt     http.RoundTripper
	mu     sync.Mutex
	counts map[string]int
	heads  []string // key?query of the HEADs, in order sent
	onHead func(key string) error
}

func (u *upstreamRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	key := r.URL.Path
	if i := strings.IndexByte(strings.TrimPrefix(key, "/"), '/'); i >= 0 {
		key = strings.TrimPrefix(key, "/")[i+1:]
	}
	u.mu.Lock()
	if u.counts == nil {
		u.counts = map[string]int{}
	}
	u.counts[r.Method]++
	if r.Method == http.MethodHead {
		u.heads = append(u.heads, key+"?"+r.URL.RawQuery)
	}
	hook := u.onHead
	u.mu.Unlock()
	if r.Method == http.MethodHead && hook != nil {
		if err := hook(key); err != nil {
			return nil, err
		}
	}
	return u.rt.RoundTrip(r)
}

// snapshot returns the counts so far and the HEADs' keys.
func (u *upstreamRecorder) snapshot() (map[string]int, []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	c := make(map[string]int, len(u.counts))
	for k, v := range u.counts {
		c[k] = v
	}
	return c, append([]string(nil), u.heads...)
}

// since returns how many requests of each method were sent after before.
func (u *upstreamRecorder) since(before map[string]int) map[string]int {
	now, _ := u.snapshot()
	d := map[string]int{}
	for k, v := range now {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

// entry is what a listing or a HEAD says about an object.
type entry struct {
	size int64
	etag string
}

// putLegacy writes an object straight to the backend, as before the proxy.
func putLegacy(t *testing.T, bucket, key string, data []byte) {
	t.Helper()
	if _, err := backend().PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
		t.Fatalf("backend PutObject %s: %v", key, err)
	}
}

// putLegacyMultipart uploads a multipart object straight to the backend.
func putLegacyMultipart(t *testing.T, bucket, key string, sizes []int) {
	t.Helper()
	ctx, c := context.Background(), backend()
	cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i, n := range sizes {
		up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(randBytes(n))})
		if err != nil {
			t.Fatalf("backend UploadPart %d: %v", i+1, err)
		}
		parts = append(parts, types.CompletedPart{ETag: up.ETag, PartNumber: aws.Int32(int32(i + 1))})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatalf("backend CompleteMultipartUpload: %v", err)
	}
}

// heads returns what HEAD through tp reports for each key.
func (tp *testProxy) heads(t *testing.T, bucket string, keys []string) map[string]entry {
	t.Helper()
	m := map[string]entry{}
	for _, k := range keys {
		h, err := tp.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(k)})
		if err != nil {
			t.Fatalf("HEAD %s: %v", k, err)
		}
		m[k] = entry{aws.ToInt64(h.ContentLength), aws.ToString(h.ETag)}
	}
	return m
}

// listingRun is what the listing APIs said about a whole bucket.
type listingRun struct {
	entries  map[string]map[string]entry // by API, by key
	listed   map[string][]string         // by API, the keys of every entry of every page
	requests int                         // listing requests sent
}

// shapedListed counts the entries api listed whose key is not in skip.
func (l *listingRun) shapedListed(api string, skip ...string) int {
	n := 0
	for _, k := range l.listed[api] {
		if !slices.Contains(skip, k) {
			n++
		}
	}
	return n
}

// listings lists the whole bucket through tp with ListObjectsV2 paginated
// by two keys, ListObjects v1, and ListObjectVersions paginated by three.
// (versitygw's version pages repeat the last entry of the page before.)
func (tp *testProxy) listings(t *testing.T, bucket string) *listingRun {
	t.Helper()
	ctx := context.Background()
	run := &listingRun{entries: map[string]map[string]entry{}, listed: map[string][]string{}}
	add := func(api, key string, size *int64, etag *string) {
		if run.entries[api] == nil {
			run.entries[api] = map[string]entry{}
		}
		run.entries[api][key] = entry{aws.ToInt64(size), aws.ToString(etag)}
		run.listed[api] = append(run.listed[api], key)
	}
	pages := s3.NewListObjectsV2Paginator(tp.client, &s3.ListObjectsV2Input{Bucket: &bucket, MaxKeys: aws.Int32(2)})
	n := 0
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n++
		for _, o := range page.Contents {
			add("ListObjectsV2", aws.ToString(o.Key), o.Size, o.ETag)
		}
	}
	if n < 2 {
		t.Fatalf("ListObjectsV2 took %d pages: not paginated", n)
	}
	run.requests += n

	l1, err := tp.client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	run.requests++
	for _, o := range l1.Contents {
		add("ListObjects", aws.ToString(o.Key), o.Size, o.ETag)
	}

	in := &s3.ListObjectVersionsInput{Bucket: &bucket, MaxKeys: aws.Int32(3)}
	for {
		l, err := tp.client.ListObjectVersions(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		run.requests++
		for _, o := range l.Versions {
			if aws.ToString(o.VersionId) == "" {
				t.Errorf("ListObjectVersions: %s without a version id", aws.ToString(o.Key))
			}
			add("ListObjectVersions", aws.ToString(o.Key), o.Size, o.ETag)
		}
		if !aws.ToBool(l.IsTruncated) {
			break
		}
		in.KeyMarker, in.VersionIdMarker = l.NextKeyMarker, l.NextVersionIdMarker
	}
	return run
}

// TestMixedBucketListing: in a bucket declared mixed, objects written
// straight to the backend with sizes a ciphertext could have are listed
// by every listing API with the size and ETag HEAD reports, like the
// encrypted objects next to them, at one backend HEAD per such entry and
// none for the others; CommonPrefixes pass unchanged, with no HEAD.
// The same bucket through a proxy that does not declare it gets today's
// approximation, with no request but the listing itself.
func TestMixedBucketListing(t *testing.T) {
	ctx := context.Background()
	plainUp := &upstreamRecorder{rt: http.DefaultTransport}
	plain := newTestProxy(t, func(c *Config) { c.UpstreamTransport = plainUp })
	b := plain.newBucket(t)
	mixedUp := &upstreamRecorder{rt: http.DefaultTransport}
	mixed := newTestProxy(t, func(c *Config) { c.UpstreamTransport = mixedUp; c.MixedBuckets = []string{"some-other-bucket", b} })

	// Pre-proxy objects whose sizes are ciphertext sizes, one of them
	// multipart (2 parts of 5 MiB + 1444 bytes: 64 bytes of part overhead
	// off, 80 full segments and 100 bytes), and one whose key needs
	// escaping in the HEAD's path.
	legacy := map[string]int{"legacy-17": 17, "legacy-1000": 1000, "legacy-65569": 65536 + 2*int(new(envelope.DataKey).StoredSize(0, 0)) + 1, "dir/legacy": 17, "legacy key+&%.txt": 1000}
	for k, n := range legacy {
		if _, err := envelope.PlaintextSize(int64(n), 0); err != nil {
			t.Fatalf("test size %d is no ciphertext size", n)
		}
		putLegacy(t, b, k, randBytes(n))
	}
	putLegacyMultipart(t, b, "legacy-mp", []int{5 << 20, 1444})
	if _, err := envelope.PlaintextSize(5<<20+1444, 2); err != nil {
		t.Fatal("legacy-mp has no ciphertext size")
	}
	// And one no ciphertext can have, which needs no HEAD.
	putLegacy(t, b, "legacy-odd", randBytes(65560))
	if _, err := envelope.PlaintextSize(65560, 0); err == nil {
		t.Fatal("65560 is a ciphertext size")
	}
	for _, n := range []int{0, 5, 70000} {
		mixed.put(t, b, "enc-"+strconv.Itoa(n), randBytes(n))
	}
	mixed.uploadParts(t, b, "enc-mp", []int{5 << 20, 12345})
	keys := []string{"enc-0", "enc-5", "enc-70000", "enc-mp", "legacy-mp", "legacy-odd"}
	for k := range legacy {
		keys = append(keys, k)
	}
	shaped := len(keys) - 2 // all but legacy-odd and enc-0 (stored empty)

	want := mixed.heads(t, b, keys)
	for k, n := range legacy {
		if want[k].size != int64(n) {
			t.Fatalf("HEAD %s: %d bytes, want %d", k, want[k].size, n)
		}
	}
	// The proxy that does not know the bucket is mixed agrees on the
	// encrypted objects and refuses the others.
	for _, k := range keys {
		if !strings.HasPrefix(k, "enc-") {
			_, err := plain.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String(k)})
			wantCode(t, "HEAD "+k+" outside a mixed bucket", err, "Forbidden")
			continue
		}
		if e := plain.heads(t, b, []string{k})[k]; e != want[k] {
			t.Fatalf("HEAD %s: %+v through one proxy, %+v through the other", k, e, want[k])
		}
	}

	before, _ := mixedUp.snapshot()
	run := mixed.listings(t, b)
	if len(run.entries) != 3 {
		t.Fatalf("mixed listings: %d APIs listed entries, want 3", len(run.entries))
	}
	for api, got := range run.entries {
		for _, k := range keys {
			if got[k] != want[k] {
				t.Errorf("mixed %s: %s listed %+v, HEAD says %+v", api, k, got[k], want[k])
			}
		}
		if len(got) != len(keys) {
			t.Errorf("mixed %s: %d entries, want %d", api, len(got), len(keys))
		}
	}
	// One HEAD per listed entry of a ciphertext size; ListObjectVersions
	// asks for versionId=null, which versitygw refuses without versioning,
	// and then without it.
	d := mixedUp.since(before)
	_, heads := mixedUp.snapshot()
	heads = heads[len(heads)-d[http.MethodHead]:]
	// (enc-0 is stored empty: size 0 is no ciphertext size either, and
	// its listing is exact without a HEAD.)
	versions := run.shapedListed("ListObjectVersions", "legacy-odd", "enc-0")
	wantHeads := run.shapedListed("ListObjectsV2", "legacy-odd", "enc-0") + run.shapedListed("ListObjects", "legacy-odd", "enc-0") + 2*versions
	if d[http.MethodHead] != wantHeads || d[http.MethodGet] != run.requests || len(d) != 2 {
		t.Errorf("mixed listings sent %v, want %d GETs and %d HEADs", d, run.requests, wantHeads)
	}
	nullVersion := 0
	for _, h := range heads {
		if strings.HasPrefix(h, "legacy-odd?") || strings.HasPrefix(h, "enc-0?") {
			t.Errorf("mixed listing sent a HEAD %s, whose size no ciphertext has", h)
		}
		if strings.HasSuffix(h, "?versionId=null") {
			nullVersion++
		}
	}
	if nullVersion != versions {
		t.Errorf("ListObjectVersions sent %d HEADs of versionId=null, want %d", nullVersion, versions)
	}

	// Delimited: the common prefix passes unchanged, with no HEAD of the
	// objects it stands for.
	before, _ = mixedUp.snapshot()
	ld, err := mixed.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b, Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(ld.CommonPrefixes) != 1 || aws.ToString(ld.CommonPrefixes[0].Prefix) != "dir/" || len(ld.Contents) != len(keys)-1 {
		t.Errorf("delimited listing: prefixes %v, %d entries", ld.CommonPrefixes, len(ld.Contents))
	}
	if d := mixedUp.since(before); d[http.MethodHead] != shaped-1 || d[http.MethodGet] != 1 {
		t.Errorf("delimited mixed listing sent %v, want 1 GET and %d HEADs", d, shaped-1)
	}

	// Not declared mixed: legacy entries of ciphertext sizes get the
	// approximation (docs/ARCHITECTURE.md, "Listing sizes"), encrypted ones
	// are right, and the listing is one backend request per page.
	approx := map[string]entry{}
	for k, e := range want {
		approx[k] = e
	}
	for k, n := range legacy {
		p, _ := envelope.PlaintextSize(int64(n), 0)
		approx[k] = entry{p, clientETag(want[k].etag)}
		if approx[k].etag == want[k].etag {
			t.Fatalf("%s: ETag %s has no client form", k, want[k].etag)
		}
	}
	mp, _ := envelope.PlaintextSize(want["legacy-mp"].size, 2)
	approx["legacy-mp"] = entry{mp, want["legacy-mp"].etag}
	before, _ = plainUp.snapshot()
	run = plain.listings(t, b)
	if len(run.entries) != 3 {
		t.Fatalf("listings not declared mixed: %d APIs listed entries, want 3", len(run.entries))
	}
	for api, got := range run.entries {
		for _, k := range keys {
			if got[k] != approx[k] {
				t.Errorf("not mixed %s: %s listed %+v, want %+v", api, k, got[k], approx[k])
			}
		}
	}
	d = plainUp.since(before)
	if len(d) != 1 || d[http.MethodGet] != run.requests {
		t.Errorf("listings not declared mixed sent %v, want only the %d listing GETs", d, run.requests)
	}
}

// TestMixedBucketEntriesChanged: an entry replaced or deleted between the
// listing and its HEAD (which, pinned with If-Match, answers 412 or 404),
// and one whose HEAD fails, are listed as in a bucket not declared mixed;
// the listing still succeeds, and the failure is logged.
func TestMixedBucketEntriesChanged(t *testing.T) {
	ctx := context.Background()
	up := &upstreamRecorder{rt: http.DefaultTransport}
	tp := newTestProxy(t, func(c *Config) { c.UpstreamTransport = up })
	b := tp.newBucket(t)
	mixed := newTestProxy(t, func(c *Config) { c.UpstreamTransport = up; c.MixedBuckets = []string{b} })
	for _, k := range []string{"deleted", "kept", "replaced", "unreachable"} {
		putLegacy(t, b, k, randBytes(1000))
	}
	was := mixed.heads(t, b, []string{"deleted", "kept", "replaced", "unreachable"})
	var once sync.Map
	up.mu.Lock()
	up.onHead = func(key string) error {
		if _, done := once.LoadOrStore(key, true); done {
			return nil
		}
		switch key {
		case "replaced":
			_, err := backend().PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String(key), Body: bytes.NewReader(randBytes(1000))})
			return err
		case "deleted":
			if _, err := backend().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b, Key: aws.String("deleted")}); err != nil {
				return err
			}
		case "unreachable":
			return errors.New("injected: backend unreachable")
		}
		return nil
	}
	up.mu.Unlock()
	l, err := mixed.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]entry{}
	for _, o := range l.Contents {
		got[aws.ToString(o.Key)] = entry{aws.ToInt64(o.Size), aws.ToString(o.ETag)}
	}
	approx := entry{1000 - new(envelope.DataKey).StoredSize(0, 0), ""}
	for _, k := range []string{"deleted", "replaced", "unreachable"} {
		approx.etag = clientETag(was[k].etag)
		if got[k] != approx {
			t.Errorf("%s listed %+v, want the approximation %+v", k, got[k], approx)
		}
	}
	if got["kept"] != was["kept"] {
		t.Errorf("kept listed %+v, HEAD says %+v", got["kept"], was["kept"])
	}
	if now := mixed.heads(t, b, []string{"replaced"})["replaced"]; now.etag == was["replaced"].etag {
		t.Fatal("replaced object kept its ETag")
	}
	if log := mixed.log.String(); !contains(log, "entries not checked") || !contains(log, "injected: backend unreachable") {
		t.Errorf("the failed HEAD was not logged: %s", log)
	}
}

// TestMixedBucketURLEncodedKeys: with encoding-type=url (which aws-cli
// and boto3 send) S3 lists keys URL-encoded, and the HEADs must name the
// keys themselves. versitygw ignores encoding-type, so the listing is S3's
// answer written out, for objects stored in the real backend.
func TestMixedBucketURLEncodedKeys(t *testing.T) {
	tp := newTestProxy(t)
	b := tp.newBucket(t)
	mixed := newTestProxy(t, func(c *Config) { c.MixedBuckets = []string{b} })
	const legacyKey, encKey = "legacy key+&%.txt", "enc key+&%/ü.txt"
	putLegacy(t, b, legacyKey, randBytes(1000))
	tp.put(t, b, encKey, []byte("hello"))
	listing := func(encodingType string) map[string]entry {
		t.Helper()
		var doc strings.Builder
		doc.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>` + b + `</Name>`)
		if encodingType != "" {
			doc.WriteString("<EncodingType>" + encodingType + "</EncodingType>")
		}
		for _, k := range []string{legacyKey, encKey} {
			_, st := stored(t, b, k)
			doc.WriteString("<Contents><Key>" + url.QueryEscape(k) + "</Key><ETag>&quot;" + strings.Trim(aws.ToString(st.ETag), `"`) +
				"&quot;</ETag><Size>" + strconv.FormatInt(aws.ToInt64(st.ContentLength), 10) + "</Size></Contents>")
		}
		doc.WriteString("</ListBucketResult>")
		rq := &request{p: mixed.Proxy, r: httptest.NewRequest(http.MethodGet, "/"+b, nil), id: "TEST", bucket: b}
		out, err := mixed.rewriteMixedListing(rq, []byte(doc.String()))
		if err != nil {
			t.Fatal(err)
		}
		var l struct {
			Contents []struct {
				Key, ETag string
				Size      int64
			}
		}
		if err := xml.Unmarshal(out, &l); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		m := map[string]entry{}
		for _, c := range l.Contents {
			k, err := url.QueryUnescape(c.Key)
			if err != nil {
				t.Fatal(err)
			}
			m[k] = entry{c.Size, c.ETag}
		}
		return m
	}
	want := mixed.heads(t, b, []string{legacyKey, encKey})
	got := listing("url")
	for _, k := range []string{legacyKey, encKey} {
		if got[k] != want[k] {
			t.Errorf("encoding-type=url: %s listed %+v, HEAD says %+v", k, got[k], want[k])
		}
	}
	// Taken for keys as they are, the encoded ones name no object: the
	// legacy entry would get the approximation.
	if got := listing(""); got[legacyKey].size != 1000-new(envelope.DataKey).StoredSize(0, 0) {
		t.Errorf("without EncodingType, %s listed %+v, want the approximation", legacyKey, got[legacyKey])
	}
}

// TestUnitMixedBucketsValidated: an empty name in MixedBuckets is refused at
// start-up, not met on a first listing.
func TestUnitMixedBucketsValidated(t *testing.T) {
	local, err := localkey.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	keys := keycache.New(local, keycache.Options{})
	defer keys.Close()
	cfg := Config{
		Upstream: &url.URL{Scheme: "http", Host: "x"}, UpstreamRegion: "r",
		UpstreamCredentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
		ClientCredentials:   sigv4.StaticCredentials{}, Keys: keys, KMSKeyID: "k",
		MixedBuckets: []string{"photos"},
	}
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
	cfg.MixedBuckets = []string{"photos", ""}
	if _, err := New(cfg); err == nil || !contains(err.Error(), "MixedBuckets: empty bucket name") {
		t.Errorf("New with an empty mixed bucket name: %v", err)
	}
}
