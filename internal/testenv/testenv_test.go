package testenv

import (
	"net/http"
	"testing"
)

// TestServersStart checks that both real servers come up and answer HTTP.
func TestServersStart(t *testing.T) {
	for _, p := range []*Process{S3(t), KMS(t)} {
		resp, err := http.Get(p.URL + "/")
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s: status %d\n%s", p.Name, resp.StatusCode, p.Output())
		}
	}
}

// TestToxiproxyInFrontOfKMS checks a toxiproxy proxy forwards to local-kms
// and that a toxic takes effect (a reset_peer cuts connections).
func TestToxiproxyInFrontOfKMS(t *testing.T) {
	kms := KMS(t)
	tp := Toxi(t)
	px, err := tp.Proxy("kms", kms.Addr)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + px.Listen + "/")
	if err != nil {
		t.Fatalf("through toxiproxy: %v", err)
	}
	resp.Body.Close()
	if err := px.Disable(); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get("http://" + px.Listen + "/"); err == nil {
		resp.Body.Close()
		t.Fatal("request through a disabled proxy succeeded")
	}
}
