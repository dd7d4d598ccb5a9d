package proxy

import (
	"net/http"
	"net/url"
	"reflect"
	"testing"
)

// TestUnitUpstreamPolicy: the table of what reaches the backend, as a
// table: each name in a header and in a presigned query string.
func TestUnitUpstreamPolicy(t *testing.T) {
	cases := []struct {
		name          string
		header, query bool // forwarded
	}{
		// Hop-by-hop and the proxy's own request headers, in either place.
		{"Connection", false, false},
		{"Transfer-Encoding", false, false},
		{"Host", false, false},
		{"Content-Length", false, false},
		{"User-Agent", false, false},
		{"X-Forwarded-For", false, false},
		// The client's signature, in either place.
		{"Authorization", false, false},
		{"X-Amz-Algorithm", true, false},
		{"X-Amz-Credential", true, false},
		{"x-amz-credential", true, false},
		{"X-Amz-Signature", true, false},
		{"X-Amz-SignedHeaders", true, false},
		{"X-Amz-Expires", true, false},
		{"X-Amz-Date", false, false},
		{"X-Amz-Security-Token", false, false},
		{"X-Amz-Content-Sha256", false, false},
		// The plaintext payload's digests and framing.
		{"Content-Md5", false, false},
		{"content-md5", false, false},
		{"X-Amz-Checksum-Crc32", false, false},
		{"x-amz-checksum-sha256", false, false},
		{"X-Amz-Checksum-Type", false, false},
		{"X-Amz-Checksum-Mode", false, false},
		{"X-Amz-Sdk-Checksum-Algorithm", false, false},
		{"X-Amz-Trailer", false, false},
		{"X-Amz-Decoded-Content-Length", false, false},
		{"X-Amz-Mp-Object-Size", false, false},
		// SSE-KMS is the proxy's; SSE-C is the backend's.
		{"X-Amz-Server-Side-Encryption", false, false},
		{"x-amz-server-side-encryption-aws-kms-key-id", false, false},
		{"X-Amz-Server-Side-Encryption-Context", false, false},
		{"X-Amz-Server-Side-Encryption-Bucket-Key-Enabled", false, false},
		{"X-Amz-Server-Side-Encryption-Customer-Algorithm", true, true},
		// Envelope metadata cannot be planted, hoisted or not.
		{"X-Amz-Meta-Bk-Kb", false, false},
		{"x-amz-meta-bk-wk", false, false},
		{"X-Amz-Meta-Color", true, true},
		// Everything else passes.
		{"Content-Type", true, true},
		{"Content-Encoding", true, true},
		{"X-Amz-Storage-Class", true, true},
		{"Range", true, true},
		{"versionId", true, true},
		{"uploadId", true, true},
		{"partNumber", true, true},
		{"response-content-type", true, true},
	}
	for _, c := range cases {
		h := forwardHeader(http.Header{c.name: {"v"}})
		if _, got := h[c.name]; got != c.header {
			t.Errorf("header %s forwarded = %v, want %v", c.name, got, c.header)
		}
		q := forwardQuery(url.Values{c.name: {"v"}})
		if _, got := q[c.name]; got != c.query {
			t.Errorf("query parameter %s forwarded = %v, want %v", c.name, got, c.query)
		}
	}
	// Every rule drops what it names, in the places it names.
	for _, r := range upstreamPolicy {
		name := r.name
		if r.prefix {
			name += "x"
		}
		if got := dropped(name, inHeader); got != (r.in&inHeader != 0) {
			t.Errorf("rule %q: header dropped = %v", r.name, got)
		}
		if got := dropped(name, inQuery); got != (r.in&inQuery != 0) {
			t.Errorf("rule %q: query parameter dropped = %v", r.name, got)
		}
	}
}

func TestUnitForwardQuery(t *testing.T) {
	in := url.Values{"X-Amz-Signature": {"s"}, "x-amz-credential": {"c"}, "X-Amz-Expires": {"9"},
		"versionId": {"v"}, "x-amz-checksum-crc32": {"z"}, "uploads": {""}, "x-amz-meta-bk-v": {"1"}}
	got := forwardQuery(in, "versionId")
	if want := (url.Values{"uploads": {""}}); !reflect.DeepEqual(got, want) {
		t.Errorf("forwardQuery = %v, want %v", got, want)
	}
	if in.Get("versionId") != "v" {
		t.Error("forwardQuery modified its input")
	}
}

func TestUnitStripAWSChunked(t *testing.T) {
	for _, c := range []struct {
		in   http.Header
		want http.Header
	}{
		{http.Header{"Content-Encoding": {"aws-chunked, gzip"}}, http.Header{"Content-Encoding": {"gzip"}}},
		{http.Header{"Content-Encoding": {"gzip,AWS-CHUNKED,br"}}, http.Header{"Content-Encoding": {"gzip,br"}}},
		{http.Header{"Content-Encoding": {"aws-chunked"}}, http.Header{}},
		{http.Header{"content-encoding": {"aws-chunked"}}, http.Header{}},
		{http.Header{"Content-Type": {"x"}}, http.Header{"Content-Type": {"x"}}},
	} {
		h := c.in.Clone()
		stripAWSChunked(h)
		if !reflect.DeepEqual(h, c.want) {
			t.Errorf("stripAWSChunked(%v) = %v, want %v", c.in, h, c.want)
		}
	}
}

// reservedRequestName reports whether the policy keeps a name from the
// backend (as a header, and so as a query parameter too).
func reservedRequestName(k string) bool { return dropped(k, inHeader) }
