package bolt

import (
	"context"
	"fmt"
	"time"

	"github.com/droverhq/drover/backend"
)

// Settle ends the attempts whose lease still holds, all in one
// transaction; each settlement succeeds or fails on its own.
func (b *Backend) Settle(ctx context.Context, queue string, req *backend.SettleRequest) (backend.SettleResult, error) {
	var res backend.SettleResult
	if err := backend.ValidateQueueName(queue); err != nil {
		return res, err
	}
	if err := req.Validate(); err != nil {
		return res, err
	}
	bad := make([]error, len(req.Settlements))
	for i := range req.Settlements {
		bad[i] = req.Settlements[i].Validate(b.opts.MaxPayload)
	}
	err := b.update(ctx, func(t *txn) error {
		res.Errs = make([]error, len(req.Settlements))
		q, err := t.queue(queue, false)
		if err != nil {
			return err
		}
		for i := range req.Settlements {
			s := &req.Settlements[i]
			if bad[i] != nil {
				res.Errs[i] = bad[i]
				continue
			}
			j, err := q.held(s.Lease)
			if err != nil {
				return err
			}
			if j == nil {
				res.Errs[i] = fmt.Errorf("%w: job %s in %s", backend.ErrLeaseLost, s.Lease.JobID, queue)
				continue
			}
			if err := t.settle(q, j, s); err != nil {
				return err
			}
			if err := q.slotFreed(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return backend.SettleResult{}, err
	}
	return res, nil
}

// settle applies one checked settlement to the active job j. A job that
// Cancel marked is not retried, released or snoozed: it fails as
// cancelled.
func (t *txn) settle(q *qtx, j *backend.Job, s *backend.Settlement) error {
	if j.CancelRequested {
		switch s.Outcome {
		case backend.OutcomeRetry, backend.OutcomeRelease, backend.OutcomeSnooze:
			return t.failCancelled(q, j)
		}
	}
	switch s.Outcome {
	case backend.OutcomeComplete:
		j.AttemptsMade++
		return t.finish(q, j, backend.StateCompleted, s.Result, "", nil)
	case backend.OutcomeFail:
		j.AttemptsMade++
		return t.finish(q, j, backend.StateFailed, nil, s.Reason, s.Stacktrace)
	case backend.OutcomeRetry:
		j.AttemptsMade++
		j.FailedReason, j.Stacktrace = s.Reason, s.Stacktrace
		if err := q.jobEvent(backend.Event{Type: backend.EventRetrying, Reason: s.Reason}, j); err != nil {
			return err
		}
		if err := t.requeue(q, j, s.RetryDelay); err != nil {
			return err
		}
		return q.announce(j)
	case backend.OutcomeRelease:
		if err := q.move(j, func() {
			clearLease(j)
			j.Worker = ""
			j.State = backend.StateWaiting
			q.readyAt(j, true)
		}); err != nil {
			return err
		}
		if s.HoldQueue > 0 {
			if err := q.hold(t.now.Add(s.HoldQueue), j); err != nil {
				return err
			}
		}
		return q.announce(j)
	case backend.OutcomeSnooze:
		if err := t.requeue(q, j, s.RetryDelay); err != nil {
			return err
		}
		return q.placeEvent(backend.EventSnoozed, j)
	}
	return nil
}

// requeue moves the active job j to the back of its priority's line, or
// with a delay to delayed until then.
func (t *txn) requeue(q *qtx, j *backend.Job, delay time.Duration) error {
	return q.move(j, func() {
		clearLease(j)
		j.State = backend.StateWaiting
		if delay > 0 {
			j.State = backend.StateDelayed
			j.RunAt = t.now.Add(delay)
		} else {
			q.readyAt(j, false)
		}
	})
}

// placeEvent appends one event of type typ about j, which has just become
// waiting or delayed, with RunAt set when it is delayed, and counts a
// waiting job for the wake-up of blocked Lease calls.
func (q *qtx) placeEvent(typ backend.EventType, j *backend.Job) error {
	ev := backend.Event{Type: typ}
	if j.State == backend.StateDelayed {
		ev.RunAt = j.RunAt
	} else {
		q.t.addWake(q.name, 1)
	}
	return q.jobEvent(ev, j)
}

// failCancelled fails the active job j, which Cancel marked, as cancelled:
// its attempt counts, and it is not retried.
func (t *txn) failCancelled(q *qtx, j *backend.Job) error {
	j.AttemptsMade++
	return t.finish(q, j, backend.StateFailed, nil, backend.CancelFailure(j.CancelReason), nil)
}

func clearLease(j *backend.Job) {
	j.Lease = backend.Lease{}
	j.LeaseExpiresAt = time.Time{}
}

// announce appends the event of a job that moved to waiting or delayed
// (not by Add), waking a blocked Lease call for a waiting one.
func (q *qtx) announce(j *backend.Job) error {
	if j.State == backend.StateDelayed {
		return q.jobEvent(backend.Event{Type: backend.EventDelayed, RunAt: j.RunAt}, j)
	}
	return q.madeWaiting(j)
}

// finish moves j to a final state with its completed or failed event,
// reports the end to its flow parent, and applies the retention of that
// state.
func (t *txn) finish(q *qtx, j *backend.Job, state backend.JobState, result []byte, reason string, stack []string) error {
	ev := backend.Event{Type: backend.EventCompleted, Result: result}
	if state == backend.StateFailed {
		ev = backend.Event{Type: backend.EventFailed, Reason: reason}
	}
	return t.finishWith(q, j, state, result, reason, stack, ev)
}

// finishWith is finish with the event ev in place of the completed or
// failed one.
func (t *txn) finishWith(q *qtx, j *backend.Job, state backend.JobState, result []byte, reason string, stack []string, ev backend.Event) error {
	err := q.move(j, func() {
		clearLease(j)
		j.CancelRequested, j.CancelReason = false, ""
		j.State = state
		j.FinishedAt = t.now
		if state == backend.StateCompleted {
			j.Result = result
		} else {
			j.FailedReason, j.Stacktrace = reason, stack
		}
	})
	if err != nil {
		return err
	}
	if err := q.jobEvent(ev, j); err != nil {
		return err
	}
	if j.Parent != nil {
		if err := t.childEnded(j); err != nil {
			return err
		}
	}
	if j.DedupKey != "" {
		if err := t.dedupFinished(q, j, false); err != nil {
			return err
		}
	}
	r := j.KeepCompleted
	if state == backend.StateFailed {
		r = j.KeepFailed
	}
	return t.retain(q, j, r)
}

// retain applies retention r to the final state of j, which has just
// entered it: remove j, or drop the oldest jobs of the state beyond
// r.Count and those that finished longer than r.Age ago.
func (t *txn) retain(q *qtx, j *backend.Job, r backend.Retention) error {
	if r.Remove {
		return q.deleteJob(j)
	}
	s := stateNum(j.State)
	drop := func(k, v []byte) error {
		old, err := q.indexed(s, v)
		if err != nil {
			return err
		}
		return q.deleteJob(old)
	}
	if r.Count > 0 {
		for q.m.counts[s] > int64(r.Count) {
			k, v := q.first(s)
			if k == nil {
				break
			}
			if err := drop(k, v); err != nil {
				return err
			}
		}
	}
	if r.Age > 0 {
		cutoff := t.now.Add(-r.Age)
		for {
			k, v := q.first(s)
			if k == nil || !timeFromKey(beUint64(k)).Before(cutoff) {
				break
			}
			if err := drop(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}
