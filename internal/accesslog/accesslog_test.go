package accesslog

import (
	"os"
	"strings"
	"testing"
	"time"
)

// The example line of the S3 user guide ("Amazon S3 server access log
// format"), and variations.
const guideLine = `79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /awsexamplebucket1?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV2 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.2 - -`

func TestParseS3Line(t *testing.T) {
	put := strings.Replace(strings.Replace(guideLine, "REST.GET.VERSIONING -", "REST.PUT.OBJECT photos/a%20b.jpg", 1), "GET /awsexamplebucket1?versioning", "PUT /awsexamplebucket1/photos/a%20b.jpg", 1)
	for _, tc := range []struct {
		name, line string
		want       Event
		err        bool
	}{
		{"guide", guideLine, Event{Time: time.Date(2019, 2, 6, 0, 0, 38, 0, time.UTC), Bucket: "awsexamplebucket1", Client: "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}, false},
		{"put", put, Event{Time: time.Date(2019, 2, 6, 0, 0, 38, 0, time.UTC), Bucket: "awsexamplebucket1", Key: "photos/a%20b.jpg", Client: "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be", Kind: Write}, false},
		{"failed put", strings.Replace(put, `HTTP/1.1" 200 -`, `HTTP/1.1" 403 AccessDenied`, 1), Event{Time: time.Date(2019, 2, 6, 0, 0, 38, 0, time.UTC), Bucket: "awsexamplebucket1", Key: "photos/a%20b.jpg", Client: "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}, false},
		{"truncated", guideLine[:60], Event{}, true},
		{"bad time", strings.Replace(guideLine, "06/Feb/2019", "06/Fob/2019", 1), Event{}, true},
		{"unterminated quote", strings.Replace(guideLine, `"GET /awsexamplebucket1?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" - s9`, `"GET`, 1), Event{}, true},
	} {
		got, err := ParseS3Line(tc.line)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v (error %v)", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestParseCloudTrail(t *testing.T) {
	doc := `{"Records":[
{"eventTime":"2024-05-01T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutObject","userIdentity":{"arn":"arn:aws:iam::111122223333:user/app"},"requestParameters":{"bucketName":"b","key":"k1"}},
{"eventTime":"2024-05-01T10:00:01Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{"accessKeyId":"AKIAEXAMPLE"},"requestParameters":{"bucketName":"b","key":"k1"}},
{"eventTime":"2024-05-01T10:00:02Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","errorCode":"AccessDenied","userIdentity":{"arn":"x"},"requestParameters":{"bucketName":"b","key":"k1"}},
{"eventTime":"2024-05-01T10:00:03Z","eventSource":"kms.amazonaws.com","eventName":"Decrypt"}]}`
	lines := strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(doc, `{"Records":[`), "]}"), "},\n{", "}\n{")
	spaced := strings.Replace(doc, `{"Records":[`, "{\n  \"Records\" : [", 1)
	for name, in := range map[string]string{"document": doc, "spaced document": spaced, "lines": lines} {
		evs, err := Parse(strings.NewReader(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(evs) != 3 || evs[0].Kind != Write || evs[1].Kind != Read || evs[2].Kind != Other ||
			evs[0].Client != "arn:aws:iam::111122223333:user/app" || evs[1].Client != "AKIAEXAMPLE" || evs[1].Time.Second() != 1 {
			t.Errorf("%s: %+v", name, evs)
		}
	}
	if _, err := Parse(strings.NewReader(`{"Records":[{"eventTime":"yesterday","eventSource":"s3.amazonaws.com"}]}`)); err == nil {
		t.Error("bad eventTime accepted")
	}
}

func TestSampleLog(t *testing.T) {
	f, err := os.Open("../../testdata/accesslog/sample-s3-access.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[Kind]int{}
	for _, e := range evs {
		kinds[e.Kind]++
	}
	if kinds[Write] == 0 || kinds[Read] == 0 {
		t.Errorf("sample log: %v", kinds)
	}
}

func FuzzParseS3Line(f *testing.F) {
	f.Add(guideLine)
	f.Add(`o b [01/Jan/2024:00:00:00 +0000] ip r id REST.PUT.OBJECT "k" "PUT /b/k HTTP/1.1" 200`)
	f.Add(`"unterminated`)
	f.Fuzz(func(t *testing.T, line string) {
		ev, err := ParseS3Line(line)
		if err != nil {
			return
		}
		if ev.Bucket == "" || ev.Time.IsZero() {
			t.Errorf("accepted %q as %+v", line, ev)
		}
		if ev.Kind != Other && ev.Key == "" {
			t.Errorf("object request without a key: %q", line)
		}
	})
}

func FuzzParseCloudTrail(f *testing.F) {
	f.Add(`{"Records":[{"eventTime":"2024-05-01T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutObject","requestParameters":{"bucketName":"b","key":"k"}}]}`)
	f.Add(`{"eventTime":"2024-05-01T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","requestParameters":{"bucketName":"b","key":"k"}}`)
	f.Add(`{"Records":`)
	f.Fuzz(func(t *testing.T, doc string) {
		evs, err := Parse(strings.NewReader(doc))
		if err != nil {
			return
		}
		for _, ev := range evs {
			if ev.Bucket == "" || (ev.Kind != Other && ev.Key == "") {
				t.Errorf("accepted %+v from %q", ev, doc)
			}
		}
	})
}
