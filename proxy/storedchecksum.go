package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/s3err"
)

// S3 stores a checksum of every object's content and returns it on request
// (GET and HEAD with x-amz-checksum-mode: ENABLED). Through the proxy it
// is the plaintext's, kept in the envelope metadata and authenticated
// under the object's data key (envelope.Metadata.SetChecksum), never the
// backend's checksum of the ciphertext. The recorded value is
// "<ALGORITHM>:<TYPE>:<base64 digest>", e.g.
// "CRC64NVME:FULL_OBJECT:jSnVw/bqjr4=".

// Checksum types, as in x-amz-checksum-type.
const (
	checksumFullObject = "FULL_OBJECT"
	checksumComposite  = "COMPOSITE"
)

// storedChecksum is a recorded checksum.
type storedChecksum struct {
	alg   checksum.Algorithm
	typ   string // checksumFullObject or checksumComposite
	value string // base64 digest, with "-N" for a composite of N parts
}

func (c storedChecksum) String() string {
	return c.alg.String() + ":" + c.typ + ":" + c.value
}

// parseStoredChecksum reads a recorded value; ok is false for anything
// this proxy does not write.
func parseStoredChecksum(v string) (storedChecksum, bool) {
	name, rest, ok1 := strings.Cut(v, ":")
	typ, value, ok2 := strings.Cut(rest, ":")
	c := storedChecksum{alg: checksum.ByName(name), typ: typ, value: value}
	if !ok1 || !ok2 || c.alg == checksum.None || c.alg.String() != name {
		return storedChecksum{}, false
	}
	digest := value
	if typ == checksumComposite {
		d, parts, ok := strings.Cut(value, "-")
		if n, err := strconv.Atoi(parts); !ok || err != nil || n < 1 || n > 10000 || strconv.Itoa(n) != parts {
			return storedChecksum{}, false
		}
		digest = d
	} else if typ != checksumFullObject {
		return storedChecksum{}, false
	}
	if _, ok := c.alg.Decode(digest); !ok {
		return storedChecksum{}, false
	}
	return c, true
}

// recordRequestChecksum records in md the checksum the client sent in a
// header of its PutObject (h is the request's headers; for a POST upload,
// the form's fields as headers), which sigv4 verifies against the body
// before the upload completes (the final segment is held until it has).
// A checksum sent in an aws-chunked trailer, or none, is only known after
// the metadata has gone upstream with the request's headers, and is not
// recorded here (bufferForChecksum records it for a small body;
// docs/FORMAT.md, "Checksums").
func recordRequestChecksum(rq *request, h http.Header, md *envelope.Metadata, dk *envelope.DataKey) error {
	alg := checksum.ByName(rq.auth.ChecksumAlgorithm)
	if alg == checksum.None {
		return nil
	}
	v := h.Get(alg.CanonicalHeader())
	if _, ok := alg.Decode(v); !ok {
		return nil // in the trailer
	}
	return md.SetChecksum(dk, storedChecksum{alg: alg, typ: checksumFullObject, value: v}.String())
}

// checksummedBody records the object's checksum in md, the one sent in
// h (recordRequestChecksum) or, for a small body, the one computed as it
// is read (bufferForChecksum), and returns the n-byte body to encrypt.
func checksummedBody(rq *request, h http.Header, md *envelope.Metadata, dk *envelope.DataKey, n int64) (io.Reader, error) {
	if err := recordRequestChecksum(rq, h, md, dk); err != nil {
		return nil, err
	}
	return bufferForChecksum(rq, md, dk, rq.body(), n)
}

// checksumModeEnabled reports whether a read asks for the stored checksum.
func checksumModeEnabled(h http.Header) bool {
	return strings.EqualFold(strings.TrimSpace(h.Get("X-Amz-Checksum-Mode")), "ENABLED")
}

// setStoredChecksum adds the object's recorded checksum to the answer of a
// whole-object read that asked for it, as S3 answers: x-amz-checksum-<alg>
// and x-amz-checksum-type. A recorded checksum whose tag fails is an
// authentication failure.
//
// Part 1 of a single-part object is the whole object, and S3 answers its
// checksum for it too.
func (rq *request) setStoredChecksum(h http.Header, res *readResult) error {
	if res.partial && !res.wholePart || !checksumModeEnabled(rq.r.Header) {
		return nil
	}
	c, ok, err := openStoredChecksum(res.md, res.dk)
	if err != nil || !ok {
		return err
	}
	setChecksumHeaders(h, c.alg, c.value, c.typ)
	return nil
}

// setChecksumHeaders sets alg's checksum header to value and, unless typ
// is empty, x-amz-checksum-type to typ: both values in one backing array
// (h.Set allocates a slice per header), each a one-element, full slice.
func setChecksumHeaders(h http.Header, alg checksum.Algorithm, value, typ string) {
	vals := [...]string{value, typ}
	s := vals[:]
	if typ == "" {
		s = []string{value}
	}
	h[alg.CanonicalHeader()] = s[0:1:1]
	if typ != "" {
		h["X-Amz-Checksum-Type"] = s[1:2:2]
	}
}

// maxBufferedChecksum is the largest PutObject whose checksum the proxy
// records when the client sent none in a header (a trailer, or nothing:
// S3 then stores a CRC64NVME): such a body is read and verified whole
// before the upload starts, so that its checksum is known when the
// metadata goes upstream. One segment: memory stays bounded per request.
const maxBufferedChecksum = bufSize // one segment of the envelope format

// bufferForChecksum returns the body to encrypt for a PutObject of n
// bytes. When md records no checksum yet and the body is small, it reads
// and verifies the whole body, records its checksum (the trailer's
// algorithm, or CRC64NVME) and returns the bytes; otherwise body as is.
func bufferForChecksum(rq *request, md *envelope.Metadata, dk *envelope.DataKey, body io.Reader, n int64) (io.Reader, error) {
	if md.Checksum != "" || n > maxBufferedChecksum {
		return body, nil
	}
	plain, err := readExactly(body, n)
	if err != nil {
		return nil, err
	}
	alg := checksum.ByName(rq.auth.ChecksumAlgorithm)
	if alg == checksum.None {
		alg = checksum.CRC64NVME
	}
	c := storedChecksum{alg: alg, typ: checksumFullObject, value: checksum.Encode(alg.Sum(plain))}
	if err := md.SetChecksum(dk, c.String()); err != nil {
		return nil, err
	}
	return bytes.NewReader(plain), nil
}

// readExactly reads body, which must be n bytes long, to its verified end
// into a buffer of exactly n bytes (where io.ReadAll would grow one from
// 512 bytes, copying as it goes).
func readExactly(body io.Reader, n int64) ([]byte, error) {
	plain := make([]byte, n)
	got, err := io.ReadFull(body, plain)
	if err == nil {
		var one [1]byte
		var k int
		k, err = io.ReadFull(body, one[:])
		got += k
	}
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		// The body ended: short of n, at n (verified), or n+1 bytes in.
		if int64(got) == n {
			return plain, nil
		}
	case err != nil:
		return nil, clientBodyError(err)
	}
	if int64(got) > n {
		return nil, s3err.IncompleteBody.Wrap(fmt.Errorf("proxy: body longer than the declared %d bytes", n))
	}
	return nil, s3err.IncompleteBody.Wrap(fmt.Errorf("proxy: body of %d bytes, declared %d", got, n))
}

// setWriteChecksum adds to a write's answer the checksum S3 answers: the
// one recorded, with its type, or else the one the client sent (verified).
func (rq *request) setWriteChecksum(h http.Header, md *envelope.Metadata) {
	if c, ok := parseStoredChecksum(md.Checksum); ok {
		setChecksumHeaders(h, c.alg, c.value, c.typ)
		return
	}
	if alg := checksum.ByName(rq.auth.ChecksumAlgorithm); alg != checksum.None && rq.auth.Checksum != nil {
		if sum := rq.auth.Checksum(); sum != "" {
			typ := ""
			if rq.op == "PutObject" {
				// An object's checksum is of the whole object; S3's
				// UploadPart answer names no type.
				typ = checksumFullObject
			}
			setChecksumHeaders(h, alg, sum, typ)
		}
	}
}

// uploadChecksum reads CreateMultipartUpload's x-amz-checksum-algorithm
// and x-amz-checksum-type as S3 does: the type needs an algorithm; it
// defaults to FULL_OBJECT for CRC64NVME and COMPOSITE otherwise;
// FULL_OBJECT is for the CRCs only and COMPOSITE for all but CRC64NVME.
// It returns checksum.None when the client named no algorithm.
func uploadChecksum(h http.Header) (checksum.Algorithm, string, error) {
	name := strings.TrimSpace(h.Get("X-Amz-Checksum-Algorithm"))
	typ := strings.ToUpper(strings.TrimSpace(h.Get("X-Amz-Checksum-Type")))
	if _, ok := h["X-Amz-Checksum-Type"]; ok && typ != checksumFullObject && typ != checksumComposite {
		return checksum.None, "", s3err.InvalidRequest.With("Value for x-amz-checksum-type header is invalid.")
	}
	if name == "" {
		if typ != "" {
			return checksum.None, "", s3err.InvalidRequest.With("The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
		}
		return checksum.None, "", nil
	}
	alg := checksum.ByName(name)
	if alg == checksum.None {
		return checksum.None, "", errChecksumAlgorithmUnsupported
	}
	if typ == "" {
		typ = checksumComposite
		if alg == checksum.CRC64NVME {
			typ = checksumFullObject
		}
	}
	if (typ == checksumFullObject && !alg.CRC()) || (typ == checksumComposite && alg == checksum.CRC64NVME) {
		return checksum.None, "", s3err.InvalidRequest.With("The " + typ + " checksum type cannot be used with the " + strings.ToLower(alg.String()) + " checksum algorithm.")
	}
	return alg, typ, nil
}

// errChecksumAlgorithmUnsupported is S3's answer to an
// x-amz-checksum-algorithm it does not know (CreateMultipartUpload,
// CopyObject), its list in its order (versitygw's ErrInvalidChecksumAlgorithm
// quotes it).
var errChecksumAlgorithmUnsupported = s3err.InvalidRequest.With("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, MD5, SHA1, SHA256, SHA512, XXHASH128, XXHASH3, XXHASH64]")

// requestedAlgorithm reads a CopyObject's x-amz-checksum-algorithm: the
// algorithm of the checksum S3 computes for the copy, checksum.None if
// the client named none.
func requestedAlgorithm(h http.Header) (checksum.Algorithm, error) {
	name := strings.TrimSpace(h.Get("X-Amz-Checksum-Algorithm"))
	if name == "" {
		return checksum.None, nil
	}
	alg := checksum.ByName(name)
	if alg == checksum.None {
		return checksum.None, errChecksumAlgorithmUnsupported
	}
	return alg, nil
}

// dropChecksumHeaders removes the x-amz-checksum-* headers of an answer
// that will not carry the body they were set for (an error instead): SDKs
// validate them against whatever body comes.
func dropChecksumHeaders(h http.Header) {
	for k := range h {
		if hasPrefixFold(k, "X-Amz-Checksum-") {
			delete(h, k)
		}
	}
}

// withStoredChecksum adds the object's recorded checksum to a
// GetObjectAttributes answer (doc, whose backend Checksum element, the
// ciphertext's, attributesRules dropped) as S3 gives it:
// <Checksum><ChecksumCRC64NVME>...</ChecksumCRC64NVME><ChecksumType>FULL_OBJECT</ChecksumType></Checksum>.
func withStoredChecksum(doc []byte, res *readResult) ([]byte, error) {
	c, ok, err := openStoredChecksum(res.md, res.dk)
	if err != nil || !ok {
		return doc, err
	}
	return insertChecksumXML(doc, "GetObjectAttributesResponse", "Checksum", c)
}

// insertChecksumXML inserts c before the end of doc's root element, as S3
// writes it: in a wrapper element <wrap> if wrap is not "" (the
// Checksum of GetObjectAttributes), else directly (CopyObjectResult):
// <ChecksumCRC64NVME>...</ChecksumCRC64NVME><ChecksumType>FULL_OBJECT</ChecksumType>.
func insertChecksumXML(doc []byte, root, wrap string, c storedChecksum) ([]byte, error) {
	end := "</" + root + ">"
	i := bytes.LastIndex(doc, []byte(end))
	if i < 0 {
		return nil, fmt.Errorf("proxy: %s answer without %s", root, end)
	}
	el := c.alg.XMLElement()
	// The value is base64 and "-N": nothing to escape.
	ins := "<" + el + ">" + c.value + "</" + el + "><ChecksumType>" + c.typ + "</ChecksumType>"
	if wrap != "" {
		ins = "<" + wrap + ">" + ins + "</" + wrap + ">"
	}
	return append(append(append([]byte(nil), doc[:i]...), ins...), doc[i:]...), nil
}

// openStoredChecksum returns md's recorded checksum, verified under dk;
// ok is false when none is recorded.
func openStoredChecksum(md *envelope.Metadata, dk *envelope.DataKey) (_ storedChecksum, ok bool, _ error) {
	if md == nil || md.Checksum == "" || dk == nil {
		return storedChecksum{}, false, nil
	}
	v, err := md.OpenChecksum(dk)
	if err != nil {
		return storedChecksum{}, false, err
	}
	c, ok := parseStoredChecksum(v)
	if !ok {
		return storedChecksum{}, false, fmt.Errorf("proxy: recorded checksum %.40q does not parse: %w", v, envelope.ErrAuth)
	}
	return c, true, nil
}

// upstreamChecksum is the algorithm of the checksum the backend is sent
// with a PutObject's ciphertext (encryptedPut.ck): the plaintext's, as
// recorded, or as the client declared it (a trailer's, on a body too large
// to record). The backend keeps a checksum of that algorithm over the
// ciphertext and so lists the object with S3's ChecksumAlgorithm and
// ChecksumType (FULL_OBJECT): a listing has no room for values, and the
// proxy never relays the backend's values (docs/FORMAT.md, "Checksums").
// checksum.None when the client declared none and none is recorded: the
// backend applies its default, as S3 would (CRC64NVME).
func upstreamChecksum(rq *request, md *envelope.Metadata) checksum.Algorithm {
	if c, ok := parseStoredChecksum(md.Checksum); ok {
		return c.alg
	}
	return checksum.ByName(rq.auth.ChecksumAlgorithm)
}
