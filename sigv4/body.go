package sigv4

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"hash"
	"io"

	"github.com/bucketkey/bucketkey/s3err"
)

var (
	errSHA256Mismatch = s3err.XAmzContentSHA256Mismatch
	errMD5Mismatch    = s3err.BadDigest.With("The Content-MD5 you specified did not match what we received.")
	errShortBody      = s3err.IncompleteBody
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
func (b *bodyReader) finish() error {
	if b.want >= 0 && b.n != b.want {
		return errShortBody
	}
	if b.sha != nil {
		var got [32]byte
		b.sha.Sum(got[:0])
		if subtle.ConstantTimeCompare(got[:], b.wantSHA[:]) != 1 {
			return errSHA256Mismatch
		}
	}
	if b.md5 != nil {
		var got [16]byte
		b.md5.Sum(got[:0])
		if subtle.ConstantTimeCompare(got[:], b.wantMD5[:]) != 1 {
			return errMD5Mismatch
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

// newSHA256 and newMD5 exist so that the hot path reads clearly.
func newSHA256() hash.Hash { return sha256.New() }
func newMD5() hash.Hash    { return md5.New() }
