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

// TestPerClientBackendIdentity: two clients mapped to two backend users
// reach the backend as those users: each can use the buckets it creates,
// lists only those, and is refused the other's by the backend; a remapped
// client takes its new identity on its next request. On versitygw the users
// own their buckets (role "userplus", on a versitygw with an IAM directory
// started for the test); MinIO's buckets have no owner, so each MinIO user
// (added to the shared MinIO with its admin API) has an IAM policy over a
// bucket-name prefix of its own, and MinIO's ListBuckets shows a user the
// buckets its policy lets it use.
func TestPerClientBackendIdentity(t *testing.T) {
	needServers(t)
	for _, name := range testenv.Backends() {
		t.Run(name, func(t *testing.T) { perClientBackendIdentity(t, name) })
	}
}

func perClientBackendIdentity(t *testing.T, backendName string) {
	// Names of this run's own, so that the shared MinIO can keep them.
	tag := newBucketName()
	aliceBucket, bobBucket := "alice-"+tag, "bob-"+tag
	users := []testenv.User{
		{AccessKey: "alice-be-" + tag, SecretKey: "alice-backend-secret-0123456789", BucketPrefix: "alice-" + tag},
		{AccessKey: "bob-be-" + tag, SecretKey: "bob-backend-secret-0123456789ab", BucketPrefix: "bob-" + tag},
	}
	var gw *testenv.Process
	switch backendName {
	case testenv.MinIO:
		gw = backends.Backend(t, backendName)
		if err := testenv.AddMinIOUsers(context.Background(), gw, users); err != nil {
			t.Fatal(err)
		}
	default:
		gw = testenv.BackendWithUsers(t, backendName, users)
	}
	aliceBE := aws.Credentials{AccessKeyID: users[0].AccessKey, SecretAccessKey: users[0].SecretKey}
	bobBE := aws.Credentials{AccessKeyID: users[1].AccessKey, SecretAccessKey: users[1].SecretKey}
	ids := &mapIdentities{m: map[string]aws.Credentials{
		"client-alice": aliceBE,
		"client-bob":   bobBE,
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
	}{{alice, aliceBucket}, {bob, bobBucket}} {
		if _, err := c.cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(c.bucket)}); err != nil {
			t.Fatalf("CreateBucket %s: %v", c.bucket, err)
		}
	}
	if got := bucketNames(t, alice); !slices.Equal(got, []string{aliceBucket}) {
		t.Errorf("alice lists %v", got)
	}
	if got := bucketNames(t, bob); !slices.Equal(got, []string{bobBucket}) {
		t.Errorf("bob lists %v", got)
	}
	// The unmapped client is the proxy's own (root) identity: it sees both
	// (and, on the shared MinIO, other tests' buckets).
	if got := bucketNames(t, tp.client); !slices.Contains(got, aliceBucket) || !slices.Contains(got, bobBucket) {
		t.Errorf("the proxy's identity lists %v", got)
	}
	data := randBytes(100000)
	if _, err := alice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(aliceBucket), Key: aws.String("k"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	got, _ := getAll(t, alice, &s3.GetObjectInput{Bucket: aws.String(aliceBucket), Key: aws.String("k")})
	mustEqual(t, "alice reads her object", got, data)
	_, err := bob.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(aliceBucket), Key: aws.String("k")})
	if apiCode(err) != "AccessDenied" {
		t.Fatalf("bob reading alice's object: %v, want AccessDenied from the backend", err)
	}
	_, err = bob.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(aliceBucket), Key: aws.String("b"), Body: bytes.NewReader(data)})
	if apiCode(err) != "AccessDenied" {
		t.Fatalf("bob writing to alice's bucket: %v, want AccessDenied", err)
	}
	// Remapped (a reloaded credentials file): bob is now alice at the backend.
	ids.set("client-bob", aliceBE)
	got, _ = getAll(t, bob, &s3.GetObjectInput{Bucket: aws.String(aliceBucket), Key: aws.String("k")})
	mustEqual(t, "bob, remapped, reads alice's object", got, data)
	ids.set("client-bob", bobBE)

	// A bucket policy naming bob's backend identity is the backend's
	// decision: bob through the proxy gets what bob directly gets.
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["` + bobBE.AccessKeyID +
		`"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::` + aliceBucket + `/*"]}]}`
	if _, err := alice.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(aliceBucket), Policy: aws.String(policy)}); err != nil {
		t.Fatalf("alice's PutBucketPolicy: %v", err)
	}
	// versitygw lets bob read, and from then on refuses alice, its owner,
	// what the policy does not grant her; MinIO applies bucket policies to
	// anonymous requests only, so bob stays refused and alice's own IAM
	// policy still lets her read.
	for _, c := range []struct {
		who              string
		proxy            *s3.Client
		direct           aws.Credentials
		versitygw, minio bool // may read
	}{{"bob", bob, bobBE, true, false}, {"alice", alice, aliceBE, false, true}} {
		_, err := c.proxy.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(aliceBucket), Key: aws.String("k")})
		_, derr := newS3Client(gw.URL, c.direct.AccessKeyID, c.direct.SecretAccessKey).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(aliceBucket), Key: aws.String("k")})
		if (err == nil) != (derr == nil) || apiCode(err) != apiCode(derr) {
			t.Fatalf("%s reading alice's object under her bucket policy: through the proxy %v, directly %v", c.who, err, derr)
		}
		if want := map[string]bool{testenv.Versitygw: c.versitygw, testenv.MinIO: c.minio}[backendName]; (err == nil) != want {
			t.Errorf("%s reading alice's object under her bucket policy: %v, want allowed=%v", c.who, err, want)
		}
	}
}
