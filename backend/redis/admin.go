package redis

import (
	"context"

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
	if err := req.Validate(); err != nil {
		return backend.CleanResult{}, err
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
	res, err := b.run(ctx, "obliterate", queue, force)
	if err != nil {
		return err
	}
	if n, _ := res.(int64); n > 0 {
		b.drainOutbox(ctx, queue)
	}
	return nil
}

// RemoveJob removes one job that is not active, with its flow subtree.
func (b *Backend) RemoveJob(ctx context.Context, queue, id string) error {
	if err := b.check(queue); err != nil {
		return err
	}
	res, err := b.run(ctx, "remove", queue, id)
	if err != nil {
		return err
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
		return err
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
		return 0, err
	}
	n, _ := res.(int64)
	return int(n), nil
}

// Logs returns a page of a job's log lines.
func (b *Backend) Logs(ctx context.Context, queue, id string, req *backend.LogsRequest) (backend.LogsResult, error) {
	if err := b.check(queue); err != nil {
		return backend.LogsResult{}, err
	}
	if err := req.Validate(); err != nil {
		return backend.LogsResult{}, err
	}
	var r backend.LogsRequest
	if req != nil {
		r = *req
	}
	res, err := b.runRepeatable(ctx, "logs", queue, id, r.Offset, r.Limit)
	if err != nil {
		return backend.LogsResult{}, err
	}
	a := toStrings(res)
	out := backend.LogsResult{Total: int(atoi(a[0]))}
	if len(a) > 1 {
		out.Lines = a[1:]
	}
	return out, nil
}
