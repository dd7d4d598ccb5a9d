package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// CreateBucket creates cfg.Bucket at cfg.Endpoint; a bucket that already
// exists and is ours is not an error.
func CreateBucket(ctx context.Context, cfg Config) error {
	c := cfg
	if c.Count <= 0 && c.Duration <= 0 {
		c.Count = 1 // only the connection settings matter here
	}
	if err := c.defaults(); err != nil {
		return err
	}
	_, err := newClient(c).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(c.Bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	if err == nil || errors.As(err, &owned) {
		return nil
	}
	return fmt.Errorf("bench: creating bucket %s at %s: %w", c.Bucket, c.Endpoint, err)
}
