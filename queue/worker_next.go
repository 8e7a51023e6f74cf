package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/droverhq/drover/backend"
)

// RunNext runs one job on a worker that is not started: it leases a job
// that is ready now, from the worker's queues in the order Run takes them,
// runs it with the worker's handler and middleware, and settles the
// attempt, all before it returns. It returns the job as the attempt left
// it, or nil when no job was ready. Tests use it (see package drovertest),
// and so can programs that run jobs at moments of their own choosing.
//
// While the handler runs, its lease is renewed and the job's timeout
// applies, with the worker's TimeoutGrace, on the worker's clock: with a
// fake clock, a handler that waits for its timeout needs the clock moved
// meanwhile. If ctx ends first, the handler's context is cancelled (cause
// ErrWorkerStopped), the job is released, and RunNext returns ctx's error.
//
// RunNext fails with ErrAlreadyStarted on a started worker, and Start
// fails while RunNext runs. Calls of RunNext do not overlap: each waits
// for the one before. Nothing of the call runs on after it returns, but a
// handler abandoned for ignoring its timeout. A job that its retention
// removed as the attempt ended is returned as the attempt left it, though
// the store no longer has it.
func (w *Worker) RunNext(ctx context.Context) (*Job, error) {
	w.step.Lock()
	defer w.step.Unlock()
	w.mu.Lock()
	if w.started {
		w.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrAlreadyStarted, w.o.Name)
	}
	w.stepping = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.stepping = false
		w.mu.Unlock()
	}()

	req := &backend.LeaseRequest{Worker: w.o.Name, Max: 1, TTL: w.o.LeaseTTL, MaxStalled: w.o.MaxStalled}
	var l *lane
	var rec *backend.Job
	for _, ln := range w.turns() {
		res, err := w.b.Lease(ctx, ln.q.name, req)
		if err != nil {
			return nil, fmt.Errorf("drover: worker %s: lease from %s: %w", w.o.Name, ln.q.name, err)
		}
		if len(res.Jobs) > 0 {
			l, rec = ln, res.Jobs[0]
			// A store that breaks its contract and leases more than Max
			// gets the others back.
			l.release(res.Jobs[1:])
			break
		}
	}
	if rec == nil {
		return nil, nil
	}

	base := context.WithoutCancel(ctx)
	w.timers.Start(base)
	l.renewer.Start(base)
	l.settler.Start(base)
	step := make(chan struct{})
	r := w.start(base, <-w.free, l, rec, step)
	var err error
	select {
	case <-step:
	case <-ctx.Done():
		err = ctx.Err()
		w.releaseAll()
		<-step
	}
	l.renewer.Stop()
	w.timers.Stop()
	l.settler.Close()
	w.replanNow(base)

	job, jerr := l.q.Job(base, rec.ID)
	if errors.Is(jerr, ErrNotFound) {
		if job = r.ended(); job != nil {
			jerr = nil
		}
	}
	if err == nil {
		err = jerr
	}
	return job, err
}

// ended returns the job as a completed or failed attempt left it, or nil
// for any other end.
func (r *run) ended() *Job {
	s := r.item.Settlement
	j := *r.job
	j.run = nil
	switch {
	case r.lost.Load():
		return nil
	case s.Outcome == backend.OutcomeComplete:
		j.State, j.Result = StateCompleted, s.Result
	case s.Outcome == backend.OutcomeFail:
		j.State, j.FailedReason, j.Stacktrace = StateFailed, s.Reason, s.Stacktrace
	default:
		return nil
	}
	j.AttemptsMade++
	j.Lease, j.LeaseExpiresAt = backend.Lease{}, time.Time{}
	return &j
}

// replanNow tops up the plans of the job schedulers whose iterations were
// leased, as the worker's maintenance does while it runs.
func (w *Worker) replanNow(ctx context.Context) {
	for {
		select {
		case ref := <-w.replan:
			cctx, cancel := context.WithTimeout(ctx, w.o.SettleTimeout)
			err := ref.lane.q.replanScheduler(cctx, ref.id)
			cancel()
			if err != nil {
				w.log.Warn("drover: plan job scheduler", "queue", ref.lane.q.name, "scheduler", ref.id, "err", err)
			}
		default:
			return
		}
	}
}
