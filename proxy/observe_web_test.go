package proxy

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// TestObserveWebRequests: POST uploads and anonymous reads reach the
// Observer (metrics) and the key accounting (/stats) as the writes and
// reads they are, with their plaintext bytes; in front of each backend.
func TestObserveWebRequests(t *testing.T) { forEachBackendServer(t, observeWebRequests) }

func observeWebRequests(t *testing.T, be *testenv.Process) {
	type seen struct {
		status  int
		in, out int64
	}
	var mu sync.Mutex
	ops := map[string]seen{}
	obs := observerFunc(func(op string, status int, in, out int64, _ time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		s := ops[op]
		ops[op] = seen{status, s.in + in, s.out + out}
	})
	writer := newTestProxy(t, onBackend(be))
	bucket := writer.newBucket(t)
	tp := newTestProxy(t, onBackend(be), func(c *Config) { c.Observer = obs; c.AnonymousBuckets = []string{bucket} })
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::` + bucket + `/*"]}]}`
	data := randBytes(5000)
	ct, body := formBody(t, append([][2]string{{"key", "p"}}, signedPostFields(t, map[string]string{"bucket": bucket}, map[string]string{"key": "p"})...), "f", data)
	if resp, out := postTo(t, tp.srv.URL+"/"+bucket, ct, body); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST: %s %s", resp.Status, out)
	}
	openToAnonymous(t, writer.client, be.URL, bucket, "p", policy)
	if resp, _ := unsignedRequest(t, http.MethodGet, tp.srv.URL+"/"+bucket+"/p", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("anonymous GET: %s", resp.Status)
	}
	mu.Lock()
	post, get := ops["PostObject"], ops["GetObject"]
	mu.Unlock()
	if post.status != http.StatusNoContent || post.in != int64(len(data)) {
		t.Errorf("PostObject observed %+v", post)
	}
	if get.status != http.StatusOK || get.out != int64(len(data)) {
		t.Errorf("anonymous GetObject observed %+v", get)
	}
	if st := tp.keys.Stats().Total; st.ObjectsEncrypted != 1 || st.ObjectsDecrypted != 1 {
		t.Errorf("key accounting: %d encrypted, %d decrypted", st.ObjectsEncrypted, st.ObjectsDecrypted)
	}
}
