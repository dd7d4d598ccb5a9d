package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestCraftedRequestsWork is the control for the refusal tests: the same
// hand-made requests, untampered, succeed. Without it a refusal could
// come from a crafting mistake rather than from the proxy's checks.
func TestCraftedRequestsWork(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		data := randBytes(300<<10 + 123)
		path := "/" + b + "/k"
		cases := []struct {
			name string
			put  func(ctx context.Context) reply
		}{
			{"signed aws-chunked", func(ctx context.Context) reply {
				req, _ := e.signChunked(ctx, path, chunked{mode: streamingSigned, data: data})
				return e.send(req)
			}},
			{"signed aws-chunked, small chunks", func(ctx context.Context) reply {
				req, _ := e.signChunked(ctx, path, chunked{mode: streamingSigned, data: data, chunk: 8 << 10})
				return e.send(req)
			}},
			{"signed aws-chunked with a signed trailer", func(ctx context.Context) reply {
				req, _ := e.signChunked(ctx, path, chunked{mode: streamingSignedTrailer, data: data})
				return e.send(req)
			}},
			{"unsigned payload with a trailer", func(ctx context.Context) reply {
				req, _ := e.signChunked(ctx, path, chunked{mode: streamingUnsignedTrailer, data: data})
				return e.send(req)
			}},
			{"signed SHA-256", func(ctx context.Context) reply {
				return e.send(e.signedPut(ctx, path, data, nil))
			}},
			{"whole body on a raw connection", func(ctx context.Context) reply {
				req := e.newReq(ctx, http.MethodPut, path, data)
				signReq(t, req, clientCreds, unsignedPayload, time.Now())
				status, _ := e.cutUpload(req, data, len(data), cutNone)
				return reply{status: status}
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.t = t
				defer func() { e.t = nil }()
				if r := c.put(ctxFor(t, 30*time.Second)); r.status != 200 {
					t.Fatalf("PUT: %s", r)
				}
				mustEqual(t, "read back", e.get(b, "k"), data)
			})
		}
		e.t = t
		g := e.rawGet(path, "")
		if g.status != 200 || g.err != nil {
			t.Errorf("signed raw GET: %d %s %v", g.status, g.code, g.err)
		}
		u := e.presign(http.MethodGet, path, time.Now(), time.Hour)
		req, err := http.NewRequestWithContext(ctxFor(t, 30*time.Second), http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r := e.send(req); r.status != 200 {
			t.Errorf("presigned GET: %s", r)
		} else {
			mustEqual(t, "presigned GET", r.body, data)
		}
	})
}
