package proxy

import (
	"sync"
)

// bufSize is one plaintext segment: copies move whole segments.
const bufSize = 64 << 10 // one segment of the envelope format (docs/FORMAT.md)

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

func getBuf() *[]byte  { return bufPool.Get().(*[]byte) }
func putBuf(b *[]byte) { bufPool.Put(b) }
