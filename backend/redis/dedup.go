package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
)

var _ backend.Deduplicator = (*Backend)(nil)

// DedupHolder reports who holds a deduplication key. Whether an entry
// still holds is decided as an add decides it (see dedup.lua in
// lua/parts).
func (b *Backend) DedupHolder(ctx context.Context, queue, key string) (backend.DedupHolder, error) {
	if err := b.checkKey(queue, key); err != nil {
		return backend.DedupHolder{}, err
	}
	res, err := b.runRepeatable(ctx, "dedup_holder", queue, key)
	if err != nil {
		return backend.DedupHolder{}, err
	}
	f := toStrings(res)
	if len(f) < 4 {
		return backend.DedupHolder{}, &storeError{sentinel: backend.ErrNotFound, detail: fmt.Sprintf("deduplication key %q in %s", key, queue), cause: goredis.Nil}
	}
	return backend.DedupHolder{Key: key, JobID: f[0], Mode: backend.DedupMode(f[1]), ExpiresAt: fromMs(f[2]), Deferred: f[3] == "1"}, nil
}

// ReleaseDedup lets go of a deduplication key, dropping an add it kept to
// run later.
func (b *Backend) ReleaseDedup(ctx context.Context, queue, key string) (bool, error) {
	if err := b.checkKey(queue, key); err != nil {
		return false, err
	}
	res, err := b.run(ctx, "dedup_release", queue, key)
	if err != nil {
		return false, err
	}
	held, _ := res.(int64)
	return held == 1, nil
}

// checkKey is check for a call about deduplication key of queue.
func (b *Backend) checkKey(queue, key string) error {
	if err := b.check(queue); err != nil {
		return err
	}
	return backend.ValidateDedupKey(key)
}
