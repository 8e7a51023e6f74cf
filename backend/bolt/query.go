package bolt

import (
	"context"
	"slices"

	"github.com/droverhq/drover/backend"
	"go.etcd.io/bbolt"
)

// Job returns one job, or an error wrapping backend.ErrNotFound.
func (b *Backend) Job(ctx context.Context, queue, id string) (*backend.Job, error) {
	if err := backend.ValidateQueueName(queue); err != nil {
		return nil, err
	}
	var j *backend.Job
	err := b.view(func(tx *bbolt.Tx) (err error) {
		j, err = jobIn(tx, queue, id)
		return err
	})
	return j, err
}

// jobIn reads a job, with its flow children, in tx.
func jobIn(tx *bbolt.Tx, queue, id string) (*backend.Job, error) {
	q := readQueue(tx, queue)
	if q == nil {
		return nil, notFound("job %s in %s", id, queue)
	}
	j, err := q.fullJob(id)
	if err != nil {
		return nil, err
	}
	if j == nil {
		return nil, notFound("job %s in %s", id, queue)
	}
	return j, nil
}

// Jobs returns one page of the jobs in a state, in the state's order.
func (b *Backend) Jobs(ctx context.Context, queue string, req *backend.JobsRequest) (backend.JobsResult, error) {
	var res backend.JobsResult
	if err := backend.ValidateQueueName(queue); err != nil {
		return res, err
	}
	if err := req.Validate(); err != nil {
		return res, err
	}
	s := stateNum(req.State)
	limit := req.Limit
	if limit == 0 {
		limit = 100
	}
	err := b.view(func(tx *bbolt.Tx) error {
		q := readQueue(tx, queue)
		if q == nil {
			return nil
		}
		var ids []string
		c := q.idx[s].Cursor()
		switch s {
		case stActive:
			var err error
			res.Jobs, err = q.activeJobs(req.Offset, limit, func(*backend.Job) bool { return true })
			return err
		case stCompleted, stFailed:
			skip := req.Offset
			for k, v := c.Last(); k != nil && len(ids) < limit; k, v = c.Prev() {
				if skip > 0 {
					skip--
					continue
				}
				ids = append(ids, string(v))
			}
		default:
			stale, err := q.staleCheck(s)
			if err != nil {
				return err
			}
			skip := req.Offset
			for k, v := c.First(); k != nil && len(ids) < limit; k, v = c.Next() {
				if stale != nil {
					if st, err := stale(k, v); st || err != nil {
						if err != nil {
							return err
						}
						continue
					}
				}
				if skip > 0 {
					skip--
					continue
				}
				ids = append(ids, string(v))
			}
		}
		for _, id := range ids {
			j, err := q.fullJob(id)
			if err != nil {
				return err
			}
			if j != nil {
				res.Jobs = append(res.Jobs, j)
			}
		}
		return nil
	})
	return res, err
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Counts returns the number of jobs in each state, kept in the queue's
// meta record.
func (b *Backend) Counts(ctx context.Context, queue string) (backend.Counts, error) {
	var c backend.Counts
	if err := backend.ValidateQueueName(queue); err != nil {
		return c, err
	}
	err := b.view(func(tx *bbolt.Tx) error {
		q := readQueue(tx, queue)
		if q == nil {
			return nil
		}
		m := &q.m
		c = backend.Counts{
			Waiting:         int(m.counts[stWaiting]),
			Delayed:         int(m.counts[stDelayed]),
			Active:          int(m.counts[stActive]),
			WaitingChildren: int(m.counts[stWaitingChildren]),
			Completed:       int(m.counts[stCompleted]),
			Failed:          int(m.counts[stFailed]),
			Paused:          m.paused,
		}
		return nil
	})
	return c, err
}

// activeJobs returns a page of the active jobs that keep selects, by Seq.
// They are indexed by lease expiry, but few (bounded by the workers'
// slots), so they are sorted here.
func (q *qtx) activeJobs(offset, limit int, keep func(*backend.Job) bool) ([]*backend.Job, error) {
	var all []*backend.Job
	c := q.idx[stActive].Cursor()
	for _, v := c.First(); v != nil; _, v = c.Next() {
		j, err := q.fullJob(string(v))
		if err != nil {
			return nil, err
		}
		if j != nil && keep(j) {
			all = append(all, j)
		}
	}
	slices.SortFunc(all, func(a, b *backend.Job) int { return cmpUint(a.Seq, b.Seq) })
	return all[min(offset, len(all)):min(len(all), offset+limit)], nil
}
