package keycache

import (
	"errors"
	"testing"
)

// TestAsError: an error from a provider that is not an *Error (a foreign
// provider's, a context's) is Unavailable, with a Retry-After.
func TestAsError(t *testing.T) {
	if e := asError(OpDecrypt, errors.New("boom")); e.Kind != KindUnavailable || e.RetryAfter <= 0 || e.Op != OpDecrypt {
		t.Errorf("a foreign provider error maps to %v", e)
	}
}
