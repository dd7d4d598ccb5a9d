package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/s3err"
)

// conditionHeaders are the conditional request headers of a read.
var conditionHeaders = []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"}

// conditions returns the If-* headers of h. The backend evaluates them:
// it compares the Last-Modified the proxy reports, and the ETags the
// client names mapped back to the backend's (etag.go), so the answers
// (304, 412) agree with what the client saw.
// It is nil when there are none, as for most reads.
func conditions(h http.Header) http.Header {
	var c http.Header
	for _, k := range conditionHeaders {
		if v := h.Values(k); len(v) > 0 {
			if c == nil {
				c = make(http.Header, len(conditionHeaders))
			}
			c[k] = append([]string(nil), v...)
		}
	}
	backendETagHeaders(c)
	return c
}

// getObject serves GetObject and HeadObject: whole, one Range, or
// ?partNumber; conditional headers; plaintext lengths, ranges and no
// ciphertext checksums. Objects without envelope metadata pass through.
func (p *Proxy) getObject(rq *request) error {
	q := query(rq.r)
	s := readSpec{
		bucket:      rq.bucket,
		key:         rq.key,
		query:       forwardQuery(q, "partNumber"),
		rangeHeader: rq.r.Header.Get("Range"),
		ifRange:     rq.r.Header.Get("If-Range"),
		cond:        conditions(rq.r.Header),
		header:      forwardHeader(rq.r.Header, objectReadHeaders...),
		head:        rq.r.Method == http.MethodHead,
	}
	// A HEAD that asks for the stored checksum opens the data key, which
	// authenticates it.
	s.wantKey = s.head && checksumModeEnabled(rq.r.Header)
	if v, ok := q["partNumber"]; ok {
		n, err := parsePartNumber(firstOf(v))
		if err != nil {
			return err
		}
		s.partNumber = n
		if s.rangeHeader != "" {
			return s3err.InvalidRequest.With("Cannot specify both Range header and partNumber query parameter")
		}
	}
	return retryChanged("The object changed repeatedly while it was read. Please retry.", func() error {
		return p.getObjectOnce(rq, s)
	})
}

// getObjectOnce is one attempt of getObject.
func (p *Proxy) getObjectOnce(rq *request, s readSpec) error {
	res, err := p.readObject(rq.r.Context(), rq, s)
	if err != nil {
		return err
	}
	defer res.close()
	if res.passthrough != nil {
		if res.passthrough.StatusCode == http.StatusNotModified {
			// S3 names the object's ETag in a 304, some backends forget
			// to, and the backend's would not be the client's.
			if e := p.notModifiedETag(rq.r.Context(), s, res.passthrough.Header.Get("ETag"), rq.r.Header.Values("If-None-Match")); e != "" {
				res.passthrough.Header.Set("ETag", e)
			}
		}
		return rq.relay(res.passthrough)
	}
	return rq.sendPlaintext(res)
}

// sendPlaintext answers a decrypted read. The first segment is decrypted
// before the status line is sent, so an object that fails authentication
// at once gets a clean 500; a failure later aborts the transfer (a client
// never sees a complete 200 with bytes that did not authenticate).
func (rq *request) sendPlaintext(res *readResult) error {
	h := rq.w.Header()
	copyResponseHeader(h, res.resp.Header, true)
	h.Set("Content-Length", strconv.FormatInt(res.rng.Length, 10))
	h.Set("Accept-Ranges", "bytes")
	if res.partial && res.rng.Length > 0 {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", res.rng.Start, res.rng.Start+res.rng.Length-1, res.size))
	}
	if res.partsCount > 0 {
		h.Set("X-Amz-Mp-Parts-Count", strconv.Itoa(res.partsCount))
	}
	rq.p.setSSEHeaders(h, res.md.KeyID)
	if err := rq.setStoredChecksum(h, res); err != nil {
		return err
	}
	if res.body == nil {
		rq.w.WriteHeader(res.status)
		return nil
	}

	buf := getBuf()
	defer putBuf(buf)
	n, err := fill(res.body, *buf)
	eof := errors.Is(err, io.EOF)
	if err != nil && !eof {
		return err
	}
	if (eof && int64(n) != res.rng.Length) || int64(n) > res.rng.Length {
		return fmt.Errorf("proxy: decrypted %d bytes, want %d: %w", n, res.rng.Length, envelope.ErrAuth)
	}
	rq.w.WriteHeader(res.status)
	if _, err := rq.w.Write((*buf)[:n]); err != nil {
		return err
	}
	if eof {
		return nil
	}
	rest, err := io.CopyBuffer(onlyWriter{rq.w}, res.body, *buf)
	if err != nil {
		return err
	}
	if int64(n)+rest != res.rng.Length {
		return fmt.Errorf("proxy: decrypted %d bytes, want %d: %w", int64(n)+rest, res.rng.Length, envelope.ErrAuth)
	}
	return nil
}

// fill reads into b until it is full or r ends. Unlike io.ReadFull it
// reads at least once even for an empty b's worth of object, so an empty
// object's final segment is authenticated too.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
		if n == len(b) {
			return n, nil
		}
	}
}

// onlyWriter hides the ResponseWriter's ReadFrom, so io.CopyBuffer uses the
// pooled buffer and nothing bypasses the counting writer.
type onlyWriter struct{ io.Writer }

// maxPartNumber is S3's highest part number.
const maxPartNumber = 10000

func parsePartNumber(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPartNumber {
		return 0, errPartNumber(v)
	}
	return n, nil
}

// errPartNumber is S3's InvalidArgument for a part number out of range.
func errPartNumber(v string) error {
	return s3err.InvalidArgumentFor("Part number must be an integer between 1 and 10000, inclusive.", "partNumber", v)
}

func firstOf(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
