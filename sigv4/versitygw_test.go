package sigv4

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/internal/testenv"
)

// TestSignerAgainstVersityGW sends Signer's requests to a real S3 server
// (versitygw, which verifies SigV4 itself, chunk signatures and trailers
// included) and reads the objects back.
func TestSignerAgainstVersityGW(t *testing.T) {
	gw := testenv.S3(t)
	ctx := context.Background()
	signer := func(mode PayloadMode) *Signer {
		return &Signer{
			Credentials: credentials.NewStaticCredentialsProvider(testenv.S3AccessKey, testenv.S3SecretKey, ""),
			Region:      testenv.Region,
			Mode:        mode,
		}
	}
	do := func(t *testing.T, req *http.Request) []byte {
		t.Helper()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d %s", req.Method, req.URL, resp.StatusCode, body)
		}
		return body
	}

	// head answers a signed HEAD of key with headers h, body closed.
	head := func(t *testing.T, key string, h http.Header) *http.Response {
		t.Helper()
		req := newUpstreamRequest(t, "HEAD", gw.URL, key)
		for k, v := range h {
			req.Header[k] = v
		}
		if err := signer(PayloadChunked).Sign(ctx, req, nil); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	req := newUpstreamRequest(t, "PUT", gw.URL, "/bk-sigv4")
	if err := signer(PayloadUnsigned).Sign(ctx, req, nil); err != nil {
		t.Fatal(err)
	}
	do(t, req)

	keys := []string{"plain", "dir/with space+plus/ü/~!$&'()*,;=:@"}
	for _, mode := range []PayloadMode{PayloadChunked, PayloadUnsignedTrailer, PayloadUnsigned} {
		for i, size := range []int{1, 8191, 65536, 65537, 300001} {
			key := "/bk-sigv4/" + mode.String() + "/" + keys[i%2]
			data := payloadBody(size)
			req := newUpstreamRequest(t, "PUT", gw.URL, key)
			req.Header.Set("Content-Type", "application/octet-stream")
			req.Header.Set("X-Amz-Meta-Size", time.Duration(size).String())
			// An io.Pipe source, as the proxy's encrypting writer will be.
			pr, pw := io.Pipe()
			go func() {
				_, err := pw.Write(data)
				pw.CloseWithError(err)
			}()
			if err := signer(mode).SignStream(ctx, req, pr, int64(size)); err != nil {
				t.Fatal(err)
			}
			do(t, req)

			get := newUpstreamRequest(t, "GET", gw.URL, key)
			if err := signer(mode).Sign(ctx, get, nil); err != nil {
				t.Fatal(err)
			}
			if got := do(t, get); !bytes.Equal(got, data) {
				t.Fatalf("%v %d: read back %d bytes that differ", mode, size, len(got))
			}
		}
	}

	// A body's checksum of each algorithm, in a trailer (signed, or
	// unsigned) or a header, is the one versitygw keeps.
	for _, mode := range []PayloadMode{PayloadChunked, PayloadUnsignedTrailer} {
		for _, ck := range checksum.All {
			for _, stream := range []bool{true, false} {
				key := fmt.Sprintf("/bk-sigv4/ck-%v-%v-%v", mode, ck, stream)
				data := payloadBody(70000)
				req := newUpstreamRequest(t, "PUT", gw.URL, key)
				var err error
				if stream {
					err = signer(mode).SignStreamChecksum(ctx, req, bytes.NewReader(data), int64(len(data)), ck)
				} else {
					err = signer(mode).SignBodyChecksum(ctx, req, data, ck)
				}
				if err != nil {
					t.Fatal(err)
				}
				do(t, req)
				resp := head(t, key, http.Header{"X-Amz-Checksum-Mode": {"ENABLED"}})
				if got, want := resp.Header.Get(ck.CanonicalHeader()), checksum.Encode(ck.Sum(data)); got != want {
					t.Errorf("%v %v stream %v: versitygw keeps %s %q, want %q", mode, ck, stream, ck, got, want)
				}
			}
		}
	}

	// A failed source leaves no object behind in the aws-chunked modes:
	// the final chunk never comes. The upload goes through a relay that
	// tells when versitygw has answered the aborted request, so the HEAD
	// that follows does not race its handling.
	//
	// With UNSIGNED-PAYLOAD nothing but Content-Length ends the body, and
	// versitygw stores what it got before the connection closed: the
	// truncated object is logged, not asserted, as it is the backend's
	// behaviour, and it is why PayloadUnsigned is only a fallback.
	relayURL, answered := relay(t, gw.Addr)
	for _, mode := range []PayloadMode{PayloadChunked, PayloadUnsignedTrailer, PayloadUnsigned} {
		key := "/bk-sigv4/failed-" + mode.String()
		req := newUpstreamRequest(t, "PUT", relayURL, key)
		if err := signer(mode).SignStream(ctx, req, &errReader{data: payloadBody(100000), err: errInjected}, 200000); err != nil {
			t.Fatal(err)
		}
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("%v: upload of a failing body succeeded: %d", mode, resp.StatusCode)
		}
		<-answered
		resp := head(t, key, nil)
		switch {
		case mode == PayloadUnsigned && resp.StatusCode == http.StatusOK:
			t.Logf("versitygw stored %s bytes of an aborted UNSIGNED-PAYLOAD upload of 200000", resp.Header.Get("Content-Length"))
		case resp.StatusCode != http.StatusNotFound:
			t.Fatalf("%v: HEAD of the failed upload: %d, want 404", mode, resp.StatusCode)
		}
	}

	// The acceptances above mean something: versitygw refuses a tampered
	// chunk signature and a wrong trailing checksum.
	// A signed trailer's checksum is checked too.
	for _, tc := range []struct {
		mode   PayloadMode
		ck     checksum.Algorithm
		status int
		code   string
	}{{PayloadChunked, checksum.None, 403, "SignatureDoesNotMatch"}, {PayloadUnsignedTrailer, checksum.None, 400, "BadDigest"}, {PayloadChunked, checksum.SHA256, 400, "BadDigest"}} {
		req := newUpstreamRequest(t, "PUT", gw.URL, "/bk-sigv4/tampered")
		data := payloadBody(100000)
		if err := signer(tc.mode).SignStreamChecksum(ctx, req, bytes.NewReader(data), int64(len(data)), tc.ck); err != nil {
			t.Fatal(err)
		}
		enc := req.Body.(*chunkEncoder)
		if enc.ck != nil {
			enc.ck.Write([]byte("not in the body"))
		} else {
			enc.chain.prev[0] ^= 1 // every chunk signature chains on a wrong seed
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), "<Code>"+tc.code+"</Code>") {
			t.Fatalf("%v tampered: %d %s", tc.mode, resp.StatusCode, body)
		}
	}

	// SignBody: an in-memory body sent whole reads back in every mode, and
	// versitygw refuses it when it is not the body signed (signed: its hex
	// SHA-256; unsigned-trailer: its x-amz-checksum-crc64nvme header).
	for _, tc := range []struct {
		mode   PayloadMode
		status int
		code   string
	}{{PayloadChunked, 400, "XAmzContentSHA256Mismatch"}, {PayloadUnsignedTrailer, 400, "BadDigest"}, {PayloadUnsigned, 200, ""}} {
		data := payloadBody(70000)
		key := "/bk-sigv4/whole-" + tc.mode.String()
		req := newUpstreamRequest(t, "PUT", gw.URL, key)
		if err := signer(tc.mode).SignBody(ctx, req, data); err != nil {
			t.Fatal(err)
		}
		do(t, req)
		get := newUpstreamRequest(t, "GET", gw.URL, key)
		if err := signer(tc.mode).Sign(ctx, get, nil); err != nil {
			t.Fatal(err)
		}
		if got := do(t, get); !bytes.Equal(got, data) {
			t.Fatalf("%v whole body read back %d bytes, want %d", tc.mode, len(got), len(data))
		}
		req = newUpstreamRequest(t, "PUT", gw.URL, key+"-tampered")
		if err := signer(tc.mode).SignBody(ctx, req, data); err != nil {
			t.Fatal(err)
		}
		tampered := bytes.Clone(data)
		tampered[0] ^= 1
		req.Body = io.NopCloser(bytes.NewReader(tampered))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), "<Code>"+tc.code+"</Code>") && tc.code != "" {
			t.Fatalf("%v whole body tampered: %d %s", tc.mode, resp.StatusCode, body)
		}
	}

	// DeleteObjects with the Content-MD5 Sign adds, and a listing whose
	// query needs encoding.
	xml := `<Delete><Object><Key>signed/plain</Key></Object><Object><Key>unsigned/plain</Key></Object></Delete>`
	del := newUpstreamRequest(t, "POST", gw.URL, "/bk-sigv4")
	del.URL.RawQuery = "delete="
	if err := signer(PayloadChunked).Sign(ctx, del, []byte(xml)); err != nil {
		t.Fatal(err)
	}
	if body := do(t, del); !strings.Contains(string(body), "signed/plain") {
		t.Fatalf("DeleteObjects: %s", body)
	}
	list := newUpstreamRequest(t, "GET", gw.URL, "/bk-sigv4")
	list.URL.RawQuery = "list-type=2&prefix=" + strings.ReplaceAll(EscapePath("signed/dir/with space+plus/"), "/", "%2F")
	if err := signer(PayloadChunked).Sign(ctx, list, nil); err != nil {
		t.Fatal(err)
	}
	if body := do(t, list); !strings.Contains(string(body), "<KeyCount>1</KeyCount>") {
		t.Fatalf("listing: %s", body)
	}
}

// relay forwards TCP connections to addr and, once the client side of a
// connection has gone (the aborted upload), half-closes the backend side
// and signals on answered when the backend has responded or closed: by then
// its handler has finished with the request.
func relay(t *testing.T, addr string) (string, <-chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	answered := make(chan struct{}, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer b.Close()
				fromBackend := make(chan struct{})
				go func() {
					// Wait for the first byte of the answer, then pass
					// everything on.
					var one [1]byte
					n, _ := b.Read(one[:])
					close(fromBackend)
					if n > 0 {
						c.Write(one[:n])
						io.Copy(c, b)
					}
				}()
				io.Copy(b, c)
				b.(*net.TCPConn).CloseWrite()
				<-fromBackend
				answered <- struct{}{}
			}()
		}
	}()
	return "http://" + l.Addr().String(), answered
}
