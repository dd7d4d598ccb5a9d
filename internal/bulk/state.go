package bulk

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// State is what a run leaves on disk so that the next run continues where
// it stopped: every key up to and including Marker is finished (in listing
// order), and so is every key in After; Failed keys are retried first.
// It is small whatever the bucket: After holds at most the keys finished
// out of order by concurrent workers.
type State struct {
	Command string `json:"command"`
	Bucket  string `json:"bucket"`
	Prefix  string `json:"prefix"`
	// Marker is the listing's StartAfter for the next run.
	Marker string   `json:"marker"`
	After  []string `json:"finished_after_marker,omitempty"`
	// Failed are objects that failed (not finished): the next run retries
	// them before it goes on from Marker.
	Failed map[string]string `json:"failed,omitempty"`
	// Counts are the finished objects by outcome, over every run.
	Counts map[string]int64 `json:"counts"`
	Bytes  int64            `json:"bytes"`
	// Complete is set when a run listed and finished every object.
	Complete bool `json:"complete"`
}

// LoadState reads the state file at path. A missing file is a fresh start
// (nil, nil). A file of another command, bucket or prefix is an error, so
// that one state file is never applied to another walk.
//
// It first removes the temporary files a run killed inside Save left
// beside path (tempPattern): they are never read, and would accumulate.
func LoadState(path, command, bucket, prefix string) (*State, error) {
	removeStrayTemps(path)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bulk: state file: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("bulk: state file %s: %w", path, err)
	}
	if s.Command != command || s.Bucket != bucket || s.Prefix != prefix {
		return nil, fmt.Errorf("bulk: state file %s belongs to %s s3://%s/%s; remove it or name another with --state", path, s.Command, s.Bucket, s.Prefix)
	}
	if s.Counts == nil {
		s.Counts = map[string]int64{}
	}
	return &s, nil
}

// Save writes s to path atomically (a temporary file renamed over it), so a
// kill at any moment leaves either the old state or the new one.
func (s *State) Save(path string) error {
	sort.Strings(s.After)
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), tempPattern(path))
	if err != nil {
		return fmt.Errorf("bulk: state file: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("bulk: state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("bulk: state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("bulk: state file: %w", err)
	}
	return nil
}

// tempPattern names Save's temporary files for the state file at path:
// hidden, beside it, and named after it, so that a start removes only its
// own state file's leftovers, never a temporary file another walk (with
// another state file in the same directory) is writing.
func tempPattern(path string) string {
	return ".bulk-state-" + filepath.Base(path) + "-*"
}

// removeStrayTemps removes Save's temporary files for path, left by a run
// killed between writing one and renaming it over path. Failures are
// ignored: a stray file costs disk space, not correctness.
func removeStrayTemps(path string) {
	// The state file's own name may hold glob metacharacters: escape them.
	name := globEscape.Replace(filepath.Base(path))
	stray, err := filepath.Glob(filepath.Join(filepath.Dir(path), ".bulk-state-"+name+"-*"))
	if err != nil {
		return
	}
	for _, f := range stray {
		os.Remove(f)
	}
}

// globEscape escapes the metacharacters of filepath.Match.
var globEscape = strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`)
