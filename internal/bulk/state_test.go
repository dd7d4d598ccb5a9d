package bulk

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLoadStateRemovesStrayTemps: a run killed between Save's write of its
// temporary file and the rename leaves the file behind; the next start
// (LoadState) removes it, and leaves other files alone, another state
// file's temporary file included.
func TestLoadStateRemovesStrayTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "walk[1].state") // a name with glob metacharacters
	st := &State{Command: "verify", Bucket: "b", Counts: map[string]int64{"ok": 1}}
	if err := st.Save(path); err != nil {
		t.Fatal(err)
	}
	// What a kill inside Save leaves: a temporary file of the same name
	// pattern Save uses.
	stray, err := os.CreateTemp(dir, tempPattern(path))
	if err != nil {
		t.Fatal(err)
	}
	stray.Close()
	other, err := os.CreateTemp(dir, tempPattern(filepath.Join(dir, "other.state")))
	if err != nil {
		t.Fatal(err)
	}
	other.Close()

	got, err := LoadState(path, "verify", "b", "")
	if err != nil || got == nil || got.Counts["ok"] != 1 {
		t.Fatalf("LoadState: %+v, %v", got, err)
	}
	if _, err := os.Stat(stray.Name()); !os.IsNotExist(err) {
		t.Errorf("stray temporary file still there: %v", err)
	}
	for _, keep := range []string{path, other.Name()} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("%s removed: %v", keep, err)
		}
	}
	// A fresh start (no state file yet) cleans up too.
	fresh := filepath.Join(dir, "fresh.state")
	f, _ := os.CreateTemp(dir, tempPattern(fresh))
	f.Close()
	if st, err := LoadState(fresh, "verify", "b", ""); st != nil || err != nil {
		t.Fatalf("fresh start: %+v, %v", st, err)
	}
	if _, err := os.Stat(f.Name()); !os.IsNotExist(err) {
		t.Errorf("stray temporary file of a fresh start still there: %v", err)
	}
}
