package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"sync"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/s3err"
)

// encryptedPut is one streamed upload of ciphertext: a PutObject or an
// UploadPart.
type encryptedPut struct {
	bucket, key string
	query       url.Values
	header      http.Header // final headers, envelope metadata included
	dk          *envelope.DataKey
	part        int       // 0 for a single-part object, else the part number
	plaintext   io.Reader // the verified client body (or a decrypting reader)
	size        int64     // exact plaintext length
	// fromClient: plaintext is the client's body, so its failures are the
	// client's (400s); otherwise it is a backend object being copied, whose
	// failures (a tampered source, a broken backend stream) are not.
	fromClient bool
	// ck is the algorithm of the ciphertext's checksum the backend is sent
	// (upstreamChecksum), checksum.None for the signer's default.
	ck checksum.Algorithm
}

// errAbandoned ends the sealing of a streamed body (sealReader.abandon)
// when the backend answered before taking the whole body.
var errAbandoned = errors.New("proxy: backend answered before the upload finished")

// putEncrypted streams plaintext through envelope.NewWriter into the
// backend request's body (sealReader) (docs/ARCHITECTURE.md, "Uploads that
// fail"). The final segment is sealed only after the plaintext source
// returned io.EOF, which the verifying client body does only if every
// hash, signature and checksum held; on any failure the body fails
// instead, the backend request is cut short of its declared length, and
// the backend stores nothing. Memory: a plaintext segment, the writer's
// and a sealed one.
//
// If the plaintext source failed, its error is returned (the client's
// fault, e.g. BadDigest); otherwise the backend's response.
func (p *Proxy) putEncrypted(ctx context.Context, u encryptedPut) (*http.Response, error) {
	if u.part == 0 && u.size == 0 {
		return p.putEmpty(ctx, u)
	}
	csize := u.dk.StoredSize(u.part, u.size) // a part's framing included
	if buf := getSealBuffer(csize); buf != nil {
		return p.putBuffered(ctx, u, buf, csize)
	}
	if csize >= expectContinueMin {
		// Let the backend refuse (no such bucket, denied) before it is
		// sent megabytes it will not store.
		u.header.Set("Expect", "100-continue")
	}
	req, err := p.newUpstream(ctx, http.MethodPut, u.bucket, u.key, u.query, u.header)
	if err != nil {
		return nil, err
	}
	req, dl := p.withDeadline(req)
	// All sealed: now the backend's answer is due.
	body, err := newSealReader(u, dl.arm)
	if err != nil {
		dl.cancel(nil)
		return nil, err
	}
	resp, err := p.doStream(req, dl, body, csize, u.ck)
	// Whatever happened, the body is done with: a backend that answered
	// early no longer reads it, and the transport may still try.
	bodyErr := body.abandon()
	if bodyErr != nil && !errors.Is(bodyErr, errAbandoned) {
		if resp != nil {
			drain(resp)
		}
		if !u.fromClient {
			return nil, bodyErr
		}
		return nil, clientBodyError(bodyErr)
	}
	// The backend answered, refused or failed before it took the whole
	// body. The client may still be sending: read the rest of a
	// reasonably sized body, so that it gets the answer instead of a
	// connection reset by the proxy's close.
	early := u.fromClient && errors.Is(bodyErr, errAbandoned) && (err != nil || !ok2xx(resp.StatusCode))
	if err != nil {
		if early && !errors.Is(err, errUpstreamTimeout) {
			// The backend hung up while the body was streaming: most
			// likely it refused the request and closed (Go's transport
			// then reports the write error, a reset or an EOF, not the
			// answer). Find out why, so the client hears "no such
			// bucket", not 503.
			if refusal := p.whyRefused(ctx, u.bucket); refusal != nil {
				err = refusal.Wrap(err)
			}
		}
		if early {
			_, _ = io.CopyN(io.Discard, u.plaintext, maxDrainOnError)
		}
		return nil, err
	}
	if early {
		_, _ = io.CopyN(io.Discard, u.plaintext, maxDrainOnError)
	}
	if errors.Is(bodyErr, errAbandoned) && ok2xx(resp.StatusCode) {
		// Success for a body it did not take whole: only a broken backend
		// answers so, and what it stored (if anything) is not what was
		// sent. The client must not hear that its object is stored.
		drain(resp)
		return nil, fmt.Errorf("proxy: backend answered %s to a PUT before it took the whole body", resp.Status)
	}
	return resp, nil
}

// putEmpty stores an empty single-part object as an empty body, its
// envelope (the data key sealed with the size 0) in the metadata alone
// (docs/FORMAT.md, "Empty objects"): a folder marker "dir/" must be empty
// at the backend, which refuses data there when it maps keys to files, and
// tools take only a zero-size "dir/" for a folder. The client's body is
// read and verified (its checksums, its signature) before anything is
// sent: it must be empty.
func (p *Proxy) putEmpty(ctx context.Context, u encryptedPut) (*http.Response, error) {
	n, err := io.Copy(io.Discard, io.LimitReader(onlyReader{u.plaintext}, 1))
	switch {
	case err != nil && u.fromClient:
		return nil, clientBodyError(err)
	case err != nil:
		return nil, err
	case n != 0:
		return nil, s3err.IncompleteBody.Wrap(errors.New("proxy: body longer than the declared 0 bytes"))
	}
	req, err := p.newUpstream(ctx, http.MethodPut, u.bucket, u.key, u.query, u.header)
	if err != nil {
		return nil, err
	}
	if u.ck != checksum.None {
		req.Header.Set(u.ck.CanonicalHeader(), checksum.Encode(u.ck.Sum(nil)))
	}
	return p.do(req, nil)
}

// expectContinueMin is the upload size from which the proxy asks the
// backend with Expect: 100-continue, as the AWS SDKs do from 2 MB.
const expectContinueMin = 1 << 20

// maxDrainOnError bounds what the proxy reads and discards of a client's
// upload after the backend refused it early.
const maxDrainOnError = 64 << 20

// whyRefused asks the backend about bucket (HEAD) after an upload it cut
// off, and returns the error to answer, or nil if the bucket looks fine.
func (p *Proxy) whyRefused(ctx context.Context, bucket string) *s3err.Error {
	req, err := p.newUpstream(ctx, http.MethodHead, bucket, "", nil, nil)
	if err != nil {
		return nil
	}
	resp, err := p.do(req, nil)
	if err != nil {
		return nil
	}
	drain(resp)
	switch resp.StatusCode {
	case http.StatusNotFound:
		return s3err.NoSuchBucket
	case http.StatusForbidden:
		return s3err.AccessDenied
	}
	return nil
}

// encryptTo encrypts u.plaintext into w and seals the final segment only
// when the source ended cleanly with exactly u.size bytes. A multipart
// part also gets its end field (envelope.NewWriter), which depends on
// u.size: a part too small to be followed carries the object's end tag.
func encryptTo(w io.Writer, u encryptedPut) error {
	ew, err := envelope.NewWriter(w, u.dk, u.part, u.size)
	if err != nil {
		return err
	}
	buf := getBuf()
	defer putBuf(buf)
	n, err := io.CopyBuffer(ew, onlyReader{u.plaintext}, *buf)
	if err != nil {
		return err
	}
	if n != u.size {
		return s3err.IncompleteBody.Wrap(fmt.Errorf("proxy: body of %d bytes, declared %d", n, u.size))
	}
	return ew.Close()
}

// onlyReader hides a reader's WriteTo so that io.CopyBuffer drives the
// copy with the pooled buffer.
type onlyReader struct{ io.Reader }

// clientBodyError is the answer when the client's body failed: sigv4's
// S3 error as it is (BadDigest, XAmzContentSHA256Mismatch, ...), anything
// else (a reset connection) as IncompleteBody.
func clientBodyError(err error) error {
	if e := s3err.As(err); e != nil {
		return e
	}
	var uerr *upstreamError
	if errors.As(err, &uerr) {
		return err
	}
	return s3err.IncompleteBody.Wrap(err)
}

// putObject serves PutObject: the body is encrypted as it streams, under a
// fresh data key sealed with the bucket's current bucket key; the backend
// stores ciphertext and the envelope metadata.
func (p *Proxy) putObject(rq *request) error {
	n := rq.auth.ContentLength
	if n < 0 {
		return s3err.MissingContentLength
	}
	if err := checkUploadSize(n); err != nil {
		return err
	}
	sse, err := parseSSE(rq.r.Header, rq.bucket)
	if err != nil {
		return err
	}
	ctx := rq.r.Context()
	md, dk, err := p.sealNew(ctx, rq, rq.bucket, rq.key, sse, false, n)
	if err != nil {
		return err
	}
	defer dk.Wipe()
	body, err := checksummedBody(rq, rq.r.Header, md, dk, n)
	if err != nil {
		return err
	}
	h := forwardHeader(rq.r.Header)
	if err := setMetadata(h, md); err != nil {
		return err
	}
	resp, err := p.putEncrypted(ctx, encryptedPut{
		bucket: rq.bucket, key: rq.key,
		query:  forwardQuery(query(rq.r)),
		header: h, dk: dk, plaintext: body, size: n, fromClient: true,
		ck: upstreamChecksum(rq, md),
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return rq.answerWrite(resp, md, sse)
}

// setMetadata adds the envelope metadata to upstream headers, and refuses
// (400 MetadataTooLarge) when the client's user metadata and the
// envelope's together exceed what S3 stores: the client hears it from the
// proxy, before anything is sent, not as a backend refusal after it.
func setMetadata(h http.Header, md *envelope.Metadata) error {
	env := 0
	fields := md.Headers()
	// One backing array for every value, not a []string per field as
	// h.Set allocates: each value is its own one-element, full slice.
	vals := make([]string, 0, len(fields))
	for k, v := range fields {
		vals = append(vals, v)
		h[metadataKey(k)] = vals[len(vals)-1 : len(vals) : len(vals)] // h.Set(k, v)
		env += metadataEntrySize(k, v)
	}
	return checkMetadataSize(h, env)
}

// metadataKeys holds the canonical header keys of the envelope's
// metadata names (envelope constants, lower case), so that each is
// canonicalised once, not on every upload as http.Header.Set would.
var metadataKeys sync.Map

func metadataKey(name string) string {
	if k, ok := metadataKeys.Load(name); ok {
		return k.(string)
	}
	k := textproto.CanonicalMIMEHeaderKey(name)
	metadataKeys.Store(name, k)
	return k
}

// checkMetadataSize refuses (400 MetadataTooLarge) user metadata in h over
// S3's limit; env of it is the envelope's.
func checkMetadataSize(h http.Header, env int) error {
	if n := userMetadataSize(h); n > maxUserMetadata {
		// S3's message alone; Size counts the envelope's entries, which
		// the backend would store with the client's.
		return s3err.MetadataTooLarge.
			WithExtra("Size", strconv.Itoa(n)).
			WithExtra("MaxSizeAllowed", strconv.Itoa(maxUserMetadata)).
			Wrap(fmt.Errorf("proxy: %d bytes of user metadata, of which the envelope takes %d", n, env))
	}
	return nil
}

// answerWrite relays the backend's answer to an object write, told as S3
// tells an SSE-KMS write under a bucket key; the checksum the client asked
// for is the plaintext's it sent (verified by sigv4), never the backend's.
func (rq *request) answerWrite(resp *http.Response, md *envelope.Metadata, sse sseRequest) error {
	if !ok2xx(resp.StatusCode) {
		return rq.relay(resp)
	}
	h := rq.w.Header()
	copyResponseHeader(h, resp.Header, true)
	rq.p.setSSEHeaders(h, md.KeyID)
	if sse.rawContext != "" {
		h.Set("X-Amz-Server-Side-Encryption-Context", sse.rawContext)
	}
	rq.setWriteChecksum(h, md)
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxXMLDoc))
	if err != nil {
		return &upstreamError{err: err}
	}
	return rq.relayBodyHeaders(resp.StatusCode, body)
}

// relayBodyHeaders sends status and body with the headers already set.
func (rq *request) relayBodyHeaders(status int, body []byte) error {
	if len(body) > 0 || bodyAllowed(status) {
		rq.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	rq.w.WriteHeader(status)
	if len(body) == 0 || rq.r.Method == http.MethodHead {
		return nil
	}
	_, err := rq.w.Write(body)
	return err
}

// putStored streams u to the backend (putEncrypted) for an operation that
// answers with headers of its own: a failed answer is relayed to the
// client (relayed, with relay's error); a stored one is drained and
// closed, and returned for its headers.
func (p *Proxy) putStored(ctx context.Context, rq *request, u encryptedPut) (_ *http.Response, relayed bool, _ error) {
	resp, err := p.putEncrypted(ctx, u)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	if !ok2xx(resp.StatusCode) {
		return nil, true, rq.relay(resp)
	}
	drain(resp)
	return resp, false, nil
}
