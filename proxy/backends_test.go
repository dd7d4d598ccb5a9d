package proxy

import (
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// backends are the S3 servers the tests run against: the shared versitygw
// (backendS3, added in TestMain) and the others, started on first use.
var backends testenv.Pool

// onBackend puts the test proxy in front of be instead of the shared
// versitygw.
func onBackend(be *testenv.Process) proxyOption {
	return func(c *Config) {
		u, err := url.Parse(be.URL)
		if err != nil {
			panic(err)
		}
		c.Upstream = u
	}
}

// forEachBackendServer runs f as a subtest for each backend server, for
// tests that put more than one proxy in front of it.
func forEachBackendServer(t *testing.T, f func(t *testing.T, be *testenv.Process)) {
	needServers(t) // the shared versitygw is one of the backends
	for _, name := range testenv.Backends() {
		t.Run(name, func(t *testing.T) { f(t, backends.Backend(t, name)) })
	}
}

// forEachBackend runs f as a subtest for each backend, with a test proxy in
// front of it.
func forEachBackend(t *testing.T, f func(t *testing.T, tp *testProxy), opts ...proxyOption) {
	forEachBackendServer(t, func(t *testing.T, be *testenv.Process) {
		f(t, newTestProxy(t, append([]proxyOption{onBackend(be)}, opts...)...))
	})
}

// storedIn returns the bytes and headers backend c holds for bucket/key.
func storedIn(t testing.TB, c *s3.Client, bucket, key string) ([]byte, *s3.GetObjectOutput) {
	t.Helper()
	return getAll(t, c, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
}
