package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/internal/testenv"
	"github.com/bucketkey/bucketkey/proxy"
)

const (
	seg  = 64 << 10      // plaintext bytes in a segment
	cseg = seg + 16      // a sealed segment
	size = 3*seg + 8<<10 // the tampered objects: segments 0..2 full, 3 partial
	last = 3             // the index of their final segment
)

// getOutcome is what a client got for a GET.
type getOutcome struct {
	status int
	length int64 // Content-Length announced
	code   string
	body   []byte
	err    error // the transfer broke
}

// rawGet reads path through the proxy with a signed GET (and Range, if
// given), tolerating a broken transfer.
func (e *env) rawGet(path, rng string) getOutcome {
	e.t.Helper()
	ctx := ctxFor(e.t, 60*time.Second)
	req := e.newReq(ctx, http.MethodGet, path, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	signReq(e.t, req, clientCreds, emptySHA256, time.Now())
	resp, err := e.httpClient.Do(req)
	if err != nil {
		return getOutcome{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return getOutcome{status: resp.StatusCode, length: resp.ContentLength, code: errorCode(b), body: b, err: err}
}

// rawHeadStatus sends a signed HEAD of path through the proxy and returns
// its status.
func (e *env) rawHeadStatus(path string) int {
	e.t.Helper()
	ctx := ctxFor(e.t, 60*time.Second)
	req := e.newReq(ctx, http.MethodHead, path, nil)
	signReq(e.t, req, clientCreds, emptySHA256, time.Now())
	resp, err := e.httpClient.Do(req)
	if err != nil {
		e.t.Fatalf("HEAD %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// refused asserts that a read was refused before any byte of the object:
// an S3 error with the given status and code.
func (e *env) refused(what string, o getOutcome, status int, code string) {
	e.t.Helper()
	if o.err != nil || o.status != status || o.code != code {
		e.t.Errorf("%s: got %d %s (%d bytes, err %v), want %d %s before the body", what, o.status, o.code, len(o.body), o.err, status, code)
	}
}

// cut asserts that a read whose failing segment comes after good bytes
// never completed: either it was refused before the body (the proxy
// decrypts ahead of the status line, up to a buffer, so it may know in
// time) or it started (status) and broke, the client seeing a transfer
// shorter than announced whose bytes are a prefix of want no longer than
// good.
func (e *env) cut(what string, o getOutcome, status int, want []byte, good int) {
	e.t.Helper()
	if o.err == nil && o.status == 500 && o.code == "InternalError" {
		return
	}
	e.broken(what, o, status, want, good)
}

// broken asserts that a read started (status) and then broke, as cut
// describes.
func (e *env) broken(what string, o getOutcome, status int, want []byte, good int) {
	e.t.Helper()
	switch {
	case o.status != status:
		e.t.Errorf("%s: status %d %s, want %d and a broken transfer", what, o.status, o.code, status)
	case o.err == nil:
		e.t.Errorf("%s: complete %d with %d bytes (announced %d): unauthenticated bytes delivered as a whole response", what, o.status, len(o.body), o.length)
	case int64(len(o.body)) >= o.length:
		e.t.Errorf("%s: %d bytes of %d announced and an error %v", what, len(o.body), o.length, o.err)
	case len(o.body) > good || !bytes.Equal(o.body, want[:len(o.body)]):
		e.t.Errorf("%s: delivered %d bytes; only the first %d authenticate", what, len(o.body), good)
	}
}

// sdkFails asserts aws-sdk-go-v2 reports an error for the read (at the
// call or while reading the body).
func (e *env) sdkFails(what string, in *s3.GetObjectInput) {
	e.t.Helper()
	ctx := ctxFor(e.t, 60*time.Second)
	out, err := e.client.GetObject(ctx, in)
	if err == nil {
		_, err = io.Copy(io.Discard, out.Body)
		out.Body.Close()
	}
	if err == nil {
		e.t.Errorf("%s: the SDK read the object without an error", what)
	}
}

// tampered stores a fresh object of `size` bytes under key, then rewrites
// it at the backend with edit applied to its stored bytes and metadata.
func (e *env) tampered(b, key string, edit func(raw []byte, md map[string]string) ([]byte, map[string]string)) []byte {
	e.t.Helper()
	return e.tamperedAs(b, key, true, edit)
}

// tamperedAs is tampered with the edited envelope stored packed (as the
// proxy writes it) or, if not packed, a header per field (as bucketkey
// wrote it before the packed form).
func (e *env) tamperedAs(b, key string, packed bool, edit func(raw []byte, md map[string]string) ([]byte, map[string]string)) []byte {
	e.t.Helper()
	data := randBytes(size)
	e.put(b, key, data)
	raw, md := e.stored(b, key)
	raw, md = edit(raw, maps.Clone(md))
	if packed {
		e.plant(b, key, raw, md)
	} else {
		e.plantAsIs(b, key, raw, md)
	}
	return data
}

// TestTamperedBytes: a backend that flips, cuts, extends or swaps stored
// bytes never gets them to a client as a good response. A failure that is
// known before the first byte (the first segment, the size) is an S3
// error; a later one breaks the transfer after the bytes that did
// authenticate.
func TestTamperedBytes(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		flip := func(at int) func([]byte, map[string]string) ([]byte, map[string]string) {
			return func(raw []byte, md map[string]string) ([]byte, map[string]string) {
				raw[at] ^= 0x10
				return raw, md
			}
		}
		p := func(key string) string { return "/" + b + "/" + key }

		t.Run("first segment", func(t *testing.T) {
			e.t = t
			data := e.tampered(b, "first", flip(100))
			e.refused("GET", e.rawGet(p("first"), ""), 500, "InternalError")
			e.refused("GET bytes=0-99", e.rawGet(p("first"), "bytes=0-99"), 500, "InternalError")
			e.refused("GET bytes=60000-70000", e.rawGet(p("first"), "bytes=60000-70000"), 500, "InternalError")
			// A range that stays clear of the bad segment reads: that segment
			// is never fetched.
			o := e.rawGet(p("first"), "bytes=70000-70999")
			if o.status != 206 || o.err != nil || !bytes.Equal(o.body, data[70000:71000]) {
				t.Errorf("range clear of the bad segment: %d %s, err %v", o.status, o.code, o.err)
			}
			e.sdkFails("SDK GET", &s3.GetObjectInput{Bucket: &b, Key: aws.String("first")})
		})
		t.Run("middle segment", func(t *testing.T) {
			e.t = t
			data := e.tampered(b, "middle", flip(cseg+cseg/2))
			e.cut("GET", e.rawGet(p("middle"), ""), 200, data, seg)
			e.refused("GET of a range starting in it", e.rawGet(p("middle"), "bytes=70000-80000"), 500, "InternalError")
			e.cut("GET of a range across it", e.rawGet(p("middle"), "bytes=1000-140000"), 206, data[1000:], seg-1000)
			e.sdkFails("SDK GET", &s3.GetObjectInput{Bucket: &b, Key: aws.String("middle")})
			e.sdkFails("SDK ranged GET", &s3.GetObjectInput{Bucket: &b, Key: aws.String("middle"), Range: aws.String("bytes=0-100000")})
		})
		t.Run("segment 20 of 32", func(t *testing.T) {
			e.t = t
			data := randBytes(32 * seg)
			e.put(b, "far", data)
			raw, md := e.stored(b, "far")
			raw[20*cseg+5] ^= 1
			e.plant(b, "far", raw, md)
			// No proxy decrypts 1.3 MB ahead of its status line: this one is
			// answered 200 and must break.
			e.broken("GET", e.rawGet(p("far"), ""), 200, data, 20*seg)
			e.broken("GET of a range", e.rawGet(p("far"), "bytes=100-1400000"), 206, data[100:], 20*seg-100)
			e.sdkFails("SDK GET", &s3.GetObjectInput{Bucket: &b, Key: aws.String("far")})
		})
		t.Run("last segment", func(t *testing.T) {
			e.t = t
			data := e.tampered(b, "last", flip(last*cseg+10))
			e.cut("GET", e.rawGet(p("last"), ""), 200, data, last*seg)
			e.refused("GET of its range", e.rawGet(p("last"), "bytes=-100"), 500, "InternalError")
			e.sdkFails("SDK GET", &s3.GetObjectInput{Bucket: &b, Key: aws.String("last")})
		})
		t.Run("last tag byte", func(t *testing.T) {
			e.t = t
			data := e.tampered(b, "tag", func(raw []byte, md map[string]string) ([]byte, map[string]string) {
				raw[len(raw)-1] ^= 1
				return raw, md
			})
			e.cut("GET", e.rawGet(p("tag"), ""), 200, data, last*seg)
		})
		t.Run("truncated by one byte", func(t *testing.T) {
			e.t = t
			e.tampered(b, "trunc1", func(raw []byte, md map[string]string) ([]byte, map[string]string) { return raw[:len(raw)-1], md })
			e.refused("GET", e.rawGet(p("trunc1"), ""), 500, "InternalError")
			e.refused("GET of a range", e.rawGet(p("trunc1"), "bytes=0-10"), 500, "InternalError")
		})
		t.Run("final segment dropped and size edited to match", func(t *testing.T) {
			e.t = t
			data := e.tampered(b, "trunc", func(raw []byte, md map[string]string) ([]byte, map[string]string) {
				md["bk-size"] = strconv.Itoa(last * seg)
				return raw[:last*cseg], md
			})
			// Segment 2 was sealed as not final: the stream ends too early.
			e.cut("GET", e.rawGet(p("trunc"), ""), 200, data, 2*seg)
			e.refused("GET of the now-last segment", e.rawGet(p("trunc"), "bytes=-10"), 500, "InternalError")
			// HEAD opens the seal, whose associated data is the size.
			if st := e.rawHeadStatus(p("trunc")); st != 500 {
				t.Errorf("HEAD: %d, want 500", st)
			}
		})
		t.Run("segment appended and size edited to match", func(t *testing.T) {
			e.t = t
			data := e.tampered(b, "appended", func(raw []byte, md map[string]string) ([]byte, map[string]string) {
				raw = append(raw, raw[cseg:2*cseg]...)
				n, err := envelope.PlaintextSize(int64(len(raw)), 0)
				if err != nil {
					t.Fatal(err)
				}
				md["bk-size"] = strconv.FormatInt(n, 10)
				return raw, md
			})
			e.cut("GET", e.rawGet(p("appended"), ""), 200, data, last*seg)
		})
		t.Run("segment appended", func(t *testing.T) {
			e.t = t
			e.tampered(b, "appended2", func(raw []byte, md map[string]string) ([]byte, map[string]string) {
				return append(raw, raw[:cseg]...), md
			})
			e.refused("GET", e.rawGet(p("appended2"), ""), 500, "InternalError")
		})
		t.Run("segments swapped", func(t *testing.T) {
			e.t = t
			data := e.tampered(b, "swapped", func(raw []byte, md map[string]string) ([]byte, map[string]string) {
				s1 := bytes.Clone(raw[cseg : 2*cseg])
				copy(raw[cseg:2*cseg], raw[2*cseg:3*cseg])
				copy(raw[2*cseg:3*cseg], s1)
				return raw, md
			})
			e.cut("GET", e.rawGet(p("swapped"), ""), 200, data, seg)
		})
		t.Run("two objects' bytes swapped", func(t *testing.T) {
			e.t = t
			x, y := randBytes(size), randBytes(size)
			e.put(b, "x", x)
			e.put(b, "y", y)
			rx, mx := e.stored(b, "x")
			ry, my := e.stored(b, "y")
			e.plant(b, "x", ry, mx)
			e.plant(b, "y", rx, my)
			e.refused("GET x", e.rawGet(p("x"), ""), 500, "InternalError")
			e.refused("GET y", e.rawGet(p("y"), ""), 500, "InternalError")
			e.refused("GET a range of x", e.rawGet(p("x"), "bytes=100000-100100"), 500, "InternalError")
			// Bytes and metadata moved together to another name.
			e.plant(b, "moved", rx, mx)
			e.refused("GET of x moved to another name", e.rawGet(p("moved"), ""), 500, "InternalError")
		})
		e.t = t
	})
}

// TestTamperedMetadata: every edit of the envelope metadata is refused
// before any byte of the body (KMS refusals as 403 AccessDenied, the rest
// as 500 InternalError). Removing the envelope (or its version field,
// which marks it) is refused with 403 AccessDenied outside a bucket
// declared mixed; in a mixed bucket the object passes through as stored,
// and the client gets ciphertext, never plaintext.
func TestTamperedMetadata(t *testing.T) {
	mixed := bucketName()
	forEachBackend(t, envOptions{config: func(c *proxy.Config) { c.MixedBuckets = []string{mixed} }}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b, other := e.newBucket(), e.newBucket()
		e.createBucket(mixed)
		e.put(other, "o", []byte("another bucket's object"))
		_, otherMD := e.stored(other, "o")
		b64 := base64.RawURLEncoding.EncodeToString

		cases := []struct {
			name   string
			edit   func(md map[string]string)
			status int
			code   string
		}{
			{"salt changed", func(md map[string]string) { md["bk-salt"] = b64(randBytes(32)) }, 500, "InternalError"},
			{"sealed key changed", func(md map[string]string) { md["bk-sk"] = b64(randBytes(48)) }, 500, "InternalError"},
			{"sealed key of another object", func(md map[string]string) {
				md["bk-sk"], md["bk-salt"] = otherMD["bk-sk"], otherMD["bk-salt"]
			}, 500, "InternalError"},
			{"wrapped key changed", func(md map[string]string) {
				wk, _ := base64.RawURLEncoding.DecodeString(md["bk-wk"])
				wk[len(wk)-5] ^= 1
				md["bk-wk"] = b64(wk)
			}, 403, "AccessDenied"},
			{"wrapped key of another bucket", func(md map[string]string) { md["bk-wk"] = otherMD["bk-wk"] }, 403, "AccessDenied"},
			{"key id of another KMS key", func(md map[string]string) {
				md["bk-kid"] = "arn:aws:kms:" + testenv.Region + ":" + testenv.KMSAccount + ":key/" + testenv.KMSOtherKeyID
			}, 403, "AccessDenied"},
			{"key bucket changed", func(md map[string]string) { md["bk-kb"] = other }, 403, "AccessDenied"},
			{"encryption context added", func(md map[string]string) { md["bk-ctx"] = b64([]byte(`{"a":"b"}`)) }, 403, "AccessDenied"},
			{"version 2", func(md map[string]string) { md["bk-v"] = "2" }, 500, "InternalError"},
			{"unknown field", func(md map[string]string) { md["bk-extra"] = "1" }, 500, "InternalError"},
			{"size smaller", func(md map[string]string) { md["bk-size"] = strconv.Itoa(size - 1) }, 500, "InternalError"},
			{"size removed", func(md map[string]string) { delete(md, "bk-size") }, 500, "InternalError"},
			{"made multipart", func(md map[string]string) { delete(md, "bk-size"); md["bk-mp"] = "1" }, 500, "InternalError"},
			{"key id removed", func(md map[string]string) { delete(md, "bk-kid") }, 500, "InternalError"},
			{"key bucket removed", func(md map[string]string) { delete(md, "bk-kb") }, 500, "InternalError"},
			{"wrapped key removed", func(md map[string]string) { delete(md, "bk-wk") }, 500, "InternalError"},
			{"salt removed", func(md map[string]string) { delete(md, "bk-salt") }, 500, "InternalError"},
			{"sealed key removed", func(md map[string]string) { delete(md, "bk-sk") }, 500, "InternalError"},
			{"key id of an unaccepted key, bare", func(md map[string]string) { md["bk-kid"] = testenv.KMSOtherKeyID }, 403, "AccessDenied"},
		}
		// Each edit in both forms of the envelope: packed in bk-v, as the
		// proxy writes it, and a header per field, as it wrote before.
		for _, packed := range []bool{true, false} {
			for i, c := range cases {
				name, key := c.name, "md"+strconv.Itoa(i)
				if !packed {
					name, key = name+", per field", key+"-per-field"
				}
				t.Run(name, func(t *testing.T) {
					e.t = t
					data := e.tamperedAs(b, key, packed, func(raw []byte, md map[string]string) ([]byte, map[string]string) {
						c.edit(md)
						return raw, md
					})
					o := e.rawGet("/"+b+"/"+key, "")
					e.refused("GET", o, c.status, c.code)
					if bytes.Contains(o.body, data[:32]) {
						t.Errorf("GET returned plaintext")
					}
					e.refused("GET of a range", e.rawGet("/"+b+"/"+key, "bytes=100-200"), c.status, c.code)
					// HEAD opens the seal too: it vouches for nothing GET refuses.
					if st := e.rawHeadStatus("/" + b + "/" + key); st != c.status {
						t.Errorf("HEAD: %d, want %d", st, c.status)
					}
				})
			}
		}

		for _, strip := range []struct {
			name string
			edit func(md map[string]string) map[string]string
		}{
			{"envelope removed", func(map[string]string) map[string]string { return map[string]string{} }},
			{"version removed", func(md map[string]string) map[string]string { delete(md, "bk-v"); return md }},
		} {
			t.Run(strip.name, func(t *testing.T) {
				e.t = t
				key := strings.ReplaceAll(strip.name, " ", "-")
				var raw []byte
				var md map[string]string
				data := e.tampered(b, key, func(r []byte, m map[string]string) ([]byte, map[string]string) {
					raw, md = bytes.Clone(r), strip.edit(maps.Clone(m))
					return r, md
				})
				e.refused("GET", e.rawGet("/"+b+"/"+key, ""), 403, "AccessDenied")
				e.refused("GET of a range", e.rawGet("/"+b+"/"+key, "bytes=100-200"), 403, "AccessDenied")
				if st := e.rawHeadStatus("/" + b + "/" + key); st != 403 {
					t.Errorf("HEAD: %d, want 403", st)
				}
				e.copyRefused(b, key, "AccessDenied")
				// The same bytes in a bucket declared mixed pass through as
				// stored: ciphertext, never plaintext.
				e.plant(mixed, key, raw, md)
				o := e.rawGet("/"+mixed+"/"+key, "")
				if o.status != 200 || o.err != nil || !bytes.Equal(o.body, raw) {
					t.Errorf("GET in a mixed bucket: %d %s, err %v, %d bytes", o.status, o.code, o.err, len(o.body))
				}
				for i := 0; i+32 <= len(data); i += 4096 {
					if bytes.Contains(o.body, data[i:i+32]) {
						t.Fatalf("plaintext at offset %d leaked", i)
					}
				}
			})
		}
		e.t = t
	})
}

// copyRefused asserts that CopyObject and UploadPartCopy from b/key are
// refused with code and leave no destination.
func (e *env) copyRefused(b, key, code string) {
	e.t.Helper()
	ctx := ctxFor(e.t, time.Minute)
	dst := key + "-copy"
	_, err := e.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b, Key: &dst, CopySource: aws.String(b + "/" + key)})
	if c := apiCode(err); c != code {
		e.t.Errorf("CopyObject from %s: %v, want %s", key, err, code)
	}
	if _, err := e.backend.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: &dst}); err == nil {
		e.t.Errorf("CopyObject from %s left a destination", key)
	}
	cr, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: &dst})
	if err != nil {
		e.t.Fatal(err)
	}
	defer e.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b, Key: &dst, UploadId: cr.UploadId}) //nolint:errcheck // cleanup
	_, err = e.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: &b, Key: &dst, UploadId: cr.UploadId, PartNumber: aws.Int32(1), CopySource: aws.String(b + "/" + key)})
	if c := apiCode(err); c != code {
		e.t.Errorf("UploadPartCopy from %s: %v, want %s", key, err, code)
	}
}

// TestSplicedMultipart: a completed multipart object rebuilt at the
// backend with its part 2 taken from another upload (same key, same
// sizes) delivers part 1, then breaks; reads of part 2 are refused
// before the body.
func TestSplicedMultipart(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		sizes := []int{5 << 20, 100 << 10}
		x := e.multipart(b, "x", sizes)
		e.multipart(b, "y", sizes)
		rx, mx := e.stored(b, "x")
		ry, _ := e.stored(b, "y")
		c1 := new(envelope.DataKey).StoredSize(1, int64(sizes[0]))

		// Rebuild x at the backend: part 1 its own, part 2 from y, x's
		// metadata.
		ctx := ctxFor(t, time.Minute)
		cr, err := e.backend.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("x"), Metadata: mx})
		if err != nil {
			t.Fatal(err)
		}
		var parts []types.CompletedPart
		for i, body := range [][]byte{rx[:c1], ry[c1:]} {
			up, err := e.backend.UploadPart(ctx, &s3.UploadPartInput{Bucket: &b, Key: aws.String("x"), UploadId: cr.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(body)})
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: up.ETag})
		}
		if _, err := e.backend.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &b, Key: aws.String("x"), UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
			t.Fatal(err)
		}

		e.cut("GET", e.rawGet("/"+b+"/x", ""), 200, x, sizes[0])
		// Reads of less than the whole object check its end tag (y's, here)
		// before anything else, so even x's own part 1 is refused.
		e.refused("GET of a range in part 2", e.rawGet("/"+b+"/x", "bytes=5300000-5300100"), 500, "InternalError")
		e.refused("GET of a range across the splice", e.rawGet("/"+b+"/x", "bytes=5000000-5300000"), 500, "InternalError")
		e.refused("GET ?partNumber=2", e.rawGet("/"+b+"/x?partNumber=2", ""), 500, "InternalError")
		e.refused("GET ?partNumber=1", e.rawGet("/"+b+"/x?partNumber=1", ""), 500, "InternalError")
		e.sdkFails("SDK GET", &s3.GetObjectInput{Bucket: &b, Key: aws.String("x")})
	})
}

// TestDroppedTrailingParts: a backend re-creates a completed multipart
// object from its first stored parts (bytes and metadata unchanged), with
// or without the marker part, and reports the smaller part count. Every
// remaining part authenticates on its own, but the end tag does not: no
// read returns the shorter object as complete, and no range, part or 416
// answer vouches for its smaller size or part count.
func TestDroppedTrailingParts(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		for _, c := range []struct {
			name  string
			sizes []int
		}{
			{"marker part", []int{5 << 20, 5 << 20, 5 << 20}},            // the end tag is part 4
			{"tag in the last part", []int{5 << 20, 5 << 20, 300 << 10}}, // the end tag is in part 3
		} {
			key := strings.ReplaceAll(c.name, " ", "-")
			x := e.multipart(b, key, c.sizes)
			if got := e.get(b, key); !bytes.Equal(got, x) {
				t.Fatalf("%s: intact object reads back wrong", c.name)
			}
			raw, meta := e.stored(b, key)
			var stored [][]byte
			var off int64
			for _, n := range c.sizes {
				sz := new(envelope.DataKey).StoredSize(1, int64(n))
				stored = append(stored, raw[off:off+sz])
				off += sz
			}
			if tail := raw[off:]; len(tail) > 0 {
				stored = append(stored, tail) // the marker part
			}
			hasMarker := len(stored) > len(c.sizes)
			for _, v := range []struct {
				what   string
				keep   []int // stored parts to keep, by index
				marker bool  // keep the marker part too
			}{
				{"parts 1-2", []int{0, 1}, false},
				{"part 1", []int{0}, false},
				{"parts 1-2 and the marker", []int{0, 1}, true},
			} {
				if v.marker {
					if !hasMarker {
						continue
					}
					v.keep = append(v.keep, len(stored)-1)
				}
				what := c.name + ", " + v.what
				ctx := ctxFor(t, time.Minute)
				cr, err := e.backend.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: &key, Metadata: meta})
				if err != nil {
					t.Fatal(err)
				}
				var parts []types.CompletedPart
				var size int
				for i, k := range v.keep {
					up, err := e.backend.UploadPart(ctx, &s3.UploadPartInput{Bucket: &b, Key: &key, UploadId: cr.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(stored[k])})
					if err != nil {
						t.Fatal(err)
					}
					parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: up.ETag})
					if k < len(c.sizes) {
						size += c.sizes[k]
					}
				}
				if _, err := e.backend.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &b, Key: &key, UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
					t.Fatal(err)
				}
				path := "/" + b + "/" + key
				e.cut(what+": GET", e.rawGet(path, ""), 200, x[:size], size-1)
				e.cut(what+": GET bytes=0-", e.rawGet(path, "bytes=0-"), 206, x[:size], size-1)
				e.cut(what+": GET of the last bytes", e.rawGet(path, "bytes=-100"), 206, x[size-100:size], 99)
				e.refused(what+": GET of a range inside", e.rawGet(path, "bytes=100-200"), 500, "InternalError")
				e.refused(what+": GET of a range past the shorter end", e.rawGet(path, fmt.Sprintf("bytes=%d-", size+10)), 500, "InternalError")
				e.refused(what+": GET ?partNumber=1", e.rawGet(path+"?partNumber=1", ""), 500, "InternalError")
				e.sdkFails(what+": SDK GET", &s3.GetObjectInput{Bucket: &b, Key: &key})
			}
		}
	})
}

// multipart uploads data through the proxy in parts of the given sizes.
func (e *env) multipart(b, key string, sizes []int) []byte {
	e.t.Helper()
	ctx := ctxFor(e.t, time.Minute)
	cr, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: &key})
	if err != nil {
		e.t.Fatal(err)
	}
	var all []byte
	var parts []types.CompletedPart
	for i, n := range sizes {
		d := randBytes(n)
		all = append(all, d...)
		up, err := e.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &b, Key: &key, UploadId: cr.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(d)})
		if err != nil {
			e.t.Fatalf("UploadPart %d: %v", i+1, err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: up.ETag, ChecksumCRC32: up.ChecksumCRC32})
	}
	if _, err := e.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &b, Key: &key, UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		e.t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	return all
}

// TestPerFieldEnvelopeReads: an object whose envelope is stored a header
// per field, as bucketkey wrote it before the packed form, still reads
// through the proxy (whole, a range, HEAD with its checksum), and a copy
// of it is written packed.
func TestPerFieldEnvelopeReads(t *testing.T) {
	forEachBackend(t, envOptions{}, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		b := e.newBucket()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, n := range []int{0, 1000, size} {
			key := "per-field-" + strconv.Itoa(n)
			data := randBytes(n)
			e.put(b, key, data)
			raw, md := e.stored(b, key)
			if md["bk-size"] != strconv.Itoa(n) || md["bk-ck"] == "" {
				t.Fatalf("%s: stored envelope %v", key, md)
			}
			e.plantAsIs(b, key, raw, md)
			head, err := e.backend.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: &key})
			if err != nil || head.Metadata["bk-size"] != strconv.Itoa(n) || head.Metadata["bk-v"] != "1" {
				t.Fatalf("%s: planted metadata %v, %v", key, head.Metadata, err)
			}
			mustEqual(t, key, e.get(b, key), data)
			if n > 200 {
				got, err := e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: &key, Range: aws.String("bytes=100-199")})
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(got.Body)
				got.Body.Close()
				if err != nil || !bytes.Equal(body, data[100:200]) {
					t.Fatalf("%s: range: %v", key, err)
				}
			}
			h, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
			if err != nil || aws.ToInt64(h.ContentLength) != int64(n) || aws.ToString(h.ChecksumCRC32) == "" {
				t.Fatalf("%s: HEAD: %+v, %v", key, h, err)
			}
			copied := key + "-copy"
			if _, err := e.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b, Key: &copied, CopySource: aws.String(b + "/" + key)}); err != nil {
				t.Fatal(err)
			}
			mustEqual(t, copied, e.get(b, copied), data)
			ch, err := e.backend.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: &copied})
			if err != nil || !strings.HasPrefix(ch.Metadata["bk-v"], "1 kid=") || ch.Metadata["bk-size"] != "" {
				t.Fatalf("%s: the copy's stored metadata %v, %v", copied, ch.Metadata, err)
			}
		}
	})
}
