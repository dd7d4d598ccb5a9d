package envelope

import "fmt"

// CiphertextSize returns the ciphertext size of a single stream (object or
// part) of n plaintext bytes: n + 16*max(1, ceil(n/65536)). Every segment
// carries a 16-byte tag and an empty stream is one empty final segment. It
// returns -1 if no stream can hold n bytes (n < 0 or n > MaxStreamSize), a
// value no caller can mistake for a real length.
func CiphertextSize(n int64) int64 {
	if n < 0 || n > maxStreamSize {
		return -1
	}
	return n + tagSize*segments(n)
}

// segments is the number of segments of a stream of n >= 0 plaintext bytes.
func segments(n int64) int64 {
	if n == 0 {
		return 1
	}
	return (n + segmentSize - 1) / segmentSize
}

// PlaintextSize inverts CiphertextSize, rejecting sizes no plaintext can
// produce with an error wrapping ErrAuth: the proxy uses it to report sizes in HEAD and
// LIST without reading objects, and to tell an encrypted size from the size
// of an object written before the proxy.
func PlaintextSize(c int64) (int64, error) {
	if c < tagSize || c > CiphertextSize(maxStreamSize) {
		return 0, fmt.Errorf("envelope: ciphertext size %d: %w", c, errInvalidSize)
	}
	full, rem := c/encSegmentSize, c%encSegmentSize
	switch {
	case rem == 0:
		// Ends with a full segment, which is then the final one.
		return full * segmentSize, nil
	case rem < tagSize, rem == tagSize && full > 0:
		// A segment shorter than a tag, or an empty final segment after
		// full ones (the writer makes the last full segment final instead).
		return 0, fmt.Errorf("envelope: ciphertext size %d: %w", c, errInvalidSize)
	default:
		return full*segmentSize + rem - tagSize, nil
	}
}

// checkSize reports whether c, the ciphertext size the backend reports for
// a single-part object (Content-Length of a whole GET or HEAD), agrees
// with the plaintext size recorded in its metadata. The recorded size is
// not authenticated (it is written after Seal), so the proxy checks it
// before announcing a Content-Length; a mismatch means the metadata or the
// object was tampered with. Multipart objects record no size: nil.
func (m *Metadata) checkSize(c int64) error {
	if m.Multipart || (c == 0 && m.Size == 0) {
		return nil // c == 0: an empty object stored empty
	}
	n, err := PlaintextSize(c)
	if err != nil {
		return err
	}
	if n != m.Size {
		return fmt.Errorf("envelope: ciphertext of %d bytes holds %d bytes, metadata says %d: %w", c, n, m.Size, errInvalidSize)
	}
	return nil
}
