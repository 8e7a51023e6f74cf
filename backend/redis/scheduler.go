package redis

import (
	"context"
	"slices"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/redis/internal/layout"
)

// CompareAndUpsert writes a scheduler record and replaces its pending
// iteration in one script call.
func (b *Backend) CompareAndUpsert(ctx context.Context, queue string, req *backend.CompareAndUpsertRequest) (backend.CompareAndUpsertResult, error) {
	if err := b.check(queue); err != nil {
		return backend.CompareAndUpsertResult{}, err
	}
	if err := req.Validate(b.opts.MaxPayload); err != nil {
		return backend.CompareAndUpsertResult{}, err
	}
	s := req.Scheduler
	s.Template.ID, s.Template.Delay, s.Template.Children, s.Template.Queue = "", 0, nil, ""
	expect := "any"
	if req.ExpectRevision != backend.AnyRevision {
		expect = itoa(int64(req.ExpectRevision))
	}
	keep := "0"
	if req.KeepPending {
		keep = "1"
	}
	res, err := b.run(ctx, "upsert_sched", queue, expect, keep, encodeScheduler(&s))
	if err != nil {
		return backend.CompareAndUpsertResult{}, err
	}
	a, _ := res.([]any)
	created, _ := a[0].(int64)
	rec, _ := a[1].(string)
	out, err := decodeScheduler(rec)
	if err != nil {
		return backend.CompareAndUpsertResult{}, err
	}
	return backend.CompareAndUpsertResult{Scheduler: *out, Created: created == 1}, nil
}

// RemoveScheduler removes a scheduler and its pending iteration.
func (b *Backend) RemoveScheduler(ctx context.Context, queue, id string) error {
	if err := b.check(queue); err != nil {
		return err
	}
	if _, err := b.run(ctx, "remove_sched", queue, id); err != nil {
		return err
	}
	return nil
}

// Scheduler returns one scheduler record.
func (b *Backend) Scheduler(ctx context.Context, queue, id string) (*backend.Scheduler, error) {
	if err := b.check(queue); err != nil {
		return nil, err
	}
	rec, err := b.client.HGet(ctx, b.key(queue, layout.KeySchedulers), id).Result()
	if err != nil {
		return nil, translateMissing(err, "scheduler %s in %s", id, queue)
	}
	return decodeScheduler(rec)
}

// Schedulers returns a page of a queue's schedulers, ordered by ID.
func (b *Backend) Schedulers(ctx context.Context, queue string, req *backend.SchedulersRequest) (backend.SchedulersResult, error) {
	if err := b.check(queue); err != nil {
		return backend.SchedulersResult{}, err
	}
	if err := req.Validate(); err != nil {
		return backend.SchedulersResult{}, err
	}
	var r backend.SchedulersRequest
	if req != nil {
		r = *req
	}
	if r.Limit == 0 {
		r.Limit = 100
	}
	all, err := b.client.HGetAll(ctx, b.key(queue, layout.KeySchedulers)).Result()
	if err != nil {
		return backend.SchedulersResult{}, b.failed(err)
	}
	ids := make([]string, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ids = ids[min(r.Offset, len(ids)):min(r.Offset+r.Limit, len(ids))]
	out := backend.SchedulersResult{}
	for _, id := range ids {
		s, err := decodeScheduler(all[id])
		if err != nil {
			return backend.SchedulersResult{}, err
		}
		out.Schedulers = append(out.Schedulers, s)
	}
	return out, nil
}
