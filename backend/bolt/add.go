package bolt

import (
	"cmp"
	"context"
	"fmt"
	"strconv"

	"github.com/droverhq/drover/backend"
)

// Add inserts jobs and flow trees in one transaction, all or nothing.
func (b *Backend) Add(ctx context.Context, queue string, req *backend.AddRequest) (backend.AddResult, error) {
	var res backend.AddResult
	if err := req.Validate(queue, b.opts.MaxPayload, b.opts.Clock.Now()); err != nil {
		return res, err
	}
	err := b.update(ctx, func(t *txn) error {
		return t.add(queue, req, &res)
	})
	if err != nil {
		return backend.AddResult{}, err
	}
	return res, nil
}

// add is Add within t: it checks everything before its first write.
func (t *txn) add(queue string, req *backend.AddRequest, res *backend.AddResult) error {
	res.Jobs = make([]backend.Added, len(req.Jobs))
	// Check everything first: duplicates at the top, taken child IDs.
	q, err := t.queue(queue, false)
	if err != nil {
		return err
	}
	dup := make([]bool, len(req.Jobs))
	for i := range req.Jobs {
		nj := &req.Jobs[i]
		if nj.ID != "" && q != nil && q.exists(nj.ID) {
			dup[i] = true
			continue
		}
		for k := range nj.Children {
			if err := t.checkChildIDs(queue, &nj.Children[k]); err != nil {
				return &backend.ValidationError{Index: i, Field: "Children", Reason: err.Error(), Err: backend.ErrConflict}
			}
		}
	}
	// Then write.
	if q, err = t.queue(queue, true); err != nil {
		return err
	}
	for i := range req.Jobs {
		nj := &req.Jobs[i]
		if dup[i] {
			res.Jobs[i] = backend.Added{Queue: queue, ID: nj.ID, Duplicate: true}
			existing, err := q.job(nj.ID)
			if err != nil {
				return err
			}
			if err := q.jobEvent(backend.Event{Type: backend.EventDuplicated}, existing); err != nil {
				return err
			}
			continue
		}
		if nj.Dedup.Key != "" {
			a, deduped, err := t.dedupAdd(q, nj)
			if err != nil {
				return err
			}
			if deduped {
				res.Jobs[i] = a
				continue
			}
		}
		if res.Jobs[i], err = t.insert(q, nj, nil); err != nil {
			return err
		}
		if nj.Dedup.Key != "" {
			if err := q.takeKey(res.Jobs[i].ID, &nj.Dedup); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkChildIDs fails when a caller-chosen ID in the subtree of a flow
// child is taken.
func (t *txn) checkChildIDs(parentQueue string, nj *backend.NewJob) error {
	queue := cmp.Or(nj.Queue, parentQueue)
	if nj.ID != "" {
		q, err := t.queue(queue, false)
		if err != nil {
			return err
		}
		if q != nil && q.exists(nj.ID) {
			return fmt.Errorf("flow child %s/%s exists already", queue, nj.ID)
		}
	}
	for k := range nj.Children {
		if err := t.checkChildIDs(queue, &nj.Children[k]); err != nil {
			return err
		}
	}
	return nil
}

// insert writes a new job (and its flow subtree) to q with its events.
func (t *txn) insert(q *qtx, nj *backend.NewJob, parent *backend.JobRef) (backend.Added, error) {
	seq := q.nextSeq()
	id := nj.ID
	if id == "" {
		id = strconv.FormatUint(seq, 10)
	}
	// The record is written once, by place: children are entries of the
	// deps bucket, written as each child is inserted.
	j := newJobRecord(q.name, id, seq, nj, t, true)
	j.Parent = parent
	if parent != nil {
		j.FailurePolicy = nj.FailurePolicy
	}
	added := backend.Added{Queue: q.name, ID: id}
	var childQs []*qtx
	if len(nj.Children) > 0 {
		j.State = backend.StateWaitingChildren
		childQs = make([]*qtx, len(nj.Children))
		for k := range nj.Children {
			cq, err := t.queue(cmp.Or(nj.Children[k].Queue, q.name), true)
			if err != nil {
				return added, err
			}
			childQs[k] = cq
		}
	}
	if err := t.place(q, j, nj.LIFO); err != nil {
		return added, err
	}
	if len(nj.Children) == 0 {
		return added, nil
	}
	self := &backend.JobRef{Queue: q.name, ID: id}
	jk := jobKey(id, nil)
	added.Children = make([]backend.Added, len(nj.Children))
	var kb []byte
	for k := range nj.Children {
		c, err := t.insert(childQs[k], &nj.Children[k], self)
		if err != nil {
			return added, err
		}
		added.Children[k] = c
		kb = depKey(jk, backend.JobRef{Queue: c.Queue, ID: c.ID}, kb)
		if err := q.putDep(kb, &dep{pos: k}); err != nil {
			return added, err
		}
	}
	return added, q.putPending(jk, len(nj.Children))
}

// newJobRecord builds the record of a new job from its options. With
// reuse set, the record is the transaction's scratch job, valid until the
// next call: for a job that is written once and not kept.
func newJobRecord(queue, id string, seq uint64, nj *backend.NewJob, t *txn, reuse bool) *backend.Job {
	var j *backend.Job
	if reuse {
		if t.tmpJob == nil {
			t.tmpJob = new(backend.Job)
		}
		j = t.tmpJob
	} else {
		j = new(backend.Job)
	}
	*j = nj.Record(queue, id, t.now)
	j.Seq = seq
	return j
}

// place indexes and writes a new job in its first state, with the added
// event and the event of that state. A waiting job goes to the back of its
// priority's line, or with front set (LIFO) to its front.
func (t *txn) place(q *qtx, j *backend.Job, front bool) error {
	if j.State == backend.StateWaiting {
		q.readyAt(j, front)
	}
	if err := q.index(j); err != nil {
		return err
	}
	if err := q.putNewJob(j); err != nil {
		return err
	}
	var kb [24]byte
	if err := q.putMeta(jobKey(j.ID, kb[:0]), j.Meta); err != nil {
		return err
	}
	if err := q.jobEvent(backend.Event{Type: backend.EventAdded}, j); err != nil {
		return err
	}
	return q.stateEvent(j)
}

// stateEvent appends the event that announces j's current state, and
// counts a job made waiting for the wake-up of blocked Lease calls.
func (q *qtx) stateEvent(j *backend.Job) error {
	switch j.State {
	case backend.StateWaiting:
		q.t.addWake(q.name, 1)
		if j.Priority > 0 {
			return q.jobEvent(backend.Event{Type: backend.EventPrioritized}, j)
		}
		return q.jobEvent(backend.Event{Type: backend.EventWaiting}, j)
	case backend.StateDelayed:
		return q.jobEvent(backend.Event{Type: backend.EventDelayed, RunAt: j.RunAt}, j)
	case backend.StateWaitingChildren:
		return q.jobEvent(backend.Event{Type: backend.EventWaitingChildren}, j)
	}
	return nil
}
