package drovertest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/queue"
)

// TB is what drovertest needs of a test. *testing.T, *testing.B and
// *testing.F have it.
type TB interface {
	Cleanup(f func())
	Context() context.Context
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Helper()
	TempDir() string
}

// maxRuns bounds the jobs one RunReady or RunFor call runs, so that
// handlers that add jobs without end fail the test instead of hanging it.
const maxRuns = 10_000

// StoreOptions configure NewStore. The zero value is ready to use.
type StoreOptions struct {
	// Clock is the store's clock. Defaults to the system clock.
	Clock backend.Clock
	// Logger receives the store's logs. Defaults to a logger that
	// discards them.
	Logger *slog.Logger
}

// NewStore returns an empty bbolt store in a file in t's temporary
// directory, closed when the test ends. It skips the fsync of each commit,
// which a test does not need, so that it is about as fast as a store in
// memory. opts may be nil.
func NewStore(t TB, opts *StoreOptions) backend.Full {
	t.Helper()
	var o StoreOptions
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = discard()
	}
	store, err := bolt.Open(filepath.Join(t.TempDir(), "drover.db"), &bolt.Options{Clock: o.Clock, Logger: o.Logger, NoSync: true})
	if err != nil {
		t.Fatalf("drovertest: open a store: %v", err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("drovertest: close the store: %v", err)
		}
	})
	return store
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Options configure New. The zero value is ready to use.
type Options struct {
	// Start is the time the Env's clock reads at first. Defaults to
	// 2030-01-01 00:00 UTC.
	Start time.Time
	// Store is the store to test with, such as a Redis store; it must take
	// its time from Clock. Defaults to a new store from NewStore.
	Store backend.Full
	// Clock is the Env's clock. Defaults to a new Clock at Start; it must
	// be set when Store is.
	Clock *Clock
}

// Env is a store and a fake clock for one test, and a runner of jobs on
// the test's goroutine. Make one with New.
type Env struct {
	// Clock is the clock of the store, and of the queues and workers the
	// Env makes.
	Clock *Clock
	// Store is the store.
	Store backend.Full

	t TB
}

// New returns an Env for the test t. opts may be nil.
func New(t TB, opts *Options) *Env {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.Clock == nil {
		if o.Store != nil {
			t.Fatalf("drovertest: Options.Store is set without the Clock it uses")
		}
		o.Clock = NewClock(o.Start)
	}
	if o.Store == nil {
		o.Store = NewStore(t, &StoreOptions{Clock: o.Clock})
	}
	return &Env{Clock: o.Clock, Store: o.Store, t: t}
}

// Queue returns a handle on the queue called name, with the Env's clock.
func (e *Env) Queue(name string) *queue.Queue {
	e.t.Helper()
	q, err := queue.New(e.Store, name, &queue.Options{Clock: e.Clock, Logger: discard()})
	if err != nil {
		e.t.Fatalf("drovertest: queue %q: %v", name, err)
	}
	return q
}

// Worker returns a worker of the queue called name with h, for the Env's
// run methods. It takes the Env's clock whatever opts say, and a logger
// that discards unless opts give one; opts may be nil. A worker the test
// starts is stopped when the test ends. For a worker of several queues,
// call queue.NewMultiWorker with the Env's Store and Clock; the run
// methods take any worker on the Env's clock.
func (e *Env) Worker(name string, h queue.Handler, opts *queue.WorkerOptions) *queue.Worker {
	e.t.Helper()
	var o queue.WorkerOptions
	if opts != nil {
		o = *opts
	}
	o.Clock = e.Clock
	if o.Logger == nil {
		o.Logger = discard()
	}
	w, err := queue.NewWorker(e.Store, name, h, &o)
	if err != nil {
		e.t.Fatalf("drovertest: worker of %q: %v", name, err)
	}
	e.t.Cleanup(func() { e.stop(w) })
	return w
}

// stop stops w if the test started it, moving the clock on meanwhile so
// that the worker's shutdown timeout can pass.
func (e *Env) stop(w *queue.Worker) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Stop(ctx) }()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("drovertest: stop worker %s: %v", w.Name(), err)
			}
			return
		case <-tick.C:
			e.Clock.Advance(time.Second)
		}
	}
}

// RunNext runs the next job of w's queues with w.RunNext, and returns it
// as its attempt left it. When no job is ready it first moves the clock on
// to the time the earliest delayed job falls due (a delay, a retry's
// backoff, a scheduler's next run, the end of a hold or the next start a
// rate limit allows). It returns nil when no job is waiting
// or delayed. Any other failure fails the test.
func (e *Env) RunNext(w *queue.Worker) *queue.Job {
	e.t.Helper()
	if j := e.runNow(w); j != nil {
		return j
	}
	next, ok := e.nextDue(w)
	if !ok || !next.After(e.Clock.Now()) {
		return nil
	}
	e.Clock.Set(next)
	return e.runNow(w)
}

// RunReady runs the jobs of w's queues that are ready, and those they make
// ready, until none is; the clock stands still. It returns the jobs in the
// order they ran.
func (e *Env) RunReady(w *queue.Worker) []*queue.Job {
	e.t.Helper()
	var ran []*queue.Job
	for {
		j := e.runNow(w)
		if j == nil {
			return ran
		}
		ran = append(ran, j)
		e.checkRuns(len(ran))
	}
}

// RunFor runs the jobs of w's queues that are ready or fall due within d of
// clock time, moving the clock on to each due time in turn and, at the
// end, to d from where it started. It returns the jobs in the order they
// ran; a job that ran more than once (a retry) is there each time.
func (e *Env) RunFor(w *queue.Worker, d time.Duration) []*queue.Job {
	e.t.Helper()
	end := e.Clock.Now().Add(d)
	var ran []*queue.Job
	for {
		if j := e.runNow(w); j != nil {
			ran = append(ran, j)
			e.checkRuns(len(ran))
			continue
		}
		next, ok := e.nextDue(w)
		if !ok || next.After(end) || !next.After(e.Clock.Now()) {
			break
		}
		e.Clock.Set(next)
	}
	e.Clock.Set(end)
	return ran
}

func (e *Env) runNow(w *queue.Worker) *queue.Job {
	e.t.Helper()
	j, err := w.RunNext(e.t.Context())
	if err != nil {
		e.t.Fatalf("drovertest: run the next job: %v", err)
	}
	return j
}

func (e *Env) checkRuns(n int) {
	e.t.Helper()
	if n >= maxRuns {
		e.t.Fatalf("drovertest: ran %d jobs and more are ready: do handlers add jobs without end?", n)
	}
}

// nextDue returns the earliest time a delayed job of w's queues falls due.
func (e *Env) nextDue(w *queue.Worker) (time.Time, bool) {
	e.t.Helper()
	var next time.Time
	for _, name := range w.Queues() {
		jobs, err := e.Queue(name).Jobs(e.t.Context(), queue.StateDelayed, queue.Page{Limit: 1})
		if err != nil {
			e.t.Fatalf("drovertest: delayed jobs of %s: %v", name, err)
		}
		if len(jobs) > 0 && (next.IsZero() || jobs[0].RunAt.Before(next)) {
			next = jobs[0].RunAt
		}
		// Waiting jobs that the queue's limits keep back (a hold, the
		// rate limit) are due when the limits next allow a start.
		lim, err := e.Queue(name).Limits(e.t.Context())
		if errors.Is(err, queue.ErrUnsupported) {
			continue // a store without limits
		}
		if err != nil {
			e.t.Fatalf("drovertest: limits of %s: %v", name, err)
		}
		for _, at := range []time.Time{lim.HeldUntil, lim.NextStart} {
			if !at.IsZero() && (next.IsZero() || at.Before(next)) {
				next = at
			}
		}
	}
	return next, !next.IsZero()
}
