// Package proxy is bucketkey's HTTP front: it authenticates S3 requests
// (sigv4), routes them by S3 operation (gorilla/mux), encrypts object bodies
// on the way in and decrypts them on the way out (envelope, with keys from
// keycache), and re-signs everything for the backend.
//
// Files, one concern each: config.go and proxy.go (the API cmd/bucketkey
// uses), address.go and routes.go (which operation a request is),
// request.go (request ids, the log line, the Observer, error answers),
// upstream.go and headers.go (fresh, re-signed backend requests), keys.go
// and sse.go (bucket keys and SSE-KMS headers), put.go, read.go and get.go
// (streamed encryption and decryption), multipart.go and uploadid.go,
// copy.go, list.go and xmlrewrite.go (plaintext sizes in XML answers),
// passthrough.go (everything the proxy need not change).
//
// Decisions beyond docs/ARCHITECTURE.md, which users may notice:
//
//   - x-amz-server-side-encryption: absent, "aws:kms" and "AES256" all get
//     SSE-KMS under a bucket key (the proxy always encrypts; answers say
//     aws:kms). Other values are 400 InvalidArgument. A per-request KMS key
//     id and encryption context are honoured and recorded with the object.
//     x-amz-server-side-encryption-bucket-key-enabled: false is accepted
//     but does not turn bucket keys off (Config.NoBucketKey reports a
//     proxy-wide baseline instead).
//   - Checksums: the client's x-amz-checksum-* and Content-MD5 are
//     verified (sigv4) and the checksum echoed on the write's answer; they
//     are not stored, so reads answer no checksum (SDKs then skip response
//     validation), never the backend's checksum of ciphertext.
//   - ETags are the backend's (MD5 of ciphertext for single-part objects),
//     the same in PUT, HEAD, GET, LIST and conditions, as S3's SSE-KMS
//     ETags are not MD5s of the plaintext either. s3cmd knows this from
//     the answer's x-amz-server-side-encryption; rclone only from its
//     remote's configuration: server_side_encryption = aws:kms.
//   - CopyObject of a multipart-encrypted object is streamed through the
//     proxy (S3 and versitygw store a server-side copy as one part, which
//     would lose the part boundaries the decryption needs). So is a copy of
//     an object without envelope metadata, which comes out encrypted.
//   - UploadPart and UploadPartCopy need the proxy's upload ID (with key
//     material); ListParts, Complete and Abort also accept the bare
//     backend ID ListMultipartUploads shows.
//   - Refused as 501 NotImplemented: browser POST uploads (they would store
//     plaintext), SelectObjectContent and GetObjectTorrent (ciphertext).
//   - Memory: a PUT or GET holds one 64 KiB buffer plus the envelope
//     stream's; XML answers are read whole (at most 32 MiB).
package proxy
