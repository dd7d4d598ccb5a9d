package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketkey/bucketkey/internal/testenv"
)

const (
	rulesFile      = "../../examples/prometheus/bucketkey-rules.yml"
	rulesTestFile  = "../../examples/prometheus/bucketkey-rules.test.yml"
	dashboardFile  = "../../examples/grafana/bucketkey.json"
	promConfigFile = "../../examples/prometheus/prometheus.yml"
)

// promtool is Debian's (the prometheus package; scripts/test.sh installs
// it). A missing promtool fails the test rather than skipping it.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed; run scripts/test.sh (or apt-get install prometheus)")
	}
	return p
}

// TestPrometheusRules: the alert rules load (`promtool check rules`) and
// fire as their unit tests say (`promtool test rules`), and the example
// Prometheus configuration loads with them (`promtool check config`, with
// its token file put where it names one).
func TestPrometheusRules(t *testing.T) {
	pt := promtool(t)
	dir := t.TempDir()
	conf, err := os.ReadFile(promConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(dir, "token")
	for name, body := range map[string]string{
		"prometheus.yml":      strings.ReplaceAll(string(conf), "/etc/prometheus/bucketkey-admin-token", token),
		"bucketkey-rules.yml": string(rules),
		"token":               "an-admin-token-for-the-test\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"check", "rules", rulesFile},
		{"test", "rules", rulesTestFile},
		{"check", "config", filepath.Join(dir, "prometheus.yml")},
	} {
		if out, err := exec.Command(pt, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// grafanaPanel is what the test reads of a dashboard panel.
type grafanaPanel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
}

func dashboardPanels(t *testing.T) []grafanaPanel {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID        string         `json:"uid"`
		Title      string         `json:"title"`
		Panels     []grafanaPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"list"`
		} `json:"templating"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if d.UID == "" || d.Title == "" || vars["datasource"] != "datasource" || vars["instance"] != "query" {
		t.Errorf("dashboard: uid %q, title %q, variables %v: want a uid, a title, a datasource variable and an instance query", d.UID, d.Title, vars)
	}
	return d.Panels
}

// TestDashboardQueriesParse: every panel of the Grafana dashboard has a
// query on the dashboard's data source variable, and every query is valid
// PromQL: each, with Grafana's variables given values, becomes a recording
// rule that `promtool check rules` parses.
func TestDashboardQueriesParse(t *testing.T) {
	pt := promtool(t)
	ids := map[int]bool{}
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	grafanaVars := strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$instance", ".*")
	for _, p := range dashboardPanels(t) {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 || p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: %d queries, data source %+v: want queries on ${datasource}", p.Title, len(p.Targets), p.Datasource)
		}
		for _, q := range p.Targets {
			if strings.TrimSpace(q.Expr) == "" {
				t.Errorf("panel %q query %s is empty", p.Title, q.RefID)
				continue
			}
			n++
			expr, _ := json.Marshal(grafanaVars.Replace(q.Expr)) // a JSON string is a YAML string
			fmt.Fprintf(&rules, "      - record: dashboard:query_%d\n        expr: %s\n", n, expr)
		}
	}
	if n < 10 {
		t.Fatalf("only %d queries in the dashboard", n)
	}
	f := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(f, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(pt, "check", "rules", f).CombinedOutput(); err != nil {
		t.Errorf("the dashboard's queries do not parse: %v\n%s", err, out)
	}
}

// metricRef finds the names of bucketkey's, Go's and the process's metrics
// in a dashboard or rules file.
var metricRef = regexp.MustCompile(`\b(?:bucketkey|go|process)_[a-z0-9_]*[a-z0-9]\b`)

// TestDashboardMetricsExist scrapes a live proxy (versitygw and local-kms
// behind it, after some traffic and a readiness probe) and checks that
// every metric the dashboard and the alert rules name is in its /metrics:
// a renamed metric would leave a panel empty and an alert silent.
func TestDashboardMetricsExist(t *testing.T) {
	s3p, kmsp := testenv.S3(t), testenv.KMS(t)
	kmsEnv(t)
	r := startServe(t, []string{"--upstream", s3p.URL, "--kms-key-id", testenv.KMSKeyID, "--kms-endpoint", kmsp.URL, "--kms-region", testenv.Region},
		env("BUCKETKEY_UPSTREAM_ACCESS_KEY", testenv.S3AccessKey, "BUCKETKEY_UPSTREAM_SECRET_KEY", testenv.S3SecretKey,
			"BUCKETKEY_CLIENT_ACCESS_KEY", "dash", "BUCKETKEY_CLIENT_SECRET_KEY", "dash-secret-0123456789"))
	c := s3Client(r.listen, "dash", "dash-secret-0123456789", testenv.Region)
	bg := context.Background()
	if _, err := c.CreateBucket(bg, &s3.CreateBucketInput{Bucket: aws.String("dash")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: aws.String("dash"), Key: aws.String("k"), Body: bytes.NewReader(randomBytes(5000))}); err != nil {
		t.Fatal(err)
	}
	getBytes(t, c, &s3.GetObjectInput{Bucket: aws.String("dash"), Key: aws.String("k")})
	if _, err := c.GetObject(bg, &s3.GetObjectInput{Bucket: aws.String("dash"), Key: aws.String("missing")}); err == nil {
		t.Fatal("GET of a missing key succeeded")
	}
	if code := httpStatus(t, r.admin+"/readyz"); code != 200 {
		t.Fatalf("/readyz %d", code)
	}

	exported := map[string]bool{}
	for _, line := range strings.Split(scrape(t, r.admin), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		exported[name] = true
	}
	for _, file := range []string{dashboardFile, rulesFile, rulesTestFile} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		used := map[string]bool{}
		for _, m := range metricRef.FindAllString(string(b), -1) {
			used[m] = true
		}
		if len(used) < 5 {
			t.Errorf("%s names only %d metrics", file, len(used))
		}
		var missing []string
		for m := range used {
			if !exported[m] {
				missing = append(missing, m)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s uses metrics the proxy does not export: %v", filepath.Base(file), missing)
		}
	}
}
