package sigv4

import (
	"bytes"
	"errors"
	"strings"

	"github.com/bucketkey/bucketkey/s3err"
)

// trailerSignatureName is the pseudo-trailer carrying the trailer signature.
const trailerSignatureName = "x-amz-trailer-signature"

// maxTrailerFields bounds the trailer section; S3 sends one checksum.
const maxTrailerFields = 8

// trailerField is one "name:value" line of an aws-chunked trailer section.
type trailerField struct {
	name  string // lowercase
	value string // trimmed
}

func malformedTrailer(msg string) *s3err.Error {
	return s3err.MalformedTrailerError.Wrap(errors.New("sigv4: " + msg))
}

// parseTrailerBlock parses the trailer section that follows the final
// zero-length chunk, up to the end of the body. Clients disagree on its
// line endings (AWS SDKs: "name:value\r\n" then "\r\n"; minio-go: "name:value\n"
// then "\r\n" before the signature line), so lines end at '\n', a trailing
// '\r' is dropped and blank lines are skipped. The trailer signature, if
// any, must be the last field; its hex value is returned separately.
func parseTrailerBlock(b []byte) (fields []trailerField, sig string, err *s3err.Error) {
	blankAfterLast := true // the section must end with an empty line
	for len(b) > 0 {
		var line []byte
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			// The body stopped inside a line (even one that would have
			// been blank, "\r"): S3 answers a body that ended early.
			return nil, "", errChunkMalformed
		}
		line, b = b[:i], b[i+1:]
		if bytes.IndexByte(bytes.TrimSuffix(line, []byte("\r")), '\r') >= 0 {
			// A bare CR inside a line: the framing is broken, which S3
			// answers as a body that ended early.
			return nil, "", errChunkMalformed
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			blankAfterLast = true
			continue
		}
		blankAfterLast = false
		if sig != "" {
			return nil, "", malformedTrailer("x-amz-trailer-signature must be the last trailer.")
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		name = bytes.TrimSpace(name)
		if !ok || len(name) == 0 {
			return nil, "", malformedTrailer("a trailer line is not name:value.")
		}
		for _, c := range name {
			if !isTokenChar(c) {
				return nil, "", malformedTrailer("a trailer name is not a header name.")
			}
		}
		f := trailerField{name: strings.ToLower(string(name)), value: string(bytes.TrimSpace(value))}
		if f.name == trailerSignatureName {
			if f.value == "" {
				return nil, "", malformedTrailer("x-amz-trailer-signature is empty.")
			}
			sig = f.value
			continue
		}
		if len(fields) == maxTrailerFields {
			return nil, "", malformedTrailer("too many trailers.")
		}
		for _, g := range fields {
			if g.name == f.name {
				return nil, "", malformedTrailer("trailer " + f.name + " appears twice.")
			}
		}
		fields = append(fields, f)
	}
	if !blankAfterLast {
		// The body stopped inside the trailer section: S3 answers a
		// body that ended early.
		return nil, "", errChunkMalformed
	}
	return fields, sig, nil
}

// appendCanonicalTrailer appends the trailer section as it is signed:
// "name:value\n" per trailer, in the order received.
func appendCanonicalTrailer(dst []byte, fields []trailerField) []byte {
	for _, f := range fields {
		dst = append(dst, f.name...)
		dst = append(dst, ':')
		dst = append(dst, f.value...)
		dst = append(dst, '\n')
	}
	return dst
}
