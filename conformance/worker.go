package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// renewLog is a store that records every Renew call with the store clock's
// time.
type renewLog struct {
	backend.Full
	clock backend.Clock

	mu     sync.Mutex
	renews []renewCall
}

type renewCall struct {
	at     time.Time
	leases []backend.Lease
}

func (r *renewLog) Renew(ctx context.Context, q string, req *backend.RenewRequest) (backend.RenewResult, error) {
	r.mu.Lock()
	// The time the worker chose to renew, not when the call arrived.
	r.renews = append(r.renews, renewCall{at: req.From(r.clock.Now()), leases: slices.Clone(req.Leases)})
	r.mu.Unlock()
	return r.Full.Renew(ctx, q, req)
}

// renewsOf returns the times at which job id's lease was renewed.
func (r *renewLog) renewsOf(id string) []time.Time {
	return r.renewsWhere(func(l backend.Lease) bool { return l.JobID == id })
}

// renewsOfLease returns the times at which the lease with the given token
// was renewed.
func (r *renewLog) renewsOfLease(token string) []time.Time {
	return r.renewsWhere(func(l backend.Lease) bool { return l.Token == token })
}

// renewsWhere returns the times of the renewals that carried a lease
// matching match.
func (r *renewLog) renewsWhere(match func(backend.Lease) bool) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Time
	for _, c := range r.renews {
		if slices.ContainsFunc(c.leases, match) {
			out = append(out, c.at)
		}
	}
	return out
}

// startWorker runs a worker on the store until the case ends.
func (b *testBundle) startWorker(store backend.Backend, h queue.Handler, o queue.WorkerOptions) *queue.Worker {
	b.t.Helper()
	return b.startMultiWorker(store, []queue.WorkerQueue{{Name: b.q}}, h, o)
}

// stopWorker stops w, moving the clock along so that its shutdown timeout
// can pass.
func (b *testBundle) stopWorker(w *queue.Worker) {
	done := make(chan error, 1)
	go func() { done <- w.Stop(context.Background()) }()
	ok := poll(deadline, func() bool {
		select {
		case <-w.Stopped():
			return true
		default:
			b.clock.Advance(100 * time.Millisecond)
			return false
		}
	})
	if !ok {
		b.t.Errorf("worker did not stop")
	}
}

// drive moves the clock by step until cond holds, failing the case after
// the real-time deadline.
func (b *testBundle) drive(step time.Duration, cond func() bool) {
	b.t.Helper()
	waitFor(b.t, deadline, func() bool {
		if cond() {
			return true
		}
		b.clock.Advance(step)
		return false
	})
}

// isState reports whether job id is in state s now.
func (b *testBundle) isState(id string, s backend.JobState) bool {
	j, err := b.store.Job(context.Background(), b.q, id)
	return err == nil && j.State == s
}

func testWorker(t *testing.T, f Factory) {
	t.Run("a worker retries a failing job with backoff until it completes", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		var calls atomic.Int32
		id := b.addOne(backend.NewJob{Name: "flaky", Attempts: 3, Backoff: backend.Backoff{Type: backend.BackoffFixed, Delay: 5 * time.Second}})
		b.startWorker(b.store, func(ctx context.Context, j *queue.Job) ([]byte, error) {
			if n := calls.Add(1); n < 3 {
				return nil, fmt.Errorf("try %d failed", n)
			}
			return []byte("third time"), nil
		}, queue.WorkerOptions{})
		b.drive(500*time.Millisecond, func() bool { return b.isState(id, backend.StateCompleted) })
		j := b.job(id)
		if j.AttemptsMade != 3 || string(j.Result) != "third time" || calls.Load() != 3 {
			t.Errorf("job: attempts %d result %q, handler ran %d times", j.AttemptsMade, j.Result, calls.Load())
		}
		var retries int
		for _, e := range b.events(b.q, 0) {
			if e.JobID == id && e.Type == backend.EventRetrying {
				retries++
			}
			if e.JobID == id && e.Type == backend.EventDelayed && e.RunAt.Sub(e.Time) != 5*time.Second {
				t.Errorf("retry delayed to %v at %v, want the 5s backoff", e.RunAt, e.Time)
			}
		}
		if retries != 2 {
			t.Errorf("%d retrying events, want 2", retries)
		}
	})

	t.Run("a worker fails a job whose handler keeps failing once attempts run out", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "doomed", Attempts: 2})
		b.startWorker(b.store, func(ctx context.Context, j *queue.Job) ([]byte, error) {
			return nil, errors.New("always")
		}, queue.WorkerOptions{})
		b.drive(500*time.Millisecond, func() bool { return b.isState(id, backend.StateFailed) })
		if j := b.job(id); j.AttemptsMade != 2 {
			t.Errorf("AttemptsMade = %d, want 2", j.AttemptsMade)
		}
	})

	t.Run("a handler that respects its timeout fails the attempt", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "slow", Attempts: 2, Timeout: 5 * time.Second})
		b.startWorker(b.store, func(ctx context.Context, j *queue.Job) ([]byte, error) {
			<-ctx.Done()
			return nil, context.Cause(ctx)
		}, queue.WorkerOptions{})
		b.drive(500*time.Millisecond, func() bool { return b.isState(id, backend.StateFailed) })
		if j := b.job(id); j.AttemptsMade != 2 {
			t.Errorf("AttemptsMade = %d, want 2 timed-out attempts", j.AttemptsMade)
		}
	})

	t.Run("a handler that ignores its timeout is abandoned and its lease is not renewed after the timeout", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		rec := &renewLog{Full: b.store, clock: b.clock}
		// The timeout falls between two renewal ticks (8s and 10s), so a
		// renewal at the 10s tick is one for a handler past its timeout.
		// Renew calls are stamped when they reach the store while the
		// clock moves on, so the check allows the 8s tick's call up to
		// one second of clock to arrive.
		const timeout, grace, renewEvery = 9 * time.Second, 3 * time.Second, 2 * time.Second
		id := b.addOne(backend.NewJob{Name: "stuck", Timeout: timeout})
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		var started atomic.Bool
		b.startWorker(rec, func(ctx context.Context, j *queue.Job) ([]byte, error) {
			started.Store(true)
			<-release // ignores ctx
			return []byte("too late"), nil
		}, queue.WorkerOptions{LeaseTTL: 30 * time.Second, RenewEvery: renewEvery, TimeoutGrace: grace})
		b.drive(250*time.Millisecond, func() bool { return b.isState(id, backend.StateFailed) })
		j := b.job(id)
		lastOK := j.ProcessedAt.Add(timeout + time.Second)
		if !started.Load() {
			t.Fatal("handler never ran")
		}
		if limit := j.ProcessedAt.Add(timeout + grace + renewEvery); j.FinishedAt.After(limit) {
			t.Errorf("job failed at %v, later than timeout + grace + one check (%v)", j.FinishedAt, limit)
		}
		if len(rec.renewsOf(id)) == 0 {
			t.Error("no renewal recorded while the handler ran within its timeout")
		}
		for _, at := range rec.renewsOf(id) {
			if !at.Before(lastOK) {
				t.Errorf("lease renewed at %v, after the timeout at %v", at, j.ProcessedAt.Add(timeout))
			}
		}
		// Time goes on; still no renewal, and the late result is not stored.
		for range 20 {
			b.clock.Advance(time.Second)
		}
		if n := len(rec.renewsOf(id)); n > 0 && !rec.renewsOf(id)[n-1].Before(lastOK) {
			t.Errorf("lease renewed after the timeout")
		}
		if got := b.wantState(b.q, id, backend.StateFailed); got.Result != nil {
			t.Errorf("abandoned handler's result stored: %q", got.Result)
		}
	})

	t.Run("a stopping worker releases jobs whose handlers outlast the shutdown timeout", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		all := b.addN(2, "long")
		var running atomic.Int32
		w := b.startWorker(b.store, func(ctx context.Context, j *queue.Job) ([]byte, error) {
			running.Add(1)
			<-ctx.Done()
			return nil, context.Cause(ctx)
		}, queue.WorkerOptions{Concurrency: 2, ShutdownTimeout: 5 * time.Second})
		b.drive(100*time.Millisecond, func() bool { return running.Load() == 2 })
		b.stopWorker(w)
		for _, id := range all {
			j := b.wantState(b.q, id, backend.StateWaiting)
			if j.AttemptsMade != 0 {
				t.Errorf("released job %s has AttemptsMade %d, want 0", id, j.AttemptsMade)
			}
		}
	})

	t.Run("a stopping worker lets a running handler finish", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "short"})
		proceed := make(chan struct{})
		var running atomic.Bool
		w := b.startWorker(b.store, func(ctx context.Context, j *queue.Job) ([]byte, error) {
			running.Store(true)
			<-proceed
			return []byte("finished"), nil
		}, queue.WorkerOptions{ShutdownTimeout: time.Hour})
		b.drive(100*time.Millisecond, running.Load)
		done := make(chan error, 1)
		go func() { done <- w.Stop(context.Background()) }()
		close(proceed)
		if err := receive(t, done, deadline, "Stop"); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if got := b.wantState(b.q, id, backend.StateCompleted); string(got.Result) != "finished" {
			t.Errorf("Result = %q", got.Result)
		}
	})

	t.Run("idle workers all start on one bulk add", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		const k = 4
		var running atomic.Int32
		proceed := make(chan struct{})
		for range k {
			b.startWorker(b.store, func(ctx context.Context, j *queue.Job) ([]byte, error) {
				running.Add(1)
				<-proceed
				return nil, nil
			}, queue.WorkerOptions{LeaseWait: time.Hour})
		}
		b.awaitWaiters(k)
		b.addN(k, "job")
		// The clock stands still: only wake-ups can start the handlers.
		waitFor(t, deadline, func() bool { return running.Load() == k })
		close(proceed)
		waitFor(t, deadline, func() bool { return b.counts().Completed == k })
	})
}
