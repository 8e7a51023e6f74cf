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
		}
		return nil
	})
	if err != nil {
		return backend.SettleResult{}, err
	}
	return res, nil
}

// settle applies one checked settlement to the active job j.
func (t *txn) settle(q *qtx, j *backend.Job, s *backend.Settlement) error {
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
		err := q.move(j, func() {
			clearLease(j)
			j.State = backend.StateWaiting
			if s.RetryDelay > 0 {
				j.State = backend.StateDelayed
				j.RunAt = t.now.Add(s.RetryDelay)
			} else {
				q.readyAt(j, false)
			}
		})
		if err != nil {
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
		return q.announce(j)
	}
	return nil
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

// finish moves j to a final state with its event, reports the end to its
// flow parent, and applies the retention of that state.
func (t *txn) finish(q *qtx, j *backend.Job, state backend.JobState, result []byte, reason string, stack []string) error {
	err := q.move(j, func() {
		clearLease(j)
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
	ev := backend.Event{Type: backend.EventCompleted, Result: result}
	if state == backend.StateFailed {
		ev = backend.Event{Type: backend.EventFailed, Reason: reason}
	}
	if err := q.jobEvent(ev, j); err != nil {
		return err
	}
	if j.Parent != nil {
		if err := t.childEnded(j); err != nil {
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
