package proxy

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/bucketkey/bucketkey/sigv4"
)

// TestUpstreamPayloadModes: every way of signing ciphertext for a backend
// over plain HTTP (auto is signed there) sends small bodies whole and large
// ones streamed, as the mode says, and stores objects that read back;
// uploads with a wrong checksum are still refused (TestUpstreamPayloadModesTLS
// for HTTPS).
func TestUpstreamPayloadModes(t *testing.T) {
	want := map[sigv4.PayloadMode]payloadWant{
		sigv4.PayloadAuto:            wantSigned, // over http
		sigv4.PayloadChunked:         wantSigned,
		sigv4.PayloadUnsignedTrailer: wantTrailer,
		sigv4.PayloadUnsigned:        wantUnsigned,
	}
	for _, mode := range []sigv4.PayloadMode{sigv4.PayloadAuto, sigv4.PayloadChunked, sigv4.PayloadUnsignedTrailer, sigv4.PayloadUnsigned} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			rec := &payloadRecorder{RoundTripper: DefaultTransport()}
			tp := newTestProxy(t, func(c *Config) { c.UpstreamPayload = mode; c.UpstreamTransport = rec })
			b := tp.newBucket(t)
			data := randBytes(0)
			tp.put(t, b, "empty", data)
			mustEqual(t, "GET", tp.get(t, b, "empty"), data)
			checkPayloadMode(t, tp, rec, want[mode])
		})
	}
}

func TestUnitEncodeQuery(t *testing.T) {
	q := url.Values{"uploads": {""}, "prefix": {"a b+c/é"}, "max-keys": {"2"}, "x": {"1", "2"}}
	if got, want := encodeQuery(q), "max-keys=2&prefix=a%20b%2Bc%2F%C3%A9&uploads&x=1&x=2"; got != want {
		t.Errorf("encodeQuery = %q, want %q", got, want)
	}
}

func TestUnitUpstreamURL(t *testing.T) {
	p := unitProxy(t, func(c *Config) { c.Upstream, _ = url.Parse("https://s3.example.com:9000/base/") })
	cases := []struct{ bucket, key, want string }{
		{"", "", "https://s3.example.com:9000/base/"},
		{"b", "", "https://s3.example.com:9000/base/b"},
		{"b", "a b/c+d", "https://s3.example.com:9000/base/b/a%20b/c%2Bd"},
		{"b", "a//./../x", "https://s3.example.com:9000/base/b/a//./../x"},
		{"b", "€;=?#", "https://s3.example.com:9000/base/b/%E2%82%AC%3B%3D%3F%23"},
	}
	for _, c := range cases {
		u := p.upstreamURL(c.bucket, c.key, nil)
		if got := u.String(); got != c.want {
			t.Errorf("upstreamURL(%q, %q) = %q, want %q", c.bucket, c.key, got, c.want)
		}
		if c.key != "" && u.Path != "/base/"+c.bucket+"/"+c.key {
			t.Errorf("decoded path %q", u.Path)
		}
	}
}
