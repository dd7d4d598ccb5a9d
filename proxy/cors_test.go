package proxy

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
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

// TestCORS: preflights reach the backend unsigned and its answer (the
// bucket's CORS configuration) is relayed; actual responses keep the
// backend's Access-Control-* headers and expose the proxy's own headers
// where the backend exposes headers.
func TestCORS(t *testing.T) {
	tp := newTestProxy(t)
	bucket := tp.newBucket(t)
	ctx := context.Background()
	_, err := tp.client.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String(bucket), CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{
			AllowedOrigins: []string{"http://app.example"},
			AllowedMethods: []string{"GET", "PUT", "HEAD"},
			AllowedHeaders: []string{"*"},
			ExposeHeaders:  []string{"ETag"},
			MaxAgeSeconds:  aws.Int32(600),
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	u := tp.srv.URL + "/" + bucket + "/obj"
	resp, body := preflight(t, u, map[string]string{"Origin": "http://app.example", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type"})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "http://app.example" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "PUT") {
		t.Fatalf("allowed preflight: %s %v %s", resp.Status, resp.Header, body)
	}
	resp, body = preflight(t, u, map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "PUT"})
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("refused preflight: %s %s", resp.Status, body)
	}
	resp, body = preflight(t, u, map[string]string{"Access-Control-Request-Method": "PUT"})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("preflight without Origin: %s %s", resp.Status, body)
	}

	// An actual request from the allowed origin.
	tp.put(t, bucket, "obj", []byte("hello"))
	resp = tp.rawRequest(t, http.MethodGet, "/"+bucket+"/obj", http.Header{"Origin": {"http://app.example"}}, nil)
	readAllClose(t, resp.Body)
	expose := strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers"))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "http://app.example" ||
		!strings.Contains(expose, "etag") || !strings.Contains(expose, "x-amz-server-side-encryption") || !strings.Contains(expose, "x-amz-request-id") {
		t.Fatalf("GET from the origin: %s, headers %v", resp.Status, resp.Header)
	}
}
