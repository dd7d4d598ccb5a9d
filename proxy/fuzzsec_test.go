package proxy

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzIfRange feeds the If-Range evaluation (a client header) arbitrary
// values against arbitrary validators: it must not panic; a weak tag never
// holds; an entity-tag holds only when it is the object's ETag exactly;
// and a value holds for an object only if the same value holds again (no
// state). Issue 12, item 3.
func FuzzIfRange(f *testing.F) {
	f.Add(`"abc-0"`, `"abc-0"`, "Fri, 04 Dec 2026 16:00:00 GMT")
	f.Add(`W/"abc-0"`, `"abc-0"`, "")
	f.Add("Fri, 04 Dec 2026 16:00:00 GMT", `"x"`, "Fri, 04 Dec 2026 16:00:00 GMT")
	f.Add("Friday, 04-Dec-26 16:00:00 GMT", `"x"`, "Fri, 04 Dec 2026 16:00:00 GMT")
	f.Add("Fri Dec  4 16:00:00 2026", `"x"`, "Fri, 04 Dec 2026 16:00:00 GMT")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, v, etag, lastModified string) {
		got := ifRangeHolds(v, etag, lastModified)
		if got != ifRangeHolds(v, etag, lastModified) {
			t.Fatal("not deterministic")
		}
		tv := strings.TrimSpace(v)
		if !got {
			return
		}
		switch {
		case strings.HasPrefix(tv, "W/") || strings.HasPrefix(etag, "W/") && strings.HasPrefix(tv, `"`):
			t.Fatalf("weak comparison held: %q vs %q", v, etag)
		case strings.HasPrefix(tv, `"`) && tv != etag:
			t.Fatalf("tag %q held for ETag %q", v, etag)
		case !strings.HasPrefix(tv, `"`):
			a, err1 := http.ParseTime(tv)
			b, err2 := http.ParseTime(lastModified)
			if err1 != nil || err2 != nil || !a.Equal(b) {
				t.Fatalf("date %q held for Last-Modified %q", v, lastModified)
			}
		}
	})
}

// FuzzReservedNames: for any name, the header policy and the query policy
// agree (issue 12, item 7): a name dropped from headers is dropped from
// the query in any spelling, and envelope metadata names never pass
// either way.
func FuzzReservedNames(f *testing.F) {
	for _, s := range []string{"x-amz-meta-bk-v", "X-Amz-Server-Side-Encryption", "x-amz-checksum-crc32", "versionId", "x-amz-meta-a", "Connection", "content-md5", "X-AMZ-META-BK-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if name == "" || strings.ContainsAny(name, "\r\n:\x00") {
			return
		}
		h := forwardHeader(http.Header{name: {"v"}})
		_, inHeader := h[name]
		for _, spelling := range []string{name, strings.ToLower(name), strings.ToUpper(name)} {
			q := forwardQuery(url.Values{spelling: {"v"}})
			_, inQuery := q[spelling]
			if reservedRequestName(name) && inQuery {
				t.Fatalf("%q: reserved, forwarded in the query", spelling)
			}
			if inQuery && strings.HasPrefix(strings.ToLower(spelling), "x-amz-meta-bk-") {
				t.Fatalf("%q: envelope name forwarded in the query", spelling)
			}
		}
		if reservedRequestName(name) && inHeader {
			t.Fatalf("%q: reserved, forwarded as a header", name)
		}
	})
}
