package proxy

import (
	"context"
	"errors"
	"time"

	"github.com/bucketkey/bucketkey/envelope"
	"github.com/bucketkey/bucketkey/keycache"
	"github.com/bucketkey/bucketkey/s3err"
)

// toS3 maps any error an operation returns to the S3 error a client sees
// (docs/ARCHITECTURE.md, "Errors"). Errors without a mapping become 500
// InternalError with S3's generic message: their text (which may name
// internals) goes to the log only.
func toS3(err error) *s3err.Error {
	if e := s3err.As(err); e != nil {
		return e
	}
	var kerr *keycache.Error
	if errors.As(err, &kerr) {
		switch kerr.Kind {
		case keycache.KindThrottled:
			e := s3err.SlowDown.Wrap(err)
			e.RetryAfter = kerr.RetryAfter
			if e.RetryAfter <= 0 {
				e.RetryAfter = defaultRetryAfter
			}
			return e
		case keycache.KindDenied, keycache.KindInvalid:
			return s3err.AccessDenied.Wrap(err)
		default:
			e := s3err.ServiceUnavailable.Wrap(err)
			e.RetryAfter = defaultRetryAfter
			return e
		}
	}
	var uerr *upstreamError
	if errors.As(err, &uerr) {
		return s3err.ServiceUnavailable.With("The storage backend did not answer.").Wrap(err)
	}
	if errors.Is(err, envelope.ErrAuth) || errors.Is(err, envelope.ErrInvalidMetadata) {
		return s3err.ObjectTampered.Wrap(err)
	}
	if errors.Is(err, context.Canceled) {
		// The client went away; whatever is answered, nobody reads it.
		return s3err.IncompleteBody.Wrap(err)
	}
	return s3err.InternalError.Wrap(err)
}

// defaultRetryAfter is suggested when KMS gives no hint.
const defaultRetryAfter = time.Second
