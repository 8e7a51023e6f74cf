package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/droverhq/drover/backend"
)

var _ backend.Limiter = (*Backend)(nil)

// The store counts time in whole milliseconds: a rate period or hold
// that is not one is rounded up, so that a limit is never looser than
// asked.

// SetLimits replaces a queue's limits, in one script call.
func (b *Backend) SetLimits(ctx context.Context, queue string, l backend.Limits) error {
	if err := b.check(queue); err != nil {
		return err
	}
	if err := l.Validate(); err != nil {
		return err
	}
	_, err := b.run(ctx, "set_limits", queue, l.Concurrency, l.Rate, ceilMs(l.RatePer), string(l.EventData()))
	return err
}

// Limits reports a queue's limits and what keeps its jobs from starting
// now.
func (b *Backend) Limits(ctx context.Context, queue string) (backend.QueueLimits, error) {
	if err := b.check(queue); err != nil {
		return backend.QueueLimits{}, err
	}
	res, err := b.runRepeatable(ctx, "limits", queue)
	if err != nil {
		return backend.QueueLimits{}, err
	}
	a, _ := res.([]any)
	if len(a) != 5 {
		return backend.QueueLimits{}, fmt.Errorf("%w: limits of %s: reply of %d values", backend.ErrCorrupt, queue, len(a))
	}
	n := make([]int64, len(a))
	for i, x := range a {
		n[i], _ = x.(int64)
	}
	out := backend.QueueLimits{Limits: backend.Limits{Concurrency: int(n[0]), Rate: int(n[1]), RatePer: time.Duration(n[2]) * time.Millisecond}}
	if n[3] > 0 {
		out.HeldUntil = time.UnixMilli(n[3])
	}
	if n[4] > 0 {
		out.NextStart = time.UnixMilli(n[4])
	}
	return out, nil
}

// Hold keeps a queue's jobs from starting for d, in one script call.
func (b *Backend) Hold(ctx context.Context, queue string, d time.Duration) error {
	if err := b.check(queue); err != nil {
		return err
	}
	if err := backend.ValidateHold(d); err != nil {
		return err
	}
	_, err := b.run(ctx, "hold", queue, ceilMs(d))
	return err
}

// ceilMs returns d in milliseconds, rounded up.
func ceilMs(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}
