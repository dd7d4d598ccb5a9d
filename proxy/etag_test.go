package proxy

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/bucketkey/bucketkey/envelope"
)

const (
	md5A = "0123456789abcdef0123456789abcdef"
	md5B = "FEDCBA9876543210FEDCBA9876543210"
)

// TestUnitETagMapping: backend MD5 ETags get "-0" toward the client and lose
// it on the way back; every other shape passes unchanged both ways.
func TestUnitETagMapping(t *testing.T) {
	cases := []struct {
		name, backend, client string
	}{
		{"quoted md5", `"` + md5A + `"`, `"` + md5A + `-0"`},
		{"unquoted md5 (GetObjectAttributes)", md5A, md5A + "-0"},
		{"upper-case hex", `"` + md5B + `"`, `"` + md5B + `-0"`},
		{"multipart", `"` + md5A + `-3"`, `"` + md5A + `-3"`},
		{"one-part multipart", `"` + md5A + `-1"`, `"` + md5A + `-1"`},
		{"short", `"e"`, `"e"`},
		{"33 hex digits", `"` + md5A + `0"`, `"` + md5A + `0"`},
		{"not hex", `"` + md5A[:31] + `g"`, `"` + md5A[:31] + `g"`},
		{"unbalanced quote", `"` + md5A, `"` + md5A},
		{"empty", "", ""},
	}
	for _, c := range cases {
		if got := clientETag(c.backend); got != c.client {
			t.Errorf("%s: clientETag(%q) = %q, want %q", c.name, c.backend, got, c.client)
		}
		if got := backendETag(c.client); got != c.backend {
			t.Errorf("%s: backendETag(%q) = %q, want %q", c.name, c.client, got, c.backend)
		}
	}
	// Tags the client sends that are not client ETags reach the backend as
	// they are: backend ETags (accepted, what older proxies reported),
	// "-0" on something that is not an MD5, weak tags kept weak.
	back := []struct{ in, want string }{
		{`"` + md5A + `"`, `"` + md5A + `"`},
		{`"abc-0"`, `"abc-0"`},
		{`"` + md5A + `-00"`, `"` + md5A + `-00"`},
		{`W/"` + md5A + `-0"`, `W/"` + md5A + `"`},
		{"*", "*"},
	}
	for _, c := range back {
		if got := backendETag(c.in); got != c.want {
			t.Errorf("backendETag(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestUnitETagLists: If-Match and If-None-Match values are lists; each tag is
// mapped, and a value without client ETags is forwarded byte for byte.
func TestUnitETagLists(t *testing.T) {
	cases := []struct{ in, want string }{
		{`"` + md5A + `-0"`, `"` + md5A + `"`},
		{`"x", "` + md5A + `-0"`, `"x", "` + md5A + `"`},
		{`"` + md5A + `-0",W/"` + md5B + `-0"`, `"` + md5A + `", W/"` + md5B + `"`},
		{md5A + "-0", md5A},
		{"*", "*"},
		{` "x" ,"y"`, ` "x" ,"y"`},
		{`"a,b", "` + md5A + `-0"`, `"a,b", "` + md5A + `"`},
	}
	for _, c := range cases {
		if got := backendETagList(c.in); got != c.want {
			t.Errorf("backendETagList(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	split := []struct {
		in   string
		want []string
	}{
		{`"a", "b"`, []string{`"a"`, `"b"`}},
		{`"a,b",c`, []string{`"a,b"`, "c"}},
		{" , ", nil},
		{"*", []string{"*"}},
	}
	for _, c := range split {
		if got := splitETags(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("splitETags(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestUnitETagHeaders: forwarded requests carry backend ETags in every
// condition header; answers about encrypted objects carry client ETags,
// other answers the backend's.
func TestUnitETagHeaders(t *testing.T) {
	client := `"` + md5A + `-0"`
	backend := `"` + md5A + `"`
	h := forwardHeader(http.Header{
		"If-Match":                        {client},
		"If-None-Match":                   {`"x", ` + client},
		"X-Amz-Copy-Source-If-Match":      {client},
		"X-Amz-Copy-Source-If-None-Match": {client},
		"X-Amz-Meta-Note":                 {client},
	})
	want := http.Header{
		"If-Match":                        {backend},
		"If-None-Match":                   {`"x", ` + backend},
		"X-Amz-Copy-Source-If-Match":      {backend},
		"X-Amz-Copy-Source-If-None-Match": {backend},
		"X-Amz-Meta-Note":                 {client},
	}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("forwardHeader:\n got %v\nwant %v", h, want)
	}
	if c := conditions(http.Header{"If-Match": {client}, "If-Modified-Since": {"x"}}); c.Get("If-Match") != backend || c.Get("If-Modified-Since") != "x" {
		t.Errorf("conditions: %v", c)
	}
	if c := copyConditions(http.Header{"X-Amz-Copy-Source-If-None-Match": {client}}); c.Get("If-None-Match") != backend {
		t.Errorf("copyConditions: %v", c)
	}
	for _, object := range []bool{true, false} {
		dst := make(http.Header)
		copyResponseHeader(dst, http.Header{"Etag": {backend}}, object)
		want := backend
		if object {
			want = client
		}
		if got := dst.Get("ETag"); got != want {
			t.Errorf("copyResponseHeader(object=%v): ETag %q, want %q", object, got, want)
		}
	}
}

// TestUnitETagXML: listings map an entry's ETag exactly when they map its
// size (both say "encrypted" or both "written before the proxy"),
// whichever comes first in the entry; a Complete body gets the backend's
// part ETags back.
func TestUnitETagXML(t *testing.T) {
	c := itoa(new(envelope.DataKey).StoredSize(0, 10))
	q := func(s string) string { return "&#34;" + s + "&#34;" }
	cases := []struct {
		name, in, want string
		rules          []xmlRule
	}{
		{
			name:  "list v2: encrypted, pre-proxy (size 5), multipart, ETag after Size",
			in:    `<L><Contents><ETag>` + q(md5A) + `</ETag><Key>a</Key><Size>` + c + `</Size></Contents><Contents><ETag>` + q(md5A) + `</ETag><Size>5</Size></Contents><Contents><ETag>` + q(md5A+"-2") + `</ETag><Size>` + c + `</Size></Contents><Contents><Size>` + c + `</Size><ETag>` + q(md5B) + `</ETag></Contents></L>`,
			want:  `<L><Contents><ETag>` + q(md5A+"-0") + `</ETag><Key>a</Key><Size>10</Size></Contents><Contents><ETag>` + q(md5A) + `</ETag><Size>5</Size></Contents><Contents><ETag>` + q(md5A+"-2") + `</ETag><Size>10</Size></Contents><Contents><Size>10</Size><ETag>` + q(md5B+"-0") + `</ETag></Contents></L>`,
			rules: []xmlRule{sizeRule("Contents"), clientETagRule("Contents", "Size")},
		},
		{
			name:  "versions and delete markers",
			in:    `<R><Version><Key>k</Key><ETag>"` + md5A + `"</ETag><Size>` + c + `</Size></Version><DeleteMarker><Key>k</Key></DeleteMarker></R>`,
			want:  `<R><Version><Key>k</Key><ETag>&#34;` + md5A + `-0&#34;</ETag><Size>` + c + `</Size></Version><DeleteMarker><Key>k</Key></DeleteMarker></R>`,
			rules: []xmlRule{clientETagRule("Version", "Size")},
		},
		{
			name:  "attributes: unquoted, no size asked for",
			in:    `<GetObjectAttributesResponse><ETag>` + md5A + `</ETag></GetObjectAttributesResponse>`,
			want:  `<GetObjectAttributesResponse><ETag>` + md5A + `-0</ETag></GetObjectAttributesResponse>`,
			rules: []xmlRule{clientETagRule("GetObjectAttributesResponse", "ObjectSize")},
		},
		{
			name:  "complete body: client part ETags back to the backend's",
			in:    `<CompleteMultipartUpload><Part><ETag>` + q(md5A+"-0") + `</ETag><PartNumber>1</PartNumber></Part><Part><ETag>"` + md5B + `"</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>`,
			want:  `<CompleteMultipartUpload><Part><ETag>` + q(md5A) + `</ETag><PartNumber>1</PartNumber></Part><Part><ETag>"` + md5B + `"</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>`,
			rules: []xmlRule{backendPartETags},
		},
	}
	for _, tc := range cases {
		got, err := rewriteXML([]byte(tc.in), tc.rules...)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}
