package proxy

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/bucketkey/bucketkey/internal/testenv"
	"github.com/bucketkey/bucketkey/sigv4"
)

// mapIdentities is a reloadable client -> backend identity table.
type mapIdentities struct {
	mu sync.Mutex
	m  map[string]aws.Credentials
}

func (m *mapIdentities) BackendIdentity(ak string) (aws.Credentials, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.m[ak]
	return c, ok
}

func (m *mapIdentities) set(ak string, c aws.Credentials) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[ak] = c
}

func bucketNames(t *testing.T, c *s3.Client) []string {
	t.Helper()
	out, err := c.ListBuckets(context.Background(), &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range out.Buckets {
		names = append(names, aws.ToString(b.Name))
	}
	slices.Sort(names)
	return names
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestPerClientBackendIdentity: two clients mapped to two versitygw user
// accounts reach the backend as those users: each owns the buckets it
// creates, lists only its own, and is refused the other's by the backend;
// a remapped client takes its new identity on its next request.
func TestPerClientBackendIdentity(t *testing.T) {
	gw := testenv.S3WithUsers(t, map[string]string{
		"alice-backend": "alice-backend-secret-0123456789",
		"bob-backend":   "bob-backend-secret-0123456789ab",
	})
	ids := &mapIdentities{m: map[string]aws.Credentials{
		"client-alice": {AccessKeyID: "alice-backend", SecretAccessKey: "alice-backend-secret-0123456789"},
		"client-bob":   {AccessKeyID: "bob-backend", SecretAccessKey: "bob-backend-secret-0123456789ab"},
	}}
	up, _ := url.Parse(gw.URL)
	tp := newTestProxy(t, func(c *Config) {
		c.Upstream = up
		c.ClientCredentials = sigv4.StaticCredentials{
			"client-alice": "client-alice-secret", "client-bob": "client-bob-secret", clientAccessKey: clientSecretKey,
		}
		c.Identities = ids
	})
	alice := newS3Client(tp.srv.URL, "client-alice", "client-alice-secret")
	bob := newS3Client(tp.srv.URL, "client-bob", "client-bob-secret")
	ctx := context.Background()
	for _, c := range []struct {
		cl     *s3.Client
		bucket string
	}{{alice, "alice-bucket"}, {bob, "bob-bucket"}} {
		if _, err := c.cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(c.bucket)}); err != nil {
			t.Fatalf("CreateBucket %s: %v", c.bucket, err)
		}
	}
	if got := bucketNames(t, alice); !slices.Equal(got, []string{"alice-bucket"}) {
		t.Errorf("alice lists %v", got)
	}
	if got := bucketNames(t, bob); !slices.Equal(got, []string{"bob-bucket"}) {
		t.Errorf("bob lists %v", got)
	}
	// The unmapped client is the proxy's own (root) identity: it sees both.
	if got := bucketNames(t, tp.client); !slices.Equal(got, []string{"alice-bucket", "bob-bucket"}) {
		t.Errorf("the proxy's identity lists %v", got)
	}
	data := randBytes(100000)
	if _, err := alice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("alice-bucket"), Key: aws.String("k"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	got, _ := getAll(t, alice, &s3.GetObjectInput{Bucket: aws.String("alice-bucket"), Key: aws.String("k")})
	mustEqual(t, "alice reads her object", got, data)
	_, err := bob.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("alice-bucket"), Key: aws.String("k")})
	if apiCode(err) != "AccessDenied" {
		t.Fatalf("bob reading alice's object: %v, want AccessDenied from the backend", err)
	}
	_, err = bob.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("alice-bucket"), Key: aws.String("b"), Body: bytes.NewReader(data)})
	if apiCode(err) != "AccessDenied" {
		t.Fatalf("bob writing to alice's bucket: %v, want AccessDenied", err)
	}
	// Remapped (a reloaded credentials file): bob is now alice at the backend.
	ids.set("client-bob", aws.Credentials{AccessKeyID: "alice-backend", SecretAccessKey: "alice-backend-secret-0123456789"})
	got, _ = getAll(t, bob, &s3.GetObjectInput{Bucket: aws.String("alice-bucket"), Key: aws.String("k")})
	mustEqual(t, "bob, remapped, reads alice's object", got, data)
}
