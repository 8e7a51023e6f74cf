package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/droverhq/drover/backend"
)

// Job control: what a user does to a job after adding it. Each call is
// one atomic step in the store, with its event in the queue's log.

// ErrWrongState, ErrCancelled and WrongStateError: see the backend
// package.
var (
	ErrWrongState = backend.ErrWrongState
	ErrCancelled  = backend.ErrCancelled
)

// WrongStateError reports a job that is not in a state the call accepts.
type WrongStateError = backend.WrongStateError

// CancelledError is the cause of the context of a handler whose job was
// cancelled. It matches ErrCancelled.
type CancelledError struct {
	// Reason is the reason Cancel was given; it may be empty.
	Reason string
}

func (e *CancelledError) Error() string { return "drover: " + backend.CancelFailure(e.Reason) }

// Is reports whether target is ErrCancelled.
func (e *CancelledError) Is(target error) bool { return target == ErrCancelled }

// Snooze returns the error a handler returns to run its job again after d
// without using up an attempt: the job is delayed for d (waiting at once
// when d is 0 or less), with a snoozed event.
func Snooze(d time.Duration) error { return &snoozeError{d: max(d, 0)} }

type snoozeError struct{ d time.Duration }

func (e *snoozeError) Error() string { return fmt.Sprintf("drover: snoozed for %s", e.d) }

// SnoozeDelay reports whether err, a handler's error, asks for a snooze
// (it is or wraps an error made by Snooze), and for how long. Middleware
// uses it to tell a snooze from a failed attempt.
func SnoozeDelay(err error) (time.Duration, bool) { return snoozeOf(err) }

// snoozeOf returns the delay of a handler error made by Snooze.
func snoozeOf(err error) (time.Duration, bool) {
	var s *snoozeError
	if errors.As(err, &s) {
		return s.d, true
	}
	return 0, false
}

func (q *Queue) controller() (backend.JobController, error) {
	return capability[backend.JobController](q, "job control")
}

// Retry moves a failed or completed job back to waiting, with its attempts
// reset. A job in another state is a *WrongStateError.
func (q *Queue) Retry(ctx context.Context, id string) error {
	c, err := q.controller()
	if err != nil {
		return err
	}
	if _, err := c.Retry(ctx, q.name, &backend.RetryRequest{ID: id}); err != nil {
		return fmt.Errorf("drover: retry %s/%s: %w", q.name, id, err)
	}
	return nil
}

// RetryJobs moves up to limit jobs of state (StateFailed or
// StateCompleted; limit 0: all of them) back to waiting, those that
// finished first first, and returns how many. It works in steps of
// backend.MaxBulk jobs, each atomic.
func (q *Queue) RetryJobs(ctx context.Context, state JobState, limit int) (int, error) {
	c, err := q.controller()
	if err != nil {
		return 0, err
	}
	return bulk(limit, func(n int) (int, error) {
		res, err := c.Retry(ctx, q.name, &backend.RetryRequest{State: state, Limit: n})
		if err != nil {
			return 0, fmt.Errorf("drover: retry %s jobs of %s: %w", state, q.name, err)
		}
		return len(res.IDs), nil
	})
}

// Promote makes a delayed job waiting now. A job in another state is a
// *WrongStateError.
func (q *Queue) Promote(ctx context.Context, id string) error {
	c, err := q.controller()
	if err != nil {
		return err
	}
	if _, err := c.Promote(ctx, q.name, &backend.PromoteRequest{ID: id}); err != nil {
		return fmt.Errorf("drover: promote %s/%s: %w", q.name, id, err)
	}
	return nil
}

// PromoteJobs makes up to limit delayed jobs (0: all of them) waiting now,
// those due first first, and returns how many. It works in steps of
// backend.MaxBulk jobs, each atomic.
func (q *Queue) PromoteJobs(ctx context.Context, limit int) (int, error) {
	c, err := q.controller()
	if err != nil {
		return 0, err
	}
	return bulk(limit, func(n int) (int, error) {
		res, err := c.Promote(ctx, q.name, &backend.PromoteRequest{Limit: n})
		if err != nil {
			return 0, fmt.Errorf("drover: promote jobs of %s: %w", q.name, err)
		}
		return len(res.IDs), nil
	})
}

// bulk calls step with the size of each next step until limit jobs (0:
// no limit) are done or a step does fewer than it was asked to.
func bulk(limit int, step func(n int) (int, error)) (int, error) {
	if limit < 0 {
		return 0, backend.Invalid("limit", fmt.Sprintf("limit %d is negative", limit))
	}
	done := 0
	for limit == 0 || done < limit {
		n := backend.MaxBulk
		if limit > 0 {
			n = min(n, limit-done)
		}
		k, err := step(n)
		done += k
		if err != nil || k < n {
			return done, err
		}
	}
	return done, nil
}

// ChangePriority changes the priority of a waiting or delayed job; a
// waiting one goes to the back of its new priority's line.
func (q *Queue) ChangePriority(ctx context.Context, id string, priority int) error {
	return q.change(ctx, &backend.ChangeRequest{ID: id, Priority: &priority})
}

// ChangeRunAt sets when a waiting or delayed job runs: a time later than
// now makes it delayed until then, a time not later than now waiting.
func (q *Queue) ChangeRunAt(ctx context.Context, id string, at time.Time) error {
	return q.change(ctx, &backend.ChangeRequest{ID: id, RunAt: &at})
}

// ChangeDelay delays a waiting or delayed job by d from now (by the queue's
// clock); 0 or less makes it waiting.
func (q *Queue) ChangeDelay(ctx context.Context, id string, d time.Duration) error {
	return q.ChangeRunAt(ctx, id, q.clock.Now().Add(max(d, 0)))
}

// UpdateData replaces the data of a waiting or delayed job.
func (q *Queue) UpdateData(ctx context.Context, id string, data []byte) error {
	return q.change(ctx, &backend.ChangeRequest{ID: id, Data: &data})
}

func (q *Queue) change(ctx context.Context, req *backend.ChangeRequest) error {
	c, err := q.controller()
	if err != nil {
		return err
	}
	if err := c.Change(ctx, q.name, req); err != nil {
		return fmt.Errorf("drover: change %s/%s: %w", q.name, req.ID, err)
	}
	return nil
}

// Cancel cancels a job. A waiting, delayed or waiting-children job fails at
// once, with a reason that starts "job cancelled". A running one has its
// handler's context cancelled, with a *CancelledError as its cause, within
// one renewal interval (WorkerOptions.RenewEvery), in whichever process
// runs it; its attempt then fails, not retried. A job that finished is a
// *WrongStateError.
func (q *Queue) Cancel(ctx context.Context, id, reason string) error {
	c, err := q.controller()
	if err != nil {
		return err
	}
	if _, err := c.Cancel(ctx, q.name, &backend.CancelRequest{ID: id, Reason: reason}); err != nil {
		return fmt.Errorf("drover: cancel %s/%s: %w", q.name, id, err)
	}
	return nil
}

// Publish appends an application event, named name with data, to the
// queue's event log, so that subscribers see it in order with the rest;
// it returns the event's ID.
func (q *Queue) Publish(ctx context.Context, name string, data []byte) (uint64, error) {
	c, err := q.controller()
	if err != nil {
		return 0, err
	}
	id, err := c.Publish(ctx, q.name, &backend.PublishRequest{Name: name, Data: data})
	if err != nil {
		return 0, fmt.Errorf("drover: publish to %s: %w", q.name, err)
	}
	return id, nil
}
