// Package eventtally counts what a queue's event log says happened to its
// jobs, reading only the events appended since the last count. The
// metrics collector's totals and the rates of drover stats --watch come
// from it.
package eventtally

import (
	"context"
	"errors"

	"github.com/droverhq/drover/backend"
)

// Counts are the numbers of events of the types that say what became of
// jobs.
type Counts struct {
	Added, Completed, Failed, Retried, Stalled, Cancelled uint64
}

// Count adds an event of type t.
func (c *Counts) Count(t backend.EventType) {
	switch t {
	case backend.EventAdded:
		c.Added++
	case backend.EventCompleted:
		c.Completed++
	case backend.EventFailed:
		c.Failed++
	case backend.EventRetrying:
		c.Retried++
	case backend.EventStalled:
		c.Stalled++
	case backend.EventCancelled:
		c.Cancelled++
	}
}

// Tally counts the events of one queue's log, from a position on.
type Tally struct {
	Counts
	// Cursor is the ID of the last event counted.
	Cursor uint64
	// Fresh is set until the first Read of a log whose start the tally
	// does not know: events trimmed from it before that read are not
	// counted as missed, since they may predate the tally.
	Fresh bool
	// Missed counts the events trimmed from the log before Read reached
	// them, which Counts does not count.
	Missed uint64
}

// Read counts the events of queue's log after Cursor, up to last (the
// log's LastEventID), at most budget of them in reads of at most page
// events, which the store counts itself when it can
// (backend.EventCounter). When the log ends before Cursor (a store that
// lost its data, such as a Redis server restarted without persistence),
// the tally counts from the log's end. An error of a read leaves counted
// what was read before it.
func (t *Tally) Read(ctx context.Context, log backend.EventLog, queue string, last uint64, budget, page int) error {
	t.Cursor = min(t.Cursor, last)
	counter, _ := log.(backend.EventCounter)
	for t.Cursor < last && budget > 0 {
		req := &backend.EventsRequest{After: t.Cursor, Max: min(budget, page)}
		var (
			n   int
			err error
		)
		if counter != nil {
			n, err = t.count(ctx, counter, queue, req)
		} else {
			n, err = t.read(ctx, log, queue, req)
		}
		if te, is := errors.AsType[*backend.EventsTrimmedError](err); is && te.FirstAvailable > t.Cursor+1 {
			if !t.Fresh {
				t.Missed += te.FirstAvailable - 1 - t.Cursor
			}
			t.Cursor = te.FirstAvailable - 1
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		budget -= n
	}
	t.Fresh = false
	return nil
}

// read counts the events that req reads, and returns how many it read.
func (t *Tally) read(ctx context.Context, log backend.EventLog, queue string, req *backend.EventsRequest) (int, error) {
	res, err := log.Events(ctx, queue, req)
	if err != nil {
		return 0, err
	}
	for _, e := range res.Events {
		if e.ID > t.Cursor {
			t.Count(e.Type)
			t.Cursor = e.ID
		}
	}
	return len(res.Events), nil
}

// count counts the events that req reads by a store that counts them
// itself, and returns how many it counted.
func (t *Tally) count(ctx context.Context, counter backend.EventCounter, queue string, req *backend.EventsRequest) (int, error) {
	n := 0
	last, err := counter.CountEvents(ctx, queue, req, func(typ backend.EventType) {
		t.Count(typ)
		n++
	})
	if err != nil {
		return 0, err
	}
	t.Cursor = max(t.Cursor, last)
	return n, nil
}
