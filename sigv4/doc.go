// Package sigv4 authenticates client requests signed with AWS Signature
// Version 4 (header and presigned-URL auth, every S3 payload mode including
// aws-chunked with and without trailers), verifies what the client declared
// about the payload (SHA-256, chunk signatures, Content-MD5, x-amz-checksum-*)
// as the body streams, and re-signs requests for the backend.
//
// Verification follows S3, not the generic SigV4 rules: the path is signed
// exactly as received (never normalised or re-encoded), host, x-amz-date and
// every x-amz-* header present must be signed, and every payload mode goes
// through the same signature check before its body is wrapped. Failures are
// *s3err.Error values with S3's codes; the body reader reports a failure in
// place of io.EOF so a caller that holds back its last write until EOF never
// commits an unverified body.
package sigv4
