package envelope

import "fmt"

// Size algebra (docs/FORMAT.md, "Sizes"). Each format version has its own
// (format.sizes); a stream's size depends only on its version and its
// plaintext size, so HEAD and LIST report plaintext sizes without reading
// objects, and a plaintext range maps to a ciphertext range.

// encSegment is the ciphertext size of a full segment.
func (s sizes) encSegment() int64 { return s.segment + s.tag }

// maxStream is the largest plaintext one stream can hold: 2^32 segments,
// the reach of the 32-bit segment counter in the nonce.
func (s sizes) maxStream() int64 { return 1 << 32 * s.segment }

// segments is the number of segments of a stream of n >= 0 plaintext bytes.
func (s sizes) segments(n int64) int64 {
	if n == 0 {
		return 1
	}
	return (n + s.segment - 1) / s.segment
}

// ciphertext is the size of a stream of n plaintext bytes: every segment
// carries a tag and an empty stream is one empty final segment. It is -1
// if no stream can hold n bytes.
func (s sizes) ciphertext(n int64) int64 {
	if n < 0 || n > s.maxStream() {
		return -1
	}
	return n + s.tag*s.segments(n)
}

// plaintext inverts ciphertext, rejecting sizes no plaintext can produce
// with an error wrapping ErrAuth.
func (s sizes) plaintext(c int64) (int64, error) {
	if c < s.tag || c > s.ciphertext(s.maxStream()) {
		return 0, fmt.Errorf("envelope: ciphertext size %d: %w", c, errInvalidSize)
	}
	full, rem := c/s.encSegment(), c%s.encSegment()
	switch {
	case rem == 0:
		// Ends with a full segment, which is then the final one.
		return full * s.segment, nil
	case rem < s.tag, rem == s.tag && full > 0:
		// A segment shorter than a tag, or an empty final segment after
		// full ones (the writer makes the last full segment final instead).
		return 0, fmt.Errorf("envelope: ciphertext size %d: %w", c, errInvalidSize)
	default:
		return full*s.segment + rem - s.tag, nil
	}
}

// listed is the plaintext size of an object from what a listing says of
// it: its total stored size c and, for a multipart object, its stored part
// count m (the "-m" of its ETag; 0 for a single-part object). Every stored
// part, the marker part included, adds partOverhead bytes to its stream.
func (s sizes) listed(c int64, m int) (int64, error) {
	if m == 0 {
		return s.plaintext(c)
	}
	if m < 0 || m > maxPart || c < int64(m)*partOverhead {
		return 0, fmt.Errorf("envelope: %d bytes in %d parts: %w", c, m, errInvalidSize)
	}
	return s.plaintext(c - int64(m)*partOverhead)
}

// StoredSize is what the backend stores for n plaintext bytes written
// under k (NewWriter): the stream of a single-part object (part 0), or for
// a multipart part its header, stream and end field. It returns -1 if no
// stream can hold n bytes. An empty single-part object is stored empty
// (docs/FORMAT.md, "Empty objects"): 16 here is its stream's size, which
// the proxy does not send. The zero DataKey is of version 1.
func (k *DataKey) StoredSize(part int, n int64) int64 {
	c := k.format().sizes.ciphertext(n)
	if c < 0 || part == 0 {
		return c
	}
	return c + partOverhead
}

// PlaintextSize is the plaintext size of an object from what a listing
// says of it, which names no format version: its total stored size c and,
// for a multipart object, its stored part count m (the "-m" of its ETag;
// 0 for a single-part object; 1 for one stored part, as ListParts lists
// them). It is exact for single-part objects and for multipart objects
// whose non-last parts hold whole segments (docs/FORMAT.md, "Listing
// sizes"). A size no version can have (an object written before the
// proxy) is an error wrapping ErrAuth, and so is a size two versions read
// differently: a version that changes the size algebra must keep its
// sizes apart from every other's (docs/FORMAT.md, "Versions").
func PlaintextSize(c int64, m int) (int64, error) {
	var n int64
	var from *format
	var firstErr error
	for _, v := range versions() {
		f := formats[v]
		got, err := f.sizes.listed(c, m)
		switch {
		case err != nil:
			if firstErr == nil {
				firstErr = err
			}
		case from == nil:
			n, from = got, f
		case got != n:
			return 0, fmt.Errorf("envelope: %d bytes in %d parts are %d bytes in v%d and %d in v%d: %w",
				c, m, n, from.version, got, f.version, errInvalidSize)
		}
	}
	if from == nil {
		return 0, firstErr
	}
	return n, nil
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
	f, err := formatOf(m.Version)
	if err != nil {
		return err
	}
	n, err := f.sizes.plaintext(c)
	if err != nil {
		return err
	}
	if n != m.Size {
		return fmt.Errorf("envelope: ciphertext of %d bytes holds %d bytes, metadata says %d: %w", c, n, m.Size, errInvalidSize)
	}
	return nil
}
