package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bucketkey/bucketkey/s3err"
)

// TestUnitResolveObjectKeys: the object keys resolve accepts and the S3 error
// it answers for the others, path style and virtual-hosted style alike.
// The limit is on the decoded key's UTF-8 bytes, not on its characters or
// on its escaped form.
func TestUnitResolveObjectKeys(t *testing.T) {
	p := unitProxy(t, func(c *Config) { c.VirtualHostDomains = []string{"s3.example.com"} })
	const vhost = "bkt.s3.example.com"
	segments := func(n int) string { // n bytes in 10-byte segments
		return strings.Repeat("abcdefghi/", n/10) + strings.Repeat("x", n%10)
	}
	cases := []struct {
		name, target, host string
		key                string // the key resolved, when code is ""
		code               string
	}{
		{name: "1024 bytes", target: "/bkt/" + strings.Repeat("k", 1024), key: strings.Repeat("k", 1024)},
		{name: "1025 bytes", target: "/bkt/" + strings.Repeat("k", 1025), code: "KeyTooLongError"},
		{name: "1024 bytes in segments", target: "/bkt/" + segments(1024), key: segments(1024)},
		{name: "1025 bytes in segments", target: "/bkt/" + segments(1025), code: "KeyTooLongError"},
		{name: "1 MB", target: "/bkt/" + strings.Repeat("k", 1<<20), code: "KeyTooLongError"},
		// 3072 escaped characters that decode to 1024 bytes.
		{name: "1024 bytes escaped", target: "/bkt/" + strings.Repeat("%61", 1024), key: strings.Repeat("a", 1024)},
		// 342 characters, 1026 bytes of UTF-8.
		{name: "342 euro signs", target: "/bkt/" + strings.Repeat("%E2%82%AC", 342), code: "KeyTooLongError"},
		{name: "341 euro signs and a byte", target: "/bkt/" + strings.Repeat("%E2%82%AC", 341) + "x", key: strings.Repeat("€", 341) + "x"},
		{name: "encoded slashes count once", target: "/bkt/" + strings.Repeat("%2F", 1025), code: "KeyTooLongError"},
		{name: "virtual-hosted 1024 bytes", target: "/" + strings.Repeat("k", 1024), host: vhost, key: strings.Repeat("k", 1024)},
		{name: "virtual-hosted 1025 bytes", target: "/" + strings.Repeat("k", 1025), host: vhost, code: "KeyTooLongError"},
		// The bucket is checked first.
		{name: "bad bucket and long key", target: "/b%2Fc/" + strings.Repeat("k", 1025), code: "InvalidBucketName"},

		// Dot segments, which the backend's HTTP stack may resolve.
		// Those that climb out of the bucket get S3's own 400 Bad Request.
		{name: "dot", target: "/bkt/.", code: "400"},
		{name: "dot-dot", target: "/bkt/..", code: "400"},
		{name: "dot-dot to another bucket", target: "/bkt/../v/k", code: "400"},
		{name: "encoded dot-dot", target: "/bkt/%2e%2e/v/k", code: "400"},
		{name: "encoded upper-case dot", target: "/bkt/%2E", code: "400"},
		{name: "dot-dot behind encoded slashes", target: "/bkt/a%2F..%2F..%2Fv%2Fk", code: "400"},
		{name: "dot-dot after an empty segment", target: "/bkt//..", code: "400"},
		{name: "virtual-hosted dot-dot", target: "/../v/k", host: vhost, code: "400"},
		{name: "virtual-hosted dot", target: "/.", host: vhost, code: "400"},
		// The rest S3 stores as they are; the proxy refuses them.
		{name: "dot segment inside", target: "/bkt/a/./b", code: "InvalidArgument"},
		{name: "dot-dot inside", target: "/bkt/a/../b", code: "InvalidArgument"},
		{name: "trailing dot segment", target: "/bkt/k/.", code: "InvalidArgument"},
		{name: "trailing dot-dot segment", target: "/bkt/k/..", code: "InvalidArgument"},
		// Dots that are not a whole segment are ordinary characters.
		{name: "dots inside segments", target: "/bkt/a..b/..k/k../.k/...", key: "a..b/..k/k../.k/..."},
		{name: "three dots", target: "/bkt/%2e%2e%2e", key: "..."},
		{name: "empty segments", target: "/bkt//a//b/", key: "/a//b/"},
		{name: "virtual-hosted dots inside", target: "/..k", host: vhost, key: "..k"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://x"+c.target, nil)
			if c.host != "" {
				r.Host = c.host
			}
			got, err := p.resolve(r)
			if c.code == "" {
				want := address{level: levelObject, bucket: "bkt", key: c.key}
				if err != nil || got != want {
					t.Fatalf("resolve = %+v, %v; want %+v", got, err, want)
				}
				return
			}
			e := s3err.As(err)
			if e == nil || e.Code != c.code || e.Status != http.StatusBadRequest {
				t.Fatalf("resolve = %+v, %v; want 400 %s", got, err, c.code)
			}
		})
	}
}

// countingTransport counts the requests the proxy sends the backend.
type countingTransport struct {
	rt http.RoundTripper
	n  atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// TestRefusedKeysNeverReachBackend: through the proxy, a key of 1024 bytes
// is stored and read back, while a longer one or one with a dot segment is
// answered before anything reaches the backend, for writes and reads; an
// anonymous caller learns only "access denied".
func TestRefusedKeysNeverReachBackend(t *testing.T) {
	up := &countingTransport{rt: http.DefaultTransport}
	tp := newTestProxy(t, func(c *Config) { c.UpstreamTransport = up })
	b := tp.newBucket(t)
	// versitygw names a file after each segment: at most 255 bytes each.
	limit := strings.Repeat(strings.Repeat("s", 99)+"/", 10) + strings.Repeat("t", 24)
	if len(limit) != 1024 {
		t.Fatalf("test key of %d bytes", len(limit))
	}
	data := []byte("data at the key length limit")
	tp.put(t, b, limit, data)
	mustEqual(t, "GET of the 1024-byte key", tp.get(t, b, limit), data)

	for _, c := range []struct {
		name, key, code string
	}{
		{"1025 bytes", limit + "u", "KeyTooLongError"},
		{"1025 bytes, one segment", strings.Repeat("u", 1025), "KeyTooLongError"},
		{"dot-dot", "../" + b + "/k", "400"},
		{"dot-dot inside", "a/../" + b + "/k", "InvalidArgument"},
		{"dot", "a/./k", "InvalidArgument"},
	} {
		for _, method := range []string{http.MethodPut, http.MethodGet, http.MethodHead, http.MethodDelete} {
			t.Run(c.name+" "+method, func(t *testing.T) {
				before := up.n.Load()
				var body []byte
				if method == http.MethodPut {
					body = data
				}
				resp := tp.rawRequest(t, method, "/"+b+"/"+c.key, nil, body)
				rb := readAllClose(t, resp.Body)
				if resp.StatusCode != http.StatusBadRequest || (method != http.MethodHead && !contains(string(rb), "<Code>"+c.code+"</Code>")) {
					t.Errorf("got %d %q, want 400 %s", resp.StatusCode, rb, c.code)
				}
				if n := up.n.Load() - before; n != 0 {
					t.Errorf("%d requests reached the backend", n)
				}
			})
		}
	}
	t.Run("anonymous", func(t *testing.T) {
		before := up.n.Load()
		resp, err := http.Get(tp.srv.URL + "/" + b + "/" + strings.Repeat("u", 1025))
		if err != nil {
			t.Fatal(err)
		}
		rb := readAllClose(t, resp.Body)
		if resp.StatusCode != http.StatusForbidden || !contains(string(rb), "<Code>AccessDenied</Code>") {
			t.Errorf("got %d %q, want 403 AccessDenied", resp.StatusCode, rb)
		}
		if n := up.n.Load() - before; n != 0 {
			t.Errorf("%d requests reached the backend", n)
		}
	})
}

// TestUnitClimbsOut holds climbsOut to the examples of S3's object key guide
// and to the corners of its rule.
func TestUnitClimbsOut(t *testing.T) {
	for key, want := range map[string]bool{
		"videos/2024/../../2025/../": false, // the guide's valid example
		"videos/../../":              true,  // and its invalid ones
		"./":                         true,
		"../":                        true,
		"./../":                      true,
		"./..":                       true,
		".":                          true,
		"..":                         true,
		"/.":                         true, // an empty segment is no element
		"//..":                       true,
		"a/./b":                      false,
		"a/../b":                     false,
		"a/./..":                     true,
		"a//../..":                   true,
		"a/b/../..":                  false,
		"a..b/..c/d.":                false,
		"...":                        false,
		"":                           false,
		"//":                         false,
	} {
		if got := climbsOut(key); got != want {
			t.Errorf("climbsOut(%q) = %v, want %v", key, got, want)
		}
	}
}
