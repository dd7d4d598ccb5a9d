package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// statsServer serves testdata/stats.json, a /stats document recorded from an
// admin listener, as an admin listener would.
func statsServer(t *testing.T) (*httptest.Server, []byte) {
	t.Helper()
	doc, err := os.ReadFile("testdata/stats.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/prefix/stats" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	return srv, doc
}

func TestReportTable(t *testing.T) {
	srv, _ := statsServer(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"report", "--admin", srv.URL + "/prefix"}, &stdout, &stderr, env())
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"up 1h0m0s (since 2025-06-01 12:00:00 UTC), bucket keys on",
		"10,000 objects encrypted, 5,000 decrypted; 2 bucket keys cached",
		"KMS requests made without bucket keys saved",
		"Decrypt 2 5,000 99.960%",
		"GenerateDataKey 3 10,000 99.970%",
		"total 5 15,000 99.966%",
		"(made includes failed requests: 1 throttled)",
		"at $0.03 per 10,000 KMS requests:",
		// One hour observed: a 30-day month is 720 times that.
		"with bucket keys $0.000015 $0.0108",
		"without bucket keys $0.0450 $32.40",
		"saved $0.0450 $32.39",
		"logs 4,000 4,000 2 8,000 99.975% $0.000006",
		"photos 6,000 1,000 3 7,000 99.957% $0.000009",
	} {
		if !strings.Contains(squeeze(out), squeeze(want)) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// The bucket table's first column is left-aligned.
	if !strings.Contains(out, "\nlogs  ") {
		t.Errorf("bucket names not left-aligned:\n%s", out)
	}
}

func TestReportJSONAndEnv(t *testing.T) {
	srv, doc := statsServer(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"report", "--json"}, &stdout, &stderr, env("BUCKETKEY_ADMIN", srv.URL+"/prefix"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !bytes.Equal(stdout.Bytes(), doc) {
		t.Errorf("--json did not print the document as served")
	}
}

func TestReportErrors(t *testing.T) {
	srv, _ := statsServer(t)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--admin", "127.0.0.1:9090"}, exitConfig, "want the admin listener's URL"},
		{[]string{"--admin", srv.URL + "/elsewhere"}, exitFail, "404 Not Found"},
		{[]string{"--admin", "http://127.0.0.1:1"}, exitFail, "cannot reach the admin listener"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"report"}, tt.args...), &stdout, &stderr, env())
		if code != tt.code || !strings.Contains(stderr.String(), tt.want) || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q in one line", tt.args, code, stderr.String(), tt.code, tt.want)
		}
	}
}

func TestFormat(t *testing.T) {
	tests := []struct{ got, want string }{
		{count(0), "0"},
		{count(999), "999"},
		{count(1000), "1,000"},
		{count(1_296_000_000), "1,296,000,000"},
		{count(-1234.4), "-1,234"},
		{dollars(0), "$0"},
		{dollars(0.000003), "$0.000003"},
		{dollars(0.000015), "$0.000015"},
		{dollars(0.0108), "$0.0108"},
		{dollars(3888), "$3,888.00"},
		{dollars(4.6656), "$4.67"},
		{dollars(1.999), "$2.00"},
		{dollars(-2.5), "-$2.50"},
		{percent(0.9988), "99.88%"},
		{percent(0.99966666), "99.966%"},
		{percent(1), "100.00%"},
		{percent(0), "0.00%"},
		{percent(-0.5), "-50.00%"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
