package dashboard

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/droverhq/drover/backend"
)

// rateWindow is the span of the throughput shown: jobs finished in the
// last minute.
const rateWindow = time.Minute

// rateEvents is the most events read from the end of a log to find the
// jobs finished in the last minute. A queue that finished more says so
// ("1000+/min") rather than read further.
const rateEvents = 1000

// rate holds the finish times (completed or failed) of a queue's recent
// jobs, oldest first, to tell its throughput.
type rate struct {
	times []time.Time
	// full is set when the times stop at rateEvents events before the
	// window's start: there may have been more.
	full bool
}

// add notes a finished job.
func (rt *rate) add(t time.Time) {
	rt.times = append(rt.times, t)
	if len(rt.times) > 2*rateEvents {
		rt.times = append(rt.times[:0], rt.times[len(rt.times)-rateEvents:]...)
		rt.full = true
	}
}

// perMinute says the throughput at now: "12/min", or "1000+/min" when
// more may have finished than were read.
func (rt *rate) perMinute(now time.Time) string {
	start := now.Add(-rateWindow)
	i := 0
	for i < len(rt.times) && rt.times[i].Before(start) {
		i++
	}
	rt.times = rt.times[i:]
	if i > 0 {
		rt.full = false
	}
	s := strconv.Itoa(len(rt.times))
	if rt.full {
		s += "+"
	}
	return s + "/min"
}

// finished reports whether ev ends a job.
func finished(ev *backend.Event) bool {
	return ev.Type == backend.EventCompleted || ev.Type == backend.EventFailed
}

// recentFinishes reads the end of a queue's event log for its recent
// throughput.
func (h *handler) recentFinishes(ctx context.Context, name string) (*rate, error) {
	evs, err := h.tail(ctx, name, rateEvents)
	if err != nil {
		return nil, err
	}
	rt := &rate{full: len(evs) == rateEvents && !evs[0].Time.Before(now().Add(-rateWindow))}
	for i := range evs {
		if finished(&evs[i]) {
			rt.times = append(rt.times, evs[i].Time)
		}
	}
	return rt, nil
}

// tail returns the last n events of a queue's log (fewer when it holds
// fewer), oldest first: one read of the store.
func (h *handler) tail(ctx context.Context, name string, n int) ([]backend.Event, error) {
	last, err := h.store.LastEventID(ctx, name)
	if err != nil || last == 0 {
		return nil, err
	}
	after := last - min(last, uint64(n))
	res, err := h.store.Events(ctx, name, &backend.EventsRequest{After: after, Max: n})
	if trimmed, ok := errors.AsType[*backend.EventsTrimmedError](err); ok && trimmed.FirstAvailable > 0 {
		res, err = h.store.Events(ctx, name, &backend.EventsRequest{After: trimmed.FirstAvailable - 1, Max: n})
	}
	return res.Events, err
}

func now() time.Time { return time.Now() }
