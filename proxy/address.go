package proxy

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/bucketkey/bucketkey/s3err"
)

// level is what a request addresses: the service, a bucket or an object.
type level int

const (
	levelService level = iota
	levelBucket
	levelObject
)

// address is a request's bucket and decoded object key.
type address struct {
	level  level
	bucket string
	key    string
}

// resolve finds the bucket and key a request addresses, virtual-hosted
// style when the Host is "<bucket>.<domain>" for a configured domain, else
// path style. The path is split while still escaped (so "%2F" inside a key
// stays part of the key) and each part decoded once; nothing is cleaned, so
// a key like "a//b" is what the client signed. The bucket must pass
// checkBucketName and the key checkKey, both before anything reaches the
// backend.
func (p *Proxy) resolve(r *http.Request) (address, error) {
	raw := r.URL.EscapedPath()
	if !strings.HasPrefix(raw, "/") {
		return address{}, s3err.InvalidArgument.With("The request path must begin with a slash.")
	}
	raw = raw[1:]
	if b, ok := virtualHostBucket(r.Host, p.cfg.VirtualHostDomains); ok {
		if err := checkBucketName(b); err != nil {
			return address{}, s3err.InvalidBucketName.Wrap(err)
		}
		key, err := url.PathUnescape(raw)
		if err != nil {
			return address{}, s3err.InvalidArgument.With("The request path is not a valid URI path.").Wrap(err)
		}
		if key == "" {
			return address{level: levelBucket, bucket: b}, nil
		}
		if err := checkKey(key); err != nil {
			return address{}, err
		}
		return address{level: levelObject, bucket: b, key: key}, nil
	}
	if raw == "" {
		return address{level: levelService}, nil
	}
	rawBucket, rawKey, _ := strings.Cut(raw, "/")
	bucket, err := url.PathUnescape(rawBucket)
	if err == nil {
		err = checkBucketName(bucket)
	}
	if err != nil {
		return address{}, s3err.InvalidBucketName.Wrap(err)
	}
	key, err := url.PathUnescape(rawKey)
	if err != nil {
		return address{}, s3err.InvalidArgument.With("The request path is not a valid URI path.").Wrap(err)
	}
	if key == "" {
		return address{level: levelBucket, bucket: bucket}, nil
	}
	if err := checkKey(key); err != nil {
		return address{}, err
	}
	return address{level: levelObject, bucket: bucket, key: key}, nil
}

// maxKeyLen is S3's limit on an object key: 1024 bytes of its UTF-8.
const maxKeyLen = 1024

// checkKey rejects a decoded object key the proxy must not forward:
//
//   - one longer than S3 allows, with S3's 400 KeyTooLongError (backends
//     enforce their own limits, or none: versitygw refuses only a single
//     path segment its file system cannot name);
//   - one whose "." and ".." segments climb out of the bucket ("../v/k",
//     ".", "a/../../k": climbsOut), with S3's own answer to it, 400 Bad
//     Request (s3err.BadRequest);
//   - one with another "." or ".." path segment ("a/./b", "a/../b"), with
//     400 InvalidArgument. S3 would store such a key as it is, but the
//     proxy sends keys to the backend in the path, where RFC 3986 dot
//     segments mean something else to the backend's HTTP stack: versitygw
//     stores "a/./b" as "a/b" and "x/y/../../z" as "z" (another object than
//     the one the client named and the envelope is bound to), and "../v/k"
//     in bucket b would address bucket v for any backend that resolves dot
//     segments. Percent-encoding the dots does not help: a backend that
//     decodes before resolving (versitygw does) sees the same path. Dots
//     inside a segment ("a..b", "..k", "k.") are ordinary characters.
//   - one under ".bucketkey-upload/", where the proxy keeps its upload
//     records (uploadrecord.go), with 400 InvalidArgument as for dot
//     segments: a client could otherwise forge or abort records.
//
// Empty segments ("a//b") are forwarded: they cannot leave the bucket.
func checkKey(key string) error {
	if len(key) > maxKeyLen {
		return s3err.KeyTooLongError.
			WithExtra("Size", strconv.Itoa(len(key))).
			WithExtra("MaxSizeAllowed", strconv.Itoa(maxKeyLen)).
			Wrap(errKeyTooLong)
	}
	if strings.HasPrefix(key, companionPrefix) {
		return s3err.InvalidArgument.With(`Object keys under ".bucketkey-upload/" are reserved by the encrypting proxy.`).Wrap(errKeyReserved)
	}
	if climbsOut(key) {
		return s3err.BadRequest.Wrap(errKeyDots)
	}
	if hasDotSegment(key) {
		return s3err.InvalidArgument.With(`Object keys with a "." or ".." path segment are not supported by the encrypting proxy.`).Wrap(errKeyDots)
	}
	return nil
}

// climbsOut reports whether key is one S3 itself refuses: read left to
// right, its relative segments ("." and "..") at some point outnumber the
// ordinary ones before them ("../k", "./", "a/../../k", "a/./.."). Empty
// segments count as neither. This is the rule of S3's object key guide
// ("Object keys that contain relative path elements ... are valid if, when
// parsed left-to-right, the cumulative count of relative path segments
// never exceeds the number of non-relative path elements encountered").
func climbsOut(key string) bool {
	ordinary, relative := 0, 0
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
		case ".", "..":
			relative++
			if relative > ordinary {
				return true
			}
		default:
			ordinary++
		}
	}
	return false
}

// hasDotSegment reports whether a "/"-separated segment of key is "." or
// "..".
func hasDotSegment(key string) bool {
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

type addrError string

func (e addrError) Error() string { return string(e) }

const (
	errEmptyBucket   = addrError("proxy: empty bucket name")
	errLongBucket    = addrError("proxy: bucket name longer than 255 bytes")
	errBucketDots    = addrError("proxy: bucket name is a dot segment")
	errBucketCharset = addrError("proxy: bucket name has a character S3 does not allow")
	errKeyTooLong    = addrError("proxy: object key longer than 1024 bytes")
	errKeyDots       = addrError("proxy: object key has a dot segment")
	errKeyReserved   = addrError("proxy: object key under the upload records' prefix")
)

// checkBucketName rejects a decoded bucket name that S3 could never have
// created. The check is deliberately loose (legacy us-east-1 names allowed
// upper case and underscores, up to 255 bytes; the backend enforces its own
// rules), but it must refuse anything that would change the path the proxy
// signs for the backend: a "/" smuggled in as "%2F" would make
// "PUT /b%2Fk" a CreateBucket to the proxy and a plaintext PutObject to
// the backend, and ".." would address another bucket.
func checkBucketName(b string) error {
	switch {
	case b == "":
		return errEmptyBucket
	case len(b) > 255:
		return errLongBucket
	case b == "." || b == "..":
		return errBucketDots
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return errBucketCharset
		}
	}
	return nil
}

// virtualHostBucket returns the bucket named by host under one of domains.
func virtualHostBucket(host string, domains []string) (string, bool) {
	if len(domains) == 0 {
		return "", false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, d := range domains {
		if b, ok := strings.CutSuffix(host, "."+d); ok && b != "" {
			return b, true
		}
	}
	return "", false
}
