package bolt

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/droverhq/drover/backend"
	"go.etcd.io/bbolt"
)

// Schedulers. A record keeps the plan of run times; its one pending
// iteration job, at Next, has the ID backend.IterationID(ID, Next). Leasing
// that job creates the next iteration in the same transaction, at the
// first time of Upcoming whose ID is free, so no leader is needed and no
// retry can add a second job for one slot.

// template returns the job options of a scheduler's iterations.
func template(t *backend.NewJob) backend.NewJob {
	c := *t
	c.Queue, c.ID, c.Delay, c.RunAt, c.LIFO, c.Children = "", "", 0, time.Time{}, false, nil
	return c
}

// schedulerDone reports whether s has no pending iteration and none may
// follow.
func schedulerDone(s *backend.Scheduler) bool {
	return s.Next.IsZero() && s.Final
}

func (q *qtx) scheduler(id string) (*backend.Scheduler, error) {
	if q == nil {
		return nil, nil
	}
	v := q.sched.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	return decodeScheduler(v)
}

func (q *qtx) putScheduler(s *backend.Scheduler) error {
	return q.put(q.sched, []byte(s.ID), q.t.encode(func(b []byte) []byte { return appendScheduler(b, s) }))
}

// CompareAndUpsert writes the record if its revision is the expected one and,
// unless req.KeepPending, replaces its pending iteration.
func (b *Backend) CompareAndUpsert(ctx context.Context, queue string, req *backend.CompareAndUpsertRequest) (backend.CompareAndUpsertResult, error) {
	var res backend.CompareAndUpsertResult
	if err := backend.ValidateQueueName(queue); err != nil {
		return res, err
	}
	if err := req.Validate(b.opts.MaxPayload); err != nil {
		return res, err
	}
	err := b.update(ctx, func(t *txn) error {
		q, err := t.queue(queue, false)
		if err != nil {
			return err
		}
		old, err := q.scheduler(req.Scheduler.ID)
		if err != nil {
			return err
		}
		var have uint64
		if old != nil {
			have = old.Revision
		}
		if req.ExpectRevision != backend.AnyRevision && req.ExpectRevision != have {
			return fmt.Errorf("%w: scheduler %s has revision %d, not %d", backend.ErrRevisionMismatch, req.Scheduler.ID, have, req.ExpectRevision)
		}
		if q, err = t.queue(queue, true); err != nil {
			return err
		}
		s := req.Scheduler
		s.Template = template(&s.Template)
		s.Upcoming = slices.Clone(s.Upcoming)
		s.Revision, s.Iterations = have+1, 0
		if old != nil {
			s.Iterations = old.Iterations
		}
		s.UpdatedAt = t.now
		if req.KeepPending && old != nil {
			s.Next = old.Next
		} else {
			if old != nil {
				removed, err := t.removePending(q, old)
				if err != nil {
					return err
				}
				if removed && s.Iterations > 0 {
					s.Iterations-- // a replaced iteration is not a run
				}
			}
			cands := s.Upcoming
			if !s.Next.IsZero() {
				cands = append([]time.Time{s.Next}, cands...)
			}
			if err := t.placeIteration(q, &s, cands); err != nil {
				return err
			}
		}
		res = backend.CompareAndUpsertResult{Scheduler: s, Created: old == nil}
		if err := q.event(backend.Event{Type: backend.EventSchedulerUpserted, SchedulerID: s.ID}); err != nil {
			return err
		}
		return t.saveScheduler(q, &s)
	})
	if err != nil {
		return backend.CompareAndUpsertResult{}, err
	}
	return res, nil
}

// saveScheduler writes s, or removes it when it is done.
func (t *txn) saveScheduler(q *qtx, s *backend.Scheduler) error {
	if !schedulerDone(s) {
		return q.putScheduler(s)
	}
	if err := q.del(q.sched, []byte(s.ID)); err != nil {
		return err
	}
	return q.event(backend.Event{Type: backend.EventSchedulerRemoved, SchedulerID: s.ID})
}

// removePending removes the pending (waiting or delayed) iteration of s,
// and reports whether there was one.
func (t *txn) removePending(q *qtx, s *backend.Scheduler) (bool, error) {
	if s.Next.IsZero() {
		return false, nil
	}
	j, err := q.job(backend.IterationID(s.ID, s.Next))
	if err != nil || j == nil {
		return false, err
	}
	if j.SchedulerID != s.ID || (j.State != backend.StateWaiting && j.State != backend.StateDelayed) {
		return false, nil
	}
	return true, q.deleteJob(j)
}

// pendingIteration reports whether j is the pending iteration of its
// scheduler, which only RemoveScheduler may remove.
func (q *qtx) pendingIteration(j *backend.Job) (bool, error) {
	if j.SchedulerID == "" || (j.State != backend.StateWaiting && j.State != backend.StateDelayed) {
		return false, nil
	}
	s, err := q.scheduler(j.SchedulerID)
	if err != nil || s == nil || s.Next.IsZero() {
		return false, err
	}
	return j.ID == backend.IterationID(s.ID, s.Next), nil
}

// placeIteration creates the iteration job of s at the first time of cands
// whose ID is free, and sets Next and Upcoming.
func (t *txn) placeIteration(q *qtx, s *backend.Scheduler, cands []time.Time) error {
	s.Next = time.Time{}
	for i, at := range cands {
		id := backend.IterationID(s.ID, at)
		if q.exists(id) {
			continue // the slot ran before: move on to the next free one
		}
		nj := s.Template
		j := newJobRecord(q.name, id, q.nextSeq(), &nj, t, false)
		j.SchedulerID = s.ID
		j.RunAt = at
		if at.After(t.now) {
			j.State = backend.StateDelayed
		}
		if err := t.place(q, j, false); err != nil {
			return err
		}
		s.Next = at
		s.Upcoming = slices.Clone(cands[i+1:])
		s.Iterations++
		return nil
	}
	s.Upcoming = nil
	return nil
}

// nextIteration creates the next iteration when the leased job j is its
// scheduler's current one.
func (t *txn) nextIteration(q *qtx, j *backend.Job) error {
	s, err := q.scheduler(j.SchedulerID)
	if err != nil || s == nil || s.Next.IsZero() || j.ID != backend.IterationID(s.ID, s.Next) {
		return err
	}
	if err := t.placeIteration(q, s, s.Upcoming); err != nil {
		return err
	}
	s.Revision++
	s.UpdatedAt = t.now
	return t.saveScheduler(q, s)
}

// RemoveScheduler removes the record and its pending iteration.
func (b *Backend) RemoveScheduler(ctx context.Context, queue, id string) error {
	if err := backend.ValidateQueueName(queue); err != nil {
		return err
	}
	err := b.update(ctx, func(t *txn) error {
		q, err := t.queue(queue, false)
		if err != nil {
			return err
		}
		s, err := q.scheduler(id)
		if err != nil {
			return err
		}
		if s == nil {
			return notFound("scheduler %s in %s", id, queue)
		}
		if _, err := t.removePending(q, s); err != nil {
			return err
		}
		if err := q.del(q.sched, []byte(id)); err != nil {
			return err
		}
		return q.event(backend.Event{Type: backend.EventSchedulerRemoved, SchedulerID: id})
	})
	if err != nil {
		return err
	}
	return nil
}

// Scheduler returns one record, or an error wrapping ErrNotFound.
func (b *Backend) Scheduler(ctx context.Context, queue, id string) (*backend.Scheduler, error) {
	if err := backend.ValidateQueueName(queue); err != nil {
		return nil, err
	}
	var s *backend.Scheduler
	err := b.view(func(tx *bbolt.Tx) error {
		var err error
		if s, err = readQueue(tx, queue).scheduler(id); err != nil {
			return err
		}
		if s == nil {
			return notFound("scheduler %s in %s", id, queue)
		}
		return nil
	})
	return s, err
}

// Schedulers returns a page of the queue's schedulers, ordered by ID.
func (b *Backend) Schedulers(ctx context.Context, queue string, req *backend.SchedulersRequest) (backend.SchedulersResult, error) {
	var res backend.SchedulersResult
	if err := backend.ValidateQueueName(queue); err != nil {
		return res, err
	}
	if err := req.Validate(); err != nil {
		return res, err
	}
	if req == nil {
		req = &backend.SchedulersRequest{}
	}
	limit := req.Limit
	if limit == 0 {
		limit = 100
	}
	err := b.view(func(tx *bbolt.Tx) error {
		q := readQueue(tx, queue)
		if q == nil {
			return nil
		}
		c := q.sched.Cursor()
		skip := req.Offset
		for k, v := c.First(); k != nil && len(res.Schedulers) < limit; k, v = c.Next() {
			if skip > 0 {
				skip--
				continue
			}
			s, err := decodeScheduler(v)
			if err != nil {
				return err
			}
			res.Schedulers = append(res.Schedulers, s)
		}
		return nil
	})
	return res, err
}
