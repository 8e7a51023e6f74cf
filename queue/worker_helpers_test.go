package queue_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/internal/fakeclock"
	"github.com/droverhq/drover/queue"
)

// recorder wraps a store, records the leases, renewals and settlements that
// pass through it, and can inject failures.
type recorder struct {
	backend.Backend
	clock backend.Clock

	mu          sync.Mutex
	leases      []leaseCall
	renews      []renewCall
	settled     []backend.Settlement
	tokens      map[string][]string // job ID → lease tokens, in lease order
	onLease     func(req *backend.LeaseRequest)
	onRenew     func(req *backend.RenewRequest) // runs before the store's Renew
	leaseStarts atomic.Int32                    // Lease calls begun
	loseAll     atomic.Bool                     // Renew reports every lease lost
	failLeases  atomic.Int32                    // the next n Lease calls fail with ErrUnavailable
	failSettles atomic.Int32                    // the next n Settle calls fail with ErrUnavailable
}

// take reports whether an injected failure is due, and counts it off.
func take(n *atomic.Int32) bool {
	for {
		v := n.Load()
		if v <= 0 {
			return false
		}
		if n.CompareAndSwap(v, v-1) {
			return true
		}
	}
}

type leaseCall struct {
	max, got int
}

type renewCall struct {
	at     time.Time
	leases []backend.Lease
}

func (r *recorder) Lease(ctx context.Context, q string, req *backend.LeaseRequest) (backend.LeaseResult, error) {
	r.leaseStarts.Add(1)
	if r.onLease != nil {
		r.onLease(req)
	}
	if take(&r.failLeases) {
		return backend.LeaseResult{}, backend.ErrUnavailable
	}
	res, err := r.Backend.Lease(ctx, q, req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.leases = append(r.leases, leaseCall{max: req.Max, got: len(res.Jobs)})
	for _, j := range res.Jobs {
		r.tokens[j.ID] = append(r.tokens[j.ID], j.Lease.Token)
	}
	return res, err
}

func (r *recorder) Renew(ctx context.Context, q string, req *backend.RenewRequest) (backend.RenewResult, error) {
	r.mu.Lock()
	// The time the worker chose to renew, not when the call arrived.
	r.renews = append(r.renews, renewCall{at: req.From(r.clock.Now()), leases: slices.Clone(req.Leases)})
	r.mu.Unlock()
	if r.onRenew != nil {
		r.onRenew(req)
	}
	if r.loseAll.Load() {
		return backend.RenewResult{Lost: slices.Clone(req.Leases)}, nil
	}
	return r.Backend.Renew(ctx, q, req)
}

func (r *recorder) Settle(ctx context.Context, q string, req *backend.SettleRequest) (backend.SettleResult, error) {
	if take(&r.failSettles) {
		return backend.SettleResult{}, backend.ErrUnavailable
	}
	res, err := r.Backend.Settle(ctx, q, req)
	if err == nil {
		r.mu.Lock()
		r.settled = append(r.settled, req.Settlements...)
		r.mu.Unlock()
	}
	return res, err
}

// renewalsOf returns the times at which lease token was renewed.
func (r *recorder) renewalsOf(token string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Time
	for _, c := range r.renews {
		for _, l := range c.leases {
			if l.Token == token {
				out = append(out, c.at)
			}
		}
	}
	return out
}

func (r *recorder) tokensOf(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.tokens[id])
}

func (r *recorder) leaseCalls() []leaseCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.leases)
}

func (r *recorder) settledWith(token string) []backend.Settlement {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []backend.Settlement
	for _, s := range r.settled {
		if s.Lease.Token == token {
			out = append(out, s)
		}
	}
	return out
}

var wenvStart = time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)

// wenv is a queue on a fresh bbolt store with a fake clock, seen through a
// recorder.
type wenv struct {
	t     *testing.T
	ctx   context.Context
	clock *fakeclock.Clock
	rec   *recorder
	q     *queue.Queue
}

func newWenv(t *testing.T) *wenv {
	t.Helper()
	clock := fakeclock.New(wenvStart)
	store, err := bolt.Open(filepath.Join(t.TempDir(), "drover.db"), &bolt.Options{Clock: clock, NoSync: true})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	rec := &recorder{Backend: store, clock: clock, tokens: make(map[string][]string)}
	q, err := queue.New(rec, "work", &queue.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return &wenv{t: t, ctx: context.Background(), clock: clock, rec: rec, q: q}
}

// start starts a worker on the queue and stops it when the test ends.
func (e *wenv) start(h queue.Handler, opts *queue.WorkerOptions) *queue.Worker {
	e.t.Helper()
	w := e.worker(h, opts)
	if err := w.Start(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { e.stop(w) })
	return w
}

// worker returns a worker on the queue, with the env's clock.
func (e *wenv) worker(h queue.Handler, opts *queue.WorkerOptions) *queue.Worker {
	e.t.Helper()
	var o queue.WorkerOptions
	if opts != nil {
		o = *opts
	}
	o.Clock = e.clock
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	w, err := queue.NewWorker(e.rec, e.q.Name(), h, &o)
	if err != nil {
		e.t.Fatalf("NewWorker: %v", err)
	}
	return w
}

// stop stops w, moving the clock on so that the shutdown timeout can pass.
func (e *wenv) stop(w *queue.Worker) {
	e.t.Helper()
	done := make(chan error, 1)
	go func() { done <- w.Stop(context.Background()) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("Stop: %v", err)
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatal("worker did not stop")
		}
		e.clock.Advance(time.Second)
		time.Sleep(time.Millisecond)
	}
}

func (e *wenv) add(name string, opts *queue.AddOptions) *queue.Job {
	e.t.Helper()
	j, err := e.q.Add(e.ctx, name, nil, opts)
	if err != nil {
		e.t.Fatalf("add: %v", err)
	}
	return j
}

func (e *wenv) job(id string) *queue.Job {
	e.t.Helper()
	j, err := e.q.Job(e.ctx, id)
	if err != nil {
		e.t.Fatalf("job %s: %v", id, err)
	}
	return j
}

// waitState waits until job id is in state, and returns it.
func (e *wenv) waitState(id string, state queue.JobState) *queue.Job {
	e.t.Helper()
	var j *queue.Job
	waitFor(e.t, "job "+id+" "+string(state), func() bool {
		j = e.job(id)
		return j.State == state
	})
	return j
}

// advanceUntil moves the clock on by step until cond holds, failing the
// test if that takes more than limit of clock time.
func (e *wenv) advanceUntil(what string, step, limit time.Duration, cond func() bool) {
	e.t.Helper()
	end := e.clock.Now().Add(limit)
	waitFor(e.t, what, func() bool {
		if cond() {
			return true
		}
		if e.clock.Now().Before(end) {
			e.clock.Advance(step)
		}
		return false
	})
}

// waitFor polls cond until it holds, for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(200 * time.Microsecond)
	}
}

// recv waits for a value on ch, for up to 10 seconds.
func recv[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

var errBoom = errors.New("boom")

// settledFor returns the settlements that reached the store for job id.
func (r *recorder) settledFor(id string) []backend.Settlement {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []backend.Settlement
	for _, s := range r.settled {
		if s.Lease.JobID == id {
			out = append(out, s)
		}
	}
	return out
}
