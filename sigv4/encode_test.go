package sigv4

import "testing"

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
