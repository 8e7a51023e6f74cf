package redis

import (
	"cmp"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/redis/internal/layout"
)

// Events reads the queue's event log after req.After. Each script call
// appends its events as one stream entry whose ID is its last event's (see
// emit in lib.lua); a read whose next event was trimmed away fails with an
// *EventsTrimmedError.
func (b *Backend) Events(ctx context.Context, queue string, req *backend.EventsRequest) (backend.EventsResult, error) {
	if err := b.check(queue); err != nil {
		return backend.EventsResult{}, err
	}
	if err := req.Validate(); err != nil {
		return backend.EventsResult{}, err
	}
	var r backend.EventsRequest
	if req != nil {
		r = *req
	}
	if r.Max == 0 {
		r.Max = 1000
	}
	deadline := b.opts.Clock.Now().Add(r.Wait)
	for {
		evs, last, err := b.readEvents(ctx, queue, r.After, r.Max)
		if err != nil || len(evs) > 0 || r.Wait <= 0 {
			return backend.EventsResult{Events: evs}, err
		}
		wait := deadline.Sub(b.opts.Clock.Now())
		if wait <= 0 {
			return backend.EventsResult{}, nil
		}
		if err := b.waitEvents(ctx, queue, max(last, r.After), wait); err != nil {
			return backend.EventsResult{}, err
		}
	}
}

// readEvents reads at most n events after `after`, and the ID of the
// newest event.
func (b *Backend) readEvents(ctx context.Context, queue string, after uint64, n int) ([]backend.Event, uint64, error) {
	entries, last, err := b.readLog(ctx, queue, after, n)
	if err != nil || len(entries) == 0 {
		return nil, last, err
	}
	// Room for what there is to read, at once: a page of events grown by
	// appends would cost about twice its size.
	evs := make([]backend.Event, 0, min(uint64(n), last-after))
	for i := 0; i+1 < len(entries) && len(evs) < n; i += 2 {
		id, _ := entries[i].(int64)
		fields, _ := entries[i+1].([]any)
		if evs, err = decodeEntry(evs, uint64(id), fields, after, n); err != nil {
			return nil, 0, err
		}
	}
	return evs, last, nil
}

// readLog runs the events script for at most n events after `after`, and
// returns the stream entries that hold them (ID, fields, ID, fields, …)
// and the ID of the newest event; or the error of a read ahead of the
// log or of events trimmed away.
func (b *Backend) readLog(ctx context.Context, queue string, after uint64, n int) ([]any, uint64, error) {
	res, err := b.runRepeatable(ctx, "events", queue, strconv.FormatUint(after, 10), n)
	if err != nil {
		return nil, 0, err
	}
	a, _ := res.([]any)
	last, _ := a[0].(int64)
	first, _ := a[1].(int64)
	if after > uint64(last) {
		return nil, uint64(last), &backend.EventsAheadError{After: after, Last: uint64(last)}
	}
	// The event after `after` is gone if it was appended (after < last)
	// and the oldest kept one is later, or none is kept.
	if after < uint64(last) && (first == 0 || uint64(first) > after+1) {
		fa := uint64(first)
		if first == 0 {
			fa = uint64(last) + 1
		}
		return nil, uint64(last), &backend.EventsTrimmedError{After: after, FirstAvailable: fa}
	}
	return a[2:], uint64(last), nil
}

// CountEvents counts the queue's events after req.After by type (see
// backend.EventCounter), reading of each only its type.
func (b *Backend) CountEvents(ctx context.Context, queue string, req *backend.EventsRequest, count func(backend.EventType)) (uint64, error) {
	if err := b.check(queue); err != nil {
		return 0, err
	}
	if err := req.ValidateCount(); err != nil {
		return 0, err
	}
	var r backend.EventsRequest
	if req != nil {
		r = *req
	}
	n := cmp.Or(r.Max, 1000)
	entries, newest, err := b.readLog(ctx, queue, r.After, n)
	if err != nil {
		return 0, err
	}
	// Check every entry before counting any, so that a corrupt one
	// counts nothing.
	types := make([]backend.EventType, 0, min(uint64(n), newest-r.After))
	last := r.After
	for i := 0; i+1 < len(entries) && len(types) < n; i += 2 {
		id, _ := entries[i].(int64)
		fields, _ := entries[i+1].([]any)
		err := entryEvents(uint64(id), fields, r.After, func(id uint64, typ backend.EventType, _ string, _ *[4]string) bool {
			if len(types) >= n {
				return false
			}
			types = append(types, typ)
			last = id
			return true
		})
		if err != nil {
			return 0, err
		}
	}
	for _, t := range types {
		count(t)
	}
	return last, nil
}

// waitEvents blocks on XREAD until an event after `after` exists, the
// clock has advanced by wait, ctx ends or the store closes.
func (b *Backend) waitEvents(ctx context.Context, queue string, after uint64, wait time.Duration) error {
	timer := b.opts.Clock.NewTimer(wait)
	defer timer.Stop()
	done := make(chan error, 1)
	var once sync.Once
	started := b.spawn(func() {
		block := min(wait, maxBlock)
		if block < time.Millisecond {
			block = time.Millisecond
		}
		err := b.client.XRead(context.Background(), &goredis.XReadArgs{
			Streams: []string{b.key(queue, layout.KeyEvents), strconv.FormatUint(after, 10) + "-0"},
			Count:   1,
			Block:   block,
		}).Err()
		once.Do(func() { done <- err })
	})
	if !started {
		return backend.ErrClosed
	}
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, goredis.Nil) {
			if strings.Contains(err.Error(), "NOGROUP") {
				return nil
			}
			b.opts.Logger.Warn("drover: waiting for events failed", "queue", queue, "err", err)
			return b.backoff(ctx, err)
		}
		return nil
	case <-timer.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-b.closing:
		return backend.ErrClosed
	}
}

// LastEventID returns the ID of the newest event appended to the queue.
func (b *Backend) LastEventID(ctx context.Context, queue string) (uint64, error) {
	if err := b.check(queue); err != nil {
		return 0, err
	}
	n, err := b.client.HGet(ctx, b.key(queue, layout.KeyMeta), "ev").Uint64()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	return n, b.failed(err)
}
