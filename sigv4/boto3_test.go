package sigv4

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// boto3Script drives boto3 (installed in the machine image) against the
// stub: PutObject with boto3's default checksum and each algorithm botocore
// supports without awscrt, a ranged GET, a listing with an awkward prefix,
// DeleteObjects, and presigned GET and PUT fetched with urllib.
const boto3Script = `
import json, os, ssl, sys, urllib.request
import boto3
from botocore.config import Config

ep, ca = os.environ["EP"], os.environ.get("CA") or None
keys = json.loads(os.environ["KEYS"])
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1",
    aws_access_key_id=os.environ["AK"], aws_secret_access_key=os.environ["SK"],
    verify=ca if ca else True,
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

def data(i, n):
    return bytes((j * 31 + i) & 255 for j in range(n))

for i, k in enumerate(keys):
    s3.put_object(Bucket="bucket", Key=k, Body=data(i, 1000 * i + 1))
    for a, alg in enumerate(["SHA256", "SHA1", "CRC32"]):
        s3.put_object(Bucket="bucket", Key=k + "." + alg, Body=data(i + a, 70000 + i), ChecksumAlgorithm=alg)

got = s3.get_object(Bucket="bucket", Key=keys[1], Range="bytes=0-9")["Body"].read()
assert got == data(1, 1001)[0:10], got
s3.list_objects_v2(Bucket="bucket", Prefix="a b+c/\u00fc=&?", Delimiter="/")
s3.delete_objects(Bucket="bucket", Delete={"Objects": [{"Key": keys[0]}, {"Key": keys[3]}]})

ctx = ssl.create_default_context(cafile=ca) if ca else None
url = s3.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": keys[2]}, ExpiresIn=600)
assert urllib.request.urlopen(url, context=ctx).read() == data(2, 2001)
url = s3.generate_presigned_url("put_object", Params={"Bucket": "bucket", "Key": "presigned/" + keys[5]}, ExpiresIn=600)
req = urllib.request.Request(url, data=data(9, 4321), method="PUT")
urllib.request.urlopen(req, context=ctx).read()
print("boto3", __import__("boto3").__version__, "ok")
`

// pyData is the script's data(i, n).
func pyData(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(j*31 + i)
	}
	return b
}

func TestBoto3(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 (with boto3) is part of the machine image: %v", err)
	}
	keys, _ := json.Marshal(clientKeys)
	for _, tls := range []bool{false, true} {
		name := "http"
		if tls {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			stub, srv := newStub(t, tls, time.Now)
			env := append(os.Environ(), "EP="+srv.URL, "AK="+testAK, "SK="+testSK, "KEYS="+string(keys),
				"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
			if tls {
				ca := filepath.Join(t.TempDir(), "ca.pem")
				if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
					t.Fatal(err)
				}
				env = append(env, "CA="+ca)
			}
			cmd := exec.Command(python, "-c", boto3Script)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			recs := stub.drain()
			for _, r := range recs {
				if r.err != nil {
					t.Errorf("stub refused: %v", r)
				}
			}
			if err != nil {
				t.Fatalf("boto3 script: %v\n%s", err, out)
			}
			t.Logf("%s", bytes.TrimSpace(out))

			modes := map[string]int{}
			algs := map[string]int{}
			for _, r := range recs {
				if r.method == "PUT" {
					m := r.payload
					if len(m) == 64 {
						m = "hex"
					}
					modes[m]++
					algs[r.ckAlg]++
				}
			}
			// Over HTTPS boto3 streams PutObject with a trailing checksum;
			// over HTTP it signs the payload and sends a checksum header.
			if tls && modes[streamingUnsignedTrailer] == 0 || !tls && modes["hex"] == 0 {
				t.Fatalf("payload modes %v", modes)
			}
			for _, a := range []string{"CRC32", "SHA1", "SHA256"} {
				if algs[a] == 0 {
					t.Errorf("no PutObject with %s: %v", a, algs)
				}
			}
			for i, k := range clientKeys {
				if got, ok := stub.object("/bucket/" + k); !ok || !bytes.Equal(got, pyData(i, 1000*i+1)) {
					t.Errorf("object %q: %d bytes stored", k, len(got))
				}
			}
			if got, _ := stub.object("/bucket/presigned/" + clientKeys[5]); !bytes.Equal(got, pyData(9, 4321)) {
				t.Errorf("presigned PUT stored %d bytes", len(got))
			}
		})
	}
}
