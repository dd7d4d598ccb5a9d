package sigv4

import "github.com/bucketkey/bucketkey/checksum"

// checksumAlg is one of the x-amz-checksum-* algorithms S3 supports (the
// table is package checksum's).
type checksumAlg = checksum.Algorithm

const (
	checksumNone      = checksum.None
	checksumCRC32     = checksum.CRC32
	checksumCRC32C    = checksum.CRC32C
	checksumCRC64NVME = checksum.CRC64NVME
	checksumSHA1      = checksum.SHA1
	checksumSHA256    = checksum.SHA256
)
