package main

import (
	"os/exec"
	"testing"
)

// TestExamplesLint runs yamllint over examples/ (the Kubernetes manifest and
// the compose file). yamllint comes from Debian's packages via
// scripts/test.sh; a missing linter fails the test rather than skipping it.
func TestExamplesLint(t *testing.T) {
	yamllint, err := exec.LookPath("yamllint")
	if err != nil {
		t.Fatal("yamllint is not installed; run scripts/test.sh (or apt-get install yamllint)")
	}
	cfg := `{extends: default, rules: {line-length: {max: 160}, document-start: disable}}`
	out, err := exec.Command(yamllint, "--strict", "-d", cfg, "../../examples").CombinedOutput()
	if err != nil {
		t.Errorf("yamllint examples/: %v\n%s", err, out)
	}
}
