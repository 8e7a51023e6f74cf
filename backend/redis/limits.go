package redis

import (
	"context"
	"time"

	"github.com/droverhq/drover/backend"
)

// SetLimits replaces a queue's limits.
func (b *Backend) SetLimits(ctx context.Context, queue string, l backend.Limits) error {
	return backend.ErrUnsupported
}

// Limits reports a queue's limits.
func (b *Backend) Limits(ctx context.Context, queue string) (backend.QueueLimits, error) {
	return backend.QueueLimits{}, backend.ErrUnsupported
}

// Hold keeps a queue's jobs from starting for d.
func (b *Backend) Hold(ctx context.Context, queue string, d time.Duration) error {
	return backend.ErrUnsupported
}
