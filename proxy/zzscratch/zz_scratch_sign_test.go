package zzscratch

import (
	"context"
	"net/http"
	"time"
	"crypto/sha256"
	"encoding/hex"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/bucketkey/bucketkey/internal/testenv"
)

func signRaw(req *http.Request) error {
	h := sha256.Sum256(nil); req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(h[:]))
	return v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testenv.S3AccessKey, SecretAccessKey: testenv.S3SecretKey}, req, hex.EncodeToString(h[:]), "s3", testenv.Region, time.Now())
}
