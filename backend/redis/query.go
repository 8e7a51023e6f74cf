package redis

import (
	"context"
	"errors"
	"slices"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
)

// Job returns one job, or ErrNotFound.
func (b *Backend) Job(ctx context.Context, queue, id string) (*backend.Job, error) {
	if err := b.check(queue); err != nil {
		return nil, err
	}
	rec, err := b.client.HGet(ctx, b.key(queue, kJobs), id).Result()
	if err != nil {
		return nil, translateMissing(err, "job %s in %s", id, queue)
	}
	return decodeJob(queue, id, rec)
}

// Jobs returns one page of the jobs in a state, in the state's order.
func (b *Backend) Jobs(ctx context.Context, queue string, req *backend.JobsRequest) (backend.JobsResult, error) {
	if err := b.check(queue); err != nil {
		return backend.JobsResult{}, err
	}
	if err := req.Validate(); err != nil {
		return backend.JobsResult{}, err
	}
	limit := req.Limit
	if limit == 0 {
		limit = 100
	}
	offset := req.Offset
	// Active jobs are kept by lease expiry; the page is by Seq.
	active := req.State == backend.StateActive
	if active {
		offset, limit = 0, -1
	}
	res, err := b.runRepeatable(ctx, "jobs", queue, string(req.State), offset, limit)
	if err != nil {
		return backend.JobsResult{}, err
	}
	a := toStrings(res)
	var out []*backend.Job
	for i := 0; i+1 < len(a); i += 2 {
		j, err := decodeJob(queue, a[i], a[i+1])
		if err != nil {
			return backend.JobsResult{}, err
		}
		out = append(out, j)
	}
	if active {
		slices.SortFunc(out, func(x, y *backend.Job) int { return int(x.Seq) - int(y.Seq) })
		limit = req.Limit
		if limit == 0 {
			limit = 100
		}
		out = out[min(req.Offset, len(out)):min(req.Offset+limit, len(out))]
	}
	return backend.JobsResult{Jobs: out}, nil
}

// Counts returns the number of jobs in each state, read in one round trip.
func (b *Backend) Counts(ctx context.Context, queue string) (backend.Counts, error) {
	if err := b.check(queue); err != nil {
		return backend.Counts{}, err
	}
	k := b.queueKeys(queue)
	p := b.client.Pipeline()
	cards := []*goredis.IntCmd{
		p.ZCard(ctx, k[kWait]), p.ZCard(ctx, k[kDelayed]), p.ZCard(ctx, k[kActive]),
		p.ZCard(ctx, k[kWaitChildren]), p.ZCard(ctx, k[kCompleted]), p.ZCard(ctx, k[kFailed]),
	}
	paused := p.HGet(ctx, k[kMeta], "paused")
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return backend.Counts{}, translate(err)
	}
	return backend.Counts{
		Waiting:         int(cards[0].Val()),
		Delayed:         int(cards[1].Val()),
		Active:          int(cards[2].Val()),
		WaitingChildren: int(cards[3].Val()),
		Completed:       int(cards[4].Val()),
		Failed:          int(cards[5].Val()),
		Paused:          paused.Val() == "1",
	}, nil
}
