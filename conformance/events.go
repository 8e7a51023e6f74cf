package conformance

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

// typesFor returns the types of the events about job id, in log order.
func typesFor(events []backend.Event, id string) []backend.EventType {
	var out []backend.EventType
	for _, e := range events {
		if e.JobID == id {
			out = append(out, e.Type)
		}
	}
	return out
}

// wantGapFree fails the case unless events have the IDs first, first+1, …
func wantGapFree(t testing.TB, events []backend.Event, first uint64) {
	t.Helper()
	for i, e := range events {
		if e.ID != first+uint64(i) {
			t.Fatalf("event %d has ID %d, want %d (IDs must increase by one)", i, e.ID, first+uint64(i))
		}
	}
}

// sameReadError reports whether two reads of an event log failed alike:
// both not at all, or both with an equal *EventsTrimmedError or
// *EventsAheadError.
func sameReadError(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if ta, ok := errors.AsType[*backend.EventsTrimmedError](a); ok {
		tb, ok := errors.AsType[*backend.EventsTrimmedError](b)
		return ok && *ta == *tb
	}
	if aa, ok := errors.AsType[*backend.EventsAheadError](a); ok {
		ab, ok := errors.AsType[*backend.EventsAheadError](b)
		return ok && *aa == *ab
	}
	return false
}

// eventsResult is what an Events call made in a goroutine returned.
type eventsResult struct {
	events []backend.Event
	err    error
}

func testEvents(t *testing.T, f Factory, cfg Config) {
	t.Run("add appends added then the job's first state", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		added := b.add(
			backend.NewJob{Name: "plain"},
			backend.NewJob{Name: "later", Delay: time.Minute},
			backend.NewJob{Name: "urgent", Priority: 2},
			backend.NewJob{Name: "parent", Children: []backend.NewJob{{Name: "child"}}},
			backend.NewJob{ID: "mine", Name: "chosen"},
		)
		dup := b.add(backend.NewJob{ID: "mine", Name: "chosen"})[0]
		evs := b.events(b.q, 0)
		wantGapFree(t, evs, 1)
		for _, c := range []struct {
			id   string
			want []backend.EventType
		}{
			{added[0].ID, []backend.EventType{backend.EventAdded, backend.EventWaiting}},
			{added[1].ID, []backend.EventType{backend.EventAdded, backend.EventDelayed}},
			{added[2].ID, []backend.EventType{backend.EventAdded, backend.EventPrioritized}},
			{added[3].ID, []backend.EventType{backend.EventAdded, backend.EventWaitingChildren}},
			{added[3].Children[0].ID, []backend.EventType{backend.EventAdded, backend.EventWaiting}},
			{dup.ID, []backend.EventType{backend.EventAdded, backend.EventWaiting, backend.EventDuplicated}},
		} {
			if got := typesFor(evs, c.id); !slices.Equal(got, c.want) {
				t.Errorf("events of job %s = %v, want %v", c.id, got, c.want)
			}
		}
		for _, e := range evs {
			if e.JobID == added[1].ID && e.Type == backend.EventDelayed && !e.RunAt.Equal(epoch.Add(time.Minute)) {
				t.Errorf("delayed event RunAt = %v, want %v", e.RunAt, epoch.Add(time.Minute))
			}
			if e.Type == backend.EventAdded && e.Name == "" {
				t.Errorf("added event %d has no job name", e.ID)
			}
		}
		if last := b.lastEventID(b.q); last != evs[len(evs)-1].ID {
			t.Errorf("LastEventID = %d, want %d", last, evs[len(evs)-1].ID)
		}
	})

	t.Run("lease and settle append their events", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		all := b.addN(5, "job")
		delayedID := b.addOne(backend.NewJob{Name: "later", Delay: time.Second})
		b.clock.Advance(time.Second)
		jobs := b.lease(6)
		mark := b.lastEventID(b.q)
		b.complete(jobs[0], "r0")
		b.fail(jobs[1], "bad")
		b.mustSettle(b.q, backend.Settlement{Lease: jobs[2].Lease, Outcome: backend.OutcomeRetry, Reason: "again"})
		b.mustSettle(b.q, backend.Settlement{Lease: jobs[3].Lease, Outcome: backend.OutcomeRetry, Reason: "later", RetryDelay: time.Minute})
		b.mustSettle(b.q, backend.Settlement{Lease: jobs[4].Lease, Outcome: backend.OutcomeRelease})
		evs := b.events(b.q, 0)
		wantGapFree(t, evs, 1)
		if got := typesFor(evs, delayedID); !slices.Equal(got, []backend.EventType{backend.EventAdded, backend.EventDelayed, backend.EventWaiting, backend.EventActive}) {
			t.Errorf("events of the promoted job = %v", got)
		}
		after := b.events(b.q, mark)
		for i, want := range [][]backend.EventType{
			{backend.EventCompleted},
			{backend.EventFailed},
			{backend.EventRetrying, backend.EventWaiting},
			{backend.EventRetrying, backend.EventDelayed},
			{backend.EventWaiting},
		} {
			if got := typesFor(after, all[i]); !slices.Equal(got, want) {
				t.Errorf("settle events of job %d = %v, want %v", i, got, want)
			}
		}
		for _, e := range after {
			switch {
			case e.Type == backend.EventCompleted && (string(e.Result) != "r0" || e.AttemptsMade != 1):
				t.Errorf("completed event: result %q attempts %d", e.Result, e.AttemptsMade)
			case e.Type == backend.EventFailed && e.Reason != "bad":
				t.Errorf("failed event reason %q", e.Reason)
			case e.Type == backend.EventRetrying && e.Reason == "":
				t.Errorf("retrying event of %s has no reason", e.JobID)
			}
		}
		for _, id := range all {
			if got := typesFor(evs, id); len(got) < 3 || got[2] != backend.EventActive {
				t.Errorf("events of job %s = %v, want added, waiting, active, …", id, got)
			}
		}
	})

	t.Run("a stalled job appends stalled, waiting and active", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "orphan"})
		b.leaseOne()
		mark := b.lastEventID(b.q)
		b.clock.Advance(defaultTTL + time.Second)
		b.leaseOne()
		want := []backend.EventType{backend.EventStalled, backend.EventWaiting, backend.EventActive}
		if got := typesFor(b.events(b.q, mark), id); !slices.Equal(got, want) {
			t.Errorf("events = %v, want %v", got, want)
		}
	})

	t.Run("admin changes append their events", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		all := b.addN(3, "job")
		mark := b.lastEventID(b.q)
		if err := b.store.UpdateProgress(b.ctx, b.q, all[0], []byte(`7`)); err != nil {
			t.Fatal(err)
		}
		if err := b.store.RemoveJob(b.ctx, b.q, all[0]); err != nil {
			t.Fatal(err)
		}
		if err := b.store.SetPaused(b.ctx, b.q, true); err != nil {
			t.Fatal(err)
		}
		if err := b.store.SetPaused(b.ctx, b.q, false); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.Drain(b.ctx, b.q, &backend.DrainRequest{}); err != nil {
			t.Fatal(err)
		}
		evs := b.events(b.q, mark)
		wantGapFree(t, evs, mark+1)
		var types []backend.EventType
		for _, e := range evs {
			types = append(types, e.Type)
		}
		if got := typesFor(evs, all[0]); !slices.Equal(got, []backend.EventType{backend.EventProgress, backend.EventRemoved}) {
			t.Errorf("events of the removed job = %v", got)
		}
		for _, want := range []backend.EventType{backend.EventPaused, backend.EventResumed, backend.EventDrained} {
			if !slices.Contains(types, want) {
				t.Errorf("events %v lack %s", types, want)
			}
		}
		for _, e := range evs {
			if e.Type == backend.EventDrained && e.Count != 2 {
				t.Errorf("drained event Count = %d, want 2", e.Count)
			}
			if e.Type == backend.EventProgress && string(e.Progress) != "7" {
				t.Errorf("progress event Progress = %q", e.Progress)
			}
		}
	})

	t.Run("reading after a pinned ID sees exactly the later events", func(t *testing.T) {
		t.Parallel()
		heavy(t)
		b := setup(t, f)
		rounds := cfg.size(1000)
		// Another writer keeps adding jobs throughout.
		ctx, stop := context.WithCancel(b.ctx)
		var wg sync.WaitGroup
		wg.Go(func() {
			for ctx.Err() == nil {
				b.store.Add(ctx, b.q, &backend.AddRequest{Jobs: []backend.NewJob{{Name: "noise"}}})
			}
		})
		defer func() { stop(); wg.Wait() }()
		for round := range rounds {
			pinned := b.lastEventID(b.q)
			id := b.addOne(backend.NewJob{Name: "mine"})
			var seen []backend.Event
			after := pinned
			for !slices.ContainsFunc(seen, func(e backend.Event) bool { return e.JobID == id && e.Type == backend.EventAdded }) {
				res, err := b.store.Events(b.ctx, b.q, &backend.EventsRequest{After: after, Max: 100})
				if err != nil {
					t.Fatalf("round %d: Events: %v", round, err)
				}
				if len(res.Events) == 0 {
					t.Fatalf("round %d: the added event of job %s is not after pinned ID %d", round, id, pinned)
				}
				seen = append(seen, res.Events...)
				after = res.Events[len(res.Events)-1].ID
			}
			wantGapFree(t, seen, pinned+1)
		}
	})

	t.Run("a waiting read returns when an event is appended", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{Name: "before"})
		last := b.lastEventID(b.q)
		ch := make(chan eventsResult, 1)
		go func() {
			res, err := b.store.Events(b.ctx, b.q, &backend.EventsRequest{After: last, Wait: longWait})
			ch <- eventsResult{res.Events, err}
		}()
		b.awaitWaiters(1)
		id := b.addOne(backend.NewJob{Name: "wake"})
		r := receive(t, ch, deadline, "waiting Events after Add")
		if r.err != nil || len(r.events) == 0 || r.events[0].ID != last+1 || r.events[0].JobID != id {
			t.Fatalf("waiting Events = %+v, %v; want the added event of %s with ID %d", r.events, r.err, id, last+1)
		}
	})

	t.Run("a read without Wait on no new event returns none", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{Name: "n"})
		res, err := b.store.Events(b.ctx, b.q, &backend.EventsRequest{After: b.lastEventID(b.q)})
		if err != nil || len(res.Events) != 0 {
			t.Fatalf("Events = %+v, %v; want none", res.Events, err)
		}
		if id, err := b.store.LastEventID(b.ctx, "never-used"); err != nil || id != 0 {
			t.Errorf("LastEventID of an unused queue = %d, %v; want 0", id, err)
		}
	})

	t.Run("a read position past the newest event is an error that names the newest, whatever its size", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.use("unused")
		b.addN(2, "n")
		last := b.lastEventID(b.q)
		for _, c := range []struct {
			q     string
			after uint64
			last  uint64
		}{
			{b.q, last + 1, last},
			{b.q, 1 << 53, last},
			{b.q, 1<<63 - 1, last},
			{b.q, 1 << 63, last},
			{b.q, math.MaxUint64, last},
			{"unused", 1, 0},
		} {
			for _, wait := range []time.Duration{0, longWait} {
				_, err := b.store.Events(b.ctx, c.q, &backend.EventsRequest{After: c.after, Wait: wait})
				var ae *backend.EventsAheadError
				if !errors.As(err, &ae) || !errors.Is(err, backend.ErrEventsAhead) || errors.Is(err, backend.ErrEventsTrimmed) {
					t.Fatalf("Events(%s) after %d, wait %v = %v, want an *EventsAheadError", c.q, c.after, wait, err)
				}
				if ae.After != c.after || ae.Last != c.last {
					t.Errorf("EventsAheadError = %+v, want After %d and Last %d", ae, c.after, c.last)
				}
			}
		}
		if evs := b.events(b.q, last); len(evs) != 0 {
			t.Errorf("reading after the newest event gave %v", evs)
		}
	})

	t.Run("a read position trimmed by count is an error that names the first kept event", func(t *testing.T) {
		t.Parallel()
		b := setupWith(t, f, Options{EventRetention: backend.EventRetention{Count: 100}})
		for range 120 {
			b.addOne(backend.NewJob{Name: "n"})
		}
		last := b.lastEventID(b.q)
		if last != 240 {
			t.Fatalf("LastEventID = %d after 120 adds, want 240", last)
		}
		_, err := b.store.Events(b.ctx, b.q, &backend.EventsRequest{After: 0})
		var te *backend.EventsTrimmedError
		if !errors.As(err, &te) || !errors.Is(err, backend.ErrEventsTrimmed) {
			t.Fatalf("Events after 0 = %v, want an *EventsTrimmedError", err)
		}
		if te.After != 0 || te.FirstAvailable <= 1 || te.FirstAvailable > last {
			t.Fatalf("EventsTrimmedError = %+v", te)
		}
		kept := b.events(b.q, te.FirstAvailable-1)
		if len(kept) == 0 || kept[0].ID != te.FirstAvailable {
			t.Fatalf("reading after %d gave %d events starting at %v", te.FirstAvailable-1, len(kept), kept)
		}
		wantGapFree(t, kept, te.FirstAvailable)
		if kept[len(kept)-1].ID != last || len(kept) > 100 {
			t.Errorf("kept events %d..%d (%d); want at most 100 ending at %d", kept[0].ID, kept[len(kept)-1].ID, len(kept), last)
		}
		if te.FirstAvailable >= 2 {
			_, err = b.store.Events(b.ctx, b.q, &backend.EventsRequest{After: te.FirstAvailable - 2})
			if !errors.Is(err, backend.ErrEventsTrimmed) {
				t.Errorf("Events after %d = %v, want ErrEventsTrimmed", te.FirstAvailable-2, err)
			}
		}
	})

	t.Run("the events of one bulk read in pages of any size come once each, in order", func(t *testing.T) {
		t.Parallel()
		b := setupWith(t, f, Options{EventRetention: backend.EventRetention{Count: 50}})
		bulk := make([]backend.NewJob, 40)
		for i := range bulk {
			bulk[i] = backend.NewJob{Name: "n"}
		}
		b.add(bulk...)
		last := b.lastEventID(b.q)
		if last != 80 {
			t.Fatalf("LastEventID = %d after a bulk of 40, want 80", last)
		}
		// The retention count falls inside the bulk's events: exactly the
		// last 50 are readable.
		_, err := b.store.Events(b.ctx, b.q, &backend.EventsRequest{After: 29})
		var te *backend.EventsTrimmedError
		if !errors.As(err, &te) || te.FirstAvailable != 31 {
			t.Fatalf("Events after 29 = %v, want an *EventsTrimmedError naming 31", err)
		}
		for _, page := range []int{1, 3, 7, 50} {
			var got []backend.Event
			for after := uint64(30); ; {
				res, err := b.store.Events(b.ctx, b.q, &backend.EventsRequest{After: after, Max: page})
				if err != nil {
					t.Fatalf("page %d: Events after %d: %v", page, after, err)
				}
				if len(res.Events) > page {
					t.Fatalf("page %d: Events after %d returned %d", page, after, len(res.Events))
				}
				if len(res.Events) == 0 {
					break
				}
				got = append(got, res.Events...)
				after = res.Events[len(res.Events)-1].ID
			}
			if len(got) != 50 {
				t.Fatalf("page %d: read %d events, want 50", page, len(got))
			}
			wantGapFree(t, got, 31)
			for _, e := range got {
				if e.Name != "n" || e.JobID == "" || (e.Type != backend.EventAdded && e.Type != backend.EventWaiting) {
					t.Fatalf("page %d: event %+v", page, e)
				}
			}
		}
	})

	t.Run("counting events agrees with reading them, at every position and page size", func(t *testing.T) {
		t.Parallel()
		b := setupWith(t, f, Options{EventRetention: backend.EventRetention{Count: 50}})
		counter, ok := b.store.(backend.EventCounter)
		if !ok {
			t.Skipf("store %T does not count events", b.store)
		}
		// Events of many types, in entries of one and of many events, the
		// oldest trimmed away.
		bulk := make([]backend.NewJob, 20)
		for i := range bulk {
			bulk[i] = backend.NewJob{Name: "n", Attempts: 2}
		}
		b.add(bulk...)
		for i, j := range b.lease(20) {
			s := backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeComplete, Result: []byte(`"ok"`)}
			if i%2 == 1 {
				s = backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeFail, Reason: "no"}
			}
			b.mustSettle(b.q, s)
		}
		b.addOne(backend.NewJob{Name: "late", Delay: time.Hour})
		if err := b.store.SetPaused(b.ctx, b.q, true); err != nil {
			t.Fatal(err)
		}
		last := b.lastEventID(b.q)
		if last <= 50 {
			t.Fatalf("only %d events: none trimmed", last)
		}
		for _, q := range []string{b.q, "never-used"} {
			for after := range uint64(last + 2) {
				for _, max := range []int{0, 1, 4, 50} {
					req := backend.EventsRequest{After: after, Max: max}
					read, rerr := b.store.Events(b.ctx, q, &req)
					var counted []backend.EventType
					end, cerr := counter.CountEvents(b.ctx, q, &req, func(t backend.EventType) { counted = append(counted, t) })
					var want []backend.EventType
					wantEnd := after
					for _, e := range read.Events {
						want = append(want, e.Type)
						wantEnd = e.ID
					}
					switch {
					case !sameReadError(rerr, cerr):
						t.Fatalf("%s after %d, max %d: Events failed with %v, CountEvents with %v", q, after, max, rerr, cerr)
					case cerr != nil && counted != nil:
						t.Fatalf("%s after %d, max %d: CountEvents failed (%v) but counted %v", q, after, max, cerr, counted)
					case cerr == nil && (!slices.Equal(counted, want) || end != wantEnd):
						t.Fatalf("%s after %d, max %d: counted %v up to %d, read %v up to %d", q, after, max, counted, end, want, wantEnd)
					}
				}
			}
		}
		for _, c := range []struct {
			name string
			req  *backend.EventsRequest
		}{
			{"a wait", &backend.EventsRequest{Wait: time.Second}},
			{"a negative max", &backend.EventsRequest{Max: -1}},
		} {
			_, err := counter.CountEvents(b.ctx, b.q, c.req, func(backend.EventType) { t.Fatal("counted") })
			if !errors.Is(err, backend.ErrInvalid) {
				t.Errorf("CountEvents with %s = %v, want ErrInvalid", c.name, err)
			}
		}
		if _, err := counter.CountEvents(b.ctx, "", nil, func(backend.EventType) {}); !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("CountEvents of queue \"\" = %v, want ErrInvalid", err)
		}
	})

	t.Run("a read position trimmed by age is an error", func(t *testing.T) {
		t.Parallel()
		b := setupWith(t, f, Options{EventRetention: backend.EventRetention{Age: time.Minute}})
		b.addOne(backend.NewJob{Name: "old"})
		b.clock.Advance(2 * time.Minute)
		b.addOne(backend.NewJob{Name: "new"})
		_, err := b.store.Events(b.ctx, b.q, &backend.EventsRequest{After: 0})
		var te *backend.EventsTrimmedError
		if !errors.As(err, &te) {
			t.Fatalf("Events after 0 = %v, want an *EventsTrimmedError", err)
		}
		kept := b.events(b.q, te.FirstAvailable-1)
		wantGapFree(t, kept, te.FirstAvailable)
		if len(kept) == 0 || kept[len(kept)-1].ID != b.lastEventID(b.q) {
			t.Errorf("kept events %v do not reach the last one", kept)
		}
	})

	t.Run("resuming after a persisted cursor gives exactly the rest", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addN(30, "job")
		for _, j := range b.lease(10) {
			b.complete(j, "ok")
		}
		res, err := b.store.Events(b.ctx, b.q, &backend.EventsRequest{Max: 25})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Events) != 25 {
			t.Fatalf("Events(Max 25) returned %d", len(res.Events))
		}
		cursor := res.Events[24].ID
		rest := b.events(b.q, cursor)
		whole := append(res.Events, rest...)
		wantGapFree(t, whole, 1)
		if got := whole[len(whole)-1].ID; got != b.lastEventID(b.q) {
			t.Errorf("union ends at %d, want %d", got, b.lastEventID(b.q))
		}
		all, err := b.store.Events(b.ctx, b.q, &backend.EventsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all.Events) != len(whole) {
			t.Errorf("Events(Max 0) returned %d events, want all %d", len(all.Events), len(whole))
		}
	})

	t.Run("queues have event logs of their own", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{Name: "a"})
		b.addTo("other", backend.NewJob{Name: "b"})
		if got := b.events("other", 0); len(got) != 2 || got[0].ID != 1 {
			t.Errorf("events of the other queue = %+v, want 2 starting at ID 1", got)
		}
	})
}
