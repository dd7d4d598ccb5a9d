package proxy

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/bucketkey/bucketkey/s3err"
)

// S3's limits on a request's headers, enforced by the proxy itself so that
// every backend behaves like S3 and a refused request reaches nothing.
const (
	// maxHeaderSection is S3's limit on a request's header section:
	// "The PUT request header is limited to 8 KB in size."
	maxHeaderSection = 8 << 10
	// maxUserMetadata is S3's limit on user-defined metadata, "measured by
	// taking the sum of the number of bytes in the UTF-8 encoding of each
	// key and value". The envelope's own x-amz-meta-bk-* entries count
	// against it, as they do at the backend.
	maxUserMetadata = 2 << 10
)

// maxUploadSize is S3's limit on the plaintext of one PutObject or
// UploadPart: 5 GiB.
const maxUploadSize = 5 << 30

// checkUploadSize refuses a PutObject or UploadPart of n bytes over
// maxUploadSize as S3 does, before any key is fetched or byte is read.
func checkUploadSize(n int64) error {
	if n <= maxUploadSize {
		return nil
	}
	return s3err.EntityTooLarge.With("Your proposed upload exceeds the maximum allowed size").
		WithExtra("ProposedSize", strconv.FormatInt(n, 10)).
		WithExtra("MaxSizeAllowed", strconv.FormatInt(maxUploadSize, 10))
}

// checkCopySourceSize refuses a CopyObject whose source holds n
// plaintext bytes over maxUploadSize, as S3 does (a larger object is
// copied with UploadPartCopy). The proxy copies such a source (multipart,
// or without envelope metadata) by reading and writing it, so without the
// check it would store what S3 refuses, or send the backend a PUT the
// backend refuses as EntityTooLarge.
func checkCopySourceSize(n int64) error {
	if n <= maxUploadSize {
		return nil
	}
	return s3err.InvalidRequest.With("The specified copy source is larger than the maximum allowable size for a copy source: " + strconv.FormatInt(maxUploadSize, 10))
}

// S3's multipart limits.
const (
	// maxParts is the most parts an upload has.
	maxParts = 10000
	// minPartSize is the least plaintext every part but the last holds.
	minPartSize = 5 << 20
)

// userMetadataPrefix starts every user-defined metadata header.
const userMetadataPrefix = "x-amz-meta-"

// headerSectionSize is the size of the request's header section as sent:
// each "Name: value\r\n" line, Host included (net/http keeps it apart).
func headerSectionSize(r *http.Request) int {
	n := len("Host: \r\n") + len(r.Host)
	for k, vv := range r.Header {
		for _, v := range vv {
			n += len(k) + len(": \r\n") + len(v)
		}
	}
	return n
}

// metadataEntrySize is what one user-metadata header counts against
// maxUserMetadata: its key (the name after the prefix) and its value.
// Counting the key without the prefix is the lenient reading of S3's rule:
// whatever the proxy lets through that S3 would count otherwise, the
// backend still refuses whole.
func metadataEntrySize(name, value string) int {
	return len(name) - len(userMetadataPrefix) + len(value)
}

// userMetadataSize sums metadataEntrySize over h's x-amz-meta-* headers.
// A header sent several times is one entry whose values S3 joins with
// commas.
func userMetadataSize(h http.Header) int {
	n := 0
	for k, vv := range h {
		if len(vv) == 0 || len(k) < len(userMetadataPrefix) || !strings.EqualFold(k[:len(userMetadataPrefix)], userMetadataPrefix) {
			continue
		}
		n += metadataEntrySize(k, strings.Join(vv, ","))
	}
	return n
}
