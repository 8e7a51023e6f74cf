package redis

import (
	"cmp"
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/droverhq/drover/backend"
)

var _ backend.JobController = (*Backend)(nil)

// Retry moves failed or completed jobs back to waiting, in one script call.
func (b *Backend) Retry(ctx context.Context, queue string, req *backend.RetryRequest) (backend.RetryResult, error) {
	if err := b.check(queue); err != nil {
		return backend.RetryResult{}, err
	}
	if err := req.Validate(); err != nil {
		return backend.RetryResult{}, err
	}
	res, err := b.run(ctx, "retry", queue, req.ID, string(req.State), cmp.Or(req.Limit, backend.MaxBulk))
	if err != nil {
		return backend.RetryResult{}, wrongState(err, queue, req.ID)
	}
	return backend.RetryResult{IDs: toStrings(res)}, nil
}

// Promote makes delayed jobs waiting now, in one script call.
func (b *Backend) Promote(ctx context.Context, queue string, req *backend.PromoteRequest) (backend.PromoteResult, error) {
	if err := b.check(queue); err != nil {
		return backend.PromoteResult{}, err
	}
	if err := req.Validate(); err != nil {
		return backend.PromoteResult{}, err
	}
	res, err := b.run(ctx, "promote", queue, req.ID, cmp.Or(req.Limit, backend.MaxBulk))
	if err != nil {
		return backend.PromoteResult{}, wrongState(err, queue, req.ID)
	}
	return backend.PromoteResult{IDs: toStrings(res)}, nil
}

// Change changes a waiting or delayed job.
func (b *Backend) Change(ctx context.Context, queue string, req *backend.ChangeRequest) error {
	if err := b.check(queue); err != nil {
		return err
	}
	if err := req.Validate(b.opts.MaxPayload, b.opts.Clock.Now()); err != nil {
		return err
	}
	prio, runAt, setData, data := "", "", "0", ""
	if req.Priority != nil {
		prio = strconv.Itoa(*req.Priority)
	}
	if req.RunAt != nil {
		runAt = strconv.FormatInt(req.RunAt.UnixMilli(), 10)
	}
	if req.Data != nil {
		setData, data = "1", string(*req.Data)
	}
	_, err := b.run(ctx, "change", queue, req.ID, prio, runAt, setData, data)
	return wrongState(err, queue, req.ID)
}

// Cancel fails a job at once, or marks a running one.
func (b *Backend) Cancel(ctx context.Context, queue string, req *backend.CancelRequest) (backend.CancelResult, error) {
	if err := b.check(queue); err != nil {
		return backend.CancelResult{}, err
	}
	if err := req.Validate(b.opts.MaxPayload); err != nil {
		return backend.CancelResult{}, err
	}
	res, err := b.run(ctx, "cancel", queue, req.ID, req.Reason)
	if err != nil {
		return backend.CancelResult{}, wrongState(err, queue, req.ID)
	}
	active, _ := res.(int64)
	return backend.CancelResult{Active: active == 1}, nil
}

// Publish appends an application event.
func (b *Backend) Publish(ctx context.Context, queue string, req *backend.PublishRequest) (uint64, error) {
	if err := b.check(queue); err != nil {
		return 0, err
	}
	if err := req.Validate(b.opts.MaxPayload); err != nil {
		return 0, err
	}
	res, err := b.run(ctx, "publish", queue, req.Name, string(req.Data))
	if err != nil {
		return 0, err
	}
	id, _ := res.(int64)
	return uint64(id), nil
}

// wrongState turns a script's wrong-state error, whose words are the
// job's state and the states the call accepts, into a
// *backend.WrongStateError that wraps it.
func wrongState(err error, queue, id string) error {
	var se *storeError
	if !errors.As(err, &se) || se.sentinel != backend.ErrWrongState {
		return err
	}
	state, want, _ := strings.Cut(se.detail, " ")
	e := &backend.WrongStateError{Queue: queue, ID: id, State: backend.JobState(state)}
	for w := range strings.SplitSeq(want, ",") {
		e.Want = append(e.Want, backend.JobState(w))
	}
	return e
}
