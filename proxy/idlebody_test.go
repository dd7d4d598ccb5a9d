package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// TestBodyIdleTimeout: a client that stops sending its body halfway gets
// S3's 400 RequestTimeout once a read has waited BodyIdleTimeout, and no
// object is stored, for a body sealed in memory and a streamed one; a
// client that keeps sending is not hurried.
func TestBodyIdleTimeout(t *testing.T) {
	tp := newTestProxy(t, func(c *Config) { c.BodyIdleTimeout = 300 * time.Millisecond })
	b := tp.newBucket(t)
	pc := s3.NewPresignClient(tp.client)
	u, _ := url.Parse(tp.srv.URL)
	for _, size := range []int{100 << 10, 4 << 20} {
		key := fmt.Sprintf("idle-%d", size)
		preq, err := pc.PresignPutObject(context.Background(), &s3.PutObjectInput{Bucket: &b, Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		pu, _ := url.Parse(preq.URL)
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// Headers and a tenth of the body, then nothing: the connection
		// stays open, as a stalled client's does.
		fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", pu.RequestURI(), pu.Host, size)
		if _, err := conn.Write(make([]byte, size/10)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%d bytes: no answer: %v", size, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct{ Code string }
		_ = xml.Unmarshal(body, &e)
		if resp.StatusCode != http.StatusBadRequest || e.Code != "RequestTimeout" {
			t.Errorf("%d bytes, client stalled: %s %s, want 400 RequestTimeout", size, resp.Status, body)
		}
		if _, err := tp.backend.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &b, Key: aws.String(key)}); err == nil {
			t.Errorf("%d bytes: an object was stored for a stalled upload", size)
		}
	}
	// A client that keeps sending, taking longer than the timeout in all
	// but never pausing that long, is served: the timeout is per read.
	slow := newTestProxy(t, func(c *Config) { c.BodyIdleTimeout = time.Second })
	pr, pw := io.Pipe()
	go func() {
		for range 8 {
			pw.Write(make([]byte, 1000))
			time.Sleep(200 * time.Millisecond) // a slow client, not synchronisation
		}
		pw.Close()
	}()
	preq, err := s3.NewPresignClient(slow.client).PresignPutObject(context.Background(), &s3.PutObjectInput{Bucket: &b, Key: aws.String("slow")})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, preq.URL, pr)
	req.ContentLength = 8000
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a slow client that never paused a second: %s %s", resp.Status, strings.TrimSpace(string(body)))
	}
}

// TestEarlyClosedBodyEndsConnection: when a request fails before its body
// is read (a malformed aws-chunked chunk, 1 MiB still to come), the
// server closes the connection after the answer, as net/http does for a
// handler that closed the body early, rather than read the unread body
// as the next request ("400 Bad Request" on an idle connection, which a
// client's next request then met): the body the handlers see is wrapped
// (idleBody) on a copy of the request, never the server's own.
func TestEarlyClosedBodyEndsConnection(t *testing.T) {
	tp := newTestProxy(t)
	b := tp.newBucket(t)
	var body bytes.Buffer
	fmt.Fprintf(&body, "%x\r\n%s\r\n", 8192, make([]byte, 8192))
	body.WriteString("zz\r\n") // not a chunk size
	body.Write(bytes.Repeat([]byte("x"), 1<<20))
	req, _ := http.NewRequest(http.MethodPut, tp.srv.URL+"/"+b+"/early", bytes.NewReader(body.Bytes()))
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(2<<20))
	req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	req.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: clientAccessKey, SecretAccessKey: clientSecretKey},
		req, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "s3", testenv.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", req.URL.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go req.Write(conn) // the whole body, as a client sends it; fails once the server closes
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("malformed chunk: %s %s", resp.Status, out)
	}
	if !resp.Close {
		t.Fatalf("the answer keeps the connection, whose unread body would be read as the next request")
	}
	if next, err := http.ReadResponse(br, nil); err == nil {
		t.Fatalf("the server answered again on the connection: %s", next.Status)
	}
}
