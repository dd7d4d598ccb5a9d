package sigv4

import (
	"bytes"
	"io"
	"testing"

	"github.com/bucketkey/bucketkey/checksum"
)

func TestEscapePath(t *testing.T) {
	for in, want := range map[string]string{
		"/bucket/key":           "/bucket/key",
		"/b/a b+c":              "/b/a%20b%2Bc",
		"/b/a//b/./c":           "/b/a//b/./c",
		"/b/%2F":                "/b/%252F",
		"/b/ü":                  "/b/%C3%BC",
		"/b/-_.~":               "/b/-_.~",
		"/b/!$&'()*,;=:@[]?#":   "/b/%21%24%26%27%28%29%2A%2C%3B%3D%3A%40%5B%5D%3F%23",
		"/test$file.text":       "/test%24file.text",
		"":                      "",
		"/b/\x00\x7f\xff":       "/b/%00%7F%FF",
		"/b/tab\tand\nnewline":  "/b/tab%09and%0Anewline",
		"/b/already%20escaped?": "/b/already%2520escaped%3F",
	} {
		if got := EscapePath(in); got != want {
			t.Errorf("EscapePath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUpstreamBodyFillsReads holds the upstream bodies to whole reads
// across the source's segments and the framing's chunks: the transport
// writes what each Read returns, and a Read that stopped at a segment's
// end sent its last 16 bytes in a write syscall of their own.
func TestUpstreamBodyFillsReads(t *testing.T) {
	const seg, size, read = 65552, 4*65552 + 100, 32 << 10
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
	chain := newChainSigner(new([32]byte), "20130524T000000Z", "20130524/us-east-1/s3/aws4_request", new([32]byte))
	bodies := map[string]func() io.Reader{
		"unsigned": func() io.Reader {
			return &exactReader{src: &errReader{data: data, err: io.EOF, seg: seg}, remaining: size}
		},
		"chunked": func() io.Reader {
			return newChunkEncoder(&errReader{data: data, err: io.EOF, seg: seg}, size, seg, chain, checksum.None)
		},
		"trailer": func() io.Reader {
			return newChunkEncoder(&errReader{data: data, err: io.EOF, seg: seg}, size, seg, nil, checksumCRC32C)
		},
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			r := body()
			var got []byte
			p := make([]byte, read)
			short := -1 // offset of a Read that returned less than p
			for {
				n, err := r.Read(p)
				if n > 0 && short >= 0 {
					t.Fatalf("the Read at offset %d returned less than %d bytes, and more followed", short, read)
				}
				if n < read {
					short = len(got)
				}
				got = append(got, p[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if name == "unsigned" && !bytes.Equal(got, data) {
				t.Fatal("unsigned body differs from its source")
			}
			if name != "unsigned" && !bytes.Contains(got, data[seg:2*seg]) {
				t.Fatal("framed body lacks its second chunk's data")
			}
		})
	}
}
