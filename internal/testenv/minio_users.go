package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/minio/madmin-go/v3"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// AddMinIOUsers creates users on the MinIO server p through its admin API
// (madmin-go, as root), each with a policy of its own over the buckets
// named by its BucketPrefix.
func AddMinIOUsers(ctx context.Context, p *Process, users []User) error {
	u, err := url.Parse(p.URL)
	if err != nil {
		return err
	}
	adm, err := madmin.NewWithOptions(u.Host, &madmin.Options{
		Creds: credentials.NewStaticV4(S3AccessKey, S3SecretKey, ""),
	})
	if err != nil {
		return fmt.Errorf("testenv: minio admin client: %w", err)
	}
	for _, usr := range users {
		policy, err := json.Marshal(map[string]any{
			"Version": "2012-10-17",
			"Statement": []any{map[string]any{
				"Effect":   "Allow",
				"Action":   []string{"s3:*"},
				"Resource": []string{"arn:aws:s3:::" + usr.BucketPrefix + "*", "arn:aws:s3:::" + usr.BucketPrefix + "*/*"},
			}},
		})
		if err != nil {
			return err
		}
		name := "buckets-" + usr.AccessKey
		if err := adm.AddCannedPolicy(ctx, name, policy); err != nil {
			return fmt.Errorf("testenv: minio: add policy %s: %w", name, err)
		}
		if err := adm.AddUser(ctx, usr.AccessKey, usr.SecretKey); err != nil {
			return fmt.Errorf("testenv: minio: add user %s: %w", usr.AccessKey, err)
		}
		if _, err := adm.AttachPolicy(ctx, madmin.PolicyAssociationReq{Policies: []string{name}, User: usr.AccessKey}); err != nil {
			return fmt.Errorf("testenv: minio: attach policy %s to %s: %w", name, usr.AccessKey, err)
		}
	}
	return nil
}
