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
	if err == nil && bucket == "" {
		err = errEmptyBucket
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

const errEmptyBucket = addrError("proxy: empty bucket name")

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
