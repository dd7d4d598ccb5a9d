package proxy

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// browserPage PUTs a text through a presigned URL, GETs it back through
// another, and writes what it read (and the encryption header it could
// read) into the DOM; it also reports it to the page's own server.
const browserPage = `<!doctype html><html><body><div id="result">pending</div><script>
(async () => {
  let out;
  try {
    const put = await fetch(%q, {method: "PUT", body: %q, headers: {"Content-Type": "text/plain"}});
    if (!put.ok) throw new Error("PUT " + put.status + " " + await put.text());
    const get = await fetch(%q);
    if (!get.ok) throw new Error("GET " + get.status + " " + await get.text());
    out = "OK|" + await get.text() + "|" + get.headers.get("x-amz-server-side-encryption");
  } catch (e) {
    out = "FAIL|" + e;
  }
  document.getElementById("result").textContent = out;
  await fetch("/result", {method: "POST", body: out});
})();
</script></body></html>`

// TestBrowserCORS: a real headless Chromium, on a page of another origin,
// PUTs and GETs an object through the proxy with presigned URLs: its CORS
// preflight, the actual requests' Access-Control-* headers, and the
// proxy's own headers exposed to the script. In front of each backend: on
// versitygw the bucket's CORS configuration allows the page's origin; on
// MinIO, which has no bucket CORS (putBucketCORS), its server-wide setting
// allows every origin and exposes every header ("*").
func TestBrowserCORS(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is needed (apt-get install chromium; scripts/test.sh installs it)")
	}
	forEachBackendServer(t, func(t *testing.T, be *testenv.Process) { browserCORS(t, chromium, be) })
}

func browserCORS(t *testing.T, chromium string, be *testenv.Process) {
	tp := newTestProxy(t, onBackend(be))
	bucket := tp.newBucket(t)
	results := make(chan string, 1)
	ctx := context.Background()
	presign := s3.NewPresignClient(newS3Client(tp.srv.URL, clientAccessKey, clientSecretKey, func(o *s3.Options) {
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	}))
	put, err := presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("from-browser.txt")}, s3.WithPresignExpires(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	get, err := presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("from-browser.txt")}, s3.WithPresignExpires(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	const text = "hello from a browser, encrypted at rest"
	// The page is fixed before the site serves it: the site's handler runs
	// on its own goroutines and reads it without a lock.
	page := fmt.Sprintf(browserPage, put.URL, text, get.URL)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/result" {
			b, _ := io.ReadAll(r.Body)
			select {
			case results <- string(b):
			default:
			}
			return
		}
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, page)
	}))
	defer site.Close()
	putBucketCORS(t, tp, be, bucket, types.CORSRule{
		AllowedOrigins: []string{site.URL},
		AllowedMethods: []string{"GET", "PUT"},
		AllowedHeaders: []string{"*"},
		ExposeHeaders:  []string{"ETag"},
	})

	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(), "--virtual-time-budget=60000", "--dump-dom", site.URL+"/")
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	want := "OK|" + text + "|aws:kms"
	select {
	case got := <-results:
		if got != want {
			t.Fatalf("the page reported %q, want %q", got, want)
		}
	case <-cctx.Done():
		t.Fatal("the page reported nothing")
	}
	if !strings.Contains(string(dom), `<div id="result">`+html.EscapeString(want)+`</div>`) {
		t.Errorf("DOM: %s", dom)
	}
	got := tp.get(t, bucket, "from-browser.txt")
	raw, _ := storedIn(t, tp.backend, bucket, "from-browser.txt")
	if string(got) != text || strings.Contains(string(raw), "browser") {
		t.Fatalf("stored object: %q (backend %d bytes)", got, len(raw))
	}
}
