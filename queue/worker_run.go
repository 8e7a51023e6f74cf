package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/deadline"
	"github.com/droverhq/drover/internal/settler"
)

// States of a run. A run leaves stateRunning once, by a compare-and-swap;
// whoever makes the move settles the attempt and frees the slot.
const (
	stateRunning   int32 = iota
	stateDone            // the handler returned
	stateAbandoned       // the handler outlived its timeout and grace
	stateReleased        // the worker stopped and gave the job back
)

// run is one attempt of one job in one slot of a worker.
type run struct {
	w     *Worker
	lane  *lane
	slot  int
	job   *Job
	lease backend.Lease

	ctx    context.Context
	cancel context.CancelCauseFunc

	// tmu guards the time limit, which a Timeout middleware may shorten
	// while the handler runs.
	tmu       sync.Mutex
	timeout   time.Duration   // the attempt's time limit; zero for none
	timeoutAt time.Time       // when it passes; zero when there is none
	timer     *deadline.Entry // fires at timeoutAt, then at the end of grace

	state     atomic.Int32
	timedOut  atomic.Bool
	lost      atomic.Bool
	cancelled atomic.Pointer[CancelledError] // set once the job was cancelled
	lostTmr   atomic.Pointer[deadline.Entry]
	expires   atomic.Int64 // lease deadline as last known, UnixNano

	item   settler.Item  // the settlement, once queued
	step   chan struct{} // closed once the attempt is over, for RunNext
	pooled bool          // runs on a goroutine of the worker's handlerPool
}

// Lease, Renewed, Lost and Cancel make a run a renewer.Held.
func (r *run) Lease() backend.Lease { return r.lease }

func (r *run) Renewed(t time.Time) {
	if !t.IsZero() {
		r.expires.Store(t.UnixNano())
	}
}

func (r *run) Lost() bool {
	if r.state.Load() != stateRunning {
		// The attempt ended before the renewal landed: its settlement
		// (or the give-up) is what took the lease.
		return false
	}
	if !r.lost.CompareAndSwap(false, true) {
		return false
	}
	r.cancel(ErrLeaseLost)
	// Free the slot after the grace period even if the handler ignores
	// its context; nothing is settled for a lost lease.
	grace := r.w.o.TimeoutGrace
	r.lostTmr.Store(r.w.timers.Add(r.w.o.Clock.Now().Add(grace), r.onTimer))
	return true
}

// Cancel cancels the handler's context with a *CancelledError: the job
// was cancelled, and its attempt fails, not retried, whatever the handler
// returns but a result.
func (r *run) Cancel(reason string) {
	if r.state.Load() != stateRunning {
		return
	}
	e := &CancelledError{Reason: reason}
	if r.cancelled.CompareAndSwap(nil, e) {
		r.w.log.Info("drover: job cancelled; cancelling its handler", "job", r.lease.JobID, "name", r.job.Name, "reason", reason)
		r.cancel(e)
	}
}

type handlerReturn struct {
	result []byte
	err    error
}

// execute runs the attempt's handler and settles the attempt. It reports
// false if the worker gave the attempt up before the handler returned.
func (r *run) execute() bool {
	ret := r.call()
	if !r.state.CompareAndSwap(stateRunning, stateDone) {
		r.discard(&ret)
		return false
	}
	r.stopTimer()
	if e := r.lostTmr.Load(); e != nil {
		r.w.timers.Remove(e)
	}
	if ret.err == nil {
		r.item.Settlement = backend.Settlement{Lease: r.lease, Outcome: backend.OutcomeComplete, Result: ret.result}
	} else {
		r.failed(&ret)
	}
	r.cancel(nil)
	r.w.finish(r)
	return true
}

// failed sets the settlement of an attempt whose handler returned an error.
//
//go:noinline
func (r *run) failed(ret *handlerReturn) {
	err := ret.err
	if r.timedOut.Load() && !errors.Is(err, ErrTimeout) {
		err = fmt.Errorf("%w after %s: %w", ErrTimeout, r.limitOf(), err)
	}
	var stack []string
	if p, ok := errors.AsType[*PanicError](err); ok {
		stack = p.Stack
	}
	r.item.Settlement = r.w.failure(r, err, stack)
}

// discard drops the return of a handler whose attempt ended without it. A
// handler released at shutdown was asked to stop, and returning then is
// what it should do; only one that was abandoned is news.
//
//go:noinline
func (r *run) discard(ret *handlerReturn) {
	level := slog.LevelWarn
	if r.state.Load() == stateReleased {
		level = slog.LevelDebug
	}
	r.w.log.Log(context.Background(), level, "drover: handler returned after its job was given up; its result is discarded",
		"job", r.lease.JobID, "name", r.job.Name, "err", ret.err)
}

// call runs the handler, with its middleware; the worker's handler turns
// a panic into a *PanicError.
func (r *run) call() (ret handlerReturn) {
	ret.result, ret.err = r.w.h(r.ctx, r.job)
	return ret
}

// onTimer runs on the timer goroutine: first at the job's timeout, to cancel
// the handler's context, then at the end of the grace period (or of the
// grace after a lost lease), to abandon the handler.
func (r *run) onTimer(now time.Time) {
	if r.state.Load() != stateRunning {
		return
	}
	r.tmu.Lock()
	if !r.lost.Load() && r.timedOut.CompareAndSwap(false, true) {
		r.cancel(ErrTimeout)
		r.w.timers.Reset(r.timer, now.Add(r.w.o.TimeoutGrace))
		r.tmu.Unlock()
		return
	}
	timeout := r.timeout
	r.tmu.Unlock()
	if !r.state.CompareAndSwap(stateRunning, stateAbandoned) {
		return
	}
	r.w.handlers.disown(r)
	r.w.log.Warn("drover: handler ignored its cancelled context; abandoning it",
		"job", r.lease.JobID, "name", r.job.Name, "timeout", timeout, "grace", r.w.o.TimeoutGrace, "lease_lost", r.lost.Load())
	err := fmt.Errorf("%w after %s; the handler did not return within the %s grace period and was abandoned",
		ErrTimeout, timeout, r.w.o.TimeoutGrace)
	r.item.Settlement = r.w.failure(r, err, nil)
	r.w.finish(r)
}

// failure builds the settlement of a failed attempt: a retry with backoff
// while attempts remain, else a failure for good.
func (w *Worker) failure(r *run, err error, stack []string) backend.Settlement {
	c := r.cancelled.Load()
	switch failureOutcome(r.job, err, c != nil) {
	case OutcomeCancelled:
		// Failed, not retried, whatever the handler said.
		return backend.Settlement{Lease: r.lease, Outcome: backend.OutcomeFail, Reason: backend.CancelFailure(c.Reason), Stacktrace: stack}
	case OutcomeSnoozed:
		d, _ := snoozeOf(err)
		return backend.Settlement{Lease: r.lease, Outcome: backend.OutcomeSnooze, RetryDelay: d}
	case OutcomeRateLimited:
		d, _ := RateLimitedFor(err)
		return backend.Settlement{Lease: r.lease, Outcome: backend.OutcomeRelease, HoldQueue: capDelay(d)}
	case OutcomeFailed:
		return backend.Settlement{Lease: r.lease, Outcome: backend.OutcomeFail, Reason: err.Error(), Stacktrace: stack}
	}
	attempt := r.job.AttemptsMade + 1
	return backend.Settlement{Lease: r.lease, Outcome: backend.OutcomeRetry, Reason: err.Error(), Stacktrace: stack,
		RetryDelay: w.retryDelay(attempt, err, r.job)}
}

func (w *Worker) retryDelay(attempt int, err error, job *Job) (d time.Duration) {
	if w.o.BackoffFunc == nil {
		return BackoffDelay(job.Backoff, attempt)
	}
	defer func() {
		if v := recover(); v != nil {
			w.log.Error("drover: BackoffFunc panicked; using the job's backoff", "job", job.ID, "panic", v)
			d = BackoffDelay(job.Backoff, attempt)
		}
	}()
	return capDelay(w.o.BackoffFunc(attempt, err, job))
}

// limit bounds the attempt to d from now, unless it is bounded to end
// sooner already or has timed out. The bound then works as the job's own
// Timeout: collect stops renewing the lease, and onTimer cancels the
// handler and, after the grace period, abandons it.
func (r *run) limit(d time.Duration) {
	r.limitFrom(r.w.o.Clock.Now(), d)
}

// limitFrom bounds the attempt to d from start, as limit does.
func (r *run) limitFrom(start time.Time, d time.Duration) {
	at := start.Add(d)
	r.tmu.Lock()
	defer r.tmu.Unlock()
	if r.timedOut.Load() || (!r.timeoutAt.IsZero() && !at.Before(r.timeoutAt)) {
		return
	}
	r.timeout, r.timeoutAt = d, at
	if r.timer == nil {
		r.timer = r.w.timers.Add(at, r.onTimer)
	} else {
		r.w.timers.Reset(r.timer, at)
	}
}

// deadline returns when the attempt's time limit passes; zero when it has
// none.
func (r *run) deadline() time.Time {
	r.tmu.Lock()
	defer r.tmu.Unlock()
	return r.timeoutAt
}

// limitOf returns the attempt's time limit.
func (r *run) limitOf() time.Duration {
	r.tmu.Lock()
	defer r.tmu.Unlock()
	return r.timeout
}

// stopTimer unschedules the attempt's timer, if it has one.
func (r *run) stopTimer() {
	r.tmu.Lock()
	e := r.timer
	r.tmu.Unlock()
	if e != nil {
		r.w.timers.Remove(e)
	}
}
