package proxy

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/bucketkey/bucketkey/s3err"
)

// FuzzCheckCompleteParts feeds the CompleteMultipartUpload parser (a
// client's XML body) arbitrary bytes: it must not panic, and whatever it
// accepts names parts 1..N in order.
func FuzzCheckCompleteParts(f *testing.F) {
	f.Add([]byte(`<CompleteMultipartUpload><Part><ETag>"e"</ETag><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>01</PartNumber></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><CompleteMultipartUpload>&a;</CompleteMultipartUpload>`))
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		err := checkCompleteParts(doc, "u")
		if err == nil {
			return
		}
		if e := s3err.As(err); e == nil || e.Status != http.StatusBadRequest {
			t.Fatalf("checkCompleteParts error %v is not a 400 S3 error", err)
		}
	})
}

// FuzzParseSSE feeds the SSE request headers (the KMS key id and the
// base64 JSON encryption context) arbitrary values: no panic, every refusal
// a 400, and an accepted context never redefines the bucket's ARN.
func FuzzParseSSE(f *testing.F) {
	ctx := base64.StdEncoding.EncodeToString([]byte(`{"team":"a"}`))
	f.Add("aws:kms", "alias/x", ctx)
	f.Add("aws:kms", "", base64.StdEncoding.EncodeToString([]byte(`{"aws:s3:arn":"arn:aws:s3:::other"}`)))
	f.Add("AES256", "", "")
	f.Add("", "k", "")
	f.Add("aws:kms", "", "not base64")
	f.Add("aws:kms", "", base64.StdEncoding.EncodeToString([]byte(`{"a":1}`)))
	f.Fuzz(func(t *testing.T, alg, keyID, rawCtx string) {
		h := http.Header{}
		h.Set("X-Amz-Server-Side-Encryption", alg)
		h.Set("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", keyID)
		h.Set("X-Amz-Server-Side-Encryption-Context", rawCtx)
		s, err := parseSSE(h, "bucket")
		if err != nil {
			if e := s3err.As(err); e == nil || e.Status != http.StatusBadRequest {
				t.Fatalf("parseSSE error %v is not a 400 S3 error", err)
			}
			return
		}
		if _, ok := s.context["aws:s3:arn"]; ok {
			t.Fatalf("accepted context %v keeps aws:s3:arn", s.context)
		}
	})
}

// FuzzResolve feeds request resolution arbitrary request targets and
// Host headers, path style and virtual-hosted style (under
// s3.example.com): no panic, every refusal a 400 S3 error, and whatever it
// accepts is safe to forward: the bucket passes checkBucketName, the key is
// at most 1024 bytes without a dot segment, and the backend URL built from
// them (under a base path) is a valid escaping of its path that splits and
// decodes back to the same bucket and key, with no "." or ".." segment a
// backend could resolve to another bucket or object.
func FuzzResolve(f *testing.F) {
	p := unitProxy(f, func(c *Config) {
		c.VirtualHostDomains = []string{"s3.example.com"}
		c.Upstream = &url.URL{Scheme: "http", Host: "127.0.0.1:1", Path: "/base/"}
	})
	for _, seed := range [][2]string{
		{"/", ""},
		{"/b", ""},
		{"/b/", ""},
		{"/b/k", ""},
		{"/b/a%2Fb/c%20d?x=y", ""},
		{"/b//k", ""},
		{"/b/../v/k", ""},
		{"/b/%2e%2e/v/k", ""},
		{"/b/a%2F..%2F..%2Fv%2Fk", ""},
		{"/b/.", ""},
		{"/b/a..b/..k", ""},
		{"/%2e%2e/v/k", ""},
		{"/b%2Fk", ""},
		{"/b%2F..%2Fv", ""},
		{"/b/%zz", ""},
		{"/b/%E2%82%AC", ""},
		{"/b/%00%ff", ""},
		{"/b/" + strings.Repeat("k", 1025), ""},
		{"/b/k+plus;semi=eq&amp", ""},
		{"/k", "b.s3.example.com"},
		{"/", "b.s3.example.com:8080"},
		{"/k", "my.dotted.bucket.S3.Example.com."},
		{"/../v/k", "b.s3.example.com"},
		{"/k", "b%2fx.s3.example.com"},
		{"/k", ".s3.example.com"},
		{"/k", "..s3.example.com"},
		{"/k", "s3.example.com"},
		{"/k", "[::1]:80"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, target, host string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return // net/http answers 400 before the proxy sees it
		}
		r := &http.Request{Method: http.MethodGet, URL: u, Host: host, Header: http.Header{}}
		a, err := p.resolve(r)
		if err != nil {
			if e := s3err.As(err); e == nil || e.Status != http.StatusBadRequest {
				t.Fatalf("resolve error %v is not a 400 S3 error", err)
			}
			return
		}
		switch a.level {
		case levelService:
			if a.bucket != "" || a.key != "" {
				t.Fatalf("service-level address %+v names a bucket or key", a)
			}
			return
		case levelBucket:
			if a.key != "" {
				t.Fatalf("bucket-level address %+v has a key", a)
			}
		case levelObject:
			if a.key == "" {
				t.Fatalf("object-level address %+v has no key", a)
			}
			if len(a.key) > maxKeyLen || hasDotSegment(a.key) {
				t.Fatalf("accepted key %q", a.key)
			}
		default:
			t.Fatalf("address level %d", a.level)
		}
		if err := checkBucketName(a.bucket); err != nil {
			t.Fatalf("accepted bucket %q: %v", a.bucket, err)
		}

		up := p.upstreamURL(a.bucket, a.key, nil)
		escaped := up.EscapedPath()
		if escaped != up.RawPath {
			t.Fatalf("backend path %q is not a valid escaping of %q (Go would send %q)", up.RawPath, up.Path, escaped)
		}
		rest, ok := strings.CutPrefix(escaped, "/base/")
		if !ok {
			t.Fatalf("backend path %q lost the base path", escaped)
		}
		rawBucket, rawKey, hasKey := strings.Cut(rest, "/")
		if hasKey != (a.key != "") {
			t.Fatalf("backend path %q for %+v", escaped, a)
		}
		bucket, err := url.PathUnescape(rawBucket)
		if err != nil || bucket != a.bucket {
			t.Fatalf("backend path %q names bucket %q (%v), want %q", escaped, bucket, err, a.bucket)
		}
		key, err := url.PathUnescape(rawKey)
		if err != nil || key != a.key {
			t.Fatalf("backend path %q names key %q (%v), want %q", escaped, key, err, a.key)
		}
		for seg := range strings.SplitSeq(rest, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("backend path %q has a dot segment", escaped)
			}
		}
	})
}

// FuzzETagLists feeds the If-Match / If-None-Match list handling arbitrary
// values: no panic; splitting is stable (the tags, joined again, split to
// the same tags) and yields trimmed, non-empty tags; backendETagList maps
// exactly the tags backendETag maps, returns the value untouched when none
// changes, and is idempotent. Well-formed ETags derived from the input (an
// MD5 in hex, quoted or not, upper or lower case; "*"; multipart ones)
// survive the trip to the client and back: backendETag(clientETag(e)) ==
// e, a client list maps back to the backend list, and a client ETag never
// looks like an MD5.
func FuzzETagLists(f *testing.F) {
	for _, seed := range []string{
		``,
		`*`,
		`"0123456789abcdef0123456789abcdef-0"`,
		`"0123456789abcdef0123456789abcdef-0", W/"0123456789ABCDEF0123456789ABCDEF-0"`,
		`0123456789abcdef0123456789abcdef-0,0123456789abcdef0123456789abcdef`,
		`"a,b", "c"`,
		`"unbalanced, x`,
		`,, ,"",W/,"-0"`,
		`"0123456789abcdef0123456789abcdef-3"`,
		`"0123456789abcdef0123456789abcdef-0-0"`,
		"\t\"e1\" ,\u0085\"e2\"\u00a0",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tags := splitETags(v)
		for _, tag := range tags {
			if tag == "" || tag != strings.TrimSpace(tag) {
				t.Fatalf("splitETags(%q) gave tag %q", v, tag)
			}
		}
		if again := splitETags(strings.Join(tags, ", ")); !slices.Equal(again, tags) {
			t.Fatalf("splitETags(%q) = %q, but its join splits to %q", v, tags, again)
		}
		mapped := backendETagList(v)
		want := make([]string, len(tags))
		changed := false
		for i, tag := range tags {
			want[i] = backendETag(tag)
			changed = changed || want[i] != tag
			if backendETag(want[i]) != want[i] {
				t.Fatalf("backendETag is not idempotent on %q", tag)
			}
		}
		if !changed && mapped != v {
			t.Fatalf("backendETagList(%q) = %q, though no tag changes", v, mapped)
		}
		if got := splitETags(mapped); !slices.Equal(got, want) {
			t.Fatalf("backendETagList(%q) = %q, which splits to %q, want %q", v, mapped, got, want)
		}
		if backendETagList(mapped) != mapped {
			t.Fatalf("backendETagList is not idempotent on %q", v)
		}

		// Well-formed backend ETags derived from v (never the MD5 of
		// nothing, which is an empty object's and passes unchanged).
		sum := md5.Sum([]byte("tag:" + v))
		h := hex.EncodeToString(sum[:])
		backendTags := []string{`"` + h + `"`, h, `"` + strings.ToUpper(h) + `"`}
		clientTags := make([]string, len(backendTags))
		for i, e := range backendTags {
			c := clientETag(e)
			inner, _ := unquoteETag(c)
			if c == e || isMD5Hex(inner) {
				t.Fatalf("clientETag(%q) = %q looks like an MD5", e, c)
			}
			if b := backendETag(c); b != e {
				t.Fatalf("backendETag(clientETag(%q)) = %q", e, b)
			}
			if b := backendETag("W/" + c); b != "W/"+e {
				t.Fatalf("backendETag(W/clientETag(%q)) = %q", e, b)
			}
			clientTags[i] = c
		}
		// Tags the mapping leaves alone, both ways.
		for _, e := range []string{`"` + h + `-3"`, "*", `"` + h[:31] + `"`, `"` + emptyMD5 + `"`, strings.ToUpper(emptyMD5)} {
			if clientETag(e) != e || backendETag(e) != e {
				t.Fatalf("%q mapped to client %q, backend %q", e, clientETag(e), backendETag(e))
			}
		}
		list := append(append([]string(nil), clientTags...), `"`+h+`-3"`, "*")
		wantList := append(append([]string(nil), backendTags...), `"`+h+`-3"`, "*")
		if got := backendETagList(strings.Join(list, ",")); got != strings.Join(wantList, ", ") {
			t.Fatalf("backendETagList(%q) = %q, want %q", strings.Join(list, ","), got, strings.Join(wantList, ", "))
		}
	})
}

// FuzzReadPostForm: any body either fails with an S3 error or yields
// fields within S3's bound and a file of exactly the size announced (or an
// error while reading it).
func FuzzReadPostForm(f *testing.F) {
	f.Add("--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\na\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nhello\r\n--XyZ--\r\n")
	f.Add("pre\r\n--XyZ \r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\r\n--XyZ\r\n--XyZ--\r\n")
	f.Add("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n--XyZ--\r\n")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := readPostForm(strings.NewReader(body), "multipart/form-data; boundary=XyZ", int64(len(body)))
		if err != nil {
			if s3err.As(err) == nil {
				t.Fatalf("not an S3 error: %v", err)
			}
			return
		}
		n := 0
		for k, v := range form.fields {
			n += len(k) + len(v)
		}
		if n > maxPostPreData {
			t.Fatalf("%d bytes of fields", n)
		}
		b, err := io.ReadAll(form.file)
		if err == nil && int64(len(b)) != form.size {
			t.Fatalf("file of %d bytes, announced %d", len(b), form.size)
		}
		if err == nil && strings.Contains(string(b), "\r\n--XyZ") {
			t.Fatal("file holds a delimiter")
		}
	})
}
