package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bucketkey/bucketkey/sigv4"
)

// env is a fixed environment for parse tests: the process's own never leaks
// in.
func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// minimal is the smallest valid serve command line.
var minimal = []string{"--upstream", "http://127.0.0.1:7070", "--kms-key-id", "alias/k", "--client-access-key", "app", "--client-secret-key", "app-secret"}

func parseServe(t *testing.T, args []string, getenv func(string) (string, bool)) (*resolved, *serveConfig, error) {
	t.Helper()
	var c serveConfig
	s := serveFlags(&c)
	if err := s.parse(args, getenv); err != nil {
		return nil, &c, err
	}
	r, err := c.validate(s)
	return r, &c, err
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServeDefaults(t *testing.T) {
	r, _, err := parseServe(t, minimal, env())
	if err != nil {
		t.Fatal(err)
	}
	if r.Listen != "127.0.0.1:8080" || r.AdminListen != "127.0.0.1:9090" || r.UpstreamRegion != "us-east-1" ||
		r.Cache.TTL != 5*time.Minute || r.PricePer10k != 0.03 || r.Cache.MaxObjects != 1_000_000 ||
		r.UpstreamPayload != sigv4.PayloadAuto || r.ShutdownTimeout != 30*time.Second || r.LogFormat != "text" ||
		r.BodyIdleTimeout != 20*time.Second ||
		r.Cache.Disabled || r.TLS != nil || r.UpstreamRoots != nil {
		t.Errorf("defaults: %+v", r)
	}
	if r.ClientCredentials["app"] != "app-secret" || len(r.ClientCredentials) != 1 {
		t.Errorf("client credentials: %d pairs", len(r.ClientCredentials))
	}
}

func TestServePrecedence(t *testing.T) {
	file := writeFile(t, "bk.yaml", `
upstream: http://file:1
upstream-region: file-region
bucket-key-ttl: 1m
log-level: debug
kms-price-per-10k: 0.05
replica: [b-replica=a-source, c-replica=a-source]
no-bucket-key: true
`)
	args := append([]string{"--config", file, "--bucket-key-ttl", "3m"}, minimal...)
	r, _, err := parseServe(t, args, env(
		"BUCKETKEY_BUCKET_KEY_TTL", "2m", // loses to the flag
		"BUCKETKEY_UPSTREAM_REGION", "env-region", // beats the file
		"BUCKETKEY_LOG_FORMAT", "json", // beats the default
	))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"flag over env and file", r.Cache.TTL, 3 * time.Minute},
		{"flag over file", r.Upstream.String(), "http://127.0.0.1:7070"},
		{"env over file", r.UpstreamRegion, "env-region"},
		{"env over default", r.LogFormat, "json"},
		{"file over default", r.LogLevel, "debug"},
		{"file float", r.PricePer10k, 0.05},
		{"file bool", r.Cache.Disabled, true},
		{"file list", strings.Join(r.Replicas["b-replica"], ","), "a-source"},
		{"file list 2", strings.Join(r.Replicas["c-replica"], ","), "a-source"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestServeEnvOnlyAndConfigFromEnv(t *testing.T) {
	creds := writeFile(t, "creds", "# apps\napp-one:secret-one\n\n app-two : secret-two \n")
	file := writeFile(t, "bk.json", `{"upstream": "https://s3.eu-west-1.amazonaws.com", "upstream-region": "eu-west-1"}`)
	r, _, err := parseServe(t, nil, env(
		"BUCKETKEY_CONFIG", file,
		"BUCKETKEY_KMS_KEY_ID", "arn:aws:kms:eu-central-1:111122223333:key/abc",
		"BUCKETKEY_CREDENTIALS", creds,
		"BUCKETKEY_REPLICA", "bbb-eu=bbb, ccc-eu=ccc",
		"BUCKETKEY_VIRTUAL_HOST_DOMAIN", "S3.Example.com.",
	))
	if err != nil {
		t.Fatal(err)
	}
	if r.Upstream.Host != "s3.eu-west-1.amazonaws.com" || r.UpstreamRegion != "eu-west-1" {
		t.Errorf("config file from BUCKETKEY_CONFIG not read: %v %v", r.Upstream, r.UpstreamRegion)
	}
	if r.KMSRegion != "eu-central-1" {
		t.Errorf("KMS region %q, want the ARN's eu-central-1", r.KMSRegion)
	}
	if len(r.ClientCredentials) != 2 || r.ClientCredentials["app-two"] != "secret-two" {
		t.Errorf("credentials file: %d pairs", len(r.ClientCredentials))
	}
	if len(r.Replicas) != 2 || r.Replicas["ccc-eu"][0] != "ccc" {
		t.Errorf("replicas from env: %v", r.Replicas)
	}
	if len(r.VHosts) != 1 || r.VHosts[0] != "s3.example.com" {
		t.Errorf("virtual host domains: %v", r.VHosts)
	}
}

// TestServeMixedBuckets: --mixed-bucket is repeatable, a comma-separated
// BUCKETKEY_MIXED_BUCKET, or a config file list or string, with the usual
// precedence, and takes bucket names only.
func TestServeMixedBuckets(t *testing.T) {
	list := writeFile(t, "bk.yaml", "mixed-bucket: [file-one, file-two]\n")
	scalar := writeFile(t, "bk.yaml", "mixed-bucket: file-only\n")
	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"none", nil, nil, ""},
		{"flags", []string{"--mixed-bucket", "photos", "--mixed-bucket", "logs.2024"}, nil, "photos,logs.2024"},
		{"env", nil, []string{"BUCKETKEY_MIXED_BUCKET", "photos, logs ,"}, "photos,logs"},
		{"file list", []string{"--config", list}, nil, "file-one,file-two"},
		{"file string", []string{"--config", scalar}, nil, "file-only"},
		{"flag over env and file", []string{"--config", list, "--mixed-bucket", "flagged"}, []string{"BUCKETKEY_MIXED_BUCKET", "env-one"}, "flagged"},
		{"env over file", []string{"--config", list}, []string{"BUCKETKEY_MIXED_BUCKET", "env-one,env-two"}, "env-one,env-two"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, err := parseServe(t, append(append([]string{}, minimal...), tt.args...), env(tt.env...))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(r.Mixed, ","); got != tt.want {
				t.Errorf("mixed buckets %q, want %q", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"Photos", "a", "photos/logs", ""} {
		_, _, err := parseServe(t, append(append([]string{}, minimal...), "--mixed-bucket", bad), env())
		if err == nil || !strings.Contains(err.Error(), "--mixed-bucket \""+bad+"\": want a bucket name") {
			t.Errorf("--mixed-bucket %q: %v", bad, err)
		}
	}
}

// TestServeKMSAccept: --kms-accept-key-id is repeatable, a
// comma-separated BUCKETKEY_KMS_ACCEPT_KEY_ID, or a config file list, and
// refuses blanks.
func TestServeKMSAccept(t *testing.T) {
	const arn = "arn:aws:kms:eu-west-1:111122223333:key/old"
	file := writeFile(t, "bk.yaml", "kms-accept-key-id: ["+arn+", other]\n")
	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"none", nil, nil, ""},
		{"flags", []string{"--kms-accept-key-id", arn, "--kms-accept-key-id", "k2"}, nil, arn + ",k2"},
		{"env", nil, []string{"BUCKETKEY_KMS_ACCEPT_KEY_ID", "k1,k2"}, "k1,k2"},
		{"file", []string{"--config", file}, nil, arn + ",other"},
		{"flag over file", []string{"--config", file, "--kms-accept-key-id", "k3"}, nil, "k3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, err := parseServe(t, append(append([]string{}, minimal...), tt.args...), env(tt.env...))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(r.KMSAccept, ","); got != tt.want {
				t.Errorf("accepted keys %q, want %q", got, tt.want)
			}
		})
	}
	if _, _, err := parseServe(t, append(append([]string{}, minimal...), "--kms-accept-key-id", " "), env()); err == nil {
		t.Error("a blank --kms-accept-key-id was accepted")
	}
}

func TestServeInvalid(t *testing.T) {
	secret := "do-not-print-this-secret"
	badCreds := writeFile(t, "creds", "app:"+secret+"\nbroken line\n")
	tests := []struct {
		name string
		args []string
		env  []string
		want string // substring of the one error line
	}{
		{"no upstream", []string{"--kms-key-id", "k", "--client-access-key", "a", "--client-secret-key", "s"}, nil,
			"no backend: set --upstream or BUCKETKEY_UPSTREAM or \"upstream\" in the config file"},
		{"bad upstream", []string{"--upstream", "s3.amazonaws.com"}, nil, "--upstream \"s3.amazonaws.com\": want an http:// or https:// URL"},
		{"upstream with password", []string{"--upstream", "http://u:" + secret + "@h"}, nil, "must not carry credentials"},
		{"no kms", []string{"--upstream", "http://h", "--client-access-key", "a", "--client-secret-key", "s"}, nil, "no KMS key: set --kms-key-id"},
		{"both kms", append(minimal, "--kms-local-key", "/k"), nil, "set one of them"},
		{"endpoint with local", []string{"--upstream", "http://h", "--kms-local-key", "/k", "--kms-endpoint", "http://k", "--client-access-key", "a", "--client-secret-key", "s"}, nil, "do not apply with --kms-local-key"},
		{"no client credentials", []string{"--upstream", "http://h", "--kms-key-id", "k"}, nil, "no client credentials"},
		{"half client pair", []string{"--upstream", "http://h", "--kms-key-id", "k", "--client-access-key", "a"}, nil, "go together"},
		{"half upstream pair", append(minimal, "--upstream-secret-key", secret), nil, "--upstream-access-key and --upstream-secret-key go together"},
		{"bad ttl", append(minimal, "--bucket-key-ttl", "0s"), nil, "--bucket-key-ttl 0s: must be positive"},
		{"unparsable ttl", append(minimal, "--bucket-key-ttl", "soon"), nil, "invalid value \"soon\" for flag -bucket-key-ttl"},
		{"bad env ttl", minimal, []string{"BUCKETKEY_BUCKET_KEY_TTL", "soon"}, "BUCKETKEY_BUCKET_KEY_TTL: invalid value for --bucket-key-ttl"},
		{"bad price", append(minimal, "--kms-price-per-10k", "0"), nil, "--kms-price-per-10k 0: must be positive"},
		{"bad payload", append(minimal, "--upstream-payload", "chunky"), nil, "--upstream-payload: payload mode \"chunky\": want auto, signed, unsigned-trailer or unsigned"},
		{"bad replica", append(minimal, "--replica", "b"), nil, "--replica \"b\": want REPLICA=SOURCE"},
		{"self replica", append(minimal, "--replica", "bbb=bbb"), nil, "does not replicate itself"},
		{"bad listen", append(minimal, "--listen", "8080"), nil, "--listen \"8080\": want host:port"},
		{"same ports", append(minimal, "--admin-listen", "127.0.0.1:8080"), nil, "give them different ports"},
		{"half tls", append(minimal, "--tls-cert", "c.pem"), nil, "--tls-cert and --tls-key go together"},
		{"missing tls files", append(minimal, "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"), nil, "--tls-cert/--tls-key: open /nonexistent/c.pem"},
		{"missing ca", append(minimal, "--upstream-ca", "/nonexistent/ca.pem"), nil, "--upstream-ca: open /nonexistent/ca.pem"},
		{"ca not pem", append(minimal, "--upstream-ca", writeFile(t, "ca.pem", "hello")), nil, "no PEM certificate"},
		{"log format", append(minimal, "--log-format", "xml"), nil, "--log-format \"xml\": want text or json"},
		{"log level", append(minimal, "--log-level", "loud"), nil, "--log-level \"loud\""},
		{"stray argument", append(minimal, "extra"), nil, "unexpected argument \"extra\""},
		{"unknown flag", append(minimal, "--bucket-key"), nil, "flag provided but not defined: -bucket-key"},
		{"bad credentials file", []string{"--upstream", "http://h", "--kms-key-id", "k", "--credentials", badCreds}, nil, "line 2: want access-key:secret"},
		{"missing config file", append(minimal, "--config", "/nonexistent/bk.yaml"), nil, "config file: open /nonexistent/bk.yaml"},
		{"unknown config key", append(minimal, "--config", writeFile(t, "bk.yaml", "upstrem: http://h\n")), nil, "unknown setting \"upstrem\""},
		{"config list for scalar", append(minimal, "--config", writeFile(t, "bk.yaml", "listen: [a, b]\n")), nil, "a list is only allowed for repeatable settings"},
		{"config not a mapping", append(minimal, "--config", writeFile(t, "bk.yaml", "- a\n- b\n")), nil, "not a YAML or JSON mapping"},
		{"config nested", append(minimal, "--config", writeFile(t, "bk.yaml", "upstream:\n  url: x\n")), nil, "nested settings are not supported"},
		{"shutdown", append(minimal, "--shutdown-timeout", "-1s"), nil, "--shutdown-timeout -1s: must be positive"},
		{"body idle timeout", append(minimal, "--body-idle-timeout", "-1s"), nil, "--body-idle-timeout -1s: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"serve"}, tt.args...), &stdout, &stderr, env(tt.env...))
			if code != exitConfig {
				t.Errorf("exit code %d, want %d", code, exitConfig)
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "bucketkey serve: ") {
				t.Errorf("want one line starting with \"bucketkey serve: \", got %q", msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error line leaks a secret: %q", msg)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: %q", stdout.String())
			}
		})
	}
}

func TestServeHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"serve", "-h"}, &stdout, &stderr, env()); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"--upstream URL", "(BUCKETKEY_UPSTREAM)", "--bucket-key-ttl duration", "[5m0s]", "--replica B=A", "--mixed-bucket bucket", "(BUCKETKEY_MIXED_BUCKET)"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("serve -h lacks %q", want)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"serv"}, &stdout, &stderr, env()); code != exitConfig {
		t.Errorf("exit %d, want %d", code, exitConfig)
	}
	if !strings.Contains(stderr.String(), `unknown command "serv"`) {
		t.Errorf("stderr %q", stderr.String())
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{
		"upstream":                "BUCKETKEY_UPSTREAM",
		"kms-price-per-10k":       "BUCKETKEY_KMS_PRICE_PER_10K",
		"upstream-secret-key":     "BUCKETKEY_UPSTREAM_SECRET_KEY",
		"virtual-host-domain":     "BUCKETKEY_VIRTUAL_HOST_DOMAIN",
		"partition-by-access-key": "BUCKETKEY_PARTITION_BY_ACCESS_KEY",
	} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %q, want %q", flag, got, want)
		}
	}
}

func TestArnRegion(t *testing.T) {
	for id, want := range map[string]string{
		"arn:aws:kms:eu-west-1:111122223333:key/1234": "eu-west-1",
		"arn:aws:kms:us-east-2:111122223333:alias/x":  "us-east-2",
		"alias/x":                              "",
		"1234abcd-12ab-34cd-56ef-1234567890ab": "",
		"arn:aws:s3:::bucket":                  "",
	} {
		if got := arnRegion(id); got != want {
			t.Errorf("arnRegion(%q) = %q, want %q", id, got, want)
		}
	}
}

// TestServeNoUpstreamCredentials: without a static pair, the AWS default
// chain must yield credentials at start-up; when it cannot, serve stops with
// one line naming both ways to fix it.
func TestServeNoUpstreamCredentials(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	key := writeFile(t, "master.key", strings.Repeat("12", 32)+"\n")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--upstream", "http://127.0.0.1:1", "--kms-local-key", key,
		"--client-access-key", "app", "--client-secret-key", "app-secret"}, &stdout, &stderr, env())
	msg := stderr.String()
	if code != exitConfig || strings.Count(msg, "\n") != 1 ||
		!strings.Contains(msg, "bucketkey serve: no backend credentials: set --upstream-access-key and --upstream-secret-key, or configure the AWS default chain") {
		t.Errorf("exit %d, stderr %q", code, msg)
	}
}

// TestAnonymousFlags: --anonymous-bucket from the command line, the
// environment (comma-separated) and the config file (a list), as the other
// repeatable settings.
func TestAnonymousFlags(t *testing.T) {
	r, _, err := parseServe(t, append(append([]string(nil), minimal...), "--anonymous-bucket", "pub-a", "--anonymous-bucket", "pub-b"), env())
	if err != nil || strings.Join(r.AnonymousBuckets, ",") != "pub-a,pub-b" || r.Anonymous {
		t.Fatalf("flags: %v %v", r, err)
	}
	r, _, err = parseServe(t, minimal, env("BUCKETKEY_ANONYMOUS_BUCKET", "pub-a, pub-c", "BUCKETKEY_ANONYMOUS", "true"))
	if err != nil || strings.Join(r.AnonymousBuckets, ",") != "pub-a,pub-c" || !r.Anonymous {
		t.Fatalf("environment: %v %v", r, err)
	}
	cfg := writeFile(t, "c.yaml", "anonymous-bucket: [pub-d]\n")
	r, _, err = parseServe(t, append(append([]string(nil), minimal...), "--config", cfg), env())
	if err != nil || strings.Join(r.AnonymousBuckets, ",") != "pub-d" {
		t.Fatalf("config file: %v %v", r, err)
	}
	if _, _, err := parseServe(t, append(append([]string(nil), minimal...), "--anonymous-bucket", "Bad/Name"), env()); err == nil {
		t.Fatal("a bad bucket name was accepted")
	}
}

// TestKMSProviderFlag: --kms-provider picks a row of kmsProviders, and
// defaults from the other flags as before it existed.
func TestKMSProviderFlag(t *testing.T) {
	base := []string{"--upstream", "http://h", "--client-access-key", "a", "--client-secret-key", "s"}
	for _, c := range []struct {
		args []string
		want string // provider, or the error's text
	}{
		{[]string{"--kms-key-id", "k"}, "aws"},
		{[]string{"--kms-local-key", "/k"}, "local"},
		{[]string{"--kms-provider", "aws", "--kms-key-id", "k"}, "aws"},
		{[]string{"--kms-provider", "local", "--kms-local-key", "/k"}, "local"},
		{[]string{"--kms-provider", "local"}, "needs --kms-local-key"},
		{[]string{"--kms-provider", "aws", "--kms-local-key", "/k"}, "set one of them"},
		{[]string{"--kms-provider", "vault", "--kms-key-id", "k"}, "want aws or local"},
	} {
		r, _, err := parseServe(t, append(append([]string{}, base...), c.args...), env())
		switch {
		case err != nil && !strings.Contains(err.Error(), c.want):
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		case err == nil && r.KMSProvider != c.want:
			t.Errorf("%v: provider %q, want %q", c.args, r.KMSProvider, c.want)
		}
	}
}

// TestServeBodyIdleTimeout: --body-idle-timeout (and its environment
// variable) sets the proxy's; 0 turns it off, which the proxy's Config
// spells as a negative duration (its zero is the default).
func TestServeBodyIdleTimeout(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  []string
		want time.Duration
	}{
		{append(minimal, "--body-idle-timeout", "45s"), nil, 45 * time.Second},
		{minimal, []string{"BUCKETKEY_BODY_IDLE_TIMEOUT", "5s"}, 5 * time.Second},
		{append(minimal, "--body-idle-timeout", "0"), nil, -1},
	} {
		r, _, err := parseServe(t, tc.args, env(tc.env...))
		if err != nil {
			t.Fatal(err)
		}
		if r.BodyIdleTimeout != tc.want {
			t.Errorf("%v %v: body idle timeout %v, want %v", tc.args, tc.env, r.BodyIdleTimeout, tc.want)
		}
	}
}
