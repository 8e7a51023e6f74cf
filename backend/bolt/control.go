package bolt

import (
	"context"
	"slices"
	"time"

	"github.com/droverhq/drover/backend"
)

// Job control: what a caller does to jobs after adding them. Each call is
// one request of the committer, so one transaction, and appends one event
// per job it changes. A call on one job checks the job's state before it
// writes anything, so a wrong state leaves the store as it was.

// wrongState reports that j is not in one of the states a call accepts.
func wrongState(q *qtx, j *backend.Job, want ...backend.JobState) error {
	return &backend.WrongStateError{Queue: q.name, ID: j.ID, State: j.State, Want: want}
}

// Retry moves one failed or completed job, or up to req.Limit jobs of
// req.State (those that finished first first), back to waiting.
func (b *Backend) Retry(ctx context.Context, queue string, req *backend.RetryRequest) (backend.RetryResult, error) {
	if err := backend.ValidateQueueName(queue); err != nil {
		return backend.RetryResult{}, err
	}
	if err := req.Validate(); err != nil {
		return backend.RetryResult{}, err
	}
	ids, err := b.moveJobs(ctx, queue, req.ID, stateNum(req.State), req.Limit,
		[]backend.JobState{backend.StateFailed, backend.StateCompleted}, (*txn).retry)
	if err != nil {
		return backend.RetryResult{}, err
	}
	return backend.RetryResult{IDs: ids}, nil
}

// Promote makes one delayed job, or up to req.Limit of them (those due
// first first), waiting now.
func (b *Backend) Promote(ctx context.Context, queue string, req *backend.PromoteRequest) (backend.PromoteResult, error) {
	if err := backend.ValidateQueueName(queue); err != nil {
		return backend.PromoteResult{}, err
	}
	if err := req.Validate(); err != nil {
		return backend.PromoteResult{}, err
	}
	ids, err := b.moveJobs(ctx, queue, req.ID, stDelayed, req.Limit,
		[]backend.JobState{backend.StateDelayed}, (*txn).promoteNow)
	if err != nil {
		return backend.PromoteResult{}, err
	}
	return backend.PromoteResult{IDs: ids}, nil
}

// moveJobs runs a Retry or Promote in one transaction: move moves the job
// named id, which must be in one of the states want, or else the first
// jobs of the index of state s, at most limit (0: backend.MaxBulk). It
// returns the IDs of the jobs moved. A queue that does not exist has
// none.
func (b *Backend) moveJobs(ctx context.Context, queue, id string, s, limit int, want []backend.JobState,
	move func(t *txn, q *qtx, j *backend.Job) error) ([]string, error) {
	if limit == 0 {
		limit = backend.MaxBulk
	}
	var ids []string
	err := b.update(ctx, func(t *txn) error {
		ids = nil
		if id != "" {
			q, j, err := t.mustJob(queue, id)
			if err != nil {
				return err
			}
			if !slices.Contains(want, j.State) {
				return wrongState(q, j, want...)
			}
			ids = []string{j.ID}
			return move(t, q, j)
		}
		q, err := t.queue(queue, false)
		if q == nil || err != nil {
			return err
		}
		for len(ids) < limit {
			k, v := q.first(s)
			if k == nil {
				return nil
			}
			j, err := q.indexed(s, v)
			if err != nil {
				return err
			}
			if err := move(t, q, j); err != nil {
				return err
			}
			ids = append(ids, j.ID)
		}
		return nil
	})
	return ids, err
}

// retry moves the final job j to the back of its priority's line with
// its attempts and stalls reset and the outcome of its last run cleared.
// Leaving its final state's index takes it out of that state's retention.
// A flow parent that failed while children were still pending waits for
// them again.
func (t *txn) retry(q *qtx, j *backend.Job) error {
	var kb [24]byte
	pending, err := q.pendingOf(jobKey(j.ID, kb[:0]))
	if err != nil {
		return err
	}
	err = q.move(j, func() {
		j.AttemptsMade, j.StalledCount = 0, 0
		j.Result, j.FailedReason, j.Stacktrace = nil, "", nil
		j.FinishedAt = time.Time{}
		j.State = backend.StateWaitingChildren
		if pending == 0 {
			j.State = backend.StateWaiting
			q.readyAt(j, false)
		}
	})
	if err != nil {
		return err
	}
	if pending > 0 {
		return q.jobEvent(backend.Event{Type: backend.EventRetried}, j)
	}
	return q.placeEvent(backend.EventRetried, j)
}

// promoteNow moves the delayed job j to the back of its priority's line:
// it became ready now. A scheduler's pending iteration stays its
// scheduler's current one, so leasing it creates the next.
func (t *txn) promoteNow(q *qtx, j *backend.Job) error {
	err := q.move(j, func() {
		j.State = backend.StateWaiting
		j.RunAt = t.now
		q.readyAt(j, false)
	})
	if err != nil {
		return err
	}
	return q.placeEvent(backend.EventPromoted, j)
}

// Change sets a waiting or delayed job's priority, run time or data. A
// job whose place changes (its state, its priority, or the run time of a
// delayed job) goes to the back of its new line.
func (b *Backend) Change(ctx context.Context, queue string, req *backend.ChangeRequest) error {
	if err := backend.ValidateQueueName(queue); err != nil {
		return err
	}
	if err := req.Validate(b.opts.MaxPayload, b.opts.Clock.Now()); err != nil {
		return err
	}
	return b.update(ctx, func(t *txn) error {
		q, j, err := t.mustJob(queue, req.ID)
		if err != nil {
			return err
		}
		if j.State != backend.StateWaiting && j.State != backend.StateDelayed {
			return wrongState(q, j, backend.StateWaiting, backend.StateDelayed)
		}
		return t.change(q, j, req)
	})
}

// change applies req to j, a waiting or delayed job, with its changed
// event.
func (t *txn) change(q *qtx, j *backend.Job, req *backend.ChangeRequest) error {
	state, prio, runAt := j.State, j.Priority, j.RunAt
	if req.Priority != nil {
		prio = *req.Priority
	}
	if req.RunAt != nil {
		runAt = *req.RunAt
	}
	if state == backend.StateDelayed || req.RunAt != nil {
		// A delayed job whose run time has come is due: a change
		// makes it waiting, as a lease would.
		state = backend.StateWaiting
		if runAt.After(t.now) {
			state = backend.StateDelayed
		}
	}
	if req.Data != nil {
		j.Data = *req.Data
	}
	wasWaiting := j.State == backend.StateWaiting
	if state == j.State && prio == j.Priority && (state == backend.StateWaiting || runAt.Equal(j.RunAt)) {
		j.RunAt = runAt
		if err := q.putJob(j); err != nil {
			return err
		}
	} else {
		err := q.move(j, func() {
			j.State, j.Priority, j.RunAt = state, prio, runAt
			q.readyAt(j, false)
		})
		if err != nil {
			return err
		}
	}
	ev := backend.Event{Type: backend.EventChanged}
	switch {
	case state == backend.StateDelayed:
		ev.RunAt = j.RunAt
	case !wasWaiting:
		t.addWake(q.name, 1)
	}
	return q.jobEvent(ev, j)
}

// Cancel fails a job that has not started at once, as cancelled, or marks
// an active one for its worker to stop.
func (b *Backend) Cancel(ctx context.Context, queue string, req *backend.CancelRequest) (backend.CancelResult, error) {
	var res backend.CancelResult
	if err := backend.ValidateQueueName(queue); err != nil {
		return res, err
	}
	if err := req.Validate(b.opts.MaxPayload); err != nil {
		return res, err
	}
	reason := backend.CancelFailure(req.Reason)
	err := b.update(ctx, func(t *txn) error {
		res = backend.CancelResult{}
		q, j, err := t.mustJob(queue, req.ID)
		if err != nil {
			return err
		}
		switch j.State {
		case backend.StateActive:
			res.Active = true
			if j.CancelRequested {
				return nil
			}
			j.CancelRequested, j.CancelReason = true, req.Reason
			if err := q.putJob(j); err != nil {
				return err
			}
			return q.jobEvent(backend.Event{Type: backend.EventCancelled, Reason: reason}, j)
		case backend.StateWaiting, backend.StateDelayed, backend.StateWaitingChildren:
			pending, err := q.pendingIteration(j)
			if err != nil {
				return err
			}
			ev := backend.Event{Type: backend.EventCancelled, Reason: reason}
			if err := t.finishWith(q, j, backend.StateFailed, nil, reason, nil, ev); err != nil {
				return err
			}
			if pending {
				return t.nextIteration(q, j)
			}
			return nil
		}
		return wrongState(q, j, backend.StateWaiting, backend.StateDelayed, backend.StateWaitingChildren, backend.StateActive)
	})
	if err != nil {
		return backend.CancelResult{}, err
	}
	return res, nil
}

// Publish appends an application event to the queue's log.
func (b *Backend) Publish(ctx context.Context, queue string, req *backend.PublishRequest) (uint64, error) {
	if err := backend.ValidateQueueName(queue); err != nil {
		return 0, err
	}
	if err := req.Validate(b.opts.MaxPayload); err != nil {
		return 0, err
	}
	var id uint64
	err := b.update(ctx, func(t *txn) error {
		q, err := t.queue(queue, true)
		if err != nil {
			return err
		}
		if err := q.event(backend.Event{Type: backend.EventPublished, Name: req.Name, Data: req.Data}); err != nil {
			return err
		}
		id = q.m.lastEvent
		return nil
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}
