package bolt

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/droverhq/drover/backend"
	"go.etcd.io/bbolt"
)

// The event log is kept in segments: the key is the big-endian ID of the
// segment's first event, the value the segment's events one after the
// other, each as a uvarint length and an encoded event. IDs are contiguous
// within and across segments (trimming only removes the oldest), so the
// ID of an event is its segment's key plus its position. A transaction's
// events go into the last segment while it has room, which makes an append
// one Put however many events its requests make, and trimming drops whole
// segments and rewrites at most one.
const (
	segMaxBytes  = 4000
	segMaxEvents = 256
)

// event appends ev to the queue's log with the next ID and the request's
// time. The events of a transaction are written, and retention applied,
// when its last request has run (qtx.flush).
func (q *qtx) event(ev backend.Event) error {
	q.m.lastEvent++
	q.dirty()
	ev.ID = q.m.lastEvent
	ev.Time = q.t.now
	q.t.scratch = appendEvent(q.t.scratch[:0], &ev)
	q.evBuf = binary.AppendUvarint(q.evBuf, uint64(len(q.t.scratch)))
	q.evBuf = append(q.evBuf, q.t.scratch...)
	q.evCount++
	return nil
}

// jobEvent appends ev, an event about j: every such event names the job,
// its attempts made and its scheduler, whatever its type.
func (q *qtx) jobEvent(ev backend.Event, j *backend.Job) error {
	ev.JobID, ev.Name, ev.AttemptsMade, ev.SchedulerID = j.ID, j.Name, j.AttemptsMade, j.SchedulerID
	return q.event(ev)
}

// segment walks the events of a segment value; fn gets each encoded event
// with its position and may stop the walk by returning false.
func segment(v []byte, fn func(i int, rec []byte) bool) error {
	for i := 0; len(v) > 0; i++ {
		n, w := binary.Uvarint(v)
		if w <= 0 || n > uint64(len(v)-w) {
			return errCorrupt
		}
		if !fn(i, v[w:w+int(n)]) {
			return nil
		}
		v = v[w+int(n):]
	}
	return nil
}

// segmentLen returns the number of events in a segment value.
func segmentLen(v []byte) (int, error) {
	n := 0
	err := segment(v, func(int, []byte) bool { n++; return true })
	return n, err
}

// writeEvents writes the events appended by the request.
func (q *qtx) writeEvents() error {
	if q.evCount == 0 {
		return nil
	}
	buf, count := q.evBuf, q.evCount
	q.evBuf, q.evCount = q.evBuf[:0], 0
	first := q.m.lastEvent - uint64(count) + 1
	if k, v := q.eventCursor().Last(); k != nil && len(v)+len(buf) <= segMaxBytes {
		n, err := segmentLen(v)
		if err != nil {
			return err
		}
		if n+count <= segMaxEvents {
			nv := q.t.alloc(len(v) + len(buf))
			copy(nv[copy(nv, v):], buf)
			return q.put(q.events, q.t.copyBytes(k), nv)
		}
	}
	// New segments, cut at record boundaries.
	for len(buf) > 0 {
		size, n := 0, 0
		for size < len(buf) && n < segMaxEvents {
			l, w := binary.Uvarint(buf[size:])
			if n > 0 && size+w+int(l) > segMaxBytes {
				break
			}
			size += w + int(l)
			n++
		}
		k := binary.BigEndian.AppendUint64(q.t.alloc(8)[:0], first)
		if err := q.put(q.events, k, q.t.copyBytes(buf[:size])); err != nil {
			return err
		}
		buf = buf[size:]
		first += uint64(n)
	}
	return nil
}

// firstEventID returns the ID of the oldest event kept, or the ID the next
// event will get when the log is empty.
func (q *qtx) firstEventID() uint64 {
	k, _ := q.eventCursor().First()
	if len(k) != 8 {
		return q.m.lastEvent + 1
	}
	return binary.BigEndian.Uint64(k)
}

// trimEvents applies the event retention.
func (q *qtx) trimEvents() error {
	r := q.t.b.opts.EventRetention
	keep := q.firstEventID() // the first ID to keep
	if r.Count > 0 && q.m.lastEvent >= uint64(r.Count) {
		keep = max(keep, q.m.lastEvent-uint64(r.Count)+1)
	}
	if r.Age > 0 {
		cutoff := q.t.now.Add(-r.Age)
		c := q.events.Cursor()
		var err error
		found := false
		for k, v := c.First(); k != nil && !found; k, v = c.Next() {
			base := binary.BigEndian.Uint64(k)
			err = segment(v, func(i int, rec []byte) bool {
				if tm, ok := eventTime(rec); ok && !tm.Before(cutoff) {
					keep, found = max(keep, base+uint64(i)), true
					return false
				}
				return true
			})
			if err != nil {
				return err
			}
		}
		if !found {
			keep = q.m.lastEvent + 1
		}
	}
	return q.trimTo(keep)
}

// trimTo removes the events before ID keep.
func (q *qtx) trimTo(keep uint64) error {
	for {
		k, v := q.eventCursor().First()
		if k == nil || binary.BigEndian.Uint64(k) >= keep {
			return nil
		}
		base := binary.BigEndian.Uint64(k)
		n, err := segmentLen(v)
		if err != nil {
			return err
		}
		var old [8]byte
		copy(old[:], k)
		if base+uint64(n) <= keep {
			if err := q.del(q.events, old[:]); err != nil {
				return err
			}
			continue
		}
		// Keep the tail of this segment under a new key.
		var rest []byte
		_ = segment(v, func(i int, rec []byte) bool {
			if base+uint64(i) == keep {
				rest = v[len(v)-restLen(v, i):]
				return false
			}
			return true
		})
		nv := q.t.copyBytes(rest)
		if err := q.del(q.events, old[:]); err != nil {
			return err
		}
		return q.put(q.events, binary.BigEndian.AppendUint64(q.t.alloc(8)[:0], keep), nv)
	}
}

// restLen returns the length of a segment value from its event i on.
func restLen(v []byte, i int) int {
	off := 0
	for range i {
		n, w := binary.Uvarint(v[off:])
		off += w + int(n)
	}
	return len(v) - off
}

// copyBytes copies b into memory that stays valid for the transaction.
func (t *txn) copyBytes(b []byte) []byte {
	v := t.alloc(len(b))
	copy(v, b)
	return v
}

// readEvents appends to out the events after ID after, at most limit.
func (q *qtx) readEvents(after uint64, limit int, out []backend.Event) ([]backend.Event, error) {
	err := q.eachEvent(after, limit, func(id uint64, rec []byte) error {
		ev, err := decodeEvent(rec)
		if err != nil {
			return err
		}
		ev.ID = id
		out = append(out, ev)
		return nil
	})
	return out, err
}

// eachEvent calls fn with the ID and record of each event after ID after,
// in order, at most limit of them, and stops at its first error.
func (q *qtx) eachEvent(after uint64, limit int, fn func(id uint64, rec []byte) error) error {
	c := q.events.Cursor()
	var kb [8]byte
	want := after + 1
	k, v := c.Seek(binary.BigEndian.AppendUint64(kb[:0], want))
	if k == nil || binary.BigEndian.Uint64(k) > want {
		// want is inside the segment before, if any.
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		if k == nil {
			k, v = c.First()
		}
	}
	n := 0
	for ; k != nil && n < limit; k, v = c.Next() {
		base := binary.BigEndian.Uint64(k)
		var ferr error
		err := segment(v, func(i int, rec []byte) bool {
			id := base + uint64(i)
			if id < want {
				return true
			}
			if ferr = fn(id, rec); ferr != nil {
				ferr = fmt.Errorf("drover: bolt: event %d of queue %s: %w", id, q.name, ferr)
				return false
			}
			n++
			return n < limit
		})
		if err != nil {
			return err
		}
		if ferr != nil {
			return ferr
		}
	}
	return nil
}

// checkRead fails a read of q's log after ID after as the log says: past
// its newest event, or before its oldest kept one. q may be nil, a queue
// without events.
func checkRead(q *qtx, after uint64) error {
	var last uint64
	if q != nil {
		last = q.m.lastEvent
	}
	if after > last {
		return &backend.EventsAheadError{After: after, Last: last}
	}
	if q == nil {
		return nil
	}
	if first := q.firstEventID(); after+1 < first {
		return &backend.EventsTrimmedError{After: after, FirstAvailable: first}
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
	if err := req.Validate(); err != nil {
		return res, err
	}
	if req == nil {
		req = &backend.EventsRequest{}
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
			if err := checkRead(q, req.After); q == nil || err != nil {
				return err
			}
			// Room for what there is to read, at once: a page of events
			// grown by appends would cost about twice its size.
			out := make([]backend.Event, 0, min(uint64(limit), q.m.lastEvent-req.After))
			var err error
			res.Events, err = q.readEvents(req.After, limit, out)
			return err
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

// CountEvents counts the queue's events after req.After by type (see
// backend.EventCounter), reading only the type of each.
func (b *Backend) CountEvents(ctx context.Context, queue string, req *backend.EventsRequest, count func(backend.EventType)) (uint64, error) {
	if err := backend.ValidateQueueName(queue); err != nil {
		return 0, err
	}
	if err := req.ValidateCount(); err != nil {
		return 0, err
	}
	if req == nil {
		req = &backend.EventsRequest{}
	}
	limit := cmp.Or(req.Max, 1000)
	var types []backend.EventType // counted once the read is whole
	last := req.After
	err := b.view(func(tx *bbolt.Tx) error {
		q := readQueue(tx, queue)
		if err := checkRead(q, req.After); q == nil || err != nil {
			return err
		}
		types = make([]backend.EventType, 0, min(uint64(limit), q.m.lastEvent-req.After))
		var known []backend.EventType
		return q.eachEvent(req.After, limit, func(id uint64, rec []byte) error {
			t, err := eventType(rec, &known)
			types = append(types, t)
			last = id
			return err
		})
	})
	if err != nil {
		return 0, err
	}
	for _, t := range types {
		count(t)
	}
	return last, nil
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
