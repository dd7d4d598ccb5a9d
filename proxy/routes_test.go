package proxy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/gorilla/mux"

	"github.com/bucketkey/bucketkey/keycache"
	"github.com/bucketkey/bucketkey/keycache/localkey"
	"github.com/bucketkey/bucketkey/sigv4"
)

// unitProxy is a Proxy for tests that never reach a backend or KMS: its
// keys come from a local master key, its upstream is a closed port.
func unitProxy(t testing.TB, opts ...proxyOption) *Proxy {
	t.Helper()
	local, err := localkey.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	keys := keycache.New(local, keycache.Options{})
	t.Cleanup(keys.Close)
	up, _ := url.Parse("http://127.0.0.1:1")
	cfg := Config{
		Upstream: up, UpstreamRegion: "us-east-1",
		UpstreamCredentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
		ClientCredentials:   sigv4.StaticCredentials{clientAccessKey: clientSecretKey},
		Keys:                keys, KMSKeyID: local.KeyID(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// routeOf returns the operation the router picks for a request.
func routeOf(t *testing.T, p *Proxy, r *http.Request) string {
	t.Helper()
	addr, err := p.resolve(r)
	if err != nil {
		return "resolve error"
	}
	rq := &request{p: p, r: r, level: addr.level, bucket: addr.bucket, key: addr.key}
	r = r.WithContext(context.WithValue(r.Context(), requestKey{}, rq))
	var m mux.RouteMatch
	if !p.router.Match(r, &m) {
		return "no match"
	}
	return m.Route.GetName()
}

func TestUnitRouting(t *testing.T) {
	p := unitProxy(t, func(c *Config) { c.VirtualHostDomains = []string{"s3.example.com"} })
	cases := []struct {
		method, target, host string
		header               http.Header
		op                   string
	}{
		{"GET", "/", "", nil, "ListBuckets"},
		{"POST", "/", "", nil, "Unsupported"},
		{"GET", "/b", "", nil, "ListObjects"},
		{"GET", "/b/", "", nil, "ListObjects"},
		{"GET", "/b?prefix=x&delimiter=/", "", nil, "ListObjects"},
		{"GET", "/b?list-type=2&prefix=x", "", nil, "ListObjectsV2"},
		{"GET", "/b?versions", "", nil, "ListObjectVersions"},
		{"GET", "/b?uploads", "", nil, "ListMultipartUploads"},
		{"GET", "/b?location", "", nil, "GetBucketLocation"},
		{"GET", "/b?tagging", "", nil, "GetBucketTagging"},
		{"PUT", "/b?versioning", "", nil, "PutBucketVersioning"},
		{"DELETE", "/b?policy", "", nil, "DeleteBucketPolicy"},
		{"PUT", "/b", "", nil, "CreateBucket"},
		{"DELETE", "/b", "", nil, "DeleteBucket"},
		{"HEAD", "/b", "", nil, "HeadBucket"},
		{"POST", "/b?delete", "", nil, "DeleteObjects"},
		{"POST", "/b", "", nil, "PostObject"},
		{"PUT", "/b/k", "", nil, "PutObject"},
		{"PUT", "/b/k?x-id=PutObject", "", nil, "PutObject"},
		{"PUT", "/b/k", "", http.Header{"X-Amz-Copy-Source": {"b/src"}}, "CopyObject"},
		{"PUT", "/b/k?partNumber=1&uploadId=u", "", nil, "UploadPart"},
		{"PUT", "/b/k?partNumber=1&uploadId=u", "", http.Header{"X-Amz-Copy-Source": {"b/src"}}, "UploadPartCopy"},
		{"PUT", "/b/k?tagging", "", nil, "PutObjectTagging"},
		{"PUT", "/b/k?acl", "", nil, "PutObjectAcl"},
		{"GET", "/b/k", "", nil, "GetObject"},
		{"GET", "/b/k?partNumber=2&versionId=v", "", nil, "GetObject"},
		{"GET", "/b/k?response-content-type=x", "", nil, "GetObject"},
		{"GET", "/b/k?uploadId=u", "", nil, "ListParts"},
		{"GET", "/b/k?tagging", "", nil, "GetObjectTagging"},
		{"GET", "/b/k?attributes", "", nil, "GetObjectAttributes"},
		{"GET", "/b/k?torrent", "", nil, "GetObjectTorrent"},
		{"HEAD", "/b/k", "", nil, "HeadObject"},
		{"POST", "/b/k?uploads", "", nil, "CreateMultipartUpload"},
		{"POST", "/b/k?uploadId=u", "", nil, "CompleteMultipartUpload"},
		{"POST", "/b/k?select&select-type=2", "", nil, "SelectObjectContent"},
		{"POST", "/b/k?restore", "", nil, "RestoreObject"},
		{"DELETE", "/b/k?uploadId=u", "", nil, "AbortMultipartUpload"},
		{"DELETE", "/b/k?tagging", "", nil, "DeleteObjectTagging"},
		{"DELETE", "/b/k", "", nil, "DeleteObject"},
		{"OPTIONS", "/b/k", "", nil, "PreflightCORS"},
		{"PATCH", "/b", "", nil, "Unsupported"},
		// Keys a cleaning router would redirect or rewrite.
		{"GET", "/b/a//b//c", "", nil, "GetObject"},
		{"GET", "/b/.k/k./a..b", "", nil, "GetObject"},
		// Dot segments never reach a route (checkKey).
		{"GET", "/b/a//b/../c", "", nil, "resolve error"},
		{"GET", "/b/./k", "", nil, "resolve error"},
		// Virtual-hosted style.
		{"GET", "/", "b.s3.example.com", nil, "ListObjects"},
		{"GET", "/?list-type=2", "b.s3.example.com:8080", nil, "ListObjectsV2"},
		{"PUT", "/k", "b.s3.example.com", nil, "PutObject"},
		{"GET", "/", "s3.example.com", nil, "ListBuckets"},
		{"GET", "/b/k", "s3.example.com", nil, "GetObject"},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, c.target, nil)
		if c.host != "" {
			r.Host = c.host
		}
		for k, v := range c.header {
			r.Header[k] = v
		}
		if got := routeOf(t, p, r); got != c.op {
			t.Errorf("%s %s (host %q): routed to %s, want %s", c.method, c.target, c.host, got, c.op)
		}
	}
}

func TestUnitResolve(t *testing.T) {
	p := unitProxy(t, func(c *Config) { c.VirtualHostDomains = []string{"S3.Example.com."} })
	cases := []struct {
		target, host string
		want         address
		err          bool
	}{
		{"/", "", address{level: levelService}, false},
		{"/bkt", "", address{level: levelBucket, bucket: "bkt"}, false},
		{"/bkt/a%2Fb/c%20d", "", address{level: levelObject, bucket: "bkt", key: "a/b/c d"}, false},
		{"/bkt/a//b", "", address{level: levelObject, bucket: "bkt", key: "a//b"}, false},
		{"/bkt/a+b", "", address{level: levelObject, bucket: "bkt", key: "a+b"}, false},
		{"/bkt/%E2%82%AC", "", address{level: levelObject, bucket: "bkt", key: "€"}, false},
		{"/bkt/k", "bkt.s3.example.com", address{level: levelObject, bucket: "bkt", key: "bkt/k"}, false},
		{"/k", "my.dotted.bucket.s3.example.com:443", address{level: levelObject, bucket: "my.dotted.bucket", key: "k"}, false},
		{"/", "other.example.org", address{level: levelService}, false},
		// Bucket names that would change the path signed for the backend.
		{"/b%2Fk", "", address{}, true},
		{"/b%2F..%2Fv", "", address{}, true},
		{"/%2e%2e/v/k", "", address{}, true},
		{"/%2e/k", "", address{}, true},
		{"/b%20c/k", "", address{}, true},
		{"/b%3Fc/k", "", address{}, true},
		{"/" + strings.Repeat("b", 256) + "/k", "", address{}, true},
		{"/Legacy_Bucket/k", "", address{level: levelObject, bucket: "Legacy_Bucket", key: "k"}, false},
		{"/k", "b%2fx.s3.example.com", address{}, true},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "http://x"+c.target, nil)
		if c.host != "" {
			r.Host = c.host
		}
		got, err := p.resolve(r)
		if (err != nil) != c.err || (err == nil && got != c.want) {
			t.Errorf("resolve %s host %q = %+v, %v; want %+v, err %v", c.target, c.host, got, err, c.want, c.err)
		}
	}
}

func TestUnitNewValidates(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New accepted an empty Config")
	}
	for name, o := range map[string]proxyOption{
		"scheme":  func(c *Config) { c.Upstream = &url.URL{Scheme: "ftp", Host: "x"} },
		"creds":   func(c *Config) { c.Upstream = &url.URL{Scheme: "http", Host: "x", User: url.UserPassword("a", "b")} },
		"vhost":   func(c *Config) { c.VirtualHostDomains = []string{"http://x"} },
		"replica": func(c *Config) { c.Replicas = map[string][]string{"b": {""}} },
		"timeout": func(c *Config) { c.UpstreamTimeout = -1 },
	} {
		local, _ := localkey.New(make([]byte, 32))
		keys := keycache.New(local, keycache.Options{})
		cfg := Config{
			Upstream: &url.URL{Scheme: "http", Host: "x"}, UpstreamRegion: "r",
			UpstreamCredentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
			ClientCredentials:   sigv4.StaticCredentials{}, Keys: keys, KMSKeyID: "k",
		}
		o(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted a bad Config", name)
		}
		keys.Close()
	}
}
