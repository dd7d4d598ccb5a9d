package proxy

import (
	"net/http"
	"testing"

	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/s3err"
)

func TestUnitParseTaggingDirective(t *testing.T) {
	for _, c := range []struct {
		values  []string
		replace bool
		bad     bool
	}{
		{nil, false, false},
		{[]string{"COPY"}, false, false},
		{[]string{"REPLACE"}, true, false},
		{[]string{" REPLACE "}, true, false},
		{[]string{"replace"}, false, true}, // S3 spells it in upper case only
		{[]string{"copy"}, false, true},
		{[]string{"MERGE"}, false, true},
		{[]string{""}, false, true},
		{[]string{"COPY", "REPLACE"}, false, true},
	} {
		h := http.Header{}
		if c.values != nil {
			h["X-Amz-Tagging-Directive"] = c.values
		}
		replace, err := parseTaggingDirective(h)
		if c.bad {
			e := s3err.As(err)
			if e == nil || e.Code != "InvalidArgument" || e.Message != "Unknown tagging directive." {
				t.Errorf("%q: %v, want InvalidArgument Unknown tagging directive.", c.values, err)
			}
			continue
		}
		if err != nil || replace != c.replace {
			t.Errorf("%q: replace %v, %v; want %v", c.values, replace, err, c.replace)
		}
	}
}

func TestUnitCopyHeadersNeverCopyRedirect(t *testing.T) {
	source := http.Header{"X-Amz-Website-Redirect-Location": {"/src"}, "Content-Type": {"text/src"}}
	for _, c := range []struct {
		name    string
		client  http.Header
		replace bool
		want    string
	}{
		{"COPY", http.Header{}, false, ""},
		{"REPLACE", http.Header{}, true, ""},
		{"COPY, set by the request", http.Header{"X-Amz-Website-Redirect-Location": {"/req"}}, false, "/req"},
		{"REPLACE, set by the request", http.Header{"X-Amz-Website-Redirect-Location": {"/req"}}, true, "/req"},
	} {
		h := copyHeaders(c.client, source, c.replace)
		if got := h.Get("X-Amz-Website-Redirect-Location"); got != c.want {
			t.Errorf("%s: redirect %q, want %q", c.name, got, c.want)
		}
	}
}

func TestUnitSameUpload(t *testing.T) {
	up := &envelope.Metadata{Multipart: true, KeyBucket: "b", Salt: []byte("salt"), SealedKey: []byte("sealed")}
	same := *up
	for _, c := range []struct {
		name string
		md   envelope.Metadata
		want bool
	}{
		{"same", same, true},
		{"other salt", func() envelope.Metadata { m := same; m.Salt = []byte("other"); return m }(), false},
		{"other sealed key", func() envelope.Metadata { m := same; m.SealedKey = []byte("other"); return m }(), false},
		{"other key bucket", func() envelope.Metadata { m := same; m.KeyBucket = "c"; return m }(), false},
		{"single-part", func() envelope.Metadata { m := same; m.Multipart = false; return m }(), false},
	} {
		if got := sameUpload(&c.md, up); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestUnitBackendErrorCode(t *testing.T) {
	for doc, want := range map[string]string{
		`<?xml version="1.0"?><Error><Code>NoSuchUpload</Code><Message>m</Message></Error>`: "NoSuchUpload",
		`<Error><Code>NoSuchKey</Code></Error>`:                                             "NoSuchKey",
		`<ListBucketResult><Code>NoSuchUpload</Code></ListBucketResult>`:                    "",
		`not xml`: "",
		``:        "",
	} {
		if got := backendErrorCode([]byte(doc)); got != want {
			t.Errorf("%q: %q, want %q", doc, got, want)
		}
	}
}
