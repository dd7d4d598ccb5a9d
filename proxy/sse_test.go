package proxy

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"

	"github.com/bucketkey/bucketkey/s3err"
)

func TestUnitParseSSE(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		h       http.Header
		keyID   string
		ctx     map[string]string
		errCode string
	}{
		{http.Header{}, "", nil, ""},
		{http.Header{"X-Amz-Server-Side-Encryption": {"aws:kms"}}, "", nil, ""},
		{http.Header{"X-Amz-Server-Side-Encryption": {"AES256"}}, "", nil, ""},
		{http.Header{"X-Amz-Server-Side-Encryption": {"aws:kms"}, "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": {"alias/x"}}, "alias/x", nil, ""},
		{http.Header{"X-Amz-Server-Side-Encryption": {"aws:kms"}, "X-Amz-Server-Side-Encryption-Context": {b64(`{"a":"b"}`)}}, "", map[string]string{"a": "b"}, ""},
		{http.Header{"X-Amz-Server-Side-Encryption": {"aws:kms"}, "X-Amz-Server-Side-Encryption-Context": {b64(`{"aws:s3:arn":"arn:aws:s3:::bkt"}`)}}, "", nil, ""},
		{http.Header{"X-Amz-Server-Side-Encryption": {"aws:kms"}, "X-Amz-Server-Side-Encryption-Context": {b64(`{"aws:s3:arn":"arn:aws:s3:::other"}`)}}, "", nil, "InvalidArgument"},
		{http.Header{"X-Amz-Server-Side-Encryption": {"aws:kms"}, "X-Amz-Server-Side-Encryption-Context": {b64(`{"a":1}`)}}, "", nil, "InvalidArgument"},
		{http.Header{"X-Amz-Server-Side-Encryption": {"aws:kms"}, "X-Amz-Server-Side-Encryption-Context": {"%%%"}}, "", nil, "InvalidArgument"},
		{http.Header{"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": {"k"}}, "", nil, "InvalidArgument"},
		{http.Header{"X-Amz-Server-Side-Encryption": {"AES256"}, "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": {"k"}}, "", nil, "InvalidArgument"},
		{http.Header{"X-Amz-Server-Side-Encryption": {"aws:kms:dsse"}}, "", nil, "InvalidArgument"},
	}
	for i, c := range cases {
		s, err := parseSSE(c.h, "bkt")
		if c.errCode != "" {
			if e := s3err.As(err); e == nil || e.Code != c.errCode {
				t.Errorf("case %d: err %v, want %s", i, err, c.errCode)
			}
			continue
		}
		if err != nil || s.keyID != c.keyID || fmt.Sprint(s.context) != fmt.Sprint(c.ctx) {
			t.Errorf("case %d: %+v %v", i, s, err)
		}
	}
}
