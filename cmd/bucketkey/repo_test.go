package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// buildCommand is the one way to build bucketkey: the README documents it
// and the Dockerfile runs it, so an image is built as a reader would build
// the binary (no Docker engine runs in CI to check the image itself).
const buildCommand = "CGO_ENABLED=0 go build -trimpath -o bucketkey ./cmd/bucketkey"

func TestDockerfileBuildsLikeTheReadme(t *testing.T) {
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "\n"+buildCommand+"\n") {
		t.Errorf("README.md lacks the build command %q on a line of its own", buildCommand)
	}
	var runs []string
	for _, line := range strings.Split(string(dockerfile), "\n") {
		if cmd, ok := strings.CutPrefix(line, "RUN "); ok && strings.Contains(cmd, "go build") {
			runs = append(runs, cmd)
		}
	}
	if len(runs) != 1 || runs[0] != buildCommand {
		t.Errorf("Dockerfile go build steps %q, want exactly %q", runs, buildCommand)
	}
	// A multi-stage build onto a minimal base, as a non-root user.
	if n := len(regexp.MustCompile(`(?m)^FROM `).FindAllString(string(dockerfile), -1)); n < 2 {
		t.Errorf("Dockerfile has %d stages, want a multi-stage build", n)
	}
	if !regexp.MustCompile(`(?m)^FROM gcr\.io/distroless/static\S*:nonroot$`).Match(dockerfile) {
		t.Errorf("final stage is not distroless/static:nonroot")
	}
	if !regexp.MustCompile(`(?m)^USER [1-9][0-9]*(:[1-9][0-9]*)?$`).Match(dockerfile) {
		t.Errorf("Dockerfile does not switch to a numeric non-root USER")
	}
}

// TestReadmeListsEveryFuzzTarget keeps the README's fuzzing section in step
// with the tree: every FuzzXxx function has its `go test -fuzz` line.
func TestReadmeListsEveryFuzzTarget(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	fuzz := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(\w+ \*testing\.F\)`)
	root := "../.."
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "tools") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pkg, _ := filepath.Rel(root, filepath.Dir(path))
		for _, m := range fuzz.FindAllSubmatch(src, -1) {
			line := "go test -fuzz=" + string(m[1]) + " ./" + filepath.ToSlash(pkg) + "\n"
			if !strings.Contains(string(readme), line) {
				t.Errorf("README.md lacks %q", strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
