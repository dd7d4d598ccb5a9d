package proxy

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestUnitIfRangeHolds: RFC 9110 section 13.1.5's comparisons.
func TestUnitIfRangeHolds(t *testing.T) {
	const etag, lm = `"abc-0"`, "Fri, 04 Dec 2026 16:00:00 GMT"
	for _, tt := range []struct {
		v    string
		want bool
	}{
		{`"abc-0"`, true},
		{` "abc-0" `, true},
		{`"abc"`, false}, // the backend's, not the client's
		{`W/"abc-0"`, false},
		{`abc-0`, false}, // not an entity-tag, not a date
		{lm, true},
		{"Fri, 04 Dec 2026 16:00:01 GMT", false},
		{"Fri, 04 Dec 2026 15:59:59 GMT", false},
		{"Friday, 04-Dec-26 16:00:00 GMT", true}, // RFC 850 form of the same date
		{"", false},
	} {
		if got := ifRangeHolds(tt.v, etag, lm); got != tt.want {
			t.Errorf("If-Range %q: %v, want %v", tt.v, got, tt.want)
		}
	}
	if ifRangeHolds(`W/"x"`, `W/"x"`, "") {
		t.Error("weak tags matched")
	}
	if ifRangeHolds(lm, etag, "") {
		t.Error("a date matched without Last-Modified")
	}
}

// TestIfRange (issue 12, item 3; failed before: If-Range went to the
// backend, which ignored it, and a stale validator got 206 with a slice of
// the new object): a Range with an If-Range that holds (the client ETag,
// or Last-Modified) is served as a range; one that does not (an old ETag,
// the backend's ETag, a weak tag, another date) gets the whole object with
// 200, for GET and HEAD, encrypted or (in a mixed bucket) not.
func TestIfRange(t *testing.T) {
	tp, b := newMixedProxy(t)
	ctx := context.Background()
	old := tp.put(t, b, "k", randBytes(1000))
	data := randBytes(200 << 10)
	put := tp.put(t, b, "k", data)
	head, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	lm := head.LastModified.UTC().Format(http.TimeFormat)
	_, st := stored(t, b, "k")
	putLegacy(t, b, "legacy", data)
	_, lst := stored(t, b, "legacy")

	for _, tt := range []struct {
		name, key, ifRange string
		partial            bool
	}{
		{"client ETag", "k", aws.ToString(put.ETag), true},
		{"Last-Modified", "k", lm, true},
		{"old ETag", "k", aws.ToString(old.ETag), false},
		{"backend ETag", "k", aws.ToString(st.ETag), false},
		{"weak ETag", "k", "W/" + aws.ToString(put.ETag), false},
		{"earlier date", "k", head.LastModified.Add(-time.Hour).UTC().Format(http.TimeFormat), false},
		{"legacy object, its ETag", "legacy", aws.ToString(lst.ETag), true},
		{"legacy object, old ETag", "legacy", aws.ToString(old.ETag), false},
	} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			resp := tp.rawRequest(t, method, "/"+b+"/"+tt.key, http.Header{"Range": {"bytes=70000-70099"}, "If-Range": {tt.ifRange}}, nil)
			what := method + " " + tt.name
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Errorf("%s: %d, body: %v", what, resp.StatusCode, err)
				continue
			}
			switch {
			case tt.partial && resp.StatusCode != http.StatusPartialContent:
				t.Errorf("%s: %d, want 206", what, resp.StatusCode)
			case tt.partial && method == http.MethodGet:
				mustEqual(t, what, body, data[70000:70100])
			case !tt.partial && resp.StatusCode != http.StatusOK:
				t.Errorf("%s: %d (%d bytes), want 200 with the whole object", what, resp.StatusCode, len(body))
			case !tt.partial && resp.Header.Get("Content-Range") != "":
				t.Errorf("%s: 200 with Content-Range %s", what, resp.Header.Get("Content-Range"))
			case !tt.partial && resp.Header.Get("Content-Length") != strconv.Itoa(len(data)):
				t.Errorf("%s: Content-Length %s, want %d", what, resp.Header.Get("Content-Length"), len(data))
			case !tt.partial && method == http.MethodGet:
				mustEqual(t, what, body, data)
			}
		}
	}
}
