package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/droverhq/drover/backend"
)

// Limits bound how many jobs of a queue run at once and how fast they
// start, across every worker of every process; see backend.Limits.
type Limits = backend.Limits

// QueueLimits is a queue's limits with what keeps its jobs back now; see
// backend.QueueLimits.
type QueueLimits = backend.QueueLimits

func (q *Queue) limiter() (backend.Limiter, error) {
	return capability[backend.Limiter](q, "queue limits")
}

// SetLimits replaces the queue's limits, for every worker at once: the
// store applies them at the next lease, with a limits-changed event. The
// zero Limits lifts them.
func (q *Queue) SetLimits(ctx context.Context, l Limits) error {
	lim, err := q.limiter()
	if err != nil {
		return err
	}
	if err := lim.SetLimits(ctx, q.name, l); err != nil {
		return fmt.Errorf("drover: set limits of %s: %w", q.name, err)
	}
	return nil
}

// Limits reports the queue's limits, and when a hold or the rate limit
// keeps its jobs from starting.
func (q *Queue) Limits(ctx context.Context) (QueueLimits, error) {
	lim, err := q.limiter()
	if err != nil {
		return QueueLimits{}, err
	}
	l, err := lim.Limits(ctx, q.name)
	if err != nil {
		return QueueLimits{}, fmt.Errorf("drover: limits of %s: %w", q.name, err)
	}
	return l, nil
}

// Hold keeps every job of the queue from starting for d, as when an API
// the jobs call answers "too many requests, come back in d". A hold that
// would end earlier than the current one changes nothing.
func (q *Queue) Hold(ctx context.Context, d time.Duration) error {
	lim, err := q.limiter()
	if err != nil {
		return err
	}
	if err := lim.Hold(ctx, q.name, d); err != nil {
		return fmt.Errorf("drover: hold %s: %w", q.name, err)
	}
	return nil
}

// RateLimited returns the error a handler returns when what its job calls
// is rate limiting it: the job goes back to waiting, at the front, without
// using up an attempt, and the whole queue is held for d (at least a
// millisecond), so that no worker of any process starts another job of it
// before then.
func RateLimited(d time.Duration) error {
	return &rateLimitedError{d: max(d, time.Millisecond)}
}

type rateLimitedError struct{ d time.Duration }

func (e *rateLimitedError) Error() string { return fmt.Sprintf("drover: rate limited for %s", e.d) }

// RateLimitedFor reports whether err, a handler's error, is or wraps an
// error made by RateLimited, and for how long it holds the queue.
func RateLimitedFor(err error) (time.Duration, bool) {
	var r *rateLimitedError
	if errors.As(err, &r) {
		return r.d, true
	}
	return 0, false
}
