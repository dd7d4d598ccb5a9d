package e2e

import (
	"testing"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// backends are the S3 servers the tests run against: the shared versitygw
// (sharedS3, added in runMain) and the others, started on first use.
var backends testenv.Pool

// sharedBackend returns the shared S3 server called name (one of
// testenv.Backends(); "" is versitygw).
func sharedBackend(t testing.TB, name string) *testenv.Process {
	t.Helper()
	if name == "" {
		name = testenv.Versitygw
	}
	return backends.Backend(t, name)
}

// forEachBackend runs f as a subtest per backend (versitygw, MinIO), with
// o naming that backend.
func forEachBackend(t *testing.T, o envOptions, f func(t *testing.T, o envOptions)) {
	for _, name := range testenv.Backends() {
		t.Run(name, func(t *testing.T) {
			o := o
			o.backend = name
			f(t, o)
		})
	}
}
