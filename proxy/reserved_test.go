package proxy

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// TestUnitReservedNamesHeaderAndQuery (issue 12, item 7): one policy for the
// names a client may not send the backend, applied alike to headers and to
// the query parameters of presigned URLs, in any spelling. Table-driven so
// that it follows the policy wherever it moves.
func TestUnitReservedNamesHeaderAndQuery(t *testing.T) {
	tests := []struct {
		name     string
		reserved bool
	}{
		{"x-amz-server-side-encryption", true},
		{"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", true},
		{"x-amz-server-side-encryption-context", true},
		{"x-amz-server-side-encryption-bucket-key-enabled", true},
		{"x-amz-meta-bk-v", true},
		{"X-AMZ-META-BK-KB", true},
		{"x-amz-meta-bk-anything", true},
		{"x-amz-mp-object-size", true},
		{"x-amz-checksum-crc32", true},
		{"x-amz-checksum-mode", true},
		{"x-amz-sdk-checksum-algorithm", true},
		{"x-amz-decoded-content-length", true},
		{"x-amz-trailer", true},
		{"content-md5", true},
		{"authorization", true},
		{"connection", true},
		{"transfer-encoding", true},
		{"x-amz-meta-color", false},
		{"x-amz-meta-bkx", false},
		{"x-amz-storage-class", false},
		{"x-amz-tagging", false},
		{"x-amz-website-redirect-location", false}, // stored as sent, as S3 does
		{"x-amz-server-side-encryption-customer-algorithm", false},
		{"versionId", false},
		{"partNumber", false},
		{"response-content-type", false},
	}
	for _, tt := range tests {
		h := forwardHeader(http.Header{tt.name: {"v"}, http.CanonicalHeaderKey(tt.name): {"v"}})
		_, inHeader := h[tt.name]
		_, inCanon := h[http.CanonicalHeaderKey(tt.name)]
		q := forwardQuery(url.Values{tt.name: {"v"}, strings.ToUpper(tt.name): {"v"}})
		_, inQuery := q[tt.name]
		_, inUpper := q[strings.ToUpper(tt.name)]
		if tt.reserved && (inHeader || inCanon || inQuery || inUpper) {
			t.Errorf("%s: forwarded (header %v/%v, query %v/%v)", tt.name, inHeader, inCanon, inQuery, inUpper)
		}
		if !tt.reserved && (!inCanon || !inQuery) {
			t.Errorf("%s: dropped (header %v, query %v)", tt.name, inCanon, inQuery)
		}
	}
}

// queryRecorder records the raw queries of the backend requests.
type queryRecorder struct {
	rt      http.RoundTripper
	mu      sync.Mutex
	queries []string
}

func (q *queryRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	q.mu.Lock()
	q.queries = append(q.queries, r.Method+" "+r.URL.RawQuery)
	q.mu.Unlock()
	return q.rt.RoundTrip(r)
}

// TestPresignedReservedQuery (failed before: the planted names reached
// the backend in the query): a presigned PUT whose URL carries envelope
// metadata and SSE names as signed query parameters stores an object the
// proxy encrypted with its own envelope, and none of those names reaches
// the backend.
func TestPresignedReservedQuery(t *testing.T) {
	rec := &queryRecorder{rt: http.DefaultTransport}
	tp := newTestProxy(t, func(c *Config) { c.UpstreamTransport = rec })
	b := tp.newBucket(t)
	planted := url.Values{"x-amz-meta-bk-kb": {"evil"}, "x-amz-server-side-encryption": {"AES256"}, "x-amz-meta-bk-v": {"1"}}
	resp := tp.presignedWithQuery(t, http.MethodPut, "/"+b+"/p", planted, []byte("hello"))
	body := readAllClose(t, resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("presigned PUT: %d %s", resp.StatusCode, body)
	}
	rec.mu.Lock()
	queries := append([]string(nil), rec.queries...)
	rec.mu.Unlock()
	for _, raw := range queries {
		if strings.Contains(strings.ToLower(raw), "x-amz-meta-bk-") || strings.Contains(strings.ToLower(raw), "server-side-encryption") {
			t.Errorf("backend request %q carries a reserved name", raw)
		}
	}
	if got := tp.get(t, b, "p"); string(got) != "hello" {
		t.Errorf("GET %q", got)
	}
}

// presignedWithQuery sends a request presigned (query auth,
// UNSIGNED-PAYLOAD) with the test client's credentials, its query
// holding extra signed parameters.
func (tp *testProxy) presignedWithQuery(t testing.TB, method, path string, extra url.Values, body []byte) *http.Response {
	t.Helper()
	q := cloneValues(extra)
	q.Set("X-Amz-Expires", "900")
	req, err := http.NewRequest(method, tp.srv.URL+path+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	signed, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: clientAccessKey, SecretAccessKey: clientSecretKey},
		req, "UNSIGNED-PAYLOAD", "s3", testenv.Region, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out, err := http.NewRequest(method, signed, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if !strings.EqualFold(k, "Host") {
			out.Header[k] = v
		}
	}
	resp, err := http.DefaultClient.Do(out)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
