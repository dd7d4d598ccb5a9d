package sigv4

import (
	"crypto/md5"
	"encoding/base64"
)

// EscapePath encodes an S3 object path for a request URI as S3 expects:
// every byte but unreserved ones and '/' percent-encoded once.
func EscapePath(path string) string { return uriEncode(path, true) }

// ContentMD5 returns the base64 MD5 of body, the value of a Content-MD5
// header. DeleteObjects needs one (older backends require it); Sign adds it
// to any request with a body that lacks it.
func ContentMD5(body []byte) string {
	sum := md5.Sum(body)
	return base64.StdEncoding.EncodeToString(sum[:])
}
