package sigv4

import (
	"crypto/md5"
	"encoding/base64"
	"net/http"
	"strings"
)

// ClientSignatureHeaders are the headers of the client's signature and of
// its plaintext payload that StripForUpstream removes (besides
// X-Amz-Checksum-* and aws-chunked).
var ClientSignatureHeaders = []string{
	"Authorization",
	"X-Amz-Content-Sha256",
	"X-Amz-Date",
	"X-Amz-Security-Token",
	"X-Amz-Decoded-Content-Length",
	"X-Amz-Trailer",
	"X-Amz-Sdk-Checksum-Algorithm",
	"Content-Md5",
}

// StripForUpstream removes from h every header that belongs to the client's
// signature or describes the plaintext payload and so must not reach the
// backend with a ciphertext body: Authorization, X-Amz-Content-Sha256,
// X-Amz-Date, X-Amz-Security-Token, X-Amz-Decoded-Content-Length,
// X-Amz-Trailer, X-Amz-Sdk-Checksum-Algorithm, X-Amz-Checksum-*,
// Content-MD5, and aws-chunked from Content-Encoding.
//
// X-Amz-Checksum-Mode (a GET asking for the stored checksum) goes too: the
// backend's checksum would be the ciphertext's.
func StripForUpstream(h http.Header) {
	for _, k := range ClientSignatureHeaders {
		delete(h, k)
	}
	for k := range h {
		if len(k) >= len("x-amz-checksum-") && strings.EqualFold(k[:len("x-amz-checksum-")], "x-amz-checksum-") {
			delete(h, k)
		}
		// Non-canonical spellings of the names above (maps not built by
		// net/http).
		switch strings.ToLower(k) {
		case "authorization", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token",
			"x-amz-decoded-content-length", "x-amz-trailer", "x-amz-sdk-checksum-algorithm", "content-md5":
			delete(h, k)
		}
	}
	if ce, ok := h["Content-Encoding"]; ok {
		var keep []string
		for _, v := range ce {
			for _, tok := range strings.Split(v, ",") {
				tok = strings.TrimSpace(tok)
				if tok != "" && !strings.EqualFold(tok, "aws-chunked") {
					keep = append(keep, tok)
				}
			}
		}
		if len(keep) == 0 {
			delete(h, "Content-Encoding")
		} else {
			h["Content-Encoding"] = []string{strings.Join(keep, ",")}
		}
	}
}

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
