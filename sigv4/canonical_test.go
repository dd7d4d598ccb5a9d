package sigv4

import "testing"

func TestCanonicalQuery(t *testing.T) {
	for raw, want := range map[string]string{
		"":                                "",
		"acl":                             "acl=",
		"b=2&a=1&a=0":                     "a=0&a=1&b=2",
		"prefix=a+b":                      "prefix=a%20b", // form encoding, as minio-go sends it
		"prefix=a%2bb":                    "prefix=a%2Bb",
		"prefix=%7e%41":                   "prefix=~A",
		"k=a/b&k=a-b":                     "k=a%2Fb&k=a-b", // sorted after encoding
		"%E1%88%B4=bar&Param=x":           "%E1%88%B4=bar&Param=x",
		"X-Amz-Credential=AK%2F2013%2Fus": "X-Amz-Credential=AK%2F2013%2Fus",
		"a=&&b":                           "a=&b=",
	} {
		got, ok := canonicalQuery(nil, parseQuery(raw, nil), "")
		if !ok || string(got) != want {
			t.Errorf("canonicalQuery(%q) = %q, %v; want %q", raw, got, ok, want)
		}
	}
	if _, ok := canonicalQuery(nil, parseQuery("a=%zz", nil), ""); ok {
		t.Error("a bad escape was canonicalised")
	}
}

func TestSplitRequestURI(t *testing.T) {
	for in, want := range map[string][2]string{
		"/b/k?x=1":                   {"/b/k", "x=1"},
		"/b/a//b/./c%2F":             {"/b/a//b/./c%2F", ""},
		"http://host:9000/b/k?x":     {"/b/k", "x"},
		"http://host:9000?x":         {"/", "x"},
		"http://host:9000":           {"/", ""},
		"":                           {"/", ""},
		"/?":                         {"/", ""},
		"https://h/p?q=http://x/y?z": {"/p", "q=http://x/y?z"},
	} {
		p, q := splitRequestURI(in)
		if p != want[0] || q != want[1] {
			t.Errorf("splitRequestURI(%q) = %q, %q; want %q", in, p, q, want)
		}
	}
}

// TestCanonicalHeaderSources covers the signed headers net/http keeps out
// of the header map, and header maps with non-canonical keys.
func TestCanonicalHeaderSources(t *testing.T) {
	// Content-Length signed (the SDK signs it) but only in r.ContentLength,
	// as for a request built in-process.
	r := sdkSign(t, signSpec{body: []byte("hello")})
	r.Header.Del("Content-Length")
	if _, err := testVerifier(testTime).Verify(r, VerifyOptions{}); err != nil {
		t.Fatalf("content-length from r.ContentLength: %v", err)
	}
	// A signed header stored under a non-canonical key.
	r = sdkSign(t, signSpec{body: []byte("hello"), headers: map[string]string{"X-Amz-Meta-Odd": "v"}})
	r.Header["x-amz-meta-odd"] = r.Header["X-Amz-Meta-Odd"]
	delete(r.Header, "X-Amz-Meta-Odd")
	if _, err := testVerifier(testTime).Verify(r, VerifyOptions{}); err != nil {
		t.Fatalf("non-canonical header key: %v", err)
	}
	// Transfer-Encoding and Host as net/http presents them.
	r = serverRequest("PUT", "/b/k", "", nil, nil)
	r.Host = ""
	r.URL.Host = "from-url.test"
	r.TransferEncoding = []string{"chunked"}
	in := canonicalInput{method: "PUT", path: "/b/k", signedHeaders: "host;transfer-encoding", payload: "UNSIGNED-PAYLOAD"}
	got, _ := appendCanonicalRequest(nil, r, &in)
	if want := "PUT\n/b/k\n\nhost:from-url.test\ntransfer-encoding:chunked\n\nhost;transfer-encoding\nUNSIGNED-PAYLOAD"; string(got) != want {
		t.Fatalf("canonical request:\n%s\nwant:\n%s", got, want)
	}
}
