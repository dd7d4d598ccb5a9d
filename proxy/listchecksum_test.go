package proxy

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/internal/testenv"
)

// TestListChecksumAlgorithm: a listing names each object's checksum
// algorithm and type as S3 does, the algorithm of the plaintext checksum
// the client sent (in a header, small or streamed, or in a trailer) and
// CRC64NVME when it sent none, FULL_OBJECT; the backend keeps a checksum of
// that algorithm over the ciphertext, whose value no answer relays:
// HEAD with x-amz-checksum-mode and GetObjectAttributes answer the
// plaintext's recorded checksum, or none. versitygw lists what it keeps;
// MinIO lists no checksum algorithm at all (its own answer, directly
// too), so there the test asserts what the backend keeps.
func TestListChecksumAlgorithm(t *testing.T) {
	forEachBackendServer(t, func(t *testing.T, be *testenv.Process) {
		tp := newTestProxy(t, onBackend(be))
		bucket := tp.newBucket(t)
		ctx := context.Background()
		small, large := randBytes(100), randBytes(200<<10)
		type object struct {
			key      string
			alg      checksum.Algorithm // listed
			recorded bool               // HEAD answers the plaintext's
		}
		var objects []object
		for _, a := range checksum.All {
			for _, v := range []struct {
				name string
				data []byte
			}{{"small", small}, {"large", large}} {
				key := "h-" + a.String() + "-" + v.name
				if _, err := tp.client.PutObject(ctx, putInputWithChecksum(bucket, key, v.data, a, checksum.Encode(a.Sum(v.data)))); err != nil {
					t.Fatalf("PUT %s: %v", key, err)
				}
				objects = append(objects, object{key, a, true})
			}
			key := "t-" + a.String() + "-large"
			resp := unsignedTrailerPut(t, tp.srv.URL+"/"+bucket+"/"+key, large, a.Header(), checksum.Encode(a.Sum(large)))
			if body := readAllClose(t, resp.Body); resp.StatusCode != 200 {
				t.Fatalf("PUT %s: %d %s", key, resp.StatusCode, body)
			}
			objects = append(objects, object{key, a, false})
		}
		for _, v := range []struct {
			name string
			data []byte
		}{{"small", small}, {"large", large}} {
			key := "none-" + v.name
			if _, err := tp.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(v.data)},
				func(o *s3.Options) { o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired }); err != nil {
				t.Fatalf("PUT %s: %v", key, err)
			}
			objects = append(objects, object{key, checksum.CRC64NVME, v.name == "small"})
		}

		l2, err := tp.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket})
		if err != nil {
			t.Fatal(err)
		}
		l1, err := tp.client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: &bucket})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range append(l2.Contents, l1.Contents...) {
			if be.Name == testenv.Versitygw {
				continue
			}
			if len(o.ChecksumAlgorithm) != 0 || o.ChecksumType != "" {
				t.Logf("MinIO now lists %s with %v %s", aws.ToString(o.Key), o.ChecksumAlgorithm, o.ChecksumType)
			}
		}
		for _, o := range objects {
			if be.Name == testenv.Versitygw {
				for name, l := range map[string]*[]types.Object{"ListObjectsV2": &l2.Contents, "ListObjects": &l1.Contents} {
					got := findListed(*l, o.key)
					if got == nil || len(got.ChecksumAlgorithm) != 1 || got.ChecksumAlgorithm[0] != types.ChecksumAlgorithm(o.alg.String()) || got.ChecksumType != types.ChecksumTypeFullObject {
						t.Errorf("%s %s: %+v, want %v FULL_OBJECT", name, o.key, got, o.alg)
					}
				}
			}
			checkNoCiphertextChecksum(t, tp, bucket, o.key, o.alg, o.recorded, be.Name)
		}
	})
}

// findListed is the entry of key in a listing, nil if none.
func findListed(l []types.Object, key string) *types.Object {
	for i := range l {
		if aws.ToString(l[i].Key) == key {
			return &l[i]
		}
	}
	return nil
}

// checkNoCiphertextChecksum: the backend keeps a checksum of alg over
// the ciphertext of bucket/key (where it keeps that algorithm), and reads
// through the proxy answer the plaintext's recorded one (recorded), or
// none: never the backend's.
func checkNoCiphertextChecksum(t *testing.T, tp *testProxy, bucket, key string, alg checksum.Algorithm, recorded bool, backendName string) {
	t.Helper()
	ctx := context.Background()
	stored, err := tp.backend.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	backendValue := checksumOf(alg, stored.ChecksumCRC32, stored.ChecksumCRC32C, stored.ChecksumCRC64NVME, stored.ChecksumSHA1, stored.ChecksumSHA256, stored.ChecksumSHA512, stored.ChecksumMD5, stored.ChecksumXXHASH64, stored.ChecksumXXHASH3, stored.ChecksumXXHASH128)
	sent := recorded || !strings.HasPrefix(key, "none-") // the proxy sends the backend a checksum of alg
	if backendValue == "" && (backendName == testenv.Versitygw || sent && minioKeeps(alg)) {
		t.Errorf("%s: the backend keeps no %v checksum of the ciphertext", key, alg)
	}
	resp := tp.rawRequest(t, http.MethodHead, "/"+bucket+"/"+key, http.Header{"X-Amz-Checksum-Mode": {"ENABLED"}}, nil)
	readAllClose(t, resp.Body)
	var got []string
	for k, v := range resp.Header {
		if hasPrefixFold(k, "X-Amz-Checksum-") && k != "X-Amz-Checksum-Type" {
			got = append(got, k+": "+v[0])
		}
	}
	switch {
	case resp.StatusCode != 200:
		t.Errorf("HEAD %s: %d", key, resp.StatusCode)
	case backendValue != "" && resp.Header.Get(alg.CanonicalHeader()) == backendValue:
		t.Errorf("HEAD %s: relays the backend's checksum of the ciphertext %s", key, backendValue)
	case recorded && len(got) != 1:
		t.Errorf("HEAD %s: checksums %v, want the recorded %v", key, got, alg)
	case !recorded && len(got) != 0:
		t.Errorf("HEAD %s: checksums %v, want none (none recorded)", key, got)
	}
	attrs, err := tp.client.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: &bucket, Key: &key, ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesChecksum}})
	if err != nil {
		t.Fatal(err)
	}
	if ck := attrs.Checksum; (ck != nil) != recorded || ck != nil && backendValue != "" && checksumOf(alg, ck.ChecksumCRC32, ck.ChecksumCRC32C, ck.ChecksumCRC64NVME, ck.ChecksumSHA1, ck.ChecksumSHA256, ck.ChecksumSHA512, ck.ChecksumMD5, ck.ChecksumXXHASH64, ck.ChecksumXXHASH3, ck.ChecksumXXHASH128) == backendValue {
		t.Errorf("GetObjectAttributes %s: %+v (recorded %v, backend's %q)", key, ck, recorded, backendValue)
	}
}

// minioKeeps reports whether MinIO keeps an object checksum of alg (it
// knows the five algorithms S3 had before 2025).
func minioKeeps(alg checksum.Algorithm) bool {
	return alg == checksum.CRC32 || alg == checksum.CRC32C || alg == checksum.CRC64NVME || alg == checksum.SHA1 || alg == checksum.SHA256
}
