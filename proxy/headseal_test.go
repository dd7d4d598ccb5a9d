package proxy

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

// TestHeadOpensSeal (issue 12, item 5; failed before: HEAD reported the
// edited size with 200): a backend that drops an object's last segments
// and edits bk-size to match gets no HEAD, HEAD with a Range or
// GetObjectAttributes to vouch for the smaller size: every read opens the
// seal, whose associated data is the recorded size. HEADs are not counted
// as object reads (a one-call-per-object design makes no KMS call for a
// HEAD).
func TestHeadOpensSeal(t *testing.T) {
	tp := newTestProxy(t)
	ctx := context.Background()
	b := tp.newBucket(t)
	tp.put(t, b, "k", randBytes(200<<10))
	decrypted := tp.keys.Stats().Total.ObjectsDecrypted
	if _, err := tp.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if d := tp.keys.Stats().Total.ObjectsDecrypted - decrypted; d != 0 {
		t.Errorf("a HEAD counted %d object reads", d)
	}

	raw, out := stored(t, b, "k")
	const seg = 64<<10 + 16
	md := testenv.EnvelopeFields(out.Metadata)
	md["bk-size"] = strconv.Itoa(2 << 16)
	restore(t, b, "k", raw[:2*seg], testenv.PackEnvelope(md))
	for _, hdr := range []http.Header{nil, {"Range": {"bytes=0-9"}}} {
		resp := tp.rawRequest(t, http.MethodHead, "/"+b+"/k", hdr, nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("HEAD %v of an object with an edited size: %d, want 500", hdr, resp.StatusCode)
		}
	}
	_, err := tp.client.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: &b, Key: aws.String("k"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectSize}})
	wantCode(t, "GetObjectAttributes", err, "InternalError")
}
