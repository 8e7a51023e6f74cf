package redis

import (
	"context"
	"fmt"

	"github.com/droverhq/drover/backend"
)

// SetPaused pauses or resumes a queue.
func (b *Backend) SetPaused(ctx context.Context, queue string, paused bool) error {
	if err := b.check(queue); err != nil {
		return err
	}
	flag := "0"
	if paused {
		flag = "1"
	}
	_, err := b.run(ctx, "pause", queue, flag)
	return err
}

// Drain removes the waiting jobs, and the delayed ones when asked.
func (b *Backend) Drain(ctx context.Context, queue string, req *backend.DrainRequest) (backend.DrainResult, error) {
	if err := b.check(queue); err != nil {
		return backend.DrainResult{}, err
	}
	delayed := "0"
	if req != nil && req.Delayed {
		delayed = "1"
	}
	res, err := b.run(ctx, "drain", queue, delayed)
	if err != nil {
		return backend.DrainResult{}, err
	}
	a, _ := res.([]any)
	n, _ := a[0].(int64)
	if o, _ := a[1].(int64); o > 0 {
		b.drainOutbox(ctx, queue)
	}
	return backend.DrainResult{Removed: int(n)}, nil
}

// Clean removes old jobs of one state.
func (b *Backend) Clean(ctx context.Context, queue string, req *backend.CleanRequest) (backend.CleanResult, error) {
	if err := b.check(queue); err != nil {
		return backend.CleanResult{}, err
	}
	if req == nil {
		return backend.CleanResult{}, backend.Invalid("State", "no request")
	}
	switch req.State {
	case backend.StateCompleted, backend.StateFailed, backend.StateWaiting, backend.StateDelayed:
	default:
		return backend.CleanResult{}, backend.Invalid("State", fmt.Sprintf("cannot clean state %q", req.State))
	}
	if req.Grace < 0 || req.Limit < 0 {
		return backend.CleanResult{}, backend.Invalid("Grace", "negative grace or limit")
	}
	res, err := b.run(ctx, "clean", queue, string(req.State), durMs(req.Grace), req.Limit)
	if err != nil {
		return backend.CleanResult{}, err
	}
	a := toStrings(res)
	if len(a) > 0 && a[0] != "0" {
		b.drainOutbox(ctx, queue)
	}
	out := backend.CleanResult{}
	if len(a) > 1 {
		out.IDs = a[1:]
	}
	return out, nil
}

// Obliterate removes the queue and everything in it.
func (b *Backend) Obliterate(ctx context.Context, queue string, req *backend.ObliterateRequest) error {
	if err := b.check(queue); err != nil {
		return err
	}
	force := "0"
	if req != nil && req.Force {
		force = "1"
	}
	_, err := b.run(ctx, "obliterate", queue, force)
	return err
}

// RemoveJob removes one job that is not active, with its flow subtree.
func (b *Backend) RemoveJob(ctx context.Context, queue, id string) error {
	if err := b.check(queue); err != nil {
		return err
	}
	res, err := b.run(ctx, "remove", queue, id)
	if err != nil {
		return fmt.Errorf("drover: remove %s/%s: %w", queue, id, err)
	}
	if n, _ := res.(int64); n > 0 {
		b.drainOutbox(ctx, queue)
	}
	return nil
}

// UpdateProgress stores a job's progress and appends a progress event.
func (b *Backend) UpdateProgress(ctx context.Context, queue, id string, progress []byte) error {
	if err := b.check(queue); err != nil {
		return err
	}
	if err := backend.ValidatePayload("Progress", len(progress), b.opts.MaxPayload); err != nil {
		return err
	}
	_, err := b.run(ctx, "progress", queue, id, string(progress))
	if err != nil {
		return fmt.Errorf("drover: progress of %s/%s: %w", queue, id, err)
	}
	return nil
}

// AddLog appends a log line to a job.
func (b *Backend) AddLog(ctx context.Context, queue, id, line string) (int, error) {
	if err := b.check(queue); err != nil {
		return 0, err
	}
	if err := backend.ValidatePayload("Line", len(line), b.opts.MaxPayload); err != nil {
		return 0, err
	}
	res, err := b.run(ctx, "addlog", queue, id, line)
	if err != nil {
		return 0, fmt.Errorf("drover: log of %s/%s: %w", queue, id, err)
	}
	n, _ := res.(int64)
	return int(n), nil
}

// Logs returns a page of a job's log lines.
func (b *Backend) Logs(ctx context.Context, queue, id string, req *backend.LogsRequest) (backend.LogsResult, error) {
	if err := b.check(queue); err != nil {
		return backend.LogsResult{}, err
	}
	var r backend.LogsRequest
	if req != nil {
		r = *req
	}
	if r.Offset < 0 || r.Limit < 0 {
		return backend.LogsResult{}, backend.Invalid("Offset", "negative offset or limit")
	}
	res, err := b.runRepeatable(ctx, "logs", queue, id, r.Offset, r.Limit)
	if err != nil {
		return backend.LogsResult{}, fmt.Errorf("drover: logs of %s/%s: %w", queue, id, err)
	}
	a := toStrings(res)
	out := backend.LogsResult{Total: int(atoi(a[0]))}
	if len(a) > 1 {
		out.Lines = a[1:]
	}
	return out, nil
}
