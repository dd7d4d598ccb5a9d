package envelope

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// Read-ahead of long streams (issue 15): once a stream has shown it is
// longer than readAheadAfter segments, one goroutine per stream reads the
// next ciphertext segments from the source while the caller decrypts and
// writes the current ones, and the plaintext of up to batchSegs segments
// is handed out at once, so that a writer gets several segments per Write.
// Memory is bounded: readAheadSegs ciphertext buffers and one batch buffer
// per stream, all pooled, and at most readAheadStreams streams read ahead
// at once in the process. Small objects never start a goroutine. Its sizes
// are version 1's (NewReader reads ahead only streams of that segment size).
const (
	readAheadAfter = 2 // segments read synchronously first
	readAheadSegs  = 4 // ciphertext segments buffered, the one being opened included
	batchSegs      = 4 // plaintext segments handed out at once, at most
	// readAheadStreams bounds the streams reading ahead at once, process
	// wide. Each holds about 512 KiB (readAheadSegs ciphertext segments
	// and a batch of batchSegs plaintext ones), so 256 concurrent GETs
	// would hold 128 MiB; and with that many streams the cores are busy
	// anyway, so overlapping one stream's reads with its decryption buys
	// nothing. A long stream that finds no slot is read one segment at a
	// time, as a short one is: memory stays flat in concurrency.
	readAheadStreams = 16
)

// readAheadSlots holds a token per stream reading ahead.
var readAheadSlots = make(chan struct{}, readAheadStreams)

// acquireReadAhead takes a read-ahead slot if one is free, without
// waiting; releaseReadAhead gives it back (once per slot taken).
func acquireReadAhead() bool {
	select {
	case readAheadSlots <- struct{}{}:
		return true
	default:
		return false
	}
}

func releaseReadAhead() { <-readAheadSlots }

// batchBufs recycles the plaintext batch buffers.
var batchBufs = sync.Pool{New: func() any {
	b := make([]byte, batchSegs*segmentSize)
	return &b
}}

// chunk is one ciphertext segment as the read-ahead goroutine read it:
// n bytes of b, and the error io.ReadFull returned (nil for a full segment,
// io.EOF for none, io.ErrUnexpectedEOF for a short final one).
type chunk struct {
	b   *[]byte
	n   int
	err error
}

// readAhead is the state of a stream's read-ahead. Only its goroutine
// (fill) sends on full and receives on free; only the reader does the
// opposite. full has room for every buffer, so fill never blocks sending,
// and after it sends an error it returns.
type readAhead struct {
	full    chan chunk
	free    chan *[]byte
	done    chan struct{} // closed by stop: fill returns at its next buffer
	exited  chan struct{} // closed when fill returns
	cur     chunk         // the segment to open next, if hasCur
	hasCur  bool
	batch   *[]byte
	stopped bool
}

// startReadAhead hands the rest of s.src to a new goroutine. The byte
// s.ahead, already read, starts the first segment it reads. The caller
// holds a read-ahead slot (acquireReadAhead), which stop gives back.
func (s *streamSource) startReadAhead() {
	ra := &readAhead{
		full:   make(chan chunk, readAheadSegs),
		free:   make(chan *[]byte, readAheadSegs),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
		batch:  batchBufs.Get().(*[]byte),
	}
	// The synchronous buffer becomes the first read-ahead buffer.
	ra.free <- s.bufp
	s.bufp, s.buf = nil, nil
	for range readAheadSegs - 1 {
		ra.free <- getSegmentBuf(formatV1.sizes)
	}
	s.ra = ra
	go ra.fill(s.src, s.ahead)
}

// fill reads segments into free buffers until the source ends or fails,
// or stop is called.
func (ra *readAhead) fill(src io.Reader, ahead byte) {
	defer close(ra.exited)
	first := true
	for {
		var b *[]byte
		select {
		case b = <-ra.free:
		case <-ra.done:
			return
		}
		buf := (*b)[:encSegmentSize]
		start := 0
		if first {
			buf[0], start, first = ahead, 1, false
		}
		n, err := io.ReadFull(src, buf[start:])
		ra.full <- chunk{b: b, n: n + start, err: err}
		if err != nil {
			return
		}
	}
}

// stop ends the read-ahead. finished: fill sent the chunk that ended the
// stream (or an error) and returns at once, so its buffers go back to the
// pool. Otherwise fill returns once its current read of the source
// returns (closing the source makes it return at once), and the buffers
// are left to the garbage collector.
func (ra *readAhead) stop(finished bool) {
	if ra.stopped {
		return
	}
	ra.stopped = true
	releaseReadAhead()
	close(ra.done)
	if finished {
		<-ra.exited
	} else {
		select {
		case <-ra.exited:
		default:
			return
		}
	}
	if ra.hasCur {
		putSegmentBuf(ra.cur.b)
		ra.hasCur = false
	}
	for {
		select {
		case c := <-ra.full:
			putSegmentBuf(c.b)
		case b := <-ra.free:
			putSegmentBuf(b)
		default:
			return
		}
	}
}

// close ends the stream for its reader, which holds no slice of the
// batch any more.
func (s *streamSource) close() {
	if s.ra == nil {
		putSegmentBuf(s.bufp)
		s.bufp, s.buf, s.done = nil, nil, true
		return
	}
	s.ra.stop(false)
	if s.ra.batch != nil {
		batchBufs.Put(s.ra.batch)
		s.ra.batch = nil
	}
}

// readBatch opens the next segments into the batch buffer and returns
// their plaintext: at least one segment, more while the read-ahead
// already holds them, at most batchSegs. Plaintext of segments that
// authenticated is returned with the error of the segment after them.
func (s *streamSource) readBatch() ([]byte, error) {
	ra := s.ra
	if ra.stopped || ra.batch == nil {
		return nil, io.EOF
	}
	out := (*ra.batch)[:0]
	for len(out)+segmentSize <= cap(out) && !s.done {
		if len(out) > 0 && !ra.ready() {
			break // write what is there rather than wait
		}
		pt, err := s.openNext(out[len(out):])
		out = out[:len(out)+len(pt)]
		if err != nil {
			if !errors.Is(err, io.EOF) || len(out) == 0 {
				return out, err
			}
			break
		}
	}
	if s.done {
		return out, io.EOF
	}
	return out, nil
}

// ready reports whether the segments the next open needs (the segment and
// the one after it, which tells whether it is the final one) are read.
func (ra *readAhead) ready() bool {
	need := 2
	if ra.hasCur {
		need = 1
	}
	return len(ra.full) >= need
}

// openNext opens the next segment into dst (empty, with room for a
// segment) and recycles its buffer.
func (s *streamSource) openNext(dst []byte) ([]byte, error) {
	ra := s.ra
	if !ra.hasCur {
		ra.cur, ra.hasCur = <-ra.full, true
	}
	cur := ra.cur
	switch {
	case cur.err == nil:
		// A full segment: the next chunk tells whether it is the last.
		nxt := <-ra.full
		if nxt.err != nil && nxt.n == 0 {
			if !errors.Is(nxt.err, io.EOF) {
				s.fail(nxt)
				return nil, fmt.Errorf("envelope: read ciphertext: %w", nxt.err)
			}
			putSegmentBuf(nxt.b) // fill has returned
			return s.openChunk(dst, true)
		}
		pt, err := s.openChunk(dst, false)
		ra.cur, ra.hasCur = nxt, true
		return pt, err
	case errors.Is(cur.err, io.EOF) || errors.Is(cur.err, io.ErrUnexpectedEOF):
		switch {
		case cur.n < tagSize:
			s.fail(cur)
			return nil, fmt.Errorf("envelope: stream truncated at segment %d: %w: %w", s.index, ErrAuth, io.ErrUnexpectedEOF)
		case cur.n == tagSize && s.index > 0:
			s.fail(cur)
			return nil, fmt.Errorf("envelope: empty final segment %d: %w", s.index, ErrAuth)
		}
		return s.openChunk(dst, true)
	default:
		s.fail(cur)
		return nil, fmt.Errorf("envelope: read ciphertext: %w", cur.err)
	}
}

// openChunk opens ra.cur into dst and gives its buffer back to fill.
func (s *streamSource) openChunk(dst []byte, last bool) ([]byte, error) {
	ra := s.ra
	b := ra.cur.b
	pt, err := s.openTo(dst, (*b)[:ra.cur.n], last)
	ra.hasCur = false
	if err != nil && !errors.Is(err, io.EOF) {
		putSegmentBuf(b)
		ra.stop(last) // a failed final segment: fill sent the stream's end
		return nil, err
	}
	if last {
		putSegmentBuf(b)
		ra.stop(true) // fill sent the chunk that ended the stream
		return pt, err
	}
	ra.free <- b
	return pt, nil
}

// fail ends a stream whose chunk c failed: fill has returned (it sent an
// error), so every buffer goes back.
func (s *streamSource) fail(c chunk) {
	ra := s.ra
	if ra.hasCur && ra.cur.b == c.b {
		ra.hasCur = false
	}
	putSegmentBuf(c.b)
	ra.stop(true)
}
