package queue_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/fakeclock"
	"github.com/droverhq/drover/queue"
)

func TestWorkerCompletesJobsWithTheirResults(t *testing.T) {
	e := newWenv(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, e.add(fmt.Sprintf("job-%d", i), nil).ID)
	}
	e.start(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		return []byte("done " + j.Name), nil
	}, &queue.WorkerOptions{Concurrency: 3})
	for i, id := range ids {
		j := e.waitState(id, queue.StateCompleted)
		if want := fmt.Sprintf("done job-%d", i); string(j.Result) != want || j.AttemptsMade != 1 {
			t.Errorf("job %s: result %q attempts %d; want %q and 1", id, j.Result, j.AttemptsMade, want)
		}
	}
}

func TestWorkerRetriesWithBackoffThenFails(t *testing.T) {
	e := newWenv(t)
	id := e.add("flaky", &queue.AddOptions{Attempts: 3, Backoff: queue.ExponentialBackoff(10*time.Second, 0)}).ID
	var calls atomic.Int32
	e.start(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		calls.Add(1)
		return nil, fmt.Errorf("attempt %d: %w", j.AttemptsMade+1, errBoom)
	}, nil)
	e.advanceUntil("job failed", time.Second, 5*time.Minute, func() bool {
		return e.job(id).State == queue.StateFailed
	})
	j := e.job(id)
	if j.AttemptsMade != 3 || j.FailedReason != "attempt 3: boom" || calls.Load() != 3 {
		t.Errorf("failed job: attempts %d reason %q handler calls %d; want 3, %q, 3", j.AttemptsMade, j.FailedReason, calls.Load(), "attempt 3: boom")
	}
	waitFor(t, "third settlement recorded", func() bool { return len(e.rec.settledFor(id)) == 3 })
	got := e.rec.settledFor(id)
	want := []struct {
		outcome backend.Outcome
		delay   time.Duration
	}{{backend.OutcomeRetry, 10 * time.Second}, {backend.OutcomeRetry, 20 * time.Second}, {backend.OutcomeFail, 0}}
	if len(got) != len(want) {
		t.Fatalf("%d settlements, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Outcome != w.outcome || got[i].RetryDelay != w.delay {
			t.Errorf("settlement %d: %s after %s; want %s after %s", i, got[i].Outcome, got[i].RetryDelay, w.outcome, w.delay)
		}
	}
}

func TestWorkerBackoffFuncOverridesTheJobsBackoff(t *testing.T) {
	e := newWenv(t)
	id := e.add("flaky", &queue.AddOptions{Attempts: 3, Backoff: queue.FixedBackoff(time.Second)}).ID
	type call struct {
		attempt int
		err     error
		id      string
	}
	var mu sync.Mutex
	var calls []call
	e.start(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		return nil, errBoom
	}, &queue.WorkerOptions{BackoffFunc: func(attempt int, err error, j *queue.Job) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, call{attempt, err, j.ID})
		return time.Duration(attempt) * 7 * time.Second
	}})
	e.advanceUntil("job failed", time.Second, 5*time.Minute, func() bool {
		return e.job(id).State == queue.StateFailed
	})
	waitFor(t, "third settlement recorded", func() bool { return len(e.rec.settledFor(id)) == 3 })
	got := e.rec.settledFor(id)
	if len(got) != 3 || got[0].RetryDelay != 7*time.Second || got[1].RetryDelay != 14*time.Second || got[2].Outcome != backend.OutcomeFail {
		t.Errorf("settlements %+v; want retries after 7s and 14s, then a failure", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || calls[0].attempt != 1 || calls[1].attempt != 2 || !errors.Is(calls[0].err, errBoom) || calls[0].id != id {
		t.Errorf("BackoffFunc calls %+v; want attempts 1 and 2 of job %s with the handler's error", calls, id)
	}
}

func TestWorkerUnrecoverableErrorFailsAtOnce(t *testing.T) {
	e := newWenv(t)
	id := e.add("doomed", &queue.AddOptions{Attempts: 5}).ID
	e.start(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		return nil, queue.Unrecoverable(errBoom)
	}, nil)
	j := e.waitState(id, queue.StateFailed)
	if j.AttemptsMade != 1 || j.FailedReason != "boom" {
		t.Errorf("attempts %d reason %q; want 1 and boom", j.AttemptsMade, j.FailedReason)
	}
}

func TestWorkerRecordsAPanicWithItsStack(t *testing.T) {
	e := newWenv(t)
	id := e.add("crash", &queue.AddOptions{Attempts: 2}).ID
	e.start(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		if j.AttemptsMade == 0 {
			panic("kaboom")
		}
		var m map[string]int
		m["x"]++ // a runtime error panic
		return nil, nil
	}, nil)
	j := e.waitState(id, queue.StateFailed)
	if j.AttemptsMade != 2 || !strings.HasPrefix(j.FailedReason, "panic: assignment to entry in nil map") {
		t.Errorf("attempts %d reason %q; want 2 and the second panic", j.AttemptsMade, j.FailedReason)
	}
	first := e.rec.settledFor(id)[0]
	if first.Outcome != backend.OutcomeRetry || first.Reason != "panic: kaboom" {
		t.Errorf("first attempt settled as %s %q; want a retry with reason panic: kaboom", first.Outcome, first.Reason)
	}
	if len(j.Stacktrace) < 3 || !strings.Contains(strings.Join(j.Stacktrace, "\n"), "worker_test.go") {
		t.Errorf("stack trace %q does not show the handler", j.Stacktrace)
	}
}

func TestWorkerTimeoutCancelsTheHandlersContext(t *testing.T) {
	e := newWenv(t)
	id := e.add("slow", &queue.AddOptions{Timeout: time.Minute}).ID
	started := make(chan struct{})
	cause := make(chan error, 1)
	e.start(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		close(started)
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return nil, ctx.Err()
	}, &queue.WorkerOptions{LeaseTTL: 10 * time.Minute})
	recv(t, "handler start", started)
	e.clock.Advance(time.Minute)
	if err := recv(t, "context cancelled", cause); !errors.Is(err, queue.ErrTimeout) {
		t.Errorf("context cause %v, want ErrTimeout", err)
	}
	j := e.waitState(id, queue.StateFailed)
	if !strings.Contains(j.FailedReason, "timed out after 1m0s") {
		t.Errorf("reason %q does not say the job timed out", j.FailedReason)
	}
}

func TestWorkerAbandonsAHandlerThatIgnoresItsTimeout(t *testing.T) {
	e := newWenv(t)
	id := e.add("stuck", &queue.AddOptions{Timeout: 25 * time.Second, Attempts: 2}).ID
	started := make(chan struct{})
	block := make(chan struct{})
	returned := make(chan struct{})
	t.Cleanup(func() { close(block); <-returned })
	e.start(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		if j.AttemptsMade > 0 {
			return []byte("second"), nil
		}
		defer close(returned)
		close(started)
		<-block // ignores ctx
		return []byte("late"), nil
	}, &queue.WorkerOptions{LeaseTTL: 30 * time.Second, RenewEvery: 10 * time.Second, TimeoutGrace: 5 * time.Second})
	recv(t, "handler start", started)
	t0 := e.clock.Now()
	timeoutAt := t0.Add(25 * time.Second)
	tok := e.rec.tokensOf(id)[0]

	// Renewals go on while the handler is within its timeout. Each is
	// awaited before the clock moves on, so that the time the recorder
	// reads is the renewal's own.
	e.clock.Advance(10 * time.Second)
	waitFor(t, "first renewal", func() bool { return len(e.rec.renewalsOf(tok)) >= 1 })
	e.clock.Advance(10 * time.Second)
	waitFor(t, "second renewal", func() bool { return len(e.rec.renewalsOf(tok)) >= 2 })
	e.clock.Advance(5 * time.Second) // the timeout
	e.clock.Advance(5 * time.Second) // the end of the grace period
	e.advanceUntil("second attempt completed", time.Second, 2*time.Minute, func() bool {
		return e.job(id).State == queue.StateCompleted
	})

	for _, at := range e.rec.renewalsOf(tok) {
		if !at.Before(timeoutAt) {
			t.Errorf("lease renewed at +%s, after the job's timeout at +25s", at.Sub(t0))
		}
	}
	got := e.rec.settledWith(tok)
	if len(got) != 1 || got[0].Outcome != backend.OutcomeRetry || !strings.Contains(got[0].Reason, "abandoned") {
		t.Errorf("first attempt settled as %+v; want one retry whose reason says the handler was abandoned", got)
	}
	if j := e.job(id); string(j.Result) != "second" || j.AttemptsMade != 2 {
		t.Errorf("result %q attempts %d; want second and 2", j.Result, j.AttemptsMade)
	}
}

func TestWorkerShutdownReleasesUnfinishedJobs(t *testing.T) {
	e := newWenv(t)
	jobs, err := e.q.AddBulk(e.ctx, []queue.BulkJob{{Name: "polite"}, {Name: "stubborn"}, {Name: "quick"}})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan string, 3)
	cause := make(chan error, 1)
	block, finish := make(chan struct{}), make(chan struct{})
	defer close(block)
	w := e.start(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		started <- j.Name
		switch j.Name {
		case "polite":
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return nil, ctx.Err()
		case "stubborn":
			<-block
			return nil, nil
		}
		<-finish
		return []byte("quick done"), nil
	}, &queue.WorkerOptions{Concurrency: 3, ShutdownTimeout: 10 * time.Second, LeaseTTL: 10 * time.Minute})
	for range 3 {
		recv(t, "handler start", started)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- w.Stop(context.Background()) }()
	close(finish)
	e.waitState(jobs[2].ID, queue.StateCompleted)
	e.advanceUntil("worker stopped", time.Second, time.Minute, func() bool {
		select {
		case <-w.Stopped():
			return true
		default:
			return false
		}
	})
	if err := recv(t, "Stop", stopped); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := recv(t, "polite handler cancelled", cause); !errors.Is(err, queue.ErrWorkerStopped) {
		t.Errorf("context cause %v, want ErrWorkerStopped", err)
	}
	for _, id := range []string{jobs[0].ID, jobs[1].ID} {
		if j := e.job(id); j.State != queue.StateWaiting || j.AttemptsMade != 0 {
			t.Errorf("job %s (%s): %s with %d attempts; want waiting with 0", id, j.Name, j.State, j.AttemptsMade)
		}
	}
	if j := e.job(jobs[2].ID); string(j.Result) != "quick done" {
		t.Errorf("quick job result %q", j.Result)
	}
	// A stopped worker takes no more jobs.
	later := e.add("later", nil)
	if j := e.job(later.ID); j.State != queue.StateWaiting {
		t.Errorf("job added after stop is %s", j.State)
	}
}

func TestWorkerNeverExceedsConcurrencyAndLeasesOnlyFreeSlots(t *testing.T) {
	e := newWenv(t)
	const concurrency, total = 4, 10
	bulk := make([]queue.BulkJob, total)
	for i := range bulk {
		bulk[i] = queue.BulkJob{Name: fmt.Sprint("job-", i)}
	}
	if _, err := e.q.AddBulk(e.ctx, bulk); err != nil {
		t.Fatal(err)
	}
	var running, most atomic.Int32
	var overAsked atomic.Bool
	e.rec.onLease = func(req *backend.LeaseRequest) {
		if int(running.Load())+req.Max > concurrency {
			overAsked.Store(true)
		}
	}
	started := make(chan struct{}, total)
	release := make(chan struct{})
	e.start(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		started <- struct{}{}
		<-release
		running.Add(-1)
		return nil, nil
	}, &queue.WorkerOptions{Concurrency: concurrency})
	for range concurrency {
		recv(t, "handler start", started)
	}
	if calls := e.rec.leaseCalls(); len(calls) != 1 || calls[0] != (leaseCall{max: concurrency, got: concurrency}) {
		t.Errorf("lease calls with every slot busy: %+v; want one that asked for and got %d", calls, concurrency)
	}
	for i := concurrency; i < total; i++ {
		release <- struct{}{}
		recv(t, "handler start", started)
	}
	for range concurrency {
		release <- struct{}{}
	}
	waitFor(t, "all completed", func() bool {
		c, err := e.q.Counts(e.ctx)
		return err == nil && c.Completed == total
	})
	if most.Load() != concurrency || overAsked.Load() {
		t.Errorf("most running at once %d (want %d); asked for more than the free slots: %v", most.Load(), concurrency, overAsked.Load())
	}
	got := 0
	for _, c := range e.rec.leaseCalls() {
		got += c.got
		if c.max < 1 || c.max > concurrency || c.got > c.max {
			t.Errorf("lease call %+v", c)
		}
	}
	if got != total {
		t.Errorf("leased %d jobs in all, want %d", got, total)
	}
}

func TestWorkerLostLeaseCancelsTheHandlerAndSkipsTheSettle(t *testing.T) {
	e := newWenv(t)
	id := e.add("orphan", nil).ID
	e.rec.loseAll.Store(true)
	cause := make(chan error, 1)
	e.start(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return []byte("too late"), nil
	}, &queue.WorkerOptions{LeaseTTL: 30 * time.Second, RenewEvery: 10 * time.Second})
	waitFor(t, "job leased", func() bool { return len(e.rec.tokensOf(id)) == 1 })
	e.advanceUntil("context cancelled", time.Second, time.Minute, func() bool { return len(cause) == 1 })
	if err := <-cause; !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("context cause %v, want ErrLeaseLost", err)
	}
	// The freed slot leases again; by then the attempt was dropped unsettled.
	waitFor(t, "next lease call", func() bool { return e.rec.leaseStarts.Load() >= 2 })
	if got := e.rec.settledFor(id); len(got) != 0 {
		t.Errorf("settled a lost lease: %+v", got)
	}
}

func TestWorkerSurvivesStoreErrors(t *testing.T) {
	e := newWenv(t)
	e.rec.failLeases.Store(3)
	e.rec.failSettles.Store(2)
	id := e.add("steady", nil).ID
	e.start(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		return []byte("ok"), nil
	}, &queue.WorkerOptions{ErrorBackoff: func(int) time.Duration { return time.Second }})
	e.advanceUntil("job completed", 100*time.Millisecond, time.Minute, func() bool {
		return e.job(id).State == queue.StateCompleted
	})
	if e.rec.failLeases.Load() != 0 || e.rec.failSettles.Load() != 0 {
		t.Errorf("injected failures left: %d leases, %d settles", e.rec.failLeases.Load(), e.rec.failSettles.Load())
	}
}

func TestWorkerRunReturnsNilAfterCancel(t *testing.T) {
	e := newWenv(t)
	id := e.add("one", nil).ID
	w, err := queue.NewWorker(e.rec, e.q.Name(), func(ctx context.Context, j *queue.Job) ([]byte, error) {
		return nil, nil
	}, &queue.WorkerOptions{Clock: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	e.waitState(id, queue.StateCompleted)
	cancel()
	if err := recv(t, "Run to return", done); err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := w.Start(context.Background()); err == nil {
		t.Error("a stopped worker started again")
	}
}

func TestWorkerStopsWithAnErrorWhenTheStoreCloses(t *testing.T) {
	e := newWenv(t)
	w, err := queue.NewWorker(e.rec, e.q.Name(), func(ctx context.Context, j *queue.Job) ([]byte, error) {
		return nil, nil
	}, &queue.WorkerOptions{Clock: e.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	waitFor(t, "first lease call", func() bool { return len(e.rec.leaseCalls()) >= 1 || e.clock.Timers() > 0 })
	e.rec.Backend.Close()
	if err := recv(t, "Run to return", done); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("Run: %v, want ErrClosed", err)
	}
}

func TestNewWorkerRejectsBadOptions(t *testing.T) {
	e := newWenv(t)
	h := func(ctx context.Context, j *queue.Job) ([]byte, error) { return nil, nil }
	for _, tc := range []struct {
		name  string
		h     queue.Handler
		queue string
		opts  queue.WorkerOptions
	}{
		{"nil handler", nil, "work", queue.WorkerOptions{}},
		{"bad queue name", h, "a b", queue.WorkerOptions{}},
		{"negative concurrency", h, "work", queue.WorkerOptions{Concurrency: -1}},
		{"renewal not before expiry", h, "work", queue.WorkerOptions{LeaseTTL: time.Second, RenewEvery: time.Second}},
		{"negative grace", h, "work", queue.WorkerOptions{TimeoutGrace: -time.Second}},
		{"max stalled below -1", h, "work", queue.WorkerOptions{MaxStalled: -2}},
	} {
		if _, err := queue.NewWorker(e.rec, tc.queue, tc.h, &tc.opts); !errors.Is(err, queue.ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", tc.name, err)
		}
	}
	if _, err := queue.NewWorker(e.rec, "work", h, nil); err != nil {
		t.Errorf("nil options: %v", err)
	}
}

func TestWorkerStartsOnce(t *testing.T) {
	e := newWenv(t)
	w := e.start(func(ctx context.Context, j *queue.Job) ([]byte, error) { return nil, nil }, nil)
	if err := w.Start(e.ctx); !errors.Is(err, queue.ErrAlreadyStarted) {
		t.Errorf("second Start = %v, want ErrAlreadyStarted", err)
	}
	if err := w.Run(e.ctx); !errors.Is(err, queue.ErrAlreadyStarted) {
		t.Errorf("Run after Start = %v, want ErrAlreadyStarted", err)
	}
}

// lateStart is a store after whose leases the clock moves on before the
// worker gets to run the job, as in a process too busy to start it at once.
type lateStart struct {
	backend.Backend
	clock *fakeclock.Clock
	by    time.Duration
}

func (l *lateStart) Lease(ctx context.Context, queue string, req *backend.LeaseRequest) (backend.LeaseResult, error) {
	res, err := l.Backend.Lease(ctx, queue, req)
	if len(res.Jobs) > 0 {
		l.clock.Advance(l.by)
	}
	return res, err
}

func TestWorkerTimeoutCountsFromTheLease(t *testing.T) {
	e := newWenv(t)
	id := e.add("slow", &queue.AddOptions{Timeout: 10 * time.Second}).ID
	started := make(chan time.Time, 1)
	w, err := queue.NewWorker(&lateStart{Backend: e.rec, clock: e.clock, by: 6 * time.Second}, e.q.Name(),
		func(ctx context.Context, j *queue.Job) ([]byte, error) {
			started <- e.clock.Now()
			<-ctx.Done()
			return nil, context.Cause(ctx)
		}, &queue.WorkerOptions{Clock: e.clock, Logger: slog.New(slog.DiscardHandler), LeaseTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.stop(w) })
	at := recv(t, "handler start", started)
	leased := e.job(id).ProcessedAt
	if at.Sub(leased) < 6*time.Second {
		t.Fatalf("handler started %v after the lease, want the 6s the store took", at.Sub(leased))
	}
	// 10s after the lease, not after the handler's start, the attempt has
	// timed out.
	e.clock.Advance(leased.Add(10 * time.Second).Sub(e.clock.Now()))
	j := e.waitState(id, queue.StateFailed)
	if !strings.Contains(j.FailedReason, "timed out") || !j.FinishedAt.Equal(leased.Add(10*time.Second)) {
		t.Errorf("failed at +%v with %q; want at +10s, timed out", j.FinishedAt.Sub(leased), j.FailedReason)
	}
}
