package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/bucketkey/bucketkey/s3err"
)

// A POST Object form (multipart/form-data) is read as a stream: the fields
// before the file are read whole, within S3's 20 KB bound; the file is
// never buffered. The proxy must know the file's size before it sends a
// byte upstream (the envelope seals it, and the backend wants a
// Content-Length), so it computes it from the request's Content-Length:
// everything after the file's headers but the closing delimiter
// "\r\n--boundary--\r\n". A form with fields after the file (which S3
// ignores) is refused as it is found, before the upload completes.

// maxPostPreData is S3's bound on the form fields before the file.
const maxPostPreData = 20480

// maxPostPreBytes bounds everything before the file's data: the fields,
// their part headers and the delimiters.
const maxPostPreBytes = 64 << 10

// maxFormLine bounds one line of part headers.
const maxFormLine = 8 << 10

var (
	errNotMultipart = s3err.PreconditionFailed.With("At least one of the pre-conditions you specified did not hold").
			WithExtra("Condition", "Bucket POST must be of the enclosure-type multipart/form-data")
	errMalformedPOST = &s3err.Error{Code: "MalformedPOSTRequest", Status: http.StatusBadRequest,
		Message: "The body of your POST request is not well-formed multipart/form-data."}
	errPreDataTooLarge = (&s3err.Error{Code: "MaxPostPreDataLengthExceeded", Status: http.StatusBadRequest,
		Message: "Your POST request fields preceeding the upload file was too large."}).
		WithExtra("MaxPostPreDataLengthBytes", strconv.Itoa(maxPostPreData))
	errNoFile = s3err.InvalidArgument.With("POST requires exactly one file upload per request.").
			WithExtra("ArgumentName", "file").WithExtra("ArgumentValue", "0")
	errFileNotLast = errMalformedPOST.With("The body of your POST request is not well-formed multipart/form-data: the encrypting proxy requires the file to be the last field of the form.")
)

// postForm is a parsed form up to its file.
type postForm struct {
	fields      map[string]string // by lower-case name
	filename    string
	hasFilename bool
	size        int64     // the file's size
	file        io.Reader // the file's bytes, exactly size of them, then the closing delimiter checked
}

// formReader reads a multipart/form-data body and knows its offset in it.
type formReader struct {
	src   *countingSrc
	br    *bufio.Reader
	delim []byte // "\r\n--" + boundary
}

type countingSrc struct {
	r io.Reader
	n int64
}

func (c *countingSrc) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (f *formReader) offset() int64 { return f.src.n - int64(f.br.Buffered()) }

// formBoundary checks a POST's Content-Type and returns its boundary.
func formBoundary(contentType string) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.EqualFold(mt, "multipart/form-data") {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), "multipart/form-data") {
			return "", errMalformedPOST
		}
		return "", errNotMultipart
	}
	b := params["boundary"]
	if b == "" || len(b) > 70 {
		return "", errMalformedPOST
	}
	return b, nil
}

// readPostForm reads the fields of a form of length bytes (the request's
// Content-Length) up to the file, and returns them with a reader of the
// file.
func readPostForm(body io.Reader, contentType string, length int64) (*postForm, error) {
	boundary, err := formBoundary(contentType)
	if err != nil {
		return nil, err
	}
	if length < 0 {
		return nil, s3err.MissingContentLength
	}
	src := &countingSrc{r: io.LimitReader(body, length)}
	f := &formReader{src: src, br: bufio.NewReaderSize(src, maxFormLine), delim: []byte("\r\n--" + boundary)}
	if err := f.skipPreamble(); err != nil {
		return nil, err
	}
	form := &postForm{fields: make(map[string]string)}
	used := 0
	for {
		last, err := f.afterDelimiter()
		if err != nil {
			return nil, err
		}
		if last {
			return nil, errNoFile
		}
		name, filename, hasFilename, err := f.partHeaders()
		if err != nil {
			return nil, err
		}
		if f.offset() > maxPostPreBytes {
			return nil, errPreDataTooLarge
		}
		lname := strings.ToLower(name)
		if lname == "file" {
			form.filename, form.hasFilename = filename, hasFilename
			if rest := length - f.offset(); rest <= maxBufferedPostFile {
				if err := f.bufferFile(form, rest); err != nil {
					return nil, err
				}
				return form, nil
			}
			form.size = length - f.offset() - int64(len(f.delim)+4)
			if form.size < 0 {
				return nil, errMalformedPOST
			}
			form.file = &fileReader{f: f, remaining: form.size}
			return form, nil
		}
		value, err := f.fieldValue(maxPostPreData - used - len(name))
		if err != nil {
			return nil, err
		}
		used += len(name) + len(value)
		if _, dup := form.fields[lname]; dup {
			return nil, s3err.InvalidArgument.With("Bucket POST must not contain the field '"+name+"' more than once.").
				WithExtra("ArgumentName", name).WithExtra("ArgumentValue", value)
		}
		form.fields[lname] = value
	}
}

// skipPreamble reads up to and including the first "--boundary" (the body
// may start with it, or with a preamble ending in CRLF before it).
func (f *formReader) skipPreamble() error {
	first := f.delim[2:]
	if b, err := f.br.Peek(len(first)); err == nil && bytes.Equal(b, first) {
		_, _ = f.br.Discard(len(first))
		return nil
	}
	_, err := f.until(f.delim, maxPostPreBytes, nil)
	return err
}

// afterDelimiter reads what follows a delimiter: "--" (the close
// delimiter: last is true) or transport padding and CRLF.
func (f *formReader) afterDelimiter() (last bool, err error) {
	line, err := f.br.ReadSlice('\n')
	if err != nil {
		return false, errMalformedPOST
	}
	if bytes.HasPrefix(line, []byte("--")) {
		return true, nil
	}
	if len(bytes.TrimRight(line, " \t\r\n")) != 0 || !bytes.HasSuffix(line, []byte("\r\n")) {
		return false, errMalformedPOST
	}
	return false, nil
}

// partHeaders reads one part's headers and returns its form-data name and
// file name. Only Content-Disposition matters (RFC 7578).
func (f *formReader) partHeaders() (name, filename string, hasFilename bool, err error) {
	found := false
	for {
		line, err := f.br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return "", "", false, errPreDataTooLarge
			}
			return "", "", false, errMalformedPOST
		}
		if f.offset() > maxPostPreBytes {
			return "", "", false, errPreDataTooLarge
		}
		text := strings.TrimRight(string(line), "\r\n")
		if text == "" {
			break
		}
		k, v, ok := strings.Cut(text, ":")
		if !ok {
			return "", "", false, errMalformedPOST
		}
		if !strings.EqualFold(strings.TrimSpace(k), "Content-Disposition") {
			continue
		}
		disp, params, perr := mime.ParseMediaType(strings.TrimSpace(v))
		if perr != nil || disp != "form-data" || params["name"] == "" || found {
			return "", "", false, errMalformedPOST
		}
		found = true
		name = params["name"]
		filename, hasFilename = params["filename"]
	}
	if !found {
		return "", "", false, errMalformedPOST
	}
	return name, filename, hasFilename, nil
}

// fieldValue reads a field's value up to the next delimiter, at most
// limit bytes.
func (f *formReader) fieldValue(limit int) (string, error) {
	if limit < 0 {
		return "", errPreDataTooLarge
	}
	var buf bytes.Buffer
	if _, err := f.until(f.delim, limit, &buf); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// until reads up to and including delim, copying what precedes it to dst
// (if not nil), at most limit bytes of it.
func (f *formReader) until(delim []byte, limit int, dst *bytes.Buffer) (int, error) {
	var win []byte
	n := 0
	for {
		c, err := f.br.ReadByte()
		if err != nil {
			return n, errMalformedPOST
		}
		win = append(win, c)
		if bytes.HasSuffix(win, delim) {
			n += len(win) - len(delim)
			if n > limit {
				return n, errPreDataTooLarge
			}
			if dst != nil {
				dst.Write(win[:len(win)-len(delim)])
			}
			return n, nil
		}
		if len(win) > 2*len(delim) {
			keep := len(delim)
			if dst != nil {
				dst.Write(win[:len(win)-keep])
			}
			n += len(win) - keep
			win = append(win[:0], win[len(win)-keep:]...)
			if n > limit {
				return n, errPreDataTooLarge
			}
		}
	}
}

// maxBufferedPostFile bounds the rest of a form (the file and what follows
// it) that is read whole: its file ends where the delimiter first occurs,
// and fields or an epilogue after it are ignored, as S3 ignores them
// (browsers send a named submit button after the file, as in S3's
// example form). A larger form streams its file, whose size it takes from
// the Content-Length: its file must be the last part.
const maxBufferedPostFile = smallPutMax

// bufferFile reads the rest bytes of the form after the file's part
// headers and sets form's file to what comes before the first delimiter.
//
// The buffer grows as the bytes arrive, not to the declared length at
// once: the form is not authenticated yet, and a client that declares
// 512 KiB and sends nothing must not hold 512 KiB of the proxy's memory.
func (f *formReader) bufferFile(form *postForm, rest int64) error {
	var b bytes.Buffer
	switch n, err := b.ReadFrom(io.LimitReader(f.br, rest)); {
	case err != nil:
		return s3err.IncompleteBody.Wrap(err)
	case n < rest:
		return s3err.IncompleteBody.Wrap(fmt.Errorf("proxy: POST form of %d bytes ends after %d", rest, n))
	}
	buf := b.Bytes()
	i := bytes.Index(buf, f.delim)
	if i < 0 {
		return errMalformedPOST
	}
	form.size, form.file = int64(i), bytes.NewReader(buf[:i])
	return nil
}

// fileReader yields the file's bytes: exactly remaining of them, none of
// which may contain the delimiter (a field after the file), and then
// checks that the form ends with the closing delimiter.
type fileReader struct {
	f         *formReader
	remaining int64
	tail      []byte // the last len(delim)-1 bytes returned, to find a delimiter across reads
	err       error
}

func (r *fileReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.remaining == 0 {
		r.err = r.f.closing()
		if r.err == nil {
			r.err = io.EOF
		}
		return 0, r.err
	}
	if int64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n, err := r.f.br.Read(p)
	r.remaining -= int64(n)
	if n > 0 && r.containsDelim(p[:n]) {
		r.err = errFileNotLast
		return 0, r.err
	}
	switch {
	case errors.Is(err, io.EOF) && r.remaining > 0:
		r.err = s3err.IncompleteBody
		return n, r.err
	case err != nil && !errors.Is(err, io.EOF):
		// The client's body failed (a connection cut mid-record): keep
		// the error, which every later read returns; dropping it made
		// each read (0, nil), and the sealing loop spun on them.
		r.err = err
		return n, err
	}
	return n, nil
}

// containsDelim reports whether the delimiter occurs in b or straddles
// the previous read and b, and keeps the new tail.
func (r *fileReader) containsDelim(b []byte) bool {
	d := r.f.delim
	k := len(d) - 1
	found := bytes.Contains(b, d)
	if !found && len(r.tail) > 0 {
		edge := append(append([]byte(nil), r.tail...), b[:min(len(b), k)]...)
		found = bytes.Contains(edge, d)
	}
	if len(b) >= k {
		r.tail = append(r.tail[:0], b[len(b)-k:]...)
	} else {
		r.tail = append(r.tail, b...)
		if len(r.tail) > k {
			r.tail = r.tail[len(r.tail)-k:]
		}
	}
	return found
}

// closing checks that the rest of the body is "\r\n--boundary--\r\n".
func (f *formReader) closing() error {
	want := append(append([]byte(nil), f.delim...), "--\r\n"...)
	got := make([]byte, len(want)+1)
	n, _ := io.ReadFull(f.br, got)
	if n != len(want) || !bytes.Equal(got[:n], want) {
		return errFileNotLast
	}
	return nil
}

// String names a form for logs without its values.
func (p *postForm) String() string {
	return fmt.Sprintf("form of %d fields, file of %d bytes", len(p.fields), p.size)
}
