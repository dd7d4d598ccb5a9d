package bulk

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
)

// sliceLister lists keys from a sorted slice, as ListObjectsV2 with
// StartAfter would.
func sliceLister(keys []string, pageSize int) Lister {
	return func(_ context.Context, after string) ([]Object, bool, error) {
		i := sort.SearchStrings(keys, after)
		if i < len(keys) && keys[i] == after {
			i++
		}
		j := min(i+pageSize, len(keys))
		var page []Object
		for _, k := range keys[i:j] {
			page = append(page, Object{Key: k, Size: 10})
		}
		return page, j < len(keys), nil
	}
}

func TestRunResumesWithoutRedoing(t *testing.T) {
	var keys []string
	for i := range 1000 {
		keys = append(keys, fmt.Sprintf("k%05d", i))
	}
	state := filepath.Join(t.TempDir(), "state.json")
	var mu sync.Mutex
	seen := map[string]int{}
	failOnce := map[string]bool{"k00500": true, "k00007": true}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopAt := 400
	// The other objects wait until k00007 has failed once: its worker can
	// otherwise lose the race for mu until 400 others are done (a run
	// takes well under the millisecond after which a Go mutex hands off
	// fairly), and k00007, interrupted, would fail in the second run.
	failed7 := make(chan struct{})
	do := func(ctx context.Context, o Object) (Result, error) {
		if o.Key != "k00007" {
			select {
			case <-failed7:
			case <-ctx.Done():
				return Result{}, ctx.Err()
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		if failOnce[o.Key] {
			delete(failOnce, o.Key)
			if o.Key == "k00007" {
				close(failed7)
			}
			return Result{}, errors.New("boom")
		}
		seen[o.Key]++
		if len(seen) == stopAt {
			cancel()
		}
		return Result{Outcome: "done", Bytes: 10}, nil
	}
	opts := Options{Command: "test", Bucket: "b", StatePath: state, Concurrency: 8, List: sliceLister(keys, 37), Do: do}
	s1, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if s1.Complete {
		t.Fatal("first run claims complete")
	}
	s2, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !s2.Complete || len(s2.Failed) != 1 {
		t.Fatalf("second run: complete %v, failed %v", s2.Complete, s2.Failed)
	}
	// The third run retries the failed object only.
	s3, err := Run(context.Background(), opts)
	if err != nil || !s3.Resumed || s3.Counts["done"] != 1 || len(s3.Failed) != 0 {
		t.Fatalf("third run: %v resumed %v counts %v failed %v", err, s3.Resumed, s3.Counts, s3.Failed)
	}
	for _, k := range keys {
		if seen[k] != 1 {
			t.Errorf("%s done %d times", k, seen[k])
		}
	}
	if got := s3.Total["done"]; got != 1000 {
		t.Errorf("total done %d, want 1000", got)
	}
	if s1.Counts["done"]+s2.Counts["done"]+s3.Counts["done"] != 1000 {
		t.Errorf("runs did %d + %d + %d", s1.Counts["done"], s2.Counts["done"], s3.Counts["done"])
	}
	// A run over a complete state without failures starts afresh.
	s4, err := Run(context.Background(), opts)
	if err != nil || s4.Resumed || s4.Counts["done"] != 1000 {
		t.Fatalf("fourth run: %v resumed %v done %d", err, s4.Resumed, s4.Counts["done"])
	}
}

func TestStateBelongsToOneWalk(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	if err := (&State{Command: "verify", Bucket: "a"}).Save(state); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(state, "verify", "b", ""); err == nil {
		t.Fatal("state of bucket a accepted for bucket b")
	}
}

func TestLine(t *testing.T) {
	for _, tc := range []struct {
		done, failed, listed int64
		listDone             bool
		want                 string
	}{
		{5, 0, 10, true, "[============            ] 5/10 objects  100 B  5 obj/s  100 B/s  ETA 1s"},
		{5, 1, 10, false, "6/10+ objects (1 failed)  100 B  6 obj/s  100 B/s"},
	} {
		if got := Line(tc.done, tc.failed, tc.listed, tc.listDone, 100, 1e9); got != tc.want {
			t.Errorf("Line = %q, want %q", got, tc.want)
		}
	}
}
