package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/s3err"
)

// readSpec is one read of an object, its part or a range of it, by GET,
// HEAD, CopyObject or UploadPartCopy.
type readSpec struct {
	bucket, key string
	// query is forwarded on the backend request whose answer the client
	// sees (versionId, response-* overrides); internal requests keep only
	// versionId.
	query       url.Values
	partNumber  int
	rangeHeader string
	ifRange     string      // the client's If-Range, evaluated by the proxy (ifrange.go)
	cond        http.Header // the client's If-* conditions
	header      http.Header // other forwarded client headers (SSE-C, expected bucket owner, ...)
	head        bool        // headers only
	wantKey     bool        // decrypting after a head (a copy): count it as an object read
	// errorDoc: when the first request is a HEAD and fails, fetch the
	// backend's error document with a GET (the client expects a body).
	errorDoc bool
}

// readResult is what a read found. Either passthrough is set (an object
// without envelope metadata, or a backend error, relayed unchanged), or
// the rest describes plaintext to send.
type readResult struct {
	passthrough *http.Response

	resp       *http.Response // the backend answer whose headers describe the object
	md         *envelope.Metadata
	layout     envelope.Layout   // the stored shape (GetObjectAttributes reports its part count)
	dk         *envelope.DataKey // nil for head
	etag       string
	status     int            // 200, or 206 for ranges and parts
	rng        envelope.Range // the plaintext range sent
	size       int64          // the object's plaintext size
	partial    bool           // send Content-Range
	wholePart  bool           // a part read that is the whole object: part 1 of a single-part object
	partsCount int            // x-amz-mp-parts-count for part reads, 0 if none
	headFirst  bool           // resp answered a HEAD: it has no body
	body       io.Reader      // the plaintext of rng; nil for head
	closers    []io.Closer
}

// close releases the read's backend bodies and wipes its data key.
func (r *readResult) close() {
	if r == nil {
		return
	}
	if r.passthrough != nil {
		r.passthrough.Body.Close()
	}
	for _, c := range r.closers {
		c.Close()
	}
	if r.dk != nil {
		r.dk.Wipe()
	}
}

// setBody sets the plaintext to send. A body that is a Closer (a
// reader's read-ahead) is closed after the backend bodies, which ends a
// read-ahead blocked reading one.
func (r *readResult) setBody(body io.Reader) {
	r.body = body
	if c, ok := body.(io.Closer); ok {
		r.closers = append(r.closers, c)
	}
}

// errObjectChanged: the object was replaced between two backend requests
// of one read (the second was pinned with If-Match to the first's ETag).
var errObjectChanged = errors.New("proxy: object changed during the read")

// changedAttempts is how many times an operation is tried while the object
// it reads keeps changing under it.
const changedAttempts = 3

// retryChanged runs op until it returns anything but errObjectChanged, at
// most changedAttempts times; then it answers 503 ServiceUnavailable with
// message and a Retry-After. That answer no longer matches
// errObjectChanged, so an operation that retries around another (a copy
// around the read of its source) gives up with it instead of multiplying
// the attempts.
func retryChanged(message string, op func() error) error {
	var err error
	for range changedAttempts {
		if err = op(); !errors.Is(err, errObjectChanged) {
			return err
		}
	}
	e := s3err.ServiceUnavailable.With(message).Wrap(fmt.Errorf("%d attempts: %v", changedAttempts, err))
	e.RetryAfter = defaultRetryAfter
	return e
}

// sendRead sends one bodiless backend request of a read.
func (p *Proxy) sendRead(ctx context.Context, method string, s readSpec, q url.Values, h http.Header) (*http.Response, error) {
	req, err := p.newUpstream(ctx, method, s.bucket, s.key, q, h)
	if err != nil {
		return nil, err
	}
	return p.do(req, nil)
}

// internalQuery is the query of the proxy's own requests of a read: the
// version only.
func (s readSpec) internalQuery() url.Values {
	q := url.Values{}
	if v := s.query.Get("versionId"); v != "" {
		q.Set("versionId", v)
	}
	return q
}

// pinned returns the forwarded headers plus If-Match: etag.
func (s readSpec) pinned(etag string) http.Header {
	h := s.header.Clone()
	if h == nil {
		h = make(http.Header)
	}
	if etag != "" {
		h.Set("If-Match", etag)
	}
	return h
}

// readObject plans and starts a read. It does not retry: requests of one
// read are pinned to the ETag the first one saw, so the layout, the key and
// the bytes all belong to the same object, and an object replaced in
// between fails the read with errObjectChanged, which the operation retries
// at its top (retryChanged), once for everything it reads.
func (p *Proxy) readObject(ctx context.Context, rq *request, s readSpec) (*readResult, error) {
	res, err := p.firstAnswer(ctx, rq, &s)
	if err != nil || res.passthrough != nil {
		return res, err
	}
	out, err := p.planRead(ctx, rq, s, res)
	if err != nil {
		res.close() // sub-steps that fail leave their bodies in res
		return nil, err
	}
	return out, nil
}

// firstAnswer sends the read's first backend request, the one carrying the
// client's conditions, and answers from it what it can: a backend error is
// passed through; an object without envelope metadata is refused, or in a
// mixed bucket read as it is stored (readPlain); otherwise the result holds
// the response and the object's envelope metadata. It settles the range
// the read serves (If-Range, s.effectiveRange) in s.
func (p *Proxy) firstAnswer(ctx context.Context, rq *request, s *readSpec) (*readResult, error) {
	// A whole GET is one request; a range needs the size first, so it
	// starts with HEAD.
	first := http.MethodGet
	if s.head || s.rangeHeader != "" {
		first = http.MethodHead
	}
	q := cloneValues(s.query)
	if s.partNumber > 0 {
		q.Set("partNumber", strconv.Itoa(s.partNumber))
	}
	h := s.header.Clone()
	if h == nil {
		h = make(http.Header)
	}
	for k, v := range s.cond {
		h[k] = v
	}
	resp, err := p.sendRead(ctx, first, *s, q, h)
	if err != nil {
		return nil, err
	}
	if !ok2xx(resp.StatusCode) {
		if first == http.MethodHead && (!s.head || s.errorDoc) && resp.StatusCode != http.StatusNotModified {
			// A HEAD answer has no error document; ask again with GET so
			// the client gets the backend's.
			drain(resp)
			if resp, err = p.sendRead(ctx, http.MethodGet, *s, q, h); err != nil {
				return nil, err
			}
			if ok2xx(resp.StatusCode) {
				drain(resp)
				return nil, errObjectChanged
			}
		}
		return &readResult{passthrough: resp}, nil
	}
	md, err := envelope.ParseMetadata(resp.Header)
	s.rangeHeader = s.effectiveRange(resp.Header, err == nil)
	switch {
	case errors.Is(err, envelope.ErrNotEncrypted) && !p.mixed[s.bucket]:
		// Not vouched for by any seal: someone wrote it behind the
		// proxy's back (or replaced an encrypted object).
		drain(resp)
		return nil, p.refuse(rq, RefusedNoEnvelope, s.bucket, s.key, errNoEnvelope, err)
	case errors.Is(err, envelope.ErrNotEncrypted):
		return p.readPlain(ctx, *s, resp, first)
	case err != nil:
		drain(resp)
		return nil, fmt.Errorf("proxy: stored object: %w", err)
	}
	return &readResult{
		resp: resp, headFirst: first == http.MethodHead, closers: []io.Closer{resp.Body},
		md: md, etag: resp.Header.Get("ETag"),
	}, nil
}

// planRead plans the read of an encrypted object from its first answer:
// its stored layout and plaintext size, its data key, then a part, a
// range or the whole object.
func (p *Proxy) planRead(ctx context.Context, rq *request, s readSpec, res *readResult) (*readResult, error) {
	if err := p.mayRead(s.bucket, res.md); err != nil {
		return nil, err
	}
	layout, err := p.layout(ctx, s, res.resp, res.md, res.etag)
	if err != nil {
		return nil, err
	}
	res.layout = layout
	size, err := layout.PlaintextSize()
	if err != nil {
		return nil, fmt.Errorf("proxy: stored object: %w", err)
	}
	if res.md.Size >= 0 && res.md.Size != size {
		return nil, fmt.Errorf("proxy: stored object: recorded size %d, stored size %d: %w", res.md.Size, size, envelope.ErrAuth)
	}
	res.size = size
	// Every read opens the seal, HEAD too: it authenticates the envelope
	// and the recorded size and shape that HEAD reports (one cached
	// unwrap; BenchmarkHeadSeal).
	if res.dk, err = p.openDataKey(ctx, rq, res.md, s.bucket, s.key, s.head && !s.wantKey); err != nil {
		return nil, err
	}
	switch {
	case s.partNumber > 0:
		if err := p.checkEnd(ctx, s, res, layout, nil); err != nil {
			return nil, err
		}
		return p.readPart(res, s, layout)
	case s.rangeHeader != "":
		r, ok, err := parseRange(s.rangeHeader, size)
		if err != nil {
			// A 416 states the object's size: only an authentic one.
			if err := p.checkEnd(ctx, s, res, layout, nil); err != nil {
				return nil, err
			}
			return nil, invalidRange(s.rangeHeader, size, err)
		}
		if ok {
			if err := p.checkEnd(ctx, s, res, layout, &r); err != nil {
				return nil, err
			}
			return p.readRange(ctx, res, s, layout, r)
		}
	}
	return p.readWhole(ctx, res, s, layout)
}

// readPlain reads an object without envelope metadata in a mixed bucket,
// whose first backend answer (to first) is resp: as it is, or once more
// when the answer does not fit the read (a range, or a HEAD for a GET whose
// If-Range did not hold), pinned to the version resp saw.
func (p *Proxy) readPlain(ctx context.Context, s readSpec, resp *http.Response, first string) (*readResult, error) {
	if s.rangeHeader == "" && (first == http.MethodGet || s.head) {
		return &readResult{passthrough: resp}, nil
	}
	drain(resp)
	method := http.MethodGet
	if s.head {
		method = http.MethodHead
	}
	h := s.pinned(resp.Header.Get("ETag"))
	if s.rangeHeader != "" {
		h.Set("Range", s.rangeHeader)
	}
	resp, err := p.sendRead(ctx, method, s, cloneValues(s.query), h)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusPreconditionFailed {
		drain(resp)
		return nil, errObjectChanged
	}
	return &readResult{passthrough: resp}, nil
}

// checkEnd checks the end tag of a multipart object (envelope.Layout.
// CheckEnd) for a read that does not fetch the object's end itself: a part
// (reading nil), a range that ends before the object does, or a 416
// (reading nil). A HEAD of a part or a range checks it too.
func (p *Proxy) checkEnd(ctx context.Context, s readSpec, res *readResult, layout envelope.Layout, reading *envelope.Range) error {
	if res.dk == nil {
		return nil
	}
	return layout.CheckEnd(res.dk, reading, func(off, n int64) ([]byte, error) {
		return p.fetchStored(ctx, s, res.etag, off, n)
	})
}

// readPart reads part s.partNumber from the response of GET ?partNumber.
func (p *Proxy) readPart(res *readResult, s readSpec, layout envelope.Layout) (*readResult, error) {
	res.status, res.partial = http.StatusPartialContent, true
	part := 0
	if layout.Multipart {
		part = s.partNumber
		res.partsCount = len(layout.Parts)
		if part > len(layout.Parts) {
			// The marker part, which holds no plaintext: as S3 answers
			// for a part number past the last.
			return nil, s3err.InvalidPartNumber
		}
		rng, err := layout.PartRange(part)
		if err != nil {
			return nil, fmt.Errorf("proxy: stored object: %w", err)
		}
		res.rng = rng
	} else {
		res.rng, res.wholePart = envelope.Range{Length: res.size}, true
	}
	if res.dk != nil && !s.head {
		var body io.Reader
		var err error
		switch {
		case storedEmpty(layout):
			body = http.NoBody
		case layout.Multipart:
			body, err = envelope.NewPartReader(res.resp.Body, res.dk, layout, part)
		default:
			body, err = envelope.NewReader(res.resp.Body, res.dk)
		}
		if err != nil {
			return nil, err
		}
		res.setBody(body)
	}
	return res, nil
}

// readRange reads the plaintext range r: only the segments it needs are
// fetched, with one more request pinned to the object the HEAD saw.
func (p *Proxy) readRange(ctx context.Context, res *readResult, s readSpec, layout envelope.Layout, r envelope.Range) (*readResult, error) {
	res.status, res.partial, res.rng = http.StatusPartialContent, true, r
	if s.head {
		return res, nil
	}
	off, n, hoff, hn, err := layout.Locate(r)
	if err != nil {
		return nil, fmt.Errorf("proxy: range: %w", err)
	}
	h := s.pinned(res.etag)
	h.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	resp, err := p.sendRead(ctx, http.MethodGet, s, cloneValues(s.query), h)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusPreconditionFailed {
		drain(resp)
		return nil, errObjectChanged
	}
	if !ok2xx(resp.StatusCode) {
		res.close()
		return &readResult{passthrough: resp}, nil
	}
	res.closers = append(res.closers, resp.Body)
	if resp.ContentLength != n {
		return nil, fmt.Errorf("proxy: backend answered %d bytes for a %d-byte range: %w", resp.ContentLength, n, envelope.ErrAuth)
	}
	src := io.Reader(resp.Body)
	if hn > 0 {
		// The range starts inside a part: its header, which selects the
		// part's key, is fetched on its own.
		header, err := p.fetchStored(ctx, s, res.etag, hoff, hn)
		if err != nil {
			return nil, err
		}
		src = io.MultiReader(bytes.NewReader(header), src)
	}
	body, err := envelope.NewRangeReader(src, res.dk, layout, r)
	if err != nil {
		return nil, err
	}
	res.body = body
	return res, nil
}

// fetchStored reads n stored bytes at off of the object the HEAD saw
// (pinned to etag), for the small reads a ranged read needs besides its
// range: a part header, the end tag. An answer that is not exactly those
// bytes fails authentication, as stored bytes that are not there would.
func (p *Proxy) fetchStored(ctx context.Context, s readSpec, etag string, off, n int64) ([]byte, error) {
	h := s.pinned(etag)
	h.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	resp, err := p.sendRead(ctx, http.MethodGet, s, s.internalQuery(), h)
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	switch {
	case resp.StatusCode == http.StatusPreconditionFailed:
		return nil, errObjectChanged
	case resp.StatusCode != http.StatusPartialContent:
		return nil, fmt.Errorf("proxy: GET of stored bytes %d+%d: backend answered %s: %w", off, n, resp.Status, envelope.ErrAuth)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, n+1))
	if err != nil {
		return nil, &upstreamError{err: err}
	}
	if int64(len(b)) != n {
		return nil, fmt.Errorf("proxy: GET of stored bytes %d+%d: %d bytes: %w", off, n, len(b), envelope.ErrAuth)
	}
	return b, nil
}

// readWhole reads the whole object, every part's final segment checked.
func (p *Proxy) readWhole(ctx context.Context, res *readResult, s readSpec, layout envelope.Layout) (*readResult, error) {
	res.status, res.rng = http.StatusOK, envelope.Range{Length: res.size}
	if s.head {
		return res, nil
	}
	resp := res.resp
	if res.headFirst {
		// The first request was a HEAD (an unusable Range): fetch the
		// object it described.
		var err error
		resp, err = p.sendRead(ctx, http.MethodGet, s, cloneValues(s.query), s.pinned(res.etag))
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusPreconditionFailed {
			drain(resp)
			return nil, errObjectChanged
		}
		if !ok2xx(resp.StatusCode) {
			res.close()
			return &readResult{passthrough: resp}, nil
		}
		res.closers = append(res.closers, resp.Body)
	}
	total := int64(0) // an empty object stored empty
	if !storedEmpty(layout) {
		var err error
		if _, total, _, _, err = layout.Locate(envelope.Range{Length: res.size}); err != nil {
			return nil, fmt.Errorf("proxy: stored object: %w", err)
		}
	}
	if resp.ContentLength != total {
		return nil, fmt.Errorf("proxy: backend sent %d bytes for a %d-byte object: %w", resp.ContentLength, total, envelope.ErrAuth)
	}
	if storedEmpty(layout) {
		res.body = http.NoBody
		return res, nil
	}
	if !layout.Multipart {
		body, err := envelope.NewReader(resp.Body, res.dk)
		if err != nil {
			return nil, err
		}
		res.setBody(body)
		return res, nil
	}
	// Every part's end field and the object's end tag are checked before
	// the final segment is released.
	body, err := envelope.NewRangeReader(resp.Body, res.dk, layout, envelope.Range{Length: res.size})
	if err != nil {
		return nil, err
	}
	res.body = body
	return res, nil
}

// maxParallelHeads bounds the concurrent HEAD ?partNumber requests of one
// read.
const maxParallelHeads = 8

// layout learns the stored shape of an object: its ciphertext size for a
// single-part object; for a multipart one, each stored part's size from
// HEAD ?partNumber=k (docs/ARCHITECTURE.md, "Multipart"), pinned to etag,
// concurrently, the marker part included (envelope.NewLayout).
func (p *Proxy) layout(ctx context.Context, s readSpec, resp *http.Response, md *envelope.Metadata, etag string) (envelope.Layout, error) {
	if !md.Multipart {
		total := resp.ContentLength
		if s.partNumber > 0 {
			if t, ok := contentRangeTotal(resp.Header.Get("Content-Range")); ok {
				total = t
			}
		}
		if total < 0 {
			return envelope.Layout{}, errors.New("proxy: backend did not say the object's size")
		}
		return envelope.NewLayout(md, total)
	}
	var count int
	known := map[int]int64{}
	if s.partNumber > 0 {
		n, err := partsCountHeader(resp)
		if err != nil {
			return envelope.Layout{}, err
		}
		count = n
		known[s.partNumber] = resp.ContentLength
	} else {
		size, r, err := p.headPart(ctx, s, etag, 1)
		if err != nil {
			return envelope.Layout{}, err
		}
		if count, err = partsCountHeader(r); err != nil {
			return envelope.Layout{}, err
		}
		known[1] = size
	}
	parts := make([]int64, count)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxParallelHeads)
	for k := 1; k <= count; k++ {
		if c, ok := known[k]; ok {
			parts[k-1] = c
			continue
		}
		g.Go(func() error {
			if gctx.Err() != nil {
				return gctx.Err()
			}
			size, _, err := p.headPart(ctx, s, etag, k)
			parts[k-1] = size
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return envelope.Layout{}, err
	}
	l, err := envelope.NewLayout(md, parts...)
	if err != nil {
		return envelope.Layout{}, fmt.Errorf("proxy: stored object: %w", err)
	}
	return l, nil
}

// partsCountHeader reads a multipart object's x-amz-mp-parts-count.
func partsCountHeader(r *http.Response) (int, error) {
	n, err := strconv.Atoi(r.Header.Get("X-Amz-Mp-Parts-Count"))
	if err != nil || n < 1 || n > 10000 {
		return 0, fmt.Errorf("proxy: object is multipart-encrypted but the backend reports no parts (x-amz-mp-parts-count %q)", r.Header.Get("X-Amz-Mp-Parts-Count"))
	}
	return n, nil
}

// headPart learns the stored size of part k with HEAD ?partNumber=k,
// pinned to etag.
func (p *Proxy) headPart(ctx context.Context, s readSpec, etag string, k int) (int64, *http.Response, error) {
	q := s.internalQuery()
	q.Set("partNumber", strconv.Itoa(k))
	r, err := p.sendRead(ctx, http.MethodHead, s, q, s.pinned(etag))
	if err != nil {
		return 0, nil, err
	}
	drain(r)
	switch {
	case r.StatusCode == http.StatusPreconditionFailed:
		return 0, nil, errObjectChanged
	case !ok2xx(r.StatusCode):
		return 0, nil, fmt.Errorf("proxy: HEAD part %d: backend answered %s", k, r.Status)
	case r.ContentLength < 0:
		return 0, nil, fmt.Errorf("proxy: HEAD part %d: no size", k)
	}
	return r.ContentLength, r, nil
}

// contentRangeTotal parses the total of "bytes a-b/total".
func contentRangeTotal(v string) (int64, bool) {
	_, total, ok := strings.Cut(v, "/")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(total), 10, 64)
	return n, err == nil && n >= 0
}

// invalidRange is S3's 416 for a range outside the object.
func invalidRange(header string, size int64, err error) error {
	return s3err.InvalidRange.
		WithExtra("RangeRequested", header).
		WithExtra("ActualObjectSize", strconv.FormatInt(size, 10)).
		Wrap(err)
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// storedEmpty reports whether l is an empty single-part object stored as an
// empty body (docs/FORMAT.md, "Empty objects"): nothing to decrypt.
func storedEmpty(l envelope.Layout) bool {
	return !l.Multipart && len(l.Parts) == 1 && l.Parts[0] == 0
}
