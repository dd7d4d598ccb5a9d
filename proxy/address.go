package proxy

import (
	"net"
	"net/http"
	"net/url"
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
// keys like "a//b" and "a/../b" are what the client signed.
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
	return address{level: levelObject, bucket: bucket, key: key}, nil
}

type addrError string

func (e addrError) Error() string { return string(e) }

const (
	errEmptyBucket   = addrError("proxy: empty bucket name")
	errLongBucket    = addrError("proxy: bucket name longer than 255 bytes")
	errBucketDots    = addrError("proxy: bucket name is a dot segment")
	errBucketCharset = addrError("proxy: bucket name has a character S3 does not allow")
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
