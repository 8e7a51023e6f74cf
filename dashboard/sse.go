package dashboard

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// The pace of the stream.
const (
	// countsDelay gathers the events of a burst into one read of the
	// counts: at most one read per queue per countsDelay.
	countsDelay = 150 * time.Millisecond
	// rateEvery is how often the throughput is told again while no job
	// finishes, as the minute's window slides.
	rateEvery = 5 * time.Second
	// pingEvery keeps idle connections open through proxies.
	pingEvery = 20 * time.Second
	// maxStreamQueues caps the queues one stream follows: each is one
	// blocking read of the store at a time.
	maxStreamQueues = 64
)

// countsMsg is a queue's counts in the stream.
type countsMsg struct {
	Queue  string         `json:"queue"`
	Counts map[string]int `json:"counts"`
	Paused bool           `json:"paused"`
	Rate   string         `json:"rate"`
}

func countsMsgOf(name string, c backend.Counts, rate string) countsMsg {
	m := countsMsg{Queue: name, Counts: make(map[string]int, len(backend.States)), Paused: c.Paused, Rate: rate}
	for _, s := range backend.States {
		m.Counts[string(s)] = c.Of(s)
	}
	return m
}

// streamed is an event read by a queue's follower, or the error that
// ended it.
type streamed struct {
	queue string
	ev    backend.Event
	err   error
}

// stream serves server-sent events: "counts" of each queue whenever its
// events say they changed, "rate" as its throughput moves, and, with
// events=1, each "job" event itself (with job=ID, only that job's events,
// and no counts). The query names the queues (queue=, repeated; all of
// them when none is), and for one queue after= (or the Last-Event-ID
// header of a reconnecting browser) resumes its events after that ID.
// The counts come from the event log, never from polling: every
// goroutine follows one queue's log and ends with the request. A stream
// follows at most maxStreamQueues queues: without queue=, the first of
// them.
func (h *handler) stream(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	q := r.URL.Query()
	names := q["queue"]
	if len(names) == 0 {
		// The overview's: the first queues, as many as one stream follows.
		all, err := h.queues(ctx)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		names = all[:min(len(all), maxStreamQueues)]
	}
	if len(names) > maxStreamQueues {
		h.fail(w, r, backend.Invalid("queue", fmt.Sprintf("a stream follows at most %d queues", maxStreamQueues)))
		return
	}
	withEvents := q.Get("events") == "1"
	// A job's page follows that job only, and needs no counts.
	onlyJob := q.Get("job")
	from := queue.FromNow()
	if after := cmp.Or(r.Header.Get("Last-Event-ID"), q.Get("after")); after != "" && len(names) == 1 {
		id, err := strconv.ParseUint(after, 10, 64)
		if err != nil {
			h.fail(w, r, backend.Invalid("after", "not an event ID"))
			return
		}
		from = queue.FromID(id)
	}

	// Subscribe first, then read the counts: a change after the read is
	// in the subscription, so the page is never left stale.
	subs := make([]*queue.Subscription, 0, len(names))
	defer func() {
		for _, s := range subs {
			s.Close()
		}
	}()
	for _, name := range names {
		qu, err := queue.New(h.store, name, nil)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		sub, err := qu.Subscribe(ctx, from, nil)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		subs = append(subs, sub)
	}
	rates := make(map[string]*rate, len(names))
	shown := make(map[string]string, len(names))
	var initial []countsMsg
	for _, name := range names {
		if onlyJob != "" {
			rates[name] = &rate{}
			continue
		}
		row, err := h.queueRow(ctx, name)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		rates[name], shown[name] = row.rate, row.Rate
		initial = append(initial, countsMsgOf(name, row.Counts, row.Rate))
	}

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(event string, id uint64, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if id > 0 {
			if _, err := fmt.Fprintf(w, "id: %d\n", id); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return err
		}
		return nil
	}
	for _, m := range initial {
		if err := send("counts", 0, m); err != nil {
			return
		}
	}
	if err := rc.Flush(); err != nil {
		return
	}

	// One follower per queue; each ends with ctx, and the handler waits
	// for them before it returns.
	ch := make(chan streamed)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i, sub := range subs {
		name := names[i]
		wg.Go(func() {
			for {
				ev, err := sub.Next(ctx)
				if ctx.Err() != nil {
					return
				}
				select {
				case ch <- streamed{queue: name, ev: ev, err: err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		})
	}

	dirty := map[string]bool{}
	flushCounts := time.NewTimer(countsDelay)
	flushCounts.Stop()
	armed := false
	rateTick := time.NewTicker(rateEvery)
	defer rateTick.Stop()
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case it := <-ch:
			if it.err != nil {
				if !errors.Is(it.err, backend.ErrClosed) {
					h.log.WarnContext(ctx, "dashboard event stream ended", "queue", it.queue, "err", it.err)
				}
				_ = send("failure", 0, map[string]string{"queue": it.queue, "error": it.err.Error()})
				_ = rc.Flush()
				return
			}
			if onlyJob != "" && it.ev.JobID != onlyJob {
				continue
			}
			if finished(&it.ev) {
				rates[it.queue].add(it.ev.Time)
			}
			if !armed && onlyJob == "" {
				flushCounts.Reset(countsDelay)
				armed = true
			}
			dirty[it.queue] = true
			if withEvents {
				var id uint64
				if len(names) == 1 {
					id = it.ev.ID
				}
				err = send("job", id, eventRowOf(it.queue, it.ev))
			}
		case <-flushCounts.C:
			armed = false
			for name := range dirty {
				c, cerr := h.store.Counts(ctx, name)
				if cerr != nil {
					h.log.WarnContext(ctx, "dashboard counts failed", "queue", name, "err", cerr)
					continue
				}
				shown[name] = rates[name].perMinute(now())
				if err = send("counts", 0, countsMsgOf(name, c, shown[name])); err != nil {
					break
				}
			}
			clear(dirty)
		case <-rateTick.C:
			if onlyJob != "" {
				continue
			}
			for _, name := range names {
				if s := rates[name].perMinute(now()); s != shown[name] {
					shown[name] = s
					if err = send("rate", 0, map[string]string{"queue": name, "rate": s}); err != nil {
						break
					}
				}
			}
		case <-ping.C:
			_, err = fmt.Fprint(w, ": ping\n\n")
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}
