package bolt

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/droverhq/drover/backend"
	"go.etcd.io/bbolt"
)

// event appends ev to the queue's log with the next ID and the request's
// time. Retention is applied when the request ends (qtx.flush).
func (q *qtx) event(ev backend.Event) error {
	q.m.lastEvent++
	q.dirty()
	ev.ID = q.m.lastEvent
	ev.Time = q.t.now
	q.evAppended = true
	k := binary.BigEndian.AppendUint64(q.t.alloc(8)[:0], ev.ID)
	return q.put(q.events, k, q.t.encode(func(b []byte) []byte { return appendEvent(b, &ev) }))
}

// jobEvent appends an event about j.
func (q *qtx) jobEvent(typ backend.EventType, j *backend.Job) error {
	return q.event(backend.Event{Type: typ, JobID: j.ID, Name: j.Name, AttemptsMade: j.AttemptsMade})
}

// firstEventID returns the ID of the oldest event kept, or the ID the next
// event will get when the log is empty. Event IDs in the log are
// contiguous: trimming only removes the oldest.
func (q *qtx) firstEventID() uint64 {
	k, _ := q.events.Cursor().First()
	if len(k) != 8 {
		return q.m.lastEvent + 1
	}
	return binary.BigEndian.Uint64(k)
}

// trimEvents applies the event retention.
func (q *qtx) trimEvents() error {
	r := q.t.b.opts.EventRetention
	first := q.firstEventID()
	last := q.m.lastEvent
	var kb [8]byte
	if r.Count > 0 && last >= first && last-first+1 > uint64(r.Count) {
		end := last - uint64(r.Count) + 1 // first ID kept
		for id := first; id < end; id++ {
			if err := q.del(q.events, binary.BigEndian.AppendUint64(kb[:0], id)); err != nil {
				return err
			}
		}
		first = end
	}
	if r.Age > 0 {
		cutoff := q.t.now.Add(-r.Age)
		for id := first; id <= last; id++ {
			k := binary.BigEndian.AppendUint64(kb[:0], id)
			tm, ok := eventTime(q.events.Get(k))
			if ok && !tm.Before(cutoff) {
				break
			}
			if err := q.del(q.events, k); err != nil {
				return err
			}
		}
	}
	return nil
}

// Events reads the queue's event log after req.After, blocking up to
// req.Wait when there is nothing yet.
func (b *Backend) Events(ctx context.Context, queue string, req *backend.EventsRequest) (backend.EventsResult, error) {
	var res backend.EventsResult
	if err := backend.ValidateQueueName(queue); err != nil {
		return res, err
	}
	if req == nil {
		req = &backend.EventsRequest{}
	}
	if req.Max < 0 || req.Wait < 0 {
		return res, backend.Invalid("Max", "max or wait is negative")
	}
	limit := req.Max
	if limit == 0 {
		limit = 1000
	}
	clock := b.opts.Clock
	deadline := clock.Now().Add(req.Wait)
	for {
		changed := b.eventsChanged(queue)
		err := b.view(func(tx *bbolt.Tx) error {
			q := readQueue(tx, queue)
			if q == nil {
				return nil
			}
			first := q.firstEventID()
			if req.After+1 < first {
				return &backend.EventsTrimmedError{After: req.After, FirstAvailable: first}
			}
			c := q.events.Cursor()
			var kb [8]byte
			for k, v := c.Seek(binary.BigEndian.AppendUint64(kb[:0], req.After+1)); k != nil && len(res.Events) < limit; k, v = c.Next() {
				ev, err := decodeEvent(v)
				if err != nil {
					return fmt.Errorf("drover: bolt: event %d of queue %s: %w", binary.BigEndian.Uint64(k), queue, err)
				}
				ev.ID = binary.BigEndian.Uint64(k)
				res.Events = append(res.Events, ev)
			}
			return nil
		})
		if err != nil || len(res.Events) > 0 {
			return res, err
		}
		remaining := deadline.Sub(clock.Now())
		if remaining <= 0 {
			return res, nil
		}
		timer := clock.NewTimer(remaining)
		select {
		case <-changed:
			timer.Stop()
		case <-timer.C():
		case <-ctx.Done():
			timer.Stop()
			return res, ctx.Err()
		case <-b.done:
			timer.Stop()
			return res, errClosed
		}
	}
}

// LastEventID returns the ID of the newest event ever appended to the
// queue (kept or trimmed), or 0.
func (b *Backend) LastEventID(ctx context.Context, queue string) (uint64, error) {
	if err := backend.ValidateQueueName(queue); err != nil {
		return 0, err
	}
	var id uint64
	err := b.view(func(tx *bbolt.Tx) error {
		if q := readQueue(tx, queue); q != nil {
			id = q.m.lastEvent
		}
		return nil
	})
	return id, err
}
