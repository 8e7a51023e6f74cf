package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/redis/internal/layout"
)

// Job returns one job, or ErrNotFound.
func (b *Backend) Job(ctx context.Context, queue, id string) (*backend.Job, error) {
	if err := b.check(queue); err != nil {
		return nil, err
	}
	res, err := b.runRepeatable(ctx, "jobs", queue, "", id)
	if err != nil {
		return nil, err
	}
	jobs, err := decodeJobs(queue, res)
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		return nil, &storeError{sentinel: backend.ErrNotFound, detail: fmt.Sprintf("job %s in %s", id, queue), cause: goredis.Nil}
	}
	return jobs[0], nil
}

// decodeJobs decodes a reply of jobs: for each its ID, job record, hot
// record and children (see jobs.lua).
func decodeJobs(queue string, res any) ([]*backend.Job, error) {
	a := toStrings(res)
	out := make([]*backend.Job, 0, len(a)/4)
	for i := 0; i+3 < len(a); i += 4 {
		j, err := decodeJob(queue, a[i], a[i+1], a[i+2], a[i+3])
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// Jobs returns one page of the jobs in a state, in the state's order.
func (b *Backend) Jobs(ctx context.Context, queue string, req *backend.JobsRequest) (backend.JobsResult, error) {
	if err := b.check(queue); err != nil {
		return backend.JobsResult{}, err
	}
	if err := req.Validate(); err != nil {
		return backend.JobsResult{}, err
	}
	limit := cmp.Or(req.Limit, 100)
	if req.State == backend.StateActive {
		out, err := b.activeJobs(ctx, queue, req.Offset, limit, nil)
		return backend.JobsResult{Jobs: out}, err
	}
	res, err := b.runRepeatable(ctx, "jobs", queue, string(req.State), req.Offset, limit, "")
	if err != nil {
		return backend.JobsResult{}, err
	}
	out, err := decodeJobs(queue, res)
	if err != nil {
		return backend.JobsResult{}, err
	}
	return backend.JobsResult{Jobs: out}, nil
}

// activeJobs returns a page of the queue's active jobs that keep accepts
// (nil: every one), by Seq. Active jobs are kept by lease expiry, and
// are few (bounded by the workers' slots): all are read, then sorted.
func (b *Backend) activeJobs(ctx context.Context, queue string, offset, limit int, keep func(*backend.Job) bool) ([]*backend.Job, error) {
	res, err := b.runRepeatable(ctx, "jobs", queue, string(backend.StateActive), 0, -1, "")
	if err != nil {
		return nil, err
	}
	out, err := decodeJobs(queue, res)
	if err != nil {
		return nil, err
	}
	if keep != nil {
		out = slices.DeleteFunc(out, func(j *backend.Job) bool { return !keep(j) })
	}
	slices.SortFunc(out, func(x, y *backend.Job) int { return cmp.Compare(x.Seq, y.Seq) })
	return out[min(offset, len(out)):min(offset+limit, len(out))], nil
}

// Counts returns the number of jobs in each state, read in one round trip.
func (b *Backend) Counts(ctx context.Context, queue string) (backend.Counts, error) {
	if err := b.check(queue); err != nil {
		return backend.Counts{}, err
	}
	k := b.queueKeys(queue)
	p := b.client.Pipeline()
	cards := []*goredis.IntCmd{
		p.LLen(ctx, k[layout.KeyWaiting]), p.ZCard(ctx, k[layout.KeyPrioritized]),
		p.ZCard(ctx, k[layout.KeyDelayed]), p.ZCard(ctx, k[layout.KeyActive]),
		p.ZCard(ctx, k[layout.KeyWaitingChildren]), p.ZCard(ctx, k[layout.KeyCompleted]), p.ZCard(ctx, k[layout.KeyFailed]),
	}
	paused := p.HGet(ctx, k[layout.KeyMeta], "paused")
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return backend.Counts{}, b.failed(err)
	}
	return backend.Counts{
		Waiting:         int(cards[0].Val() + cards[1].Val()),
		Delayed:         int(cards[2].Val()),
		Active:          int(cards[3].Val()),
		WaitingChildren: int(cards[4].Val()),
		Completed:       int(cards[5].Val()),
		Failed:          int(cards[6].Val()),
		Paused:          paused.Val() == "1",
	}, nil
}
