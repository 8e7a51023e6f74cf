package redis

import (
	"context"

	"github.com/droverhq/drover/backend"
)

// DedupHolder reports who holds a deduplication key.
func (b *Backend) DedupHolder(ctx context.Context, queue, key string) (backend.DedupHolder, error) {
	return backend.DedupHolder{}, backend.ErrUnsupported
}

// ReleaseDedup lets go of a deduplication key.
func (b *Backend) ReleaseDedup(ctx context.Context, queue, key string) (bool, error) {
	return false, backend.ErrUnsupported
}
