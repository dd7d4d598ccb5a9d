package sigv4

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"io"

	"github.com/bucketkey/bucketkey/s3err"
)

var (
	errMD5Mismatch = s3err.BadDigest.With("The Content-MD5 you specified did not match what we received.")
	errShortBody   = s3err.IncompleteBody
)

func errChecksumMismatch(a checksumAlg) *s3err.Error {
	return s3err.BadDigest.With("The " + a.String() + " you specified did not match the calculated checksum.")
}

// bodyReader is Authenticated.Body: the one place every payload mode goes
// through. It reads from src (the raw body, or a chunkDecoder over it),
// feeds every byte to the hashes the request declared, and at the end
// checks them, returning io.EOF only if everything matched and a
// *s3err.Error in its place otherwise.
type bodyReader struct {
	src  io.Reader
	body io.Closer     // the request body, closed by Close
	dec  *chunkDecoder // non-nil for aws-chunked payloads
	n    int64
	want int64 // expected length when src is the raw body, or -1

	sha     hash.Hash // non-nil when x-amz-content-sha256 is a hex hash
	wantSHA [32]byte

	md5     hash.Hash // non-nil when Content-MD5 was sent
	wantMD5 [16]byte

	ck     hash.Hash // non-nil when a checksum algorithm is in play
	ckAlg  checksumAlg
	ckWant []byte // from the header; nil when it comes in the trailer (or not at all)
	ckSum  []byte // the computed checksum, once verified

	err error
}

// Read implements io.Reader.
func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.src.Read(p)
	if n > 0 {
		q := p[:n]
		b.n += int64(n)
		if b.sha != nil {
			b.sha.Write(q)
		}
		if b.md5 != nil {
			b.md5.Write(q)
		}
		if b.ck != nil {
			b.ck.Write(q)
		}
	}
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF:
		if ferr := b.finish(); ferr != nil {
			err = ferr
		}
	case b.dec == nil:
		err = rawBodyFailure(err)
	}
	b.err = err
	return n, err
}

// rawBodyFailure maps an error reading the raw request body: a body shorter
// than its Content-Length is IncompleteBody, like any other read failure.
func rawBodyFailure(err error) error {
	if e := s3err.As(err); e != nil {
		return e
	}
	return errShortBody.Wrap(err)
}

// finish checks the length and every declared digest at the end of the
// body.
// sha256Mismatch is S3's XAmzContentSHA256Mismatch, with the hash the
// client declared and the one computed over what it sent.
func sha256Mismatch(client, computed *[32]byte) *s3err.Error {
	return s3err.XAmzContentSHA256Mismatch.
		WithExtra("ClientComputedContentSHA256", hex.EncodeToString(client[:])).
		WithExtra("S3ComputedContentSHA256", hex.EncodeToString(computed[:]))
}

func (b *bodyReader) finish() error {
	if b.want >= 0 && b.n != b.want {
		return errShortBody
	}
	if b.sha != nil {
		var got [32]byte
		b.sha.Sum(got[:0])
		if subtle.ConstantTimeCompare(got[:], b.wantSHA[:]) != 1 {
			return sha256Mismatch(&b.wantSHA, &got)
		}
	}
	if b.md5 != nil {
		var got [16]byte
		b.md5.Sum(got[:0])
		if subtle.ConstantTimeCompare(got[:], b.wantMD5[:]) != 1 {
			return errMD5Mismatch.
				WithExtra("CalculatedDigest", base64.StdEncoding.EncodeToString(got[:])).
				WithExtra("ExpectedDigest", hex.EncodeToString(b.wantMD5[:])) // S3 spells this one in hex
		}
	}
	if b.ck != nil {
		sum := b.ck.Sum(nil)
		want := b.ckWant
		if want == nil && b.dec != nil {
			want = b.dec.ckValue
		}
		if want != nil && subtle.ConstantTimeCompare(sum, want) != 1 {
			return errChecksumMismatch(b.ckAlg)
		}
		b.ckSum = sum
	}
	return nil
}

// Close closes the request body.
func (b *bodyReader) Close() error {
	if b.body == nil {
		return nil
	}
	return b.body.Close()
}

// checksum returns the base64 checksum of the verified body, or "".
func (b *bodyReader) checksum() string {
	if b.err != io.EOF || b.ckSum == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b.ckSum)
}

// verifiedBody is Authenticated.Body: a bodyReader read through a
// holdBack, in one allocation.
type verifiedBody struct {
	hold holdBack
	br   bodyReader
}

// Read implements io.Reader.
func (v *verifiedBody) Read(p []byte) (int, error) { return v.hold.Read(p) }

// Close closes the request body.
func (v *verifiedBody) Close() error { return v.br.Close() }

// holdBack is what Authenticated.Body reads through, whatever the payload
// mode: it keeps the last byte it has read from src back until src returns
// io.EOF, which the bodyReader does only once every hash, signature, length
// and checksum check has passed. A consumer that acts on bytes as they
// arrive (encrypting them into an upload the backend completes once it has
// Content-Length bytes, say) therefore never has the whole of a body whose
// check then fails: the failure comes first, and the held byte is dropped
// with it. Without this, the final bytes came with a nil error and the
// failure only on the next Read.
//
// Each Read makes at most two reads of src and allocates nothing: with a
// byte held it reads into p[1:] (or, for a 1-byte p, into one) and shifts
// by one position, never copying the data.
type holdBack struct {
	src    io.Reader
	held   byte
	have   bool    // held is a byte of the body not yet returned
	srcEOF bool    // src has returned io.EOF; held, if have, is the last byte
	one    [1]byte // src's buffer when the caller reads one byte at a time
	err    error   // sticky: io.EOF once all is returned, or the failure
}

// Read implements io.Reader.
func (h *holdBack) Read(p []byte) (int, error) {
	if h.err != nil {
		return 0, h.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if h.srcEOF {
		// Only a held byte can be left (the 1-byte path below saw the
		// EOF together with the byte it now holds).
		p[0] = h.held
		h.have = false
		h.err = io.EOF
		return 1, io.EOF
	}
	if !h.have {
		n, err := h.src.Read(p)
		switch {
		case err == io.EOF:
			h.err = io.EOF
			return n, io.EOF
		case err != nil:
			return 0, h.fail(err)
		case n == 0:
			return 0, nil // no progress below; none here either
		}
		h.held, h.have = p[n-1], true
		if n > 1 {
			return n - 1, nil
		}
		// One byte read and held: read again, or this Read would make no
		// progress (and, with 1-byte reads, none ever would).
	}
	if len(p) == 1 {
		n, err := h.src.Read(h.one[:])
		if err != nil && err != io.EOF {
			return 0, h.fail(err)
		}
		if n == 0 {
			if err == io.EOF {
				p[0] = h.held
				h.have = false
				h.err = io.EOF
				return 1, io.EOF
			}
			return 0, nil
		}
		p[0], h.held = h.held, h.one[0]
		h.srcEOF = err == io.EOF
		return 1, nil
	}
	n, err := h.src.Read(p[1:])
	switch {
	case err == io.EOF:
		p[0] = h.held
		h.have = false
		h.err = io.EOF
		return n + 1, io.EOF
	case err != nil:
		return 0, h.fail(err)
	case n == 0:
		return 0, nil
	}
	// p[1:n+1] is new data: return the held byte and all of it but its
	// last byte, which is held in turn.
	p[0], h.held = h.held, p[n]
	return n, nil
}

// fail drops the held byte and makes err sticky. Whatever src returned
// with err is not passed on either: a failed body yields nothing more.
func (h *holdBack) fail(err error) error {
	h.have = false
	h.err = err
	return err
}

// newSHA256 and newMD5 exist so that the hot path reads clearly.
func newSHA256() hash.Hash { return sha256.New() }
func newMD5() hash.Hash    { return md5.New() }
