// Package bulk walks every object of a bucket (or a prefix of it) and runs
// one operation per object on a pool of workers, resumably: a small state
// file records the listing marker up to which every object is finished, the
// few finished beyond it, and the failed ones, so that a run that was
// stopped (Ctrl-C, a kill, a crash) continues where it stopped without
// redoing finished objects. It shows progress on a terminal and plain log
// lines otherwise. The bucketkey commands encrypt-existing, rotate and
// verify are built on it.
package bulk

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Object is one listed object.
type Object struct {
	Key  string
	Size int64 // as listed (stored bytes); 0 for a retried object
}

// Lister returns one page of the listing in key order, starting after
// startAfter ("" for the first), and whether more pages follow.
type Lister func(ctx context.Context, startAfter string) (page []Object, more bool, err error)

// Result is what the operation did with one finished object. Outcome
// names it ("encrypted", "skipped", "authenticated", ...); the summary
// counts objects per outcome.
type Result struct {
	Outcome string
	Bytes   int64 // bytes processed, for the rate
	Detail  string
}

// Options configure Run.
type Options struct {
	Command, Bucket, Prefix string
	// StatePath is the state file; "" runs without one (not resumable).
	StatePath   string
	Concurrency int // workers [1]
	List        Lister
	// Do runs the operation on one object. An error fails the object (it is
	// retried by the next run), except when ctx ended: then the object was
	// interrupted and counts as neither.
	Do func(ctx context.Context, o Object) (Result, error)
	// Progress reports while the run goes on; nil reports nothing.
	Progress *Progress
	// OnFail, if set, is called once per failed object.
	OnFail func(key string, err error)
}

// Summary is the outcome of a run.
type Summary struct {
	Counts  map[string]int64  // finished objects by outcome, this run
	Total   map[string]int64  // finished objects by outcome, over every run of this state file
	Failed  map[string]string // objects that failed (key: error), to be retried
	Bytes   int64             // this run
	Elapsed time.Duration
	Resumed bool // a state file was found and continued
	// Complete: every object was listed and finished (or failed). False
	// when the run was interrupted. The next run of a complete walk starts
	// afresh, or retries the failed objects if there are any.
	Complete bool
}

// Objects is the number of objects this run finished.
func (s Summary) Objects() int64 {
	var n int64
	for _, c := range s.Counts {
		n += c
	}
	return n
}

// Run walks the bucket with o.Concurrency workers until every object is
// finished or ctx ends. It returns the summary and an error only for a
// failure of the walk itself (listing, the state file); failed objects are
// in the summary.
func Run(ctx context.Context, o Options) (Summary, error) {
	start := time.Now()
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	st := &State{Command: o.Command, Bucket: o.Bucket, Prefix: o.Prefix, Counts: map[string]int64{}}
	resumed := false
	if o.StatePath != "" {
		loaded, err := LoadState(o.StatePath, o.Command, o.Bucket, o.Prefix)
		if err != nil {
			return Summary{}, err
		}
		// A complete walk starts afresh, unless objects failed: then
		// they are retried (and anything listed after the marker done).
		if loaded != nil && (!loaded.Complete || len(loaded.Failed) > 0) {
			st, resumed = loaded, true
			st.Complete = false
		}
	}
	w := newWalk(st, o)
	if o.Progress != nil {
		o.Progress.start(w)
	}
	err := w.run(ctx)
	if o.Progress != nil {
		o.Progress.stop()
	}
	if serr := w.save(); serr != nil && err == nil {
		err = serr
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	sum := Summary{
		Counts: w.counts, Total: st.Counts, Failed: st.Failed,
		Bytes: w.bytes, Elapsed: time.Since(start), Resumed: resumed, Complete: st.Complete,
	}
	return sum, err
}

// walk is one run's shared bookkeeping.
type walk struct {
	o  Options
	st *State

	mu sync.Mutex
	// queue holds the listed keys not yet behind the marker, in order;
	// finished[key] marks those finished (or failed) out of order.
	queue    []string
	finished map[string]bool
	retry    map[string]bool // failed keys of an earlier run, retried first
	counts   map[string]int64
	bytes    int64
	listed   int64 // objects listed this run (after the marker)
	listDone bool
	inflight int
	dirty    chan struct{}
}

func newWalk(st *State, o Options) *walk {
	w := &walk{
		o: o, st: st,
		finished: map[string]bool{},
		retry:    map[string]bool{},
		counts:   map[string]int64{},
		dirty:    make(chan struct{}, 1),
	}
	for _, k := range st.After {
		w.finished[k] = true
	}
	for k := range st.Failed {
		w.retry[k] = true
	}
	return w
}

func (w *walk) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan Object)
	var wg sync.WaitGroup
	for range w.o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for obj := range jobs {
				w.do(ctx, obj)
			}
		}()
	}
	saverDone := make(chan struct{})
	go func() {
		defer close(saverDone)
		w.saver(ctx)
	}()

	err := w.dispatch(ctx, jobs)
	close(jobs)
	wg.Wait()
	interrupted := ctx.Err() != nil
	cancel()
	<-saverDone
	if err == nil && !interrupted {
		w.mu.Lock()
		w.st.Complete = len(w.queue) == 0
		w.mu.Unlock()
	}
	return err
}

// dispatch feeds the workers: the retried keys first, then the listing
// from the marker.
func (w *walk) dispatch(ctx context.Context, jobs chan<- Object) error {
	send := func(obj Object) bool {
		select {
		case jobs <- obj:
			return true
		case <-ctx.Done():
			return false
		}
	}
	retry := make([]string, 0, len(w.retry))
	for k := range w.retry {
		retry = append(retry, k)
	}
	sort.Strings(retry)
	for _, k := range retry {
		if !send(Object{Key: k}) {
			return nil
		}
	}
	after := w.st.Marker
	for {
		page, more, err := w.o.List(ctx, after)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("bulk: listing s3://%s/%s after %q: %w", w.o.Bucket, w.o.Prefix, after, err)
		}
		for _, obj := range page {
			after = obj.Key
			w.mu.Lock()
			skip := w.finished[obj.Key] || w.retry[obj.Key]
			w.queue = append(w.queue, obj.Key)
			w.listed++
			if skip {
				w.finished[obj.Key] = true // already done, or retried above
			}
			w.mu.Unlock()
			if skip {
				w.advance()
				continue
			}
			if !send(obj) {
				return nil
			}
		}
		if !more || len(page) == 0 {
			w.mu.Lock()
			w.listDone = true
			w.mu.Unlock()
			w.advance()
			return nil
		}
	}
}

// do runs the operation on one object and records its outcome.
func (w *walk) do(ctx context.Context, obj Object) {
	w.mu.Lock()
	w.inflight++
	w.mu.Unlock()
	res, err := w.o.Do(ctx, obj)
	w.mu.Lock()
	w.inflight--
	if err != nil && ctx.Err() != nil {
		// Interrupted: neither finished nor failed; the next run redoes it.
		w.mu.Unlock()
		return
	}
	wasRetry := w.retry[obj.Key]
	delete(w.retry, obj.Key)
	if err != nil {
		if w.st.Failed == nil {
			w.st.Failed = map[string]string{}
		}
		w.st.Failed[obj.Key] = err.Error()
		w.counts["failed"]++
	} else {
		delete(w.st.Failed, obj.Key)
		w.counts[res.Outcome]++
		w.st.Counts[res.Outcome]++
		w.bytes += res.Bytes
		w.st.Bytes += res.Bytes
	}
	if !wasRetry {
		w.finished[obj.Key] = true
	}
	w.mu.Unlock()
	if err != nil && w.o.OnFail != nil {
		w.o.OnFail(obj.Key, err)
	}
	w.advance()
}

// advance moves the marker over the finished keys at the head of the
// queue and asks the saver to write the state.
func (w *walk) advance() {
	w.mu.Lock()
	i := 0
	for i < len(w.queue) && w.finished[w.queue[i]] {
		w.st.Marker = w.queue[i]
		delete(w.finished, w.queue[i])
		i++
	}
	w.queue = w.queue[i:]
	w.mu.Unlock()
	select {
	case w.dirty <- struct{}{}:
	default:
	}
}

// saver writes the state file whenever something finished, coalescing
// bursts, until ctx ends (Run writes the final state).
func (w *walk) saver(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.dirty:
			if err := w.save(); err != nil && w.o.OnFail != nil {
				w.o.OnFail("(state file)", err)
			}
		}
	}
}

// save writes the state as it is now.
func (w *walk) save() error {
	if w.o.StatePath == "" {
		return nil
	}
	w.mu.Lock()
	w.st.After = w.st.After[:0]
	for k := range w.finished {
		w.st.After = append(w.st.After, k)
	}
	snap := *w.st
	snap.After = append([]string(nil), w.st.After...)
	snap.Counts = make(map[string]int64, len(w.st.Counts))
	for k, v := range w.st.Counts {
		snap.Counts[k] = v
	}
	snap.Failed = make(map[string]string, len(w.st.Failed))
	for k, v := range w.st.Failed {
		snap.Failed[k] = v
	}
	w.mu.Unlock()
	return snap.Save(w.o.StatePath)
}

// snapshot is what progress shows.
type snapshot struct {
	done, failed, listed, bytes int64
	listDone                    bool
}

func (w *walk) snapshot() snapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	var done int64
	for k, c := range w.counts {
		if k != "failed" {
			done += c
		}
	}
	return snapshot{done: done, failed: w.counts["failed"], listed: w.listed, bytes: w.bytes, listDone: w.listDone}
}

// ErrInterrupted is returned by commands built on Run when ctx ended
// before the walk was complete.
var ErrInterrupted = errors.New("bulk: interrupted; run the same command again to continue")
