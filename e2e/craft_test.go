package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// This file crafts requests no SDK would send: aws-chunked bodies with a
// chosen chunk tampered, trailers with wrong checksums, presigned URLs
// from another time, and uploads cut off on the wire.

// Payload modes of x-amz-content-sha256.
const (
	streamingSigned          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	unsignedPayload          = "UNSIGNED-PAYLOAD"
)

// chunked describes an aws-chunked upload to craft.
type chunked struct {
	mode  string // one of the streaming payload modes
	data  []byte
	chunk int // chunk size [64 KiB]
	// trailer is the trailing checksum header ("x-amz-checksum-crc32") and
	// its value; value "" means the right CRC32 of data.
	trailerName, trailerValue string
	// decodedDelta is added to len(data) in x-amz-decoded-content-length.
	decodedDelta int64
	// order lists the chunks sent, by index (nil: all, in order); the
	// final empty chunk is always sent last.
	order []int
	// tamper, if set, may change a chunk's data or signature (hex) after
	// signing, keeping its length; the final empty chunk is number
	// len(data)/chunk rounded up, with nil data.
	tamper func(i int, data []byte, sig []byte)
	// badTrailerSig flips a bit of the trailer signature.
	badTrailerSig bool
	at            time.Time // signing time [now]
	creds         aws.Credentials
}

// signChunked builds and signs a PUT of c to the proxy at path; it returns
// the request (body set) and the framed body.
func (e *env) signChunked(ctx context.Context, path string, c chunked) (*http.Request, []byte) {
	e.t.Helper()
	if c.chunk == 0 {
		c.chunk = 64 << 10
	}
	if c.at.IsZero() {
		c.at = time.Now().UTC()
	}
	if c.creds.AccessKeyID == "" {
		c.creds = clientCreds
	}
	var chunks [][]byte
	for d := c.data; len(d) > 0; {
		n := min(c.chunk, len(d))
		chunks = append(chunks, d[:n])
		d = d[n:]
	}
	order := c.order
	if order == nil {
		for i := range chunks {
			order = append(order, i)
		}
	}
	signed := c.mode != streamingUnsignedTrailer
	trailer := c.mode != streamingSigned
	if trailer && c.trailerName == "" {
		c.trailerName = "x-amz-checksum-crc32"
	}
	if trailer && c.trailerValue == "" {
		sum := crc32.ChecksumIEEE(c.data)
		c.trailerValue = base64.StdEncoding.EncodeToString([]byte{byte(sum >> 24), byte(sum >> 16), byte(sum >> 8), byte(sum)})
	}

	// The framing's length depends on the chunk sizes only, so it is
	// known (and signed) before any chunk signature is.
	frame := func(sigs [][]byte, trailerSig []byte) []byte {
		var b bytes.Buffer
		line := func(n int, sig []byte) {
			fmt.Fprintf(&b, "%x", n)
			if signed {
				b.WriteString(";chunk-signature=")
				b.Write(sig)
			}
			b.WriteString("\r\n")
		}
		for _, i := range order {
			line(len(chunks[i]), sigs[i])
			b.Write(chunks[i])
			b.WriteString("\r\n")
		}
		line(0, sigs[len(chunks)])
		if trailer {
			b.WriteString(c.trailerName + ":" + c.trailerValue + "\r\n")
			if signed {
				b.WriteString("x-amz-trailer-signature:")
				b.Write(trailerSig)
				b.WriteString("\r\n")
			}
		}
		b.WriteString("\r\n")
		return b.Bytes()
	}
	zero := make([][]byte, len(chunks)+1)
	for i := range zero {
		zero[i] = bytes.Repeat([]byte("0"), 64)
	}
	length := len(frame(zero, zero[0]))

	req := e.newReq(ctx, http.MethodPut, path, nil)
	req.ContentLength = int64(length)
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.FormatInt(int64(len(c.data))+c.decodedDelta, 10))
	if trailer {
		req.Header.Set("X-Amz-Trailer", c.trailerName)
	}
	signReq(e.t, req, c.creds, c.mode, c.at)

	sigs := zero
	var trailerSig []byte
	if signed {
		seed := seedSignature(e.t, req)
		ss := v4.NewStreamSigner(c.creds, "s3", testenv.Region, seed)
		sigs = make([][]byte, len(chunks)+1)
		for i := 0; i <= len(chunks); i++ {
			var d []byte
			if i < len(chunks) {
				d = chunks[i]
			}
			s, err := ss.GetSignature(ctx, nil, d, c.at)
			if err != nil {
				e.t.Fatal(err)
			}
			sigs[i] = []byte(hex.EncodeToString(s))
		}
		if trailer {
			trailerSig = signTrailer(c.creds.SecretAccessKey, c.at, string(sigs[len(chunks)]), c.trailerName+":"+c.trailerValue+"\n")
			if c.badTrailerSig {
				trailerSig[10] ^= 1
			}
		}
	}
	if c.tamper != nil {
		// Tamper on copies: chunks alias c.data.
		for i := range chunks {
			chunks[i] = bytes.Clone(chunks[i])
			c.tamper(i, chunks[i], sigs[i])
		}
		c.tamper(len(chunks), nil, sigs[len(chunks)]) // the final, empty chunk
	}
	body := frame(sigs, trailerSig)
	if len(body) != length {
		e.t.Fatalf("framing changed length: %d, signed %d", len(body), length)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	return req, body
}

var sigRE = regexp.MustCompile(`Signature=([0-9a-f]{64})`)

// seedSignature is the signature of a header-signed request.
func seedSignature(t testing.TB, req *http.Request) []byte {
	t.Helper()
	m := sigRE.FindStringSubmatch(req.Header.Get("Authorization"))
	if m == nil {
		t.Fatalf("no signature in %q", req.Header.Get("Authorization"))
	}
	seed, _ := hex.DecodeString(m[1])
	return seed
}

// signTrailer computes x-amz-trailer-signature (the SDK has no public
// API for it): HMAC of "AWS4-HMAC-SHA256-TRAILER", the date, the scope,
// the final chunk's signature and the hash of the canonical trailer.
func signTrailer(secret string, at time.Time, prev, canonical string) []byte {
	date := at.UTC().Format("20060102")
	key := []byte("AWS4" + secret)
	for _, s := range []string{date, testenv.Region, "s3", "aws4_request"} {
		key = hmacSHA256(key, s)
	}
	sum := sha256.Sum256([]byte(canonical))
	sts := strings.Join([]string{"AWS4-HMAC-SHA256-TRAILER", at.UTC().Format("20060102T150405Z"),
		date + "/" + testenv.Region + "/s3/aws4_request", prev, hex.EncodeToString(sum[:])}, "\n")
	return []byte(hex.EncodeToString(hmacSHA256(key, sts)))
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// signedPut builds a header-signed PUT whose x-amz-content-sha256 is the
// SHA-256 of body.
func (e *env) signedPut(ctx context.Context, path string, body []byte, h http.Header) *http.Request {
	e.t.Helper()
	req := e.newReq(ctx, http.MethodPut, path, body)
	for k, v := range h {
		req.Header[k] = v
	}
	sum := sha256.Sum256(body)
	signReq(e.t, req, clientCreds, hex.EncodeToString(sum[:]), time.Now())
	return req
}

// signed builds a header-signed request with an empty body.
func (e *env) signed(ctx context.Context, method, path string) *http.Request {
	e.t.Helper()
	req := e.newReq(ctx, method, path, nil)
	signReq(e.t, req, clientCreds, emptySHA256, time.Now())
	return req
}

var emptySHA256 = func() string { s := sha256.Sum256(nil); return hex.EncodeToString(s[:]) }()

// presign returns a presigned URL for method and path, signed at `at`
// and valid for expires.
func (e *env) presign(method, path string, at time.Time, expires time.Duration) string {
	e.t.Helper()
	req := e.newReq(context.Background(), method, path, nil)
	q := req.URL.Query()
	q.Set("X-Amz-Expires", strconv.Itoa(int(expires/time.Second)))
	req.URL.RawQuery = q.Encode()
	u, _, err := signer().PresignHTTP(context.Background(), clientCreds, req, unsignedPayload, "s3", testenv.Region, at)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// How cutUpload ends its side of the connection.
type cutMode int

const (
	cutClose cutMode = iota // close the connection, as a client that crashes
	cutHalf                 // close the sending side only, then read the answer
	cutNone                 // keep the connection open and read the answer
)

// cutUpload writes req (its headers and the first n bytes of body) on a
// raw connection to the proxy, then ends as mode says. It returns the
// status and raw text of the answer, when it reads one. (Go's server takes
// a half-closed connection for a client that left, so cutHalf is for
// bodies the proxy finds short before it answers.)
func (e *env) cutUpload(req *http.Request, body []byte, n int, mode cutMode) (status int, answer string) {
	e.t.Helper()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", req.Method, req.URL.RequestURI(), req.Host)
	if err := req.Header.Write(&b); err != nil {
		e.t.Fatal(err)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", req.ContentLength)
	b.Write(body[:n])
	if _, err := conn.Write(b.Bytes()); err != nil {
		e.t.Fatal(err)
	}
	switch mode {
	case cutClose:
		return 0, ""
	case cutHalf:
		if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		e.t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	doc, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(doc)
}
