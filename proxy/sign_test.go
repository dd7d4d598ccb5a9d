package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// signedRequest sends one request signed with aws-sdk-go-v2's own v4
// signer, for requests the S3 client cannot express (raw ranges,
// hand-made bodies, requests straight to the backend).
func signedRequest(t testing.TB, endpoint, ak, sk, method, path string, hdr http.Header, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, endpoint+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body = http.NoBody
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, req, hash, "s3", testenv.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// signedRaw signs req (UNSIGNED-PAYLOAD) with the test client's
// credentials and sends it.
func signedRaw(t testing.TB, req *http.Request) *http.Response {
	t.Helper()
	return signedRawPayload(t, req, "UNSIGNED-PAYLOAD")
}

// signedRawPayload signs req with the test client's credentials and the
// x-amz-content-sha256 value payload, and sends it.
func signedRawPayload(t testing.TB, req *http.Request, payload string) *http.Response {
	t.Helper()
	req.Header.Set("X-Amz-Content-Sha256", payload)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: clientAccessKey, SecretAccessKey: clientSecretKey}, req, payload, "s3", testenv.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
