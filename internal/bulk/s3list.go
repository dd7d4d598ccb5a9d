package bulk

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Lister lists bucket/prefix with ListObjectsV2, a page of pageSize keys
// (at most 1000) at a time, each page starting after the last key of the
// one before (StartAfter), so that a resumed walk starts at its marker.
func S3Lister(c *s3.Client, bucket, prefix string, pageSize int32) Lister {
	if pageSize <= 0 || pageSize > 1000 {
		pageSize = 1000
	}
	return func(ctx context.Context, startAfter string) ([]Object, bool, error) {
		in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(pageSize)}
		if prefix != "" {
			in.Prefix = aws.String(prefix)
		}
		if startAfter != "" {
			in.StartAfter = aws.String(startAfter)
		}
		out, err := c.ListObjectsV2(ctx, in)
		if err != nil {
			return nil, false, err
		}
		page := make([]Object, 0, len(out.Contents))
		for _, o := range out.Contents {
			page = append(page, Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size)})
		}
		return page, aws.ToBool(out.IsTruncated), nil
	}
}
