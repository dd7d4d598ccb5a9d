package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bucketkey/bucketkey/envelope"
)

// overlongPut writes req on a raw connection to the proxy with its
// Content-Length header (req.ContentLength) followed by wire, which may
// hold more bytes than that, reads the answer to the request, then closes
// its sending side and reads whatever else the server sends until it
// closes the connection; rest is that (Go's server answers bytes that do
// not end a request line "400 Bad Request"). Once it returns, the server
// is done with every byte sent, the extra ones included.
func (e *env) overlongPut(req *http.Request, wire []byte) (status int, code, rest string) {
	e.t.Helper()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		e.t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", req.Method, req.URL.RequestURI(), req.Host)
	if err := req.Header.Write(&b); err != nil {
		e.t.Fatal(err)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", req.ContentLength)
	b.Write(wire)
	if _, err := conn.Write(b.Bytes()); err != nil {
		e.t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		e.t.Fatalf("reading the answer: %v", err)
	}
	doc, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		e.t.Fatalf("reading the answer's body: %v", err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		e.t.Fatal(err)
	}
	after, err := io.ReadAll(br)
	if err != nil {
		// A reset is the server closing with bytes unread: done too.
		e.t.Logf("after the answer: %v", err)
	}
	return resp.StatusCode, errorCode(doc), string(after)
}

// since returns the requests the proxy finished after mark.
func (o *observer) since(mark int) []observed {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]observed(nil), o.done[mark:]...)
}

// withoutObject is a snapshot without the line of bucket/key, and that
// line.
func withoutObject(snap, bucket, key string) (rest, line string) {
	var keep []string
	for _, l := range strings.Split(snap, "\n") {
		if strings.HasPrefix(l, "object "+bucket+"/"+key+" ") {
			line = l
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n"), line
}

// TestPutBodyLength sends plain PutObjects (x-amz-content-sha256 the
// payload's hash, not aws-chunked) whose bytes on the wire disagree with
// their Content-Length, over an existing object. The proxy reads exactly
// Content-Length bytes: bytes after them are the next request to the
// server (here not a request at all, so nothing the proxy serves), never
// part of the body. So a body followed by extra bytes is stored exactly
// when its signed hash is that of the Content-Length bytes, and is
// refused with XAmzContentSHA256Mismatch, storing nothing, when the hash
// covers the extra bytes too. A body shorter than its Content-Length,
// whatever hash it was signed with, is refused with IncompleteBody when
// the client half-closes and waits, and abandoned when it closes: the
// backend is unchanged and the old object reads back.
func TestPutBodyLength(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		old := randBytes(200 << 10)
		e.put(b, "k", old)
		path := "/" + b + "/k"
		sha := func(p []byte) string { s := sha256.Sum256(p); return hex.EncodeToString(s[:]) }
		const n = 1 << 20 // 16 segments: ciphertext streams to the backend before any failure shows
		// The extra bytes are printable and hold no line end, so the server
		// takes them for the start of a request line that never ends.
		extra := []byte(hex.EncodeToString(randBytes(500)))

		run := func(t *testing.T, name string, f func(t *testing.T, ctx context.Context)) {
			t.Run(name, func(t *testing.T) {
				e.t = t
				defer func() { e.t = nil }()
				f(t, ctxFor(t, 30*time.Second))
			})
		}

		run(t, "longer than Content-Length, hash of all the bytes sent", func(t *testing.T, ctx context.Context) {
			before := e.snapshot(b)
			body := randBytes(n)
			wire := append(bytes.Clone(body), extra...)
			req := e.newReq(ctx, http.MethodPut, path, body)
			signReq(t, req, clientCreds, sha(wire), time.Now())
			mark := e.obs.mark()
			status, code, rest := e.overlongPut(req, wire)
			if status != 400 || code != "XAmzContentSHA256Mismatch" {
				t.Errorf("got %d %s, want 400 XAmzContentSHA256Mismatch", status, code)
			}
			if got := e.obs.since(mark); len(got) != 1 || got[0] != (observed{"PutObject", 400}) {
				t.Errorf("the proxy served %+v, want the one PutObject (the extra bytes answered %q)", got, rest)
			}
			if rest != "" && !strings.HasPrefix(rest, "HTTP/1.1 400 Bad Request\r\n") {
				t.Errorf("the extra bytes were answered %q, want the server's 400 Bad Request or nothing", rest)
			}
			e.sameState("a PUT whose hash covers bytes past its Content-Length", before, b)
			mustEqual(t, "the old object", e.get(b, "k"), old)
		})

		for _, c := range []struct {
			name string
			hash func(body []byte) string // of the whole body
			mode cutMode
		}{
			{"shorter than Content-Length, hash of the whole body, half-close", func(body []byte) string { return sha(body) }, cutHalf},
			{"shorter than Content-Length, hash of the bytes sent, half-close", func(body []byte) string { return sha(body[:n-1000]) }, cutHalf},
			{"shorter than Content-Length, hash of the whole body, close", func(body []byte) string { return sha(body) }, cutClose},
			{"shorter than Content-Length, hash of the bytes sent, close", func(body []byte) string { return sha(body[:n-1000]) }, cutClose},
		} {
			run(t, c.name, func(t *testing.T, ctx context.Context) {
				before := e.snapshot(b)
				body := randBytes(n)
				req := e.newReq(ctx, http.MethodPut, path, body)
				signReq(t, req, clientCreds, c.hash(body), time.Now())
				mark := e.obs.mark()
				status, answer := e.cutUpload(req, body, n-1000, c.mode)
				// After a close nobody hears the answer: wait for the proxy.
				done := e.obs.waitFor(t, mark, "PutObject")
				if code := errorCode([]byte(answer)); c.mode == cutHalf && (status != 400 || code != "IncompleteBody") {
					t.Errorf("got %d %s, want 400 IncompleteBody", status, code)
				}
				if done.status < 400 {
					t.Errorf("the proxy finished the PUT with %d", done.status)
				}
				e.sameState(c.name, before, b)
				mustEqual(t, "the old object", e.get(b, "k"), old)
			})
		}

		// Last, as it replaces the object.
		run(t, "longer than Content-Length, hash of Content-Length bytes", func(t *testing.T, ctx context.Context) {
			before := e.snapshot(b)
			body := randBytes(n)
			req := e.newReq(ctx, http.MethodPut, path, body)
			signReq(t, req, clientCreds, sha(body), time.Now())
			mark := e.obs.mark()
			status, code, rest := e.overlongPut(req, append(bytes.Clone(body), extra...))
			if status != 200 {
				t.Fatalf("got %d %s, want 200", status, code)
			}
			if got := e.obs.since(mark); len(got) != 1 || got[0] != (observed{"PutObject", 200}) {
				t.Errorf("the proxy served %+v, want the one PutObject (the extra bytes answered %q)", got, rest)
			}
			if rest != "" && !strings.HasPrefix(rest, "HTTP/1.1 400 Bad Request\r\n") {
				t.Errorf("the extra bytes were answered %q, want the server's 400 Bad Request or nothing", rest)
			}
			mustEqual(t, "the object read back", e.get(b, "k"), body)
			raw, meta := e.stored(b, "k")
			if int64(len(raw)) != new(envelope.DataKey).StoredSize(0, n) || meta["bk-size"] != strconv.Itoa(n) {
				t.Errorf("stored %d bytes recording size %q, want the ciphertext of %d bytes (%d)", len(raw), meta["bk-size"], n, new(envelope.DataKey).StoredSize(0, n))
			}
			// Nothing else changed: no other object, upload or bucket.
			wasRest, _ := withoutObject(before, b, "k")
			nowRest, line := withoutObject(e.snapshot(b), b, "k")
			if nowRest != wasRest || !strings.Contains(line, fmt.Sprintf(" size=%d ", new(envelope.DataKey).StoredSize(0, n))) {
				t.Errorf("backend after the PUT:\n%s\n%s\nbefore:\n%s", nowRest, line, before)
			}
		})
	})
}
