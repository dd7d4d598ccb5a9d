package proxy

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/bucketkey/bucketkey/envelope"
)

func TestUnitRewriteXML(t *testing.T) {
	c1 := new(envelope.DataKey).StoredSize(0, 1)
	c2 := new(envelope.DataKey).StoredSize(0, 65537)
	cases := []struct {
		name, in, want string
		rules          []xmlRule
	}{
		{
			name:  "list v2 sizes, unknown fields and namespace kept",
			in:    `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Contents><Key>a</Key><Size>` + itoa(c1) + `</Size><NewField x="1">y</NewField></Contents><Contents><Key>&lt;Size&gt;</Key><Size>` + itoa(c2) + `</Size></Contents></ListBucketResult>`,
			want:  `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Contents><Key>a</Key><Size>1</Size><NewField x="1">y</NewField></Contents><Contents><Key>&lt;Size&gt;</Key><Size>65537</Size></Contents></ListBucketResult>`,
			rules: []xmlRule{sizeRule("Contents")},
		},
		{
			name:  "impossible sizes and other Size elements untouched",
			in:    `<R><Contents><Size>5</Size></Contents><Size>17</Size><Contents><Size> 17 </Size></Contents><Contents><Size/></Contents></R>`,
			want:  `<R><Contents><Size>5</Size></Contents><Size>17</Size><Contents><Size>1</Size></Contents><Contents><Size/></Contents></R>`,
			rules: []xmlRule{sizeRule("Contents")},
		},
		{
			name:  "drop checksums, keep the rest",
			in:    `<P><Part><PartNumber>1</PartNumber><ChecksumCRC32>abc=</ChecksumCRC32><ETag>"e"</ETag><ChecksumType>X</ChecksumType></Part><ChecksumCRC32>top</ChecksumCRC32></P>`,
			want:  `<P><Part><PartNumber>1</PartNumber><ETag>"e"</ETag></Part><ChecksumCRC32>top</ChecksumCRC32></P>`,
			rules: dropChecksums("Part"),
		},
		{
			name:  "drop a self-closed element, replace with escaping",
			in:    `<A><Part><ChecksumSHA1/><X>1</X></Part><UploadId>old</UploadId></A>`,
			want:  `<A><Part><X>1</X></Part><UploadId>a&amp;b&lt;c</UploadId></A>`,
			rules: append(dropChecksums("Part"), xmlRule{path: []string{"A", "UploadId"}, replace: func(string) (string, bool) { return "a&b<c", true }}),
		},
		{
			name: "insert from the children, not into dropped elements, after dropped children",
			in:   `<L><Upload><Key>a</Key><ChecksumType>X</ChecksumType></Upload><Upload><Key>rec</Key></Upload><Upload><Key>b</Key></Upload></L>`,
			want: `<L><Upload><Key>a</Key><Alg>a</Alg></Upload><Upload><Key>b</Key><Alg>b</Alg></Upload></L>`,
			rules: append([]xmlRule{{path: []string{"Upload"},
				dropIf: func(c map[string]string) bool { return c["Key"] == "rec" },
				insert: func(c map[string]string) string { return "<Alg>" + c["Key"] + "</Alg>" }}}, dropChecksums("Upload")...),
		},
		{
			name:  "no match: identical",
			in:    "<a>\n  <b>text</b>\n  <!-- c --><![CDATA[x]]>\n</a>",
			want:  "<a>\n  <b>text</b>\n  <!-- c --><![CDATA[x]]>\n</a>",
			rules: []xmlRule{sizeRule("Contents")},
		},
	}
	for _, c := range cases {
		got, err := rewriteXML([]byte(c.in), c.rules...)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
	for _, bad := range []string{"<a><b></a>", "<a>", "</a>", "<a></a></b>", "<a>&nope;</a>"} {
		if _, err := rewriteXML([]byte(bad), sizeRule("a")); err == nil {
			t.Errorf("malformed %q accepted", bad)
		}
	}
}

func itoa(n int64) string { return strings.TrimSpace(strings.Repeat(" ", 0) + formatInt(n)) }

func formatInt(n int64) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// FuzzRewriteXML: the rewriter never panics; what it returns is
// well-formed, and documents it does not edit come back byte for byte.
func FuzzRewriteXML(f *testing.F) {
	f.Add([]byte(`<ListBucketResult><Contents><Size>17</Size></Contents></ListBucketResult>`))
	f.Add([]byte(`<?xml version="1.0"?><ListPartsResult><Part><Size>65552</Size><ChecksumCRC32>x</ChecksumCRC32></Part><UploadId>u</UploadId></ListPartsResult>`))
	f.Add([]byte(`<a><Part><ChecksumCRC32/></Part></a>`))
	f.Add([]byte(`<a b="c"><!-- x --><![CDATA[<Size>]]></a>`))
	f.Add([]byte(`<ListBucketResult><Contents><Key>k</Key><ETag>&#34;0123456789abcdef0123456789abcdef-3&#34;</ETag><Size>150000</Size></Contents></ListBucketResult>`))
	f.Add([]byte(`<ListVersionsResult><Version><Size>65552</Size><ETag>"0123456789abcdef0123456789abcdef"</ETag></Version><DeleteMarker><Key>d</Key></DeleteMarker></ListVersionsResult>`))
	f.Add([]byte(`<GetObjectAttributesResponse><ETag>x</ETag><ObjectSize>48</ObjectSize><ObjectParts><TotalPartsCount>2</TotalPartsCount></ObjectParts></GetObjectAttributesResponse>`))
	plain := append([]xmlRule{
		sizeRule("Contents"), sizeRule("Part"),
		{path: []string{"ListPartsResult", "UploadId"}, replace: func(string) (string, bool) { return "id&<>", true }},
	}, dropChecksums("Part")...)
	// The proxy's own rules, the sibling-aware ones (an entry's size and
	// ETag decided together) included.
	proxyRules := append(listEntryRules(), storedPartSizeRule, storedPartETagRule,
		objectSizeRule("GetObjectAttributesResponse", "ObjectSize"),
		clientETagRule("GetObjectAttributesResponse", "ObjectSize"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, rules := range [][]xmlRule{plain, proxyRules} {
			out, err := rewriteXML(doc, rules...)
			if err != nil {
				return // not a document the rewriter takes
			}
			if !wellFormed(out) {
				t.Fatalf("output not well-formed:\n in %q\nout %q", doc, out)
			}
		}
		if same, err := rewriteXML(doc); err != nil || !bytes.Equal(same, doc) {
			t.Fatalf("rewrite without rules changed the document: %v", err)
		}
	})
}

func wellFormed(doc []byte) bool {
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
	}
}
