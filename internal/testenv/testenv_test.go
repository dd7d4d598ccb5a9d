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
