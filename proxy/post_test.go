package proxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/internal/testenv"
	"github.com/bucketkey/bucketkey/sigv4"
)

// signedPostFields returns the signature fields of a POST form whose
// policy has conds (plus the signature fields' own), signed by the test
// client, expiring in an hour.
func signedPostFields(t testing.TB, conds ...any) [][2]string {
	t.Helper()
	now := time.Now().UTC()
	date := now.Format("20060102")
	cred := clientAccessKey + "/" + date + "/" + testenv.Region + "/s3/aws4_request"
	amzDate := now.Format("20060102T150405Z")
	conds = append(conds,
		map[string]string{"x-amz-algorithm": "AWS4-HMAC-SHA256"},
		map[string]string{"x-amz-credential": cred},
		map[string]string{"x-amz-date": amzDate})
	doc, err := json.Marshal(map[string]any{"expiration": now.Add(time.Hour).Format("2006-01-02T15:04:05.000Z"), "conditions": conds})
	if err != nil {
		t.Fatal(err)
	}
	policy := base64.StdEncoding.EncodeToString(doc)
	return [][2]string{
		{"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
		{"X-Amz-Credential", cred},
		{"X-Amz-Date", amzDate},
		{"Policy", policy},
		{"X-Amz-Signature", sigv4.PostSignature(clientSecretKey, date, testenv.Region, policy)},
	}
}

// formBody builds a multipart form: fields, then the file (named
// filename), then the fields after it.
func formBody(t testing.TB, fields [][2]string, filename string, file []byte, after ...[2]string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file)
	for _, f := range after {
		_ = mw.WriteField(f[0], f[1])
	}
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

func postTo(t testing.TB, u, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readAllClose(t, resp.Body)
}

// TestPostObjectRawForm: forms as a browser sends them, S3's answers for
// each success_action and each violation, and nothing stored when refused,
// in front of each backend.
func TestPostObjectRawForm(t *testing.T) { forEachBackend(t, postObjectRawForm) }

func postObjectRawForm(t *testing.T, tp *testProxy) {
	bucket := tp.newBucket(t)
	data := randBytes(70000)
	base := []any{
		map[string]string{"bucket": bucket},
		[]any{"starts-with", "$key", "up/"},
		[]any{"content-length-range", 1, 100000},
		[]any{"starts-with", "$Content-Type", "image/"},
		map[string]string{"x-amz-meta-owner": "alice"},
	}
	fields := func(key string, extra ...[2]string) [][2]string {
		f := append([][2]string{{"key", key}, {"Content-Type", "image/png"}, {"x-amz-meta-owner", "alice"}}, extra...)
		return f
	}
	sig := signedPostFields(t, base...)
	large := append([]any{}, base...)
	large[2] = []any{"content-length-range", 1, 2 << 20}
	sigLarge := signedPostFields(t, large...)

	// 204, ${filename}, metadata and type stored, encrypted at rest.
	ct, body := formBody(t, append(fields("up/${filename}"), sig...), "photo.png", data)
	resp, out := postTo(t, tp.srv.URL+"/"+bucket, ct, body)
	if resp.StatusCode != http.StatusNoContent || len(out) != 0 {
		t.Fatalf("POST: %s %s", resp.Status, out)
	}
	if loc := resp.Header.Get("Location"); loc != tp.srv.URL+"/"+bucket+"/up%2Fphoto.png" {
		t.Errorf("Location %q", loc)
	}
	got, gout := getAll(t, tp.client, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("up/photo.png")})
	mustEqual(t, "GET after POST", got, data)
	if aws.ToString(gout.ContentType) != "image/png" || gout.Metadata["owner"] != "alice" || aws.ToString(gout.ETag) != resp.Header.Get("ETag") {
		t.Errorf("GET: type %q meta %v etag %q vs %q", aws.ToString(gout.ContentType), gout.Metadata, aws.ToString(gout.ETag), resp.Header.Get("ETag"))
	}
	raw, _ := storedIn(t, tp.backend, bucket, "up/photo.png")
	if bytes.Contains(raw, data[:64]) || len(raw) == len(data) {
		t.Fatal("the backend holds plaintext")
	}

	// A field after the file (a browser's submit button) is ignored, as
	// S3 ignores it.
	ct, body = formBody(t, append(fields("up/submit.png"), sig...), "x", data[:100], [2]string{"submit", "Upload"})
	if resp, out := postTo(t, tp.srv.URL+"/"+bucket, ct, body); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST with a field after the file: %s %s", resp.Status, out)
	}
	got, _ = getAll(t, tp.client, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("up/submit.png")})
	mustEqual(t, "GET after POST with a field after the file", got, data[:100])

	// 201 with a PostResponse document.
	sig201 := signedPostFields(t, append(base, map[string]string{"success_action_status": "201"})...)
	ct, body = formBody(t, append(fields("up/b.png", [2]string{"success_action_status", "201"}), sig201...), "x", data[:10])
	resp, out = postTo(t, tp.srv.URL+"/"+bucket, ct, body)
	var pr struct {
		Location, Bucket, Key, ETag string
	}
	if resp.StatusCode != http.StatusCreated || xml.Unmarshal(out, &pr) != nil || pr.Key != "up/b.png" || pr.Bucket != bucket || pr.ETag != resp.Header.Get("ETag") {
		t.Fatalf("201: %s %s", resp.Status, out)
	}

	// 303 to success_action_redirect with bucket, key and etag.
	redirect := "https://app.example/done?x=1"
	sig303 := signedPostFields(t, append(base, []any{"starts-with", "$success_action_redirect", "https://app.example/"})...)
	ct, body = formBody(t, append(fields("up/c.png", [2]string{"success_action_redirect", redirect}), sig303...), "x", data[:10])
	resp, _ = postTo(t, tp.srv.URL+"/"+bucket, ct, body)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("key") != "up/c.png" || loc.Query().Get("bucket") != bucket || loc.Query().Get("x") != "1" || !strings.HasPrefix(loc.Query().Get("etag"), `"`) {
		t.Fatalf("303: %s %q", resp.Status, resp.Header.Get("Location"))
	}

	refusals := []struct {
		name   string
		ct     string
		fields [][2]string
		file   []byte
		after  [][2]string
		status int
		code   string
		msg    string // S3's message, when the test pins it
		key    string // must not exist afterwards
	}{
		{name: "not a form", ct: "text/html", status: 412, code: "PreconditionFailed"},
		{name: "too large", fields: append(fields("up/big"), sig...), file: make([]byte, 100001), status: 400, code: "EntityTooLarge", key: "up/big"},
		{name: "too small", fields: append(fields("up/small"), sig...), file: []byte{}, status: 400, code: "EntityTooSmall", key: "up/small"},
		{name: "key outside prefix", fields: append(fields("down/x"), sig...), status: 403, code: "AccessDenied",
			msg: `Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "up/"]`, key: "down/x"},
		{name: "wrong type", fields: append([][2]string{{"key", "up/t"}, {"Content-Type", "text/html"}, {"x-amz-meta-owner", "alice"}}, sig...), status: 403, code: "AccessDenied", key: "up/t"},
		{name: "extra field", fields: append(fields("up/e", [2]string{"x-amz-meta-other", "1"}), sig...), status: 403, code: "AccessDenied",
			msg: "Invalid according to Policy: Extra input fields: x-amz-meta-other", key: "up/e"},
		{name: "no key", fields: sig, status: 400, code: "InvalidArgument"},
		// A key that climbs out of the bucket gets S3's 400 Bad Request;
		// another dot segment the proxy's own refusal (checkKey).
		{name: "key climbing out", fields: append(fields("up/../../x"), sig...), status: 400, code: "400", msg: "Bad Request", key: "x"},
		{name: "key with a dot segment", fields: append(fields("up/./x"), sig...), status: 400, code: "InvalidArgument", key: "up/x"},
		{name: "bad signature", fields: append(fields("up/s"), append(sig[:4:4], [2]string{"X-Amz-Signature", strings.Repeat("0", 64)})...), status: 403, code: "SignatureDoesNotMatch", key: "up/s"},
		{name: "anonymous", fields: fields("up/anon"), status: 403, code: "AccessDenied", msg: "Access Denied", key: "up/anon"},
		{name: "unknown checksum field", fields: append(fields("up/ck", [2]string{"x-amz-checksum-invalid", "x"}), signedPostFields(t, append(base, map[string]string{"x-amz-checksum-invalid": "x"})...)...),
			status: 400, code: "InvalidRequest", msg: "The algorithm type you specified in x-amz-checksum- header is invalid.", key: "up/ck"},
		{name: "field after a large file", fields: append(fields("up/after"), sigLarge...), file: randBytes(maxBufferedPostFile), after: [][2]string{{"submit", "Upload"}}, status: 400, code: "MalformedPOSTRequest", key: "up/after"},
		{name: "pre-data too large", fields: append(fields("up/pre", [2]string{"x-ignore-pad", strings.Repeat("p", 21000)}), sig...), status: 400, code: "MaxPostPreDataLengthExceeded", key: "up/pre"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.file
			if file == nil {
				file = data[:100]
			}
			ct, body := formBody(t, tc.fields, "f", file, tc.after...)
			if tc.ct != "" {
				ct = tc.ct
			}
			resp, out := postTo(t, tp.srv.URL+"/"+bucket, ct, body)
			if resp.StatusCode != tc.status || !bytes.Contains(out, []byte("<Code>"+tc.code+"</Code>")) {
				t.Fatalf("got %s %s, want %d %s", resp.Status, out, tc.status, tc.code)
			}
			if tc.msg != "" && !bytes.Contains(out, []byte("<Message>"+xmlEscape(tc.msg)+"</Message>")) {
				t.Fatalf("got %s, want the message %q", out, tc.msg)
			}
			if tc.key != "" {
				if _, err := tp.backend.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(tc.key)}); err == nil {
					t.Fatalf("%s was stored", tc.key)
				}
			}
		})
	}
}

// boto3PostScript: boto3's generate_presigned_post, sent with requests as
// a browser would (argv: endpoint, access key, secret key, bucket, key,
// file path). Prints the status, then the body.
const boto3PostScript = `
import sys, boto3, botocore.config, requests
ep, ak, sk, bucket, key, path = sys.argv[1:7]
s3 = boto3.client("s3", endpoint_url=ep, aws_access_key_id=ak, aws_secret_access_key=sk,
    region_name="us-east-1", config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"}))
post = s3.generate_presigned_post(bucket, key,
    Fields={"success_action_status": "201", "Content-Type": "text/plain", "x-amz-meta-from": "boto3"},
    Conditions=[{"success_action_status": "201"}, ["starts-with", "$Content-Type", "text/"],
                {"x-amz-meta-from": "boto3"}, ["content-length-range", 1, 10485760]],
    ExpiresIn=600)
with open(path, "rb") as f:
    r = requests.post(post["url"], data=post["fields"], files={"file": ("report.txt", f)})
print(r.status_code)
print(r.text)
`

// TestPostObjectBoto3: boto3's generate_presigned_post, posted with
// requests, in front of each backend.
func TestPostObjectBoto3(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 with boto3 and requests is needed (pip install boto3 requests)")
	}
	forEachBackend(t, postObjectBoto3)
}

func postObjectBoto3(t *testing.T, tp *testProxy) {
	bucket := tp.newBucket(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "post.py")
	data := randBytes(300000)
	path := filepath.Join(dir, "data")
	if err := os.WriteFile(script, []byte(boto3PostScript), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("python3", script, tp.srv.URL, clientAccessKey, clientSecretKey, bucket, "docs/${filename}", path).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "201\n") || !strings.Contains(string(out), "<Key>docs/report.txt</Key>") {
		t.Fatalf("boto3 presigned POST: %v\n%s", err, out)
	}
	got, gout := getAll(t, tp.client, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("docs/report.txt")})
	mustEqual(t, "GET after boto3 POST", got, data)
	if gout.Metadata["from"] != "boto3" || aws.ToString(gout.ContentType) != "text/plain" {
		t.Errorf("metadata %v, type %q", gout.Metadata, aws.ToString(gout.ContentType))
	}
}

// xmlEscape is s as encoding/xml writes it in character data.
// xmlEscape escapes s as S3 writes an error's text: &, < and > only.
func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
