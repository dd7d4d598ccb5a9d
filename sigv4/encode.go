package sigv4

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"

	"github.com/bucketkey/bucketkey/checksum"
)

// chunkHeaderRoom is the space reserved before each chunk's data for its
// header ("<16 hex>;chunk-signature=<64 hex>\r\n" is 99 bytes), so the
// header is written in front of the data already in place and nothing is
// copied twice.
const chunkHeaderRoom = 128

var (
	errUpstreamShort = errors.New("sigv4: upstream body ended before its declared size")
	errUpstreamLong  = errors.New("sigv4: upstream body is longer than its declared size")
)

// chunkedLength is the exact Content-Length of an aws-chunked body of size
// decoded bytes in chunks of chunk bytes: signed
// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) or unsigned, and with a trailer of
// the body's checksum of ck (checksum.None: none; an unsigned body always
// has one).
func chunkedLength(size int64, chunk int, signed bool, ck checksum.Algorithm) int64 {
	per := func(n int64) int64 {
		l := int64(len(strconv.FormatInt(n, 16))) + 2 + n + 2
		if signed {
			l += int64(len(chunkSignaturePrefix)) + 64
		}
		return l
	}
	c := int64(chunk)
	total := (size / c) * per(c)
	if rest := size % c; rest > 0 {
		total += per(rest)
	}
	if signed {
		total += int64(len("0"+chunkSignaturePrefix)) + 64 + 2
	} else {
		total += int64(len("0\r\n"))
	}
	if ck != checksum.None {
		total += int64(len(ck.Header())+1+base64.StdEncoding.EncodedLen(ck.Size())) + 2
		if signed {
			total += int64(len(trailerSignatureName)+1) + 64 + 2
		}
	}
	return total + 2
}

// chunkEncoder frames a body as aws-chunked on the fly, one chunk in memory
// at a time: signed (chain != nil) or unsigned, with a trailer of the
// body's checksum of ckAlg or none (checksum.None, signed only).
type chunkEncoder struct {
	src       io.Reader
	remaining int64
	chunk     int
	buf       []byte // chunkHeaderRoom | chunk data | CRLF
	out       []byte // framed bytes not yet returned
	chain     *chainSigner
	ckAlg     checksum.Algorithm
	ck        hash.Hash // nil for no trailer
	final     bool
	err       error
}

func newChunkEncoder(src io.Reader, size int64, chunk int, chain *chainSigner, ck checksum.Algorithm) *chunkEncoder {
	n := chunk
	if size < int64(n) {
		n = int(size)
	}
	// The final chunk and the trailer section are framed in buf too.
	room := max(chunkHeaderRoom+n+2, finalRoom)
	e := &chunkEncoder{src: src, remaining: size, chunk: chunk, buf: make([]byte, room), chain: chain, ckAlg: ck}
	if ck != checksum.None {
		e.ck = ck.New()
	}
	return e
}

// finalRoom holds the final chunk and the largest trailer section: a
// signed final chunk (86 bytes), a SHA512 trailer (110) and its
// signature (90).
const finalRoom = 320

// Read implements io.Reader. It fills p across chunk boundaries: the
// transport writes what one Read returns, so a Read that stopped at the
// end of a chunk sent its last few bytes (of 32 KiB reads, 16 of a sealed
// segment's 65,552 and the framing) in a write syscall of their own.
func (e *chunkEncoder) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(e.out) == 0 {
			if e.err != nil {
				break
			}
			e.err = e.next()
			continue
		}
		k := copy(p[n:], e.out)
		e.out = e.out[k:]
		n += k
	}
	if n > 0 || len(p) == 0 {
		return n, nil
	}
	return 0, e.err
}

// next frames the next chunk into e.out; io.EOF after the final one.
func (e *chunkEncoder) next() error {
	if e.final {
		return io.EOF
	}
	if e.remaining > 0 {
		n := e.chunk
		if e.remaining < int64(n) {
			n = int(e.remaining)
		}
		data := e.buf[chunkHeaderRoom : chunkHeaderRoom+n]
		if _, err := io.ReadFull(e.src, data); err != nil {
			return upstreamReadErr(err)
		}
		e.remaining -= int64(n)
		var hdr [chunkHeaderRoom]byte
		h := strconv.AppendInt(hdr[:0], int64(n), 16)
		if e.chain != nil {
			sum := sha256.Sum256(data)
			h = append(h, chunkSignaturePrefix...)
			h = append(h, e.chain.sign(chunkPayloadAlgorithm, &sum)...)
		}
		if e.ck != nil {
			e.ck.Write(data)
		}
		h = append(h, '\r', '\n')
		start := chunkHeaderRoom - len(h)
		copy(e.buf[start:], h)
		e.buf[chunkHeaderRoom+n] = '\r'
		e.buf[chunkHeaderRoom+n+1] = '\n'
		e.out = e.buf[start : chunkHeaderRoom+n+2]
		return nil
	}
	// All data is out: the body must end exactly here. This read also
	// holds the final chunk back until the source has finished (and, for
	// the proxy, verified) its input.
	if err := expectEOF(e.src); err != nil {
		return err
	}
	e.final = true
	// The final chunk goes where the data went: the buffer holds at
	// least finalRoom bytes.
	f := e.buf[:0]
	if e.chain != nil {
		f = append(f, "0"+chunkSignaturePrefix...)
		f = append(f, e.chain.sign(chunkPayloadAlgorithm, &emptySHA256)...)
		f = append(f, '\r', '\n')
	} else {
		f = append(f, "0\r\n"...)
	}
	if e.ck != nil {
		line := len(f)
		f = append(f, e.ckAlg.Header()...)
		f = append(f, ':')
		var sum [64]byte
		f = base64.StdEncoding.AppendEncode(f, e.ck.Sum(sum[:0]))
		if e.chain != nil {
			// Signed as "name:value\n" (appendCanonicalTrailer).
			signed := sha256.Sum256(append(f[line:len(f):len(f)], '\n'))
			f = append(f, "\r\n"+trailerSignatureName+":"...)
			f = append(f, e.chain.sign(trailerAlgorithm, &signed)...)
		}
		f = append(f, '\r', '\n')
	}
	e.out = append(f, '\r', '\n')
	return nil
}

// Close closes the source if it is an io.Closer.
func (e *chunkEncoder) Close() error { return closeIf(e.src) }

// exactReader passes exactly remaining bytes of src through and requires
// src to end there. It holds the last byte back until src has returned
// io.EOF: with no framing to end the upload, withholding it is what keeps a
// failing (or overlong) source from completing the backend's
// Content-Length.
type exactReader struct {
	src       io.Reader
	remaining int64
	err       error
}

// Read implements io.Reader. As chunkEncoder's, it fills p, reading src
// again until p is full or src is done: src (the proxy's sealing reader)
// holds one sealed segment of 65,552 bytes at a time, and a Read that
// returned what one read of it gave had the transport write the last 16
// bytes of a segment after two 32 KiB reads on their own.
func (x *exactReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && x.err == nil {
		k, _ := x.read(p[n:])
		n += k
		if k == 0 {
			break
		}
	}
	if n > 0 || len(p) == 0 {
		return n, nil
	}
	return 0, x.err
}

// read is one read of src into p (not empty), the last byte held back.
func (x *exactReader) read(p []byte) (int, error) {
	if x.err != nil {
		return 0, x.err
	}
	if x.remaining == 1 {
		var last [1]byte
		if _, err := io.ReadFull(x.src, last[:]); err != nil {
			x.err = upstreamReadErr(err)
			return 0, x.err
		}
		if err := expectEOF(x.src); err != nil {
			x.err = err
			return 0, err
		}
		x.remaining = 0
		x.err = io.EOF
		p[0] = last[0]
		return 1, nil
	}
	if int64(len(p)) > x.remaining-1 {
		p = p[:x.remaining-1]
	}
	n, err := x.src.Read(p)
	x.remaining -= int64(n)
	if err != nil {
		x.err = upstreamReadErr(err)
	}
	return n, x.err
}

func upstreamReadErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errUpstreamShort
	}
	return fmt.Errorf("sigv4: reading upstream body: %w", err)
}

func (x *exactReader) Close() error { return closeIf(x.src) }

// expectEOF reads src to check it has nothing left.
func expectEOF(src io.Reader) error {
	var one [1]byte
	n, err := io.ReadFull(src, one[:])
	switch {
	case n > 0:
		return errUpstreamLong
	case err == io.EOF:
		return nil
	default:
		return fmt.Errorf("sigv4: reading upstream body: %w", err)
	}
}

func closeIf(r io.Reader) error {
	if c, ok := r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
