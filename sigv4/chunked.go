package sigv4

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"strconv"

	"github.com/bucketkey/bucketkey/s3err"
)

// aws-chunked framing (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html):
//
//	signed:   <hex size>;chunk-signature=<64 hex>\r\n<data>\r\n ... 0;chunk-signature=<sig>\r\n\r\n
//	unsigned: <hex size>\r\n<data>\r\n ... 0\r\n
//	trailer:  after the final chunk, "name:value" lines (and, when signed,
//	          x-amz-trailer-signature:<sig>), then an empty line.
//
// Chunk i's signature is HMAC(signing key, "AWS4-HMAC-SHA256-PAYLOAD\n" date
// "\n" scope "\n" sig(i-1) "\n" SHA256("") "\n" SHA256(data_i)), chained from
// the seed signature of the request; the trailer signature chains on the
// final chunk's ("AWS4-HMAC-SHA256-TRAILER\n" date "\n" scope "\n" prev "\n"
// SHA256(trailers)).

const (
	chunkPayloadAlgorithm = "AWS4-HMAC-SHA256-PAYLOAD"
	trailerAlgorithm      = "AWS4-HMAC-SHA256-TRAILER"
	emptySHA256Hex        = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	chunkSignaturePrefix  = ";chunk-signature="

	// maxChunkLine bounds a chunk header line; a signed one is under 100 bytes.
	maxChunkLine = 1024
	// decodeBufSize is the read-ahead buffer for chunk headers and the
	// trailer section. Chunk data bigger than what is buffered is read
	// straight into the caller's slice.
	decodeBufSize = 4096
	// fillStep is how much fill reads at a time: enough for a signed chunk
	// header and the CRLF before it, with room to spare.
	fillStep = 256
	// minDataChunk is S3's smallest size for a data chunk that is not
	// the last.
	minDataChunk = 8192
)

var (
	// S3 answers any break in the aws-chunked framing as a body that
	// ended early, and a body longer or shorter than it declared with
	// IncompleteBody's Content-Length message.
	errChunkMalformed  = s3err.IncompleteBody.With("The request body terminated unexpectedly")
	errChunkTruncated  = errChunkMalformed
	errChunkSignature  = s3err.SignatureDoesNotMatch.With("The chunk signature we calculated does not match the signature you provided.")
	errTrailerSig      = s3err.SignatureDoesNotMatch.With("The trailer signature we calculated does not match the signature you provided.")
	errDecodedTooLong  = s3err.IncompleteBody.Wrap(errors.New("sigv4: the aws-chunked body carries more bytes than x-amz-decoded-content-length declares"))
	errDecodedTooShort = s3err.IncompleteBody.Wrap(errors.New("sigv4: the aws-chunked body carries fewer bytes than x-amz-decoded-content-length declares"))
)

// emptySHA256 is SHA-256 of no bytes, the hash of the final chunk.
var emptySHA256 = sha256.Sum256(nil)

type decodeState uint8

const (
	stHeader  decodeState = iota // expecting a chunk header line
	stData                       // inside a chunk's data
	stDataEnd                    // expecting the CRLF after a chunk's data
	stDone                       // everything verified; io.EOF
)

// chainSigner holds what the chunk and trailer signatures chain on.
type chainSigner struct {
	mac     hash.Hash // HMAC-SHA256 under the request's signing key
	amzDate string
	scope   string
	prev    [64]byte // hex of the previous signature (seed first)
	got     [32]byte
	scratch []byte
}

func newChainSigner(key *[32]byte, amzDate, scope string, seed *[32]byte) *chainSigner {
	c := &chainSigner{mac: hmac.New(sha256.New, key[:]), amzDate: amzDate, scope: scope, scratch: make([]byte, 0, 320)}
	hex.Encode(c.prev[:], seed[:])
	return c
}

// next computes the signature for a chunk (or the trailer, when alg is
// trailerAlgorithm) whose content hash is sum, compares it with want in
// constant time and, if equal, makes it the link for the next one.
func (c *chainSigner) next(alg string, sum *[32]byte, want *[32]byte) bool {
	c.compute(alg, sum)
	if !hmac.Equal(c.got[:], want[:]) {
		return false
	}
	hex.Encode(c.prev[:], c.got[:])
	return true
}

// sign computes the signature for a chunk (or the trailer) whose content
// hash is sum, makes it the link for the next one and returns it in hex
// (valid until the next call): what Signer sends upstream.
func (c *chainSigner) sign(alg string, sum *[32]byte) []byte {
	c.compute(alg, sum)
	hex.Encode(c.prev[:], c.got[:])
	return c.prev[:]
}

// compute sets c.got to the signature of the string to sign for alg, sum
// and the previous signature, built in c.scratch.
func (c *chainSigner) compute(alg string, sum *[32]byte) {
	s := append(c.scratch[:0], alg...)
	s = append(s, '\n')
	s = append(s, c.amzDate...)
	s = append(s, '\n')
	s = append(s, c.scope...)
	s = append(s, '\n')
	s = append(s, c.prev[:]...)
	s = append(s, '\n')
	if alg == chunkPayloadAlgorithm {
		s = append(s, emptySHA256Hex...)
		s = append(s, '\n')
	}
	s = hex.AppendEncode(s, sum[:])
	c.scratch = s
	c.mac.Reset()
	c.mac.Write(s)
	c.mac.Sum(c.got[:0])
}

// chunkDecoder removes aws-chunked framing, verifying chunk signatures (when
// signed), the decoded length and the trailer section. It yields data as it
// arrives and returns io.EOF only once everything has been verified; any
// failure is a *s3err.Error returned in place of io.EOF.
type chunkDecoder struct {
	src    io.Reader
	srcErr error // sticky error (often io.EOF) from src
	buf    [decodeBufSize]byte
	r, w   int

	chain     *chainSigner // nil when unsigned
	chunkHash hash.Hash    // SHA-256 of the current chunk, when signed
	want      [32]byte     // claimed signature of the current chunk
	sum       [32]byte     // scratch for the chunk hash

	trailer   bool        // a trailer section follows the final chunk
	trailerCk checksumAlg // the checksum trailer declared in x-amz-trailer
	ckValue   []byte      // its decoded value, once the trailer is read

	declared  int64 // x-amz-decoded-content-length
	minChunk  int64 // smallest size of a data chunk that is not the last
	chunks    int   // data chunks read so far
	last      int64 // size of the last data chunk
	total     int64
	remaining int64
	state     decodeState
	err       error
}

func newChunkDecoder(src io.Reader, declared int64, chain *chainSigner, trailer bool, trailerCk checksumAlg) *chunkDecoder {
	d := &chunkDecoder{src: src, declared: declared, chain: chain, trailer: trailer, trailerCk: trailerCk, minChunk: minDataChunk}
	if chain != nil {
		d.chunkHash = sha256.New()
	}
	return d
}

// Read implements io.Reader.
func (d *chunkDecoder) Read(p []byte) (int, error) {
	for {
		if d.err != nil {
			return 0, d.err
		}
		switch d.state {
		case stHeader:
			d.err = d.readHeader()
		case stData:
			if len(p) == 0 {
				return 0, nil
			}
			n, err := d.readData(p)
			if err != nil {
				d.err = err
			}
			if n > 0 || err != nil {
				return n, err
			}
		case stDataEnd:
			d.err = d.endChunk()
		case stDone:
			d.err = io.EOF
		}
	}
}

// fill reads more of src into the buffer, compacting it first if needed.
// It reads at most fillStep bytes: the buffer is for chunk headers, and
// chunk data read ahead with them would be copied twice.
func (d *chunkDecoder) fill() error {
	if d.srcErr != nil {
		return d.srcErr
	}
	if d.r == d.w {
		d.r, d.w = 0, 0
	} else if d.w == len(d.buf) {
		d.w = copy(d.buf[:], d.buf[d.r:d.w])
		d.r = 0
	}
	n, err := d.src.Read(d.buf[d.w:min(len(d.buf), d.w+fillStep)])
	d.w += n
	if err != nil {
		d.srcErr = err
		if n == 0 {
			return err
		}
	}
	return nil
}

// srcFailure turns an error from src into what the caller sees.
func srcFailure(err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return errChunkTruncated
	}
	if e := s3err.As(err); e != nil {
		return e
	}
	return s3err.IncompleteBody.Wrap(err)
}

// readLine returns the next CRLF-terminated line, without the CRLF. The
// slice aliases the buffer and is valid until the next read.
func (d *chunkDecoder) readLine() ([]byte, error) {
	for {
		if i := bytes.IndexByte(d.buf[d.r:d.w], '\n'); i >= 0 {
			line := d.buf[d.r : d.r+i]
			d.r += i + 1
			if len(line) == 0 || line[len(line)-1] != '\r' {
				return nil, errChunkMalformed
			}
			return line[:len(line)-1], nil
		}
		if d.w-d.r >= maxChunkLine {
			return nil, errChunkMalformed
		}
		if err := d.fill(); err != nil {
			return nil, srcFailure(err)
		}
	}
}

func (d *chunkDecoder) readHeader() error {
	line, err := d.readLine()
	if err != nil {
		return err
	}
	sizeHex := line
	if d.chain != nil {
		i := bytes.IndexByte(line, ';')
		if i < 0 || !bytes.HasPrefix(line[i:], []byte(chunkSignaturePrefix)) {
			return errChunkMalformed
		}
		sizeHex = line[:i]
		sig := line[i+len(chunkSignaturePrefix):]
		if len(sig) != 2*len(d.want) {
			return errChunkMalformed
		}
		if !parseSignature(sig, &d.want) {
			return errChunkSignature
		}
	}
	size, ok := parseHexSize(sizeHex)
	if !ok {
		return errChunkMalformed
	}
	if size > d.declared-d.total {
		return d.discardChunk(size)
	}
	if size > 0 {
		if d.chunks > 0 && d.last < d.minChunk {
			return s3err.InvalidChunkSizeError.
				WithExtra("Chunk", strconv.Itoa(d.chunks)).
				WithExtra("BadChunkSize", strconv.FormatInt(d.last, 10))
		}
		d.chunks, d.last = d.chunks+1, size
		d.remaining = size
		if d.chunkHash != nil {
			d.chunkHash.Reset()
		}
		d.state = stData
		return nil
	}
	// The final, zero-length chunk.
	if d.chain != nil && !d.chain.next(chunkPayloadAlgorithm, &emptySHA256, &d.want) {
		return errChunkSignature
	}
	if d.total != d.declared {
		return errDecodedTooShort
	}
	if err := d.finish(); err != nil {
		return err
	}
	d.state = stDone
	return nil
}

// parseHexSize parses a chunk size: 1 to 15 hex digits (no sign, no
// whitespace), so it fits an int64.
func parseHexSize(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if !isHex(c) {
			return 0, false
		}
		n = n<<4 | int64(unhex(c))
	}
	return n, true
}

func (d *chunkDecoder) readData(p []byte) (int, error) {
	if int64(len(p)) > d.remaining {
		p = p[:d.remaining]
	}
	var n int
	if d.r < d.w {
		n = copy(p, d.buf[d.r:d.w])
		d.r += n
	} else {
		if d.srcErr != nil {
			return 0, srcFailure(d.srcErr)
		}
		var err error
		n, err = d.src.Read(p)
		if err != nil {
			d.srcErr = err
			if n == 0 {
				return 0, srcFailure(err)
			}
		}
	}
	if d.chunkHash != nil {
		d.chunkHash.Write(p[:n])
	}
	d.remaining -= int64(n)
	d.total += int64(n)
	if d.remaining == 0 {
		d.state = stDataEnd
	}
	return n, nil
}

// endChunk consumes the CRLF after a chunk's data and verifies its
// signature.
func (d *chunkDecoder) endChunk() error {
	for d.w-d.r < 2 {
		if err := d.fill(); err != nil {
			return srcFailure(err)
		}
	}
	if d.buf[d.r] != '\r' || d.buf[d.r+1] != '\n' {
		return errChunkMalformed
	}
	d.r += 2
	if d.chain != nil {
		d.chunkHash.Sum(d.sum[:0])
		if !d.chain.next(chunkPayloadAlgorithm, &d.sum, &d.want) {
			return errChunkSignature
		}
	}
	d.state = stHeader
	return nil
}

// discardChunk reads past a chunk that would take the body beyond its
// declared length, to tell, as S3 does, a body whose framing breaks
// (IncompleteBody, terminated) from one that is merely too long
// (IncompleteBody, Content-Length).
func (d *chunkDecoder) discardChunk(n int64) error {
	for n > 0 {
		if d.r == d.w {
			if err := d.fill(); err != nil {
				return srcFailure(err)
			}
			continue
		}
		k := int(min(n, int64(d.w-d.r)))
		d.r += k
		n -= int64(k)
	}
	line, err := d.readLine()
	if err != nil {
		return err
	}
	if len(line) != 0 {
		return errChunkMalformed
	}
	return errDecodedTooLong
}

// finish reads what follows the final chunk, up to the end of the body:
// the terminating CRLF, or the trailer section, which it verifies.
func (d *chunkDecoder) finish() error {
	for d.srcErr == nil {
		if d.r > 0 {
			d.w = copy(d.buf[:], d.buf[d.r:d.w])
			d.r = 0
		}
		if d.w == len(d.buf) {
			if d.trailer {
				return malformedTrailer("the trailer section is too long.")
			}
			return errChunkMalformed
		}
		_ = d.fill()
	}
	if d.srcErr != io.EOF {
		return srcFailure(d.srcErr)
	}
	rest := d.buf[d.r:d.w]
	d.r = d.w
	if !d.trailer {
		if len(rest) == 0 || string(rest) == "\r\n" {
			return nil
		}
		return errChunkMalformed
	}
	if len(rest) == 0 {
		// The body stopped right after the final chunk.
		return errChunkMalformed
	}
	fields, sigHex, perr := parseTrailerBlock(rest)
	if perr != nil {
		return perr
	}
	if d.chain != nil && sigHex == "" {
		// A signed trailer section ends with its signature; without one
		// (a line mangled where it should be, or none at all) S3
		// answers a body that ended early, before judging the fields.
		return errChunkMalformed
	}
	if err := d.checkTrailerFields(fields); err != nil {
		return err
	}
	switch {
	case d.chain == nil && sigHex != "":
		return malformedTrailer("x-amz-trailer-signature is not expected for an unsigned payload.")
	case d.chain != nil && sigHex != "":
		var want [32]byte
		if len(sigHex) != 2*len(want) {
			return errChunkMalformed // as for a chunk signature's length
		}
		if !parseSignature(sigHex, &want) {
			return errTrailerSig
		}
		var canon [256]byte
		sum := sha256.Sum256(appendCanonicalTrailer(canon[:0], fields))
		if !d.chain.next(trailerAlgorithm, &sum, &want) {
			return errTrailerSig
		}
	}
	return nil
}

// checkTrailerFields checks the trailers against x-amz-trailer: the
// declared checksum must be there, and nothing else may be.
func (d *chunkDecoder) checkTrailerFields(fields []trailerField) error {
	for _, f := range fields {
		if d.trailerCk == checksumNone || f.name != d.trailerCk.Header() {
			return malformedTrailer("trailer " + f.name + " was not declared in x-amz-trailer.")
		}
		v, ok := d.trailerCk.Decode(f.value)
		if !ok {
			return s3err.InvalidRequest.With("Value for " + f.name + " trailing header is invalid.")
		}
		d.ckValue = v
	}
	if d.trailerCk != checksumNone && d.ckValue == nil {
		return malformedTrailer("the declared trailer " + d.trailerCk.Header() + " is missing.")
	}
	return nil
}
