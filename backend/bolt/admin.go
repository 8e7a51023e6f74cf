package bolt

import (
	"bytes"
	"context"
	"fmt"

	"github.com/droverhq/drover/backend"
	"go.etcd.io/bbolt"
)

// SetPaused pauses or resumes the queue, appending a paused or resumed
// event on every call.
func (b *Backend) SetPaused(ctx context.Context, queue string, paused bool) error {
	if err := backend.ValidateQueueName(queue); err != nil {
		return err
	}
	err := b.update(ctx, func(t *txn) error {
		q, err := t.queue(queue, true)
		if err != nil {
			return err
		}
		q.m.paused = paused
		q.dirty()
		if paused {
			return q.event(backend.Event{Type: backend.EventPaused})
		}
		t.addWake(queue, int(q.m.counts[stWaiting]))
		return q.event(backend.Event{Type: backend.EventResumed})
	})
	if err != nil {
		return err
	}
	return nil
}

// Drain removes the waiting jobs, and the delayed ones when req.Delayed is
// set. Each removed job gets a removed event, then one drained event
// counts them.
func (b *Backend) Drain(ctx context.Context, queue string, req *backend.DrainRequest) (backend.DrainResult, error) {
	var res backend.DrainResult
	if err := backend.ValidateQueueName(queue); err != nil {
		return res, err
	}
	if req == nil {
		req = &backend.DrainRequest{}
	}
	err := b.update(ctx, func(t *txn) error {
		res.Removed = 0
		q, err := t.queue(queue, false)
		if q == nil || err != nil {
			return err
		}
		states := []int{stWaiting}
		if req.Delayed {
			states = append(states, stDelayed)
		}
		for _, s := range states {
			n, err := t.removeListed(q, q.collect(s, 0, func(*backend.Job) bool { return true }))
			if err != nil {
				return err
			}
			res.Removed += n
		}
		return q.event(backend.Event{Type: backend.EventDrained, Count: res.Removed})
	})
	if err != nil {
		return backend.DrainResult{}, err
	}
	return res, nil
}

// collect returns the IDs in the index of state s, in index order, whose
// job passes keep (decoded only when keep needs it), at most limit (0: all).
func (q *qtx) collect(s int, limit int, keep func(*backend.Job) bool) []string {
	var ids []string
	c := q.idx[s].Cursor()
	for k, v := c.First(); k != nil && (limit == 0 || len(ids) < limit); k, v = c.Next() {
		j, err := q.job(string(v))
		if err != nil || j == nil {
			continue
		}
		var kb [16]byte
		if stateNum(j.State) != s || !bytes.Equal(indexKey(j, kb[:0]), k) {
			continue // a stale entry (groups.go)
		}
		if keep(j) {
			ids = append(ids, j.ID)
		}
	}
	return ids
}

// removeListed removes the listed jobs (with their flow subtrees) that
// still exist and are not active.
func (t *txn) removeListed(q *qtx, ids []string) (int, error) {
	n := 0
	for _, id := range ids {
		j, err := q.job(id)
		if err != nil {
			return n, err
		}
		if j == nil || j.State == backend.StateActive {
			continue
		}
		if pending, err := q.pendingIteration(j); err != nil || pending {
			if err != nil {
				return n, err
			}
			continue
		}
		if err := t.removeTree(q, j, true); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Clean removes jobs of one state that entered it more than req.Grace ago
// (by finish time for completed and failed, by creation time for waiting
// and delayed), oldest first.
func (b *Backend) Clean(ctx context.Context, queue string, req *backend.CleanRequest) (backend.CleanResult, error) {
	var res backend.CleanResult
	if err := backend.ValidateQueueName(queue); err != nil {
		return res, err
	}
	if err := req.Validate(); err != nil {
		return res, err
	}
	s := stateNum(req.State)
	err := b.update(ctx, func(t *txn) error {
		res.IDs = nil
		q, err := t.queue(queue, false)
		if q == nil || err != nil {
			return err
		}
		cutoff := t.now.Add(-req.Grace)
		var ids []string
		if s == stCompleted || s == stFailed {
			c := q.idx[s].Cursor()
			for k, v := c.First(); k != nil && (req.Limit == 0 || len(ids) < req.Limit); k, v = c.Next() {
				if timeFromKey(beUint64(k)).After(cutoff) {
					break
				}
				ids = append(ids, string(v))
			}
		} else {
			ids = q.collect(s, req.Limit, func(j *backend.Job) bool {
				pending, err := q.pendingIteration(j)
				return !j.CreatedAt.After(cutoff) && !pending && err == nil
			})
		}
		for _, id := range ids {
			j, err := q.job(id)
			if err != nil {
				return err
			}
			if j == nil || stateNum(j.State) != s {
				continue
			}
			if pending, err := q.pendingIteration(j); err != nil || pending {
				if err != nil {
					return err
				}
				continue
			}
			if err := t.removeTree(q, j, true); err != nil {
				return err
			}
			res.IDs = append(res.IDs, id)
		}
		return q.event(backend.Event{Type: backend.EventCleaned, Count: len(res.IDs)})
	})
	if err != nil {
		return backend.CleanResult{}, err
	}
	return res, nil
}

// Obliterate removes every job, event, log line and scheduler of the
// queue. Flow links to other queues are kept consistent: a pending job of
// this queue is dropped from its parent elsewhere, and children elsewhere
// are removed (or detached when active). The queue's job sequence and
// event ID survive, so IDs are never reused and a reader positioned in the
// old log gets backend.ErrEventsTrimmed.
func (b *Backend) Obliterate(ctx context.Context, queue string, req *backend.ObliterateRequest) error {
	if err := backend.ValidateQueueName(queue); err != nil {
		return err
	}
	if req == nil {
		req = &backend.ObliterateRequest{}
	}
	err := b.update(ctx, func(t *txn) error {
		q, err := t.queue(queue, false)
		if q == nil || err != nil {
			return err
		}
		if q.m.counts[stActive] > 0 && !req.Force {
			return fmt.Errorf("%w: %d active jobs in %s", backend.ErrJobActive, q.m.counts[stActive], queue)
		}
		// Gather the links to other queues before touching anything.
		type link struct {
			from  backend.JobRef
			to    backend.JobRef
			child bool // to is a child of from; else to is from's parent
		}
		var links []link
		c := q.jobs.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			j, err := decodeJob(v)
			if err != nil {
				return err
			}
			self := backend.JobRef{Queue: queue, ID: j.ID}
			if j.Parent != nil && j.Parent.Queue != queue && !j.State.Final() {
				links = append(links, link{from: self, to: *j.Parent})
			}
			deps, err := q.childDeps(jobKey(j.ID, nil))
			if err != nil {
				return err
			}
			for _, d := range deps {
				if d.ref.Queue != queue {
					links = append(links, link{from: self, to: d.ref, child: true})
				}
			}
		}
		for _, l := range links {
			var err error
			if l.child {
				err = t.removeChild(l.from, l.to)
			} else {
				err = t.dropChild(l.to, l.from)
			}
			if err != nil {
				return err
			}
		}
		keep := meta{seq: q.m.seq, lastEvent: q.m.lastEvent}
		t.writes++
		if err := t.tx.DeleteBucket(queueBucketName(queue)); err != nil {
			return err
		}
		delete(t.queues, queue)
		if q, err = t.queue(queue, true); err != nil {
			return err
		}
		q.m = keep
		q.dirty()
		return nil
	})
	if err != nil {
		return err
	}
	return nil
}

// RemoveJob removes one job that is not active, with its flow subtree as
// documented on backend.Admin.
func (b *Backend) RemoveJob(ctx context.Context, queue string, id string) error {
	if err := backend.ValidateQueueName(queue); err != nil {
		return err
	}
	err := b.update(ctx, func(t *txn) error {
		q, j, err := t.mustJob(queue, id)
		if err != nil {
			return err
		}
		if j.State == backend.StateActive {
			return fmt.Errorf("%w: job %s", backend.ErrJobActive, id)
		}
		if pending, err := q.pendingIteration(j); err != nil || pending {
			if err == nil {
				err = fmt.Errorf("%w: %s; remove job scheduler %s instead (RemoveJobScheduler)", backend.ErrSchedulerIteration, id, j.SchedulerID)
			}
			return err
		}
		return t.removeTree(q, j, true)
	})
	if err != nil {
		return err
	}
	return nil
}

// mustJob returns an existing job or an error wrapping ErrNotFound.
func (t *txn) mustJob(queue, id string) (*qtx, *backend.Job, error) {
	q, err := t.queue(queue, false)
	if err != nil {
		return nil, nil, err
	}
	if q == nil {
		return nil, nil, notFound("job %s in %s", id, queue)
	}
	j, err := q.job(id)
	if err != nil {
		return nil, nil, err
	}
	if j == nil {
		return nil, nil, notFound("job %s in %s", id, queue)
	}
	return q, j, nil
}

// UpdateProgress stores progress on the job and appends a progress event.
func (b *Backend) UpdateProgress(ctx context.Context, queue, id string, progress []byte) error {
	if err := backend.ValidateQueueName(queue); err != nil {
		return err
	}
	if err := backend.ValidatePayload("Progress", len(progress), b.opts.MaxPayload); err != nil {
		return err
	}
	err := b.update(ctx, func(t *txn) error {
		q, j, err := t.mustJob(queue, id)
		if err != nil {
			return err
		}
		j.Progress = progress
		if err := q.putJob(j); err != nil {
			return err
		}
		return q.jobEvent(backend.Event{Type: backend.EventProgress, Progress: progress}, j)
	})
	if err != nil {
		return err
	}
	return nil
}

// AddLog appends a log line to the job and returns the new line count.
func (b *Backend) AddLog(ctx context.Context, queue, id, line string) (int, error) {
	if err := backend.ValidateQueueName(queue); err != nil {
		return 0, err
	}
	if err := backend.ValidatePayload("Line", len(line), b.opts.MaxPayload); err != nil {
		return 0, err
	}
	var n int
	err := b.update(ctx, func(t *txn) error {
		q, j, err := t.mustJob(queue, id)
		if err != nil {
			return err
		}
		jk := jobKey(j.ID, nil)
		v := t.alloc(len(line))
		copy(v, line)
		if err := q.put(q.logs, logKey(jk, j.LogCount, nil), v); err != nil {
			return err
		}
		j.LogCount++
		n = j.LogCount
		return q.putJob(j)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Logs returns a page of the job's log lines and their total count.
func (b *Backend) Logs(ctx context.Context, queue, id string, req *backend.LogsRequest) (backend.LogsResult, error) {
	var res backend.LogsResult
	if err := backend.ValidateQueueName(queue); err != nil {
		return res, err
	}
	if err := req.Validate(); err != nil {
		return res, err
	}
	if req == nil {
		req = &backend.LogsRequest{}
	}
	err := b.view(func(tx *bbolt.Tx) error {
		q := readQueue(tx, queue)
		if q == nil {
			return notFound("job %s in %s", id, queue)
		}
		j, err := q.job(id)
		if err != nil {
			return err
		}
		if j == nil {
			return notFound("job %s in %s", id, queue)
		}
		res.Total = j.LogCount
		end := j.LogCount
		if req.Limit > 0 {
			end = min(end, req.Offset+req.Limit)
		}
		jk := jobKey(j.ID, nil)
		var kb [64]byte
		for i := req.Offset; i < end; i++ {
			res.Lines = append(res.Lines, string(q.logs.Get(logKey(jk, i, kb[:0]))))
		}
		return nil
	})
	return res, err
}
