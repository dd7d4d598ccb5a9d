package proxy

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/keycache"
	"github.com/bucketkey/bucketkey/s3err"
)

func TestUnitToS3(t *testing.T) {
	cases := []struct {
		err    error
		code   string
		status int
	}{
		{s3err.NoSuchKey, "NoSuchKey", 404},
		{&keycache.Error{Kind: keycache.KindThrottled, Op: "Decrypt", Err: errors.New("x"), RetryAfter: 3 * time.Second}, "SlowDown", 503},
		{&keycache.Error{Kind: keycache.KindUnavailable, Op: "Decrypt", Err: errors.New("x")}, "ServiceUnavailable", 503},
		{fmt.Errorf("wrapped: %w", &keycache.Error{Kind: keycache.KindDenied, Op: "GenerateDataKey", Err: errors.New("x")}), "AccessDenied", 403},
		{&keycache.Error{Kind: keycache.KindInvalid, Op: "Decrypt", Err: errors.New("x")}, "AccessDenied", 403},
		{&upstreamError{err: errors.New("refused")}, "ServiceUnavailable", 503},
		{fmt.Errorf("x: %w", envelope.ErrAuth), "InternalError", 500},
		{errors.New("anything"), "InternalError", 500},
	}
	for _, c := range cases {
		e := toS3(c.err)
		if e.Code != c.code || e.Status != c.status {
			t.Errorf("toS3(%v) = %s %d, want %s %d", c.err, e.Code, e.Status, c.code, c.status)
		}
	}
	if e := toS3(&keycache.Error{Kind: keycache.KindThrottled, Err: errors.New("x"), RetryAfter: 3 * time.Second}); e.RetryAfter != 3*time.Second {
		t.Errorf("throttle Retry-After %v", e.RetryAfter)
	}
}
