package proxy

import (
	"sync"

	"github.com/bucketkey/bucketkey/envelope"
)

// bufSize is one plaintext segment: copies move whole segments.
const bufSize = envelope.SegmentSize

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

func getBuf() *[]byte  { return bufPool.Get().(*[]byte) }
func putBuf(b *[]byte) { bufPool.Put(b) }
