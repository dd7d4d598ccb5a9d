package proxy

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

func preflight(t *testing.T, u string, h map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, u, nil)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(readAllClose(t, resp.Body))
}

var s3ErrorCode = regexp.MustCompile(`<Code>([^<]*)</Code>`)

// corsAnswer is what a browser's CORS check reads of a response: the
// status, the Access-Control-* and Vary headers, and the S3 error code.
// Access-Control-Expose-Headers is left out: the proxy adds its own headers
// to it (sameCORS).
func corsAnswer(resp *http.Response, body string) string {
	var hs []string
	for k, v := range resp.Header {
		if (strings.HasPrefix(k, "Access-Control-") || k == "Vary") && k != "Access-Control-Expose-Headers" {
			hs = append(hs, k+": "+strings.Join(v, ", "))
		}
	}
	slices.Sort(hs)
	code := ""
	if m := s3ErrorCode.FindStringSubmatch(body); m != nil {
		code = " " + m[1]
	}
	return fmt.Sprintf("%d%s [%s]", resp.StatusCode, code, strings.Join(hs, "; "))
}

// sameCORS fails the test unless the proxy's answer (resp) and the
// backend's direct answer (direct) are the same for a browser: the same
// corsAnswer, and the backend's exposed headers exposed first, followed by
// nothing but the proxy's own headers (a preflight's: exactly the
// backend's).
func sameCORS(t *testing.T, what string, resp *http.Response, body string, direct *http.Response, dbody string) {
	t.Helper()
	if got, want := corsAnswer(resp, body), corsAnswer(direct, dbody); got != want {
		t.Fatalf("%s: through the proxy %s, directly %s", what, got, want)
	}
	got, want := resp.Header.Get("Access-Control-Expose-Headers"), direct.Header.Get("Access-Control-Expose-Headers")
	if resp.Request.Method == http.MethodOptions && got != want {
		// A preflight's answer: the rule's ExposeHeaders as S3 lists them.
		t.Fatalf("%s: preflight through the proxy exposes %q, directly %q", what, got, want)
	}
	rest, ok := strings.CutPrefix(got, want)
	if !ok || (want == "" && got != "") {
		t.Fatalf("%s: through the proxy exposes %q, directly %q", what, got, want)
	}
	for tok := range strings.SplitSeq(rest, ",") {
		if tok = strings.TrimSpace(tok); tok != "" && !slices.Contains(proxyHeaders, tok) {
			t.Fatalf("%s: through the proxy exposes %q, directly %q", what, got, want)
		}
	}
}

// putBucketCORS sets rules as the bucket's CORS configuration through the
// proxy, and reports whether the backend keeps one. MinIO (the community
// server) has no per-bucket CORS: PutBucketCors answers 501 NotImplemented
// (minio/minio#20995, #21332) and every origin is allowed by its server-wide
// api cors_allow_origin setting (default "*"); that answer must be MinIO's
// own, the same through the proxy as directly.
func putBucketCORS(t *testing.T, tp *testProxy, be *testenv.Process, bucket string, rules ...types.CORSRule) bool {
	t.Helper()
	ctx := context.Background()
	in := &s3.PutBucketCorsInput{Bucket: aws.String(bucket), CORSConfiguration: &types.CORSConfiguration{CORSRules: rules}}
	_, err := tp.client.PutBucketCors(ctx, in)
	if be.Name != testenv.MinIO {
		if err != nil {
			t.Fatal(err)
		}
		return true
	}
	_, direct := tp.backend.PutBucketCors(ctx, in)
	if apiCode(err) != "NotImplemented" || apiCode(direct) != "NotImplemented" {
		t.Fatalf("MinIO PutBucketCors: through the proxy %v, directly %v; want NotImplemented from both", err, direct)
	}
	return false
}

// TestCORS: preflights reach the backend unsigned and its answer (the
// bucket's CORS configuration) is relayed: the same status, code and
// Access-Control-* headers as the backend gives directly; actual responses
// keep the backend's Access-Control-* headers and expose the proxy's own
// headers where the backend exposes headers. In front of each backend: on
// versitygw the bucket's configuration decides; on MinIO, which has no
// bucket CORS, its server-wide setting allows every origin, and preflights
// answer 204 (what MinIO documents and does, relayed as it is).
func TestCORS(t *testing.T) { forEachBackendServer(t, testCORS) }

func testCORS(t *testing.T, be *testenv.Process) {
	tp := newTestProxy(t, onBackend(be))
	bucket := tp.newBucket(t)
	configured := putBucketCORS(t, tp, be, bucket, types.CORSRule{
		AllowedOrigins: []string{"http://app.example"},
		AllowedMethods: []string{"GET", "PUT", "HEAD"},
		AllowedHeaders: []string{"*"},
		ExposeHeaders:  []string{"ETag"},
		MaxAgeSeconds:  aws.Int32(600),
	})
	type want struct {
		status int
		origin string // Access-Control-Allow-Origin
	}
	cases := []struct {
		name      string
		path      string
		hdr       map[string]string
		s3, minio want
		allowsPUT bool
	}{
		{"allowed origin", "/" + bucket + "/obj", map[string]string{"Origin": "http://app.example", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type"},
			want{200, "http://app.example"}, want{204, "http://app.example"}, true},
		{"other origin", "/" + bucket + "/obj", map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "PUT"},
			want{403, ""}, want{204, "http://evil.example"}, false},
		{"no Origin", "/" + bucket + "/obj", map[string]string{"Access-Control-Request-Method": "PUT"},
			want{400, ""}, want{204, ""}, false},
		{"no such bucket", "/" + newBucketName() + "/obj", map[string]string{"Origin": "http://app.example", "Access-Control-Request-Method": "PUT"},
			want{404, ""}, want{204, "http://app.example"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := preflight(t, tp.srv.URL+tc.path, tc.hdr)
			dresp, dbody := preflight(t, be.URL+tc.path, tc.hdr)
			t.Logf("%s: %s", be.Name, corsAnswer(resp, body))
			sameCORS(t, "preflight", resp, body, dresp, dbody)
			w := tc.s3
			if !configured {
				w = tc.minio
			}
			if resp.StatusCode != w.status {
				t.Fatalf("preflight: %s %s, want %d", resp.Status, body, w.status)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != w.origin {
				t.Fatalf("Access-Control-Allow-Origin %q, want %q", resp.Header.Get("Access-Control-Allow-Origin"), w.origin)
			}
			if tc.allowsPUT && !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "PUT") {
				t.Fatalf("Access-Control-Allow-Methods %q", resp.Header.Get("Access-Control-Allow-Methods"))
			}
		})
	}

	// An actual request from the allowed origin: the backend's CORS
	// headers, with the proxy's own headers exposed where the backend
	// lists headers (MinIO lists "*", which covers them, and the proxy
	// adds nothing).
	tp.put(t, bucket, "obj", []byte("hello"))
	hdr := http.Header{"Origin": {"http://app.example"}}
	resp := tp.rawRequest(t, http.MethodGet, "/"+bucket+"/obj", hdr, nil)
	readAllClose(t, resp.Body)
	dresp := signedRequest(t, be.URL, testenv.S3AccessKey, testenv.S3SecretKey, http.MethodGet, "/"+bucket+"/obj", hdr, nil)
	readAllClose(t, dresp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "http://app.example" {
		t.Fatalf("GET from the origin: %s, headers %v", resp.Status, resp.Header)
	}
	sameCORS(t, "GET from the origin", resp, "", dresp, "")
	expose := strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers"))
	if !strings.Contains(expose, "etag") {
		t.Fatalf("GET from the origin exposes %q", expose)
	}
	if !strings.Contains(expose, "x-amz-server-side-encryption") && !strings.Contains(expose, "*") {
		t.Fatalf("GET from the origin exposes %q", expose)
	}
}
