package keycache

import (
	"context"
	"errors"
	"time"
)

// ErrorKind classifies provider failures so the proxy can map them to S3
// errors without knowing which KMS it talks to.
type ErrorKind int

// Failure kinds.
const (
	KindUnavailable ErrorKind = iota + 1 // unreachable, 5xx, timeout: 503 ServiceUnavailable
	KindThrottled                        // KMS throttling: 503 SlowDown with Retry-After
	KindDenied                           // access denied, disabled or wrong key: 403 AccessDenied
	KindInvalid                          // the blob or context is not valid (tampered metadata): 403 AccessDenied
)

// String names the kind as the accounting outcome does.
func (k ErrorKind) String() string {
	switch k {
	case KindUnavailable:
		return OutcomeUnavailable
	case KindThrottled:
		return OutcomeThrottled
	case KindDenied:
		return OutcomeDenied
	case KindInvalid:
		return OutcomeInvalid
	}
	return "unknown"
}

// Operations, as used in Error.Op and in the accounting.
const (
	OpGenerateDataKey = "GenerateDataKey"
	OpDecrypt         = "Decrypt"
)

// Outcomes of a provider request, as counted in Counts.Requests and passed to
// Options.OnKMSRequest.
const (
	OutcomeOK          = "ok"
	OutcomeThrottled   = "throttled"
	OutcomeDenied      = "denied"
	OutcomeUnavailable = "unavailable"
	OutcomeInvalid     = "invalid"
)

// Default Retry-After for Throttled and Unavailable errors. KMS sends no
// Retry-After of its own, and the SDK has already retried with backoff by the
// time an error reaches the cache, so one second is a polite floor.
const defaultRetryAfter = time.Second

// ErrClosed is the cause of the error a closed Cache returns.
var ErrClosed = errors.New("cache closed")

// Error is a provider or cache failure. It never includes key material: its
// causes are provider error codes and messages, never request payloads.
type Error struct {
	Kind       ErrorKind
	Op         string // "GenerateDataKey" or "Decrypt"
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string { return "keycache: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of the *Error in err's chain, or 0 when there is
// none (err is nil or came from elsewhere, e.g. the lending callback).
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// NewError builds an *Error with the Retry-After its kind deserves, for
// providers (keycache/awskms, keycache/localkey) and the cache alike.
func NewError(kind ErrorKind, op string, err error) *Error {
	e := &Error{Kind: kind, Op: op, Err: err}
	if kind == KindThrottled || kind == KindUnavailable {
		e.RetryAfter = defaultRetryAfter
	}
	return e
}

// asError makes any provider error an *Error: providers in this package
// return *Error already; a context error or a foreign provider's error is
// Unavailable (the cache cannot tell it apart from an outage).
func asError(op string, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		if e.Op == "" {
			// A provider's *Error may be shared (singleflight hands one
			// to every waiter): name the operation on a copy.
			c := *e
			c.Op = op
			return &c
		}
		return e
	}
	return NewError(KindUnavailable, op, err)
}

// ctxError wraps a caller's context error so callers see an *Error and
// errors.Is(err, context.Canceled) still holds.
func ctxError(op string, ctx context.Context) *Error {
	return NewError(KindUnavailable, op, context.Cause(ctx))
}

// outcome names the accounting outcome of a provider call's error.
func outcome(err error) string {
	if err == nil {
		return OutcomeOK
	}
	if k := KindOf(err); k != 0 {
		return k.String()
	}
	return OutcomeUnavailable
}
