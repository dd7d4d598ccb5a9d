// Package accesslog reads the S3 requests of a workload from the two logs
// AWS writes about them: S3 server access logs (the space-separated format
// of the S3 user guide, "Amazon S3 server access log format") and
// CloudTrail S3 data events (JSON: a {"Records": [...]} file as CloudTrail
// delivers it, or one record per line). Only what a KMS cost estimate
// needs is kept: when, which bucket and object, who, and whether the
// request wrote an object (a new data key), read one (an unwrap) or
// neither.
package accesslog

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Kind is what a request does to an object's keys.
type Kind int

// Kinds.
const (
	Other Kind = iota // no object key involved (listings, HEAD, deletes, errors)
	Write             // an object written: PUT, POST (CreateMultipartUpload), copy destination
	Read              // an object's body read: GET
)

// Event is one request of the log.
type Event struct {
	Time   time.Time
	Bucket string
	Key    string
	Client string // the requester: an IAM ARN, a canonical user id, or an access key id
	Kind   Kind
}

// ErrFormat wraps every parse error.
var ErrFormat = errors.New("accesslog: not a valid log entry")

// s3Ops maps server access log operations to kinds.
var s3Ops = map[string]Kind{
	"REST.PUT.OBJECT":   Write,
	"REST.POST.UPLOADS": Write, // CreateMultipartUpload: the data key of the object
	"REST.COPY.OBJECT":  Write,
	"REST.POST.OBJECT":  Write, // browser POST upload
	"REST.GET.OBJECT":   Read,
}

// ParseS3Line parses one line of an S3 server access log. Fields are
// separated by single spaces; a field in "double quotes" or [brackets] may
// contain spaces. The fields used are: 2 bucket, 3 time, 5 requester, 7
// operation, 8 key, 10 HTTP status. A request that failed (status not
// 2xx) is Other: S3 made no object.
func ParseS3Line(line string) (Event, error) {
	f, err := splitFields(line, 10)
	if err != nil {
		return Event{}, err
	}
	t, err := time.Parse("02/Jan/2006:15:04:05 -0700", f[2])
	if err != nil {
		return Event{}, fmt.Errorf("%w: time %q", ErrFormat, f[2])
	}
	ev := Event{Time: t.UTC(), Bucket: f[1], Key: f[7], Client: f[4]}
	if ev.Bucket == "" || ev.Bucket == "-" {
		return Event{}, fmt.Errorf("%w: no bucket", ErrFormat)
	}
	if ev.Key == "-" {
		ev.Key = ""
	}
	status := f[9]
	if len(status) == 3 && status[0] == '2' && ev.Key != "" {
		ev.Kind = s3Ops[f[6]]
	}
	return ev, nil
}

// splitFields splits the first n fields of an access log line.
func splitFields(line string, n int) ([]string, error) {
	out := make([]string, 0, n)
	s := strings.TrimRight(line, "\r\n")
	for len(out) < n {
		if s == "" {
			return nil, fmt.Errorf("%w: %d fields, want at least %d", ErrFormat, len(out), n)
		}
		var field string
		switch s[0] {
		case '"', '[':
			end := byte('"')
			if s[0] == '[' {
				end = ']'
			}
			i := strings.IndexByte(s[1:], end)
			if i < 0 {
				return nil, fmt.Errorf("%w: unterminated %c", ErrFormat, s[0])
			}
			field, s = s[1:1+i], s[2+i:]
		default:
			i := strings.IndexByte(s, ' ')
			if i < 0 {
				i = len(s)
			}
			field, s = s[:i], s[i:]
		}
		out = append(out, field)
		if s != "" {
			if s[0] != ' ' {
				return nil, fmt.Errorf("%w: no space after field %d", ErrFormat, len(out))
			}
			s = s[1:]
		}
	}
	return out, nil
}

// cloudTrailRecord is the part of a CloudTrail event record used here.
type cloudTrailRecord struct {
	EventTime    string `json:"eventTime"`
	EventSource  string `json:"eventSource"`
	EventName    string `json:"eventName"`
	ErrorCode    string `json:"errorCode"`
	UserIdentity struct {
		ARN         string `json:"arn"`
		AccessKeyID string `json:"accessKeyId"`
		PrincipalID string `json:"principalId"`
	} `json:"userIdentity"`
	RequestParameters struct {
		BucketName string `json:"bucketName"`
		Key        string `json:"key"`
	} `json:"requestParameters"`
}

var cloudTrailOps = map[string]Kind{
	"PutObject":             Write,
	"CreateMultipartUpload": Write,
	"CopyObject":            Write,
	"GetObject":             Read,
}

func (r cloudTrailRecord) event() (Event, bool, error) {
	if r.EventSource != "s3.amazonaws.com" {
		return Event{}, false, nil
	}
	t, err := time.Parse(time.RFC3339, r.EventTime)
	if err != nil {
		return Event{}, false, fmt.Errorf("%w: eventTime %q", ErrFormat, r.EventTime)
	}
	ev := Event{Time: t.UTC(), Bucket: r.RequestParameters.BucketName, Key: r.RequestParameters.Key}
	if ev.Bucket == "" {
		return Event{}, false, nil // a ListBuckets or other account-level call
	}
	switch {
	case r.UserIdentity.ARN != "":
		ev.Client = r.UserIdentity.ARN
	case r.UserIdentity.AccessKeyID != "":
		ev.Client = r.UserIdentity.AccessKeyID
	default:
		ev.Client = r.UserIdentity.PrincipalID
	}
	if r.ErrorCode == "" && ev.Key != "" {
		ev.Kind = cloudTrailOps[r.EventName]
	}
	return ev, true, nil
}

// ParseCloudTrail reads CloudTrail S3 data events: JSON documents
// {"Records": [...]} as CloudTrail delivers them, or JSON records one after
// another (one per line, as exported by Athena or CloudWatch Logs), or a
// mix. Records of other services are left out.
func ParseCloudTrail(r io.Reader) ([]Event, error) {
	var events []Event
	dec := json.NewDecoder(r)
	for {
		var v struct {
			Records *[]cloudTrailRecord `json:"Records"`
			cloudTrailRecord
		}
		err := dec.Decode(&v)
		if err == io.EOF {
			return events, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		recs := []cloudTrailRecord{v.cloudTrailRecord}
		if v.Records != nil {
			recs = *v.Records
		}
		for _, rec := range recs {
			ev, ok, err := rec.event()
			if err != nil {
				return nil, err
			}
			if ok {
				events = append(events, ev)
			}
		}
	}
}

// ParseS3 reads an S3 server access log, one entry per line; blank lines
// are skipped. An unparsable line is an error naming its number.
func ParseS3(r io.Reader) ([]Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var events []Event
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		ev, err := ParseS3Line(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		events = append(events, ev)
	}
	return events, sc.Err()
}

// Parse reads a log of either format, telling them apart by the first
// non-blank byte ('{' for CloudTrail JSON).
func Parse(r io.Reader) ([]Event, error) {
	br := bufio.NewReader(r)
	for {
		b, err := br.Peek(1)
		if err != nil {
			if err == io.EOF {
				return nil, nil
			}
			return nil, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			_, _ = br.ReadByte()
			continue
		case '{':
			return ParseCloudTrail(br)
		}
		return ParseS3(br)
	}
}
