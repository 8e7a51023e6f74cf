package queue

import (
	"context"
	"fmt"

	"github.com/droverhq/drover/backend"
)

// Dedup asks Add to make no new job while another job holds a key: say,
// one sync per user at a time, one report a minute, or one reindex after
// a burst of edits. The store checks and takes the key in the same atomic
// step as the add, so it holds across every process. See backend.Dedup.
type Dedup = backend.Dedup

// DedupMode says how long a key holds; see backend.DedupMode.
type DedupMode = backend.DedupMode

// Deduplication modes.
const (
	// DedupUntilFinished holds the key until its job completes, fails
	// or is removed (and for at most Dedup.TTL when one is set).
	DedupUntilFinished = backend.DedupUntilFinished
	// DedupThrottle holds the key for Dedup.TTL, whatever becomes of
	// its job.
	DedupThrottle = backend.DedupThrottle
	// DedupDebounce holds it as DedupUntilFinished does; an add while
	// the job waits replaces its data and restarts its delay.
	DedupDebounce = backend.DedupDebounce
)

// DedupOutcome says what a key that held did to an add (Job.Dedup).
type DedupOutcome = backend.DedupOutcome

// Outcomes of a deduplicated add.
const (
	DedupIgnored  = backend.DedupIgnored
	DedupReplaced = backend.DedupReplaced
	DedupDeferred = backend.DedupDeferred
)

// DedupHolder is who holds a key; see backend.DedupHolder.
type DedupHolder = backend.DedupHolder

func (q *Queue) deduplicator() (backend.Deduplicator, error) {
	return capability[backend.Deduplicator](q, "deduplication")
}

// DedupHolder reports which job holds key, or an error wrapping
// ErrNotFound when none does: the key was never taken, its job finished,
// its TTL passed, or it was released.
func (q *Queue) DedupHolder(ctx context.Context, key string) (DedupHolder, error) {
	d, err := q.deduplicator()
	if err != nil {
		return DedupHolder{}, err
	}
	h, err := d.DedupHolder(ctx, q.name, key)
	if err != nil {
		return DedupHolder{}, fmt.Errorf("drover: deduplication key %q of %s: %w", key, q.name, err)
	}
	return h, nil
}

// ReleaseDedup lets go of key at once, leaving its job as it is, so that
// the next add with the key makes a new job; an add kept to run after the
// job (KeepLastIfActive) is dropped. It reports whether the key was held.
func (q *Queue) ReleaseDedup(ctx context.Context, key string) (bool, error) {
	d, err := q.deduplicator()
	if err != nil {
		return false, err
	}
	held, err := d.ReleaseDedup(ctx, q.name, key)
	if err != nil {
		return false, fmt.Errorf("drover: release deduplication key %q of %s: %w", key, q.name, err)
	}
	return held, nil
}
