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
// etag.go (ETags that do not pass for the plaintext's MD5),
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
//   - ETags (etag.go): an encrypted object's backend ETag that looks like
//     an MD5 (the ciphertext's, single-part objects and upload parts) is
//     reported as "<hex>-0", which no client takes for an MD5 (rclone
//     with its defaults and s3cmd would compare it with the plaintext's
//     and report corruption) and no real ETag has; multipart ETags
//     ("<hex>-N") are the backend's. One ETag per object in PUT, HEAD,
//     GET, LIST, GetObjectAttributes, copy results and 304s; ETags in
//     conditions (If-Match, If-None-Match, their x-amz-copy-source-
//     forms) and in CompleteMultipartUpload lose the "-0" before the
//     backend sees them, so the backend's own ETag is accepted too (what
//     earlier versions reported). Objects without envelope metadata keep
//     their real ETags in HEAD and GET. Listings have no metadata: an
//     entry's ETag is mapped exactly when its size is (a size no
//     ciphertext can have marks an object written before the proxy), so
//     an entry's size and ETag always tell the same story; a pre-proxy
//     object whose size a ciphertext could have lists with a mapped ETag
//     as it lists with a shrunk size, unless its bucket is declared mixed
//     (Config.MixedBuckets: a HEAD per such entry tells). rclone with provider = AWS or Minio
//     also compares multipart ETags with its own computation over the
//     plaintext (use_multipart_etag, off for provider = Other): set
//     use_multipart_etag = false there.
//   - CopyObject of a multipart-encrypted object is streamed through the
//     proxy (S3 and versitygw store a server-side copy as one part, which
//     would lose the part boundaries the decryption needs). So is a copy of
//     an object without envelope metadata, which comes out encrypted.
//   - Upload IDs carry their key material; ListMultipartUploads lists the
//     IDs CreateMultipartUpload gave, read back from a companion upload
//     (uploadrecord.go), and a bare backend ID is accepted wherever its
//     companion can be found. Keys under ".bucketkey-upload/" are the
//     companions' and are refused with 400 InvalidArgument.
//   - Object keys (and copy sources) with a "." or ".." path segment
//     that S3 would store ("a/./b", "a/../b") are refused with 400
//     InvalidArgument (those that climb out of the bucket, "../k", get S3's
//     own 400 Bad Request), and keys over 1024 bytes with
//     KeyTooLongError, before anything reaches the backend: S3 stores such
//     keys literally, but backends such as versitygw resolve the path, so
//     the object stored would not be the one named (and its envelope,
//     bound to the name, would not open).
//   - A completed multipart object whose last part holds 5 MiB or more
//     ends with bucketkey's 32-byte marker part: its backend ETag says
//     "-(N+1)" where its part count (x-amz-mp-parts-count, partNumber
//     reads) says N. Complete lists the upload's parts (ListParts), so
//     the upstream credentials need that permission too.
//   - Refused as 501 NotImplemented: browser POST uploads (they would store
//     plaintext), SelectObjectContent and GetObjectTorrent (ciphertext).
//   - Memory: a PUT or GET holds one 64 KiB buffer plus the envelope
//     stream's; XML answers are read whole (at most 32 MiB).
package proxy
