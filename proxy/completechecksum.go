package proxy

import (
	"bytes"
	"encoding/xml"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/s3err"
)

// listedPart is a part of a CompleteMultipartUpload document as the proxy
// reads it: the part for the backend (its number and the backend's ETag),
// the part as the client named it, the checksum record its ETag carries
// (partchecksum.go), and the checksum elements the client gave for it.
type listedPart struct {
	completePart              // PartNumber, and the backend's ETag
	client       completePart // as the client sent it
	record       *partChecksum
	given        []xmlText // <ChecksumCRC32>... elements
}

// parseCompleteParts reads the parts of a checked CompleteMultipartUpload
// document (checkCompleteParts). An ETag with a malformed checksum record
// names no part the upload has: InvalidPart.
func parseCompleteParts(rq *request, doc []byte) ([]listedPart, error) {
	var c struct {
		Parts []struct {
			PartNumber string    `xml:"PartNumber"`
			ETag       string    `xml:"ETag"`
			Other      []xmlText `xml:",any"`
		} `xml:"Part"`
	}
	if err := xml.Unmarshal(doc, &c); err != nil {
		return nil, s3err.MalformedXML.Wrap(err)
	}
	parts := make([]listedPart, len(c.Parts))
	for i, p := range c.Parts {
		n, err := strconv.Atoi(strings.TrimSpace(p.PartNumber))
		if err != nil {
			return nil, s3err.MalformedXML.Wrap(err)
		}
		lp := listedPart{client: completePart{PartNumber: n, ETag: strings.TrimSpace(p.ETag)}}
		lp.PartNumber = n
		backend, rec, ok, err := parsePartETag(p.ETag)
		switch {
		case err != nil:
			return nil, invalidPart(rq, lp.client).Wrap(err)
		case ok:
			lp.ETag, lp.record = `"`+backend+`"`, &rec
		default:
			lp.ETag = backendETag(strings.TrimSpace(p.ETag))
		}
		for _, el := range p.Other {
			if isChecksumElement(el.XMLName.Local) {
				lp.given = append(lp.given, el)
			}
		}
		parts[i] = lp
	}
	return parts, nil
}

// isChecksumElement reports whether name is a part's checksum element.
func isChecksumElement(name string) bool {
	for _, a := range checksum.All {
		if name == a.XMLElement() {
			return true
		}
	}
	return false
}

// algorithmOfElement maps a checksum element name to its algorithm.
func algorithmOfElement(name string) checksum.Algorithm {
	for _, a := range checksum.All {
		if name == a.XMLElement() {
			return a
		}
	}
	return checksum.None
}

// completeHeaders are the checksum headers of a CompleteMultipartUpload:
// x-amz-checksum-type and the whole object's x-amz-checksum-<algorithm>
// (sigv4's ObjectChecksum leaves them to the proxy).
type completeHeaders struct {
	typ     string             // "" if not sent
	alg     checksum.Algorithm // None if no checksum was sent
	digest  string             // its base64 digest, without any "-N"
	parts   string             // its "N" of "-N", or ""
	size    int64              // x-amz-mp-object-size, if hasSize
	hasSize bool
}

// parseCompleteHeaders reads them as S3 does: a type S3 knows, at most
// one checksum header, whose value is the algorithm's base64 digest,
// optionally followed by "-N" (a composite's part count).
func parseCompleteHeaders(h http.Header) (completeHeaders, error) {
	var c completeHeaders
	if v, ok := h["X-Amz-Mp-Object-Size"]; ok {
		n, err := strconv.ParseInt(v[0], 10, 64)
		switch {
		case err != nil:
			return c, s3err.InvalidRequest.With("Value for x-amz-mp-object-size header is invalid: '" + v[0] + "'")
		case n < 0:
			return c, s3err.InvalidRequest.With("Value for x-amz-mp-object-size header is less than zero: '" + v[0] + "'")
		}
		c.size, c.hasSize = n, true
	}
	if _, ok := h["X-Amz-Checksum-Type"]; ok {
		c.typ = strings.ToUpper(strings.TrimSpace(h.Get("X-Amz-Checksum-Type")))
		if c.typ != checksumComposite && c.typ != checksumFullObject {
			return c, s3err.InvalidRequest.With("Value for x-amz-checksum-type header is invalid.")
		}
	}
	var v string
	for _, a := range checksum.All {
		vals := h[a.CanonicalHeader()]
		if len(vals) == 0 {
			continue
		}
		if c.alg != checksum.None || len(vals) > 1 {
			return c, s3err.InvalidRequest.With("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		c.alg, v = a, strings.TrimSpace(vals[0])
	}
	if c.alg == checksum.None {
		return c, nil
	}
	digest, parts, composite := strings.Cut(v, "-")
	_, ok := c.alg.Decode(digest)
	if composite {
		n, err := strconv.Atoi(parts)
		ok = ok && err == nil && n >= 1 && n <= maxPartNumber && strconv.Itoa(n) == parts
	}
	if !ok {
		return c, s3err.InvalidRequest.With("Value for " + c.alg.Header() + " header is invalid.")
	}
	c.digest, c.parts = digest, parts
	return c, nil
}

// checkType holds the request's checksum type to the upload's, as S3
// does.
func (c completeHeaders) checkType(u uploadID) error {
	if c.typ == "" || c.typ == u.ckType {
		return nil
	}
	mode := u.ckType
	if mode == "" {
		mode = "null"
	}
	return s3err.InvalidRequest.With("The upload was created using the " + mode + " checksum mode. The complete request must use the same checksum mode.")
}

// checkSize holds the object's plaintext size, the sum of sizes, to
// x-amz-mp-object-size, as S3 does.
func (c completeHeaders) checkSize(sizes []int64) error {
	var total int64
	for _, n := range sizes {
		total += n
	}
	if !c.hasSize || c.size == total {
		return nil
	}
	return s3err.InvalidRequest.With("The provided 'x-amz-mp-object-size' header value " + strconv.FormatInt(c.size, 10) + " does not match what was computed: " + strconv.FormatInt(total, 10))
}

// checkObject compares the whole object's checksum the request sent with
// the one computed, ck (nil if none), as S3 does: a checksum of the
// upload's declared algorithm must equal it (a composite given without
// its "-N" is compared with it), BadDigest otherwise; S3 ignores one of
// another algorithm, or for an upload that declared none.
func (c completeHeaders) checkObject(u uploadID, ck *storedChecksum) error {
	if c.alg == checksum.None || c.alg != u.ckAlg || ck == nil {
		return nil
	}
	v := c.digest
	if ck.typ == checksumComposite {
		n := c.parts
		if n == "" {
			n = ck.value[strings.LastIndexByte(ck.value, '-')+1:]
		}
		v += "-" + n
	} else if c.parts != "" {
		v += "-" + c.parts
	}
	if v != ck.value {
		return s3err.BadDigest.With("The " + c.alg.String() + " you specified did not match the calculated checksum.")
	}
	return nil
}

// completeChecksum checks the part checksums a CompleteMultipartUpload
// names, as S3 checks them, and returns the object's checksum S3 would
// answer (nil if none):
//
//   - at most one checksum per part, valid base64 of its size
//     (InvalidArgument);
//   - for an upload without a declared algorithm, part checksums are not
//     checked (the proxy keeps no record of them; each was verified
//     against its part's body at UploadPart);
//   - an upload with one needs each part's (InvalidRequest), which must
//     equal what the part's ETag record says (InvalidPart; the record must
//     authenticate for that part, its stored ETag and size); a checksum of
//     another algorithm is BadDigest.
//
// A part whose ETag carries no record (the client took it from ListParts,
// which cannot give one: docs/FORMAT.md, "Multipart checksums") is taken
// as S3 would take it only when the client gives no checksum for it;
// then the object's checksum cannot be computed and none is answered.
// The checksum is COMPOSITE (the algorithm's digest of the parts'
// digests, "-N") or FULL_OBJECT (the parts' CRCs combined).
func completeChecksum(rq *request, u uploadID, dk *envelope.DataKey, parts []listedPart, sizes []int64) (*storedChecksum, error) {
	complete := u.ckAlg != checksum.None
	digests := make([][]byte, len(parts))
	for i, lp := range parts {
		if lp.record != nil {
			backend, _ := unquoteETag(lp.ETag)
			if lp.record.alg != u.ckAlg || lp.record.verify(dk, lp.PartNumber, sizes[i], backend) != nil {
				return nil, invalidPart(rq, lp.client).Wrap(errors.New("proxy: part ETag checksum record does not hold for this part"))
			}
		}
		if len(lp.given) > 1 {
			var b strings.Builder
			for _, g := range lp.given {
				b.WriteString(strings.TrimPrefix(g.XMLName.Local, "Checksum") + ":" + g.Text + ";")
			}
			return nil, errPartChecksumArg(b.String())
		}
		var given []byte
		alg := checksum.None
		if len(lp.given) == 1 {
			alg = algorithmOfElement(lp.given[0].XMLName.Local)
			v := strings.TrimSpace(lp.given[0].Text)
			d, ok := alg.Decode(v)
			if !ok {
				return nil, errPartChecksumArg(v)
			}
			given = d
		}
		switch {
		case u.ckAlg == checksum.None:
			continue
		case alg == checksum.None && lp.record == nil:
			complete = false // resumed from ListParts: nothing to check, nothing to compose
			continue
		case alg == checksum.None:
			return nil, s3err.InvalidRequest.With("The upload was created using a " + strings.ToLower(u.ckAlg.String()) + " checksum. The complete request must include the checksum for each part. It was missing for part " + strconv.Itoa(lp.PartNumber) + " in the request.")
		case lp.record == nil:
			return nil, invalidPart(rq, lp.client).Wrap(errors.New("proxy: the part's ETag carries no checksum to check the given one against"))
		case alg != u.ckAlg:
			return nil, s3err.BadDigest.With("The " + strings.ToLower(alg.String()) + " you specified for part " + strconv.Itoa(lp.PartNumber) + " did not match what we received.")
		case !bytes.Equal(given, lp.record.digest):
			return nil, invalidPart(rq, lp.client).Wrap(errors.New("proxy: part checksum does not match"))
		}
		digests[i] = lp.record.digest
	}
	return objectChecksum(u, digests, sizes, complete)
}

// errPartChecksumArg is S3's answer to a part with more than one checksum
// or a malformed one.
func errPartChecksumArg(v string) error {
	return s3err.InvalidArgumentFor("Invalid Base64 or multiple checksums present in request", "Checksum", v)
}

// objectChecksum composes the parts' digests into the object's checksum
// of u's algorithm and type; nil if the upload declared none or complete
// is false.
func objectChecksum(u uploadID, digests [][]byte, sizes []int64, complete bool) (*storedChecksum, error) {
	if u.ckAlg == checksum.None || !complete || len(digests) == 0 {
		return nil, nil
	}
	c := &storedChecksum{alg: u.ckAlg, typ: u.ckType}
	if u.ckType == checksumFullObject {
		acc := digests[0]
		for i := 1; i < len(digests); i++ {
			var err error
			if acc, err = checksum.CombineCRC(u.ckAlg, acc, digests[i], sizes[i]); err != nil {
				return nil, err
			}
		}
		c.value = checksum.Encode(acc)
		return c, nil
	}
	h := u.ckAlg.New()
	for _, d := range digests {
		h.Write(d)
	}
	c.value = checksum.Encode(h.Sum(nil)) + "-" + strconv.Itoa(len(digests))
	return c, nil
}

// withCompleteChecksum adds the object's checksum to a
// CompleteMultipartUploadResult (from which the backend's were dropped),
// as S3 gives it: <ChecksumCRC32>...</ChecksumCRC32><ChecksumType>COMPOSITE</ChecksumType>
// after the other elements.
func withCompleteChecksum(doc []byte, ck storedChecksum) ([]byte, error) {
	const end = "</CompleteMultipartUploadResult>"
	i := bytes.LastIndex(doc, []byte(end))
	if i < 0 {
		return doc, nil // an <Error> document: as it is
	}
	el := ck.alg.XMLElement()
	// The value is base64 and "-N": nothing to escape.
	ins := "<" + el + ">" + ck.value + "</" + el + "><ChecksumType>" + ck.typ + "</ChecksumType>"
	return append(append(append([]byte(nil), doc[:i]...), ins...), doc[i:]...), nil
}
