package eventtally

import (
	"context"
	"testing"

	"github.com/droverhq/drover/backend"
)

// fakeLog is a log of the events from first to len(types), in order.
type fakeLog struct {
	first uint64
	types []backend.EventType // the type of event i+1
	reads int
}

func (l *fakeLog) LastEventID(context.Context, string) (uint64, error) {
	return uint64(len(l.types)), nil
}

func (l *fakeLog) Events(_ context.Context, _ string, req *backend.EventsRequest) (backend.EventsResult, error) {
	l.reads++
	if req.After+1 < l.first {
		return backend.EventsResult{}, &backend.EventsTrimmedError{After: req.After, FirstAvailable: l.first}
	}
	var res backend.EventsResult
	for id := req.After + 1; id <= uint64(len(l.types)) && len(res.Events) < req.Max; id++ {
		res.Events = append(res.Events, backend.Event{ID: id, Type: l.types[id-1]})
	}
	return res, nil
}

// countingLog is a fakeLog that counts its events itself
// (backend.EventCounter).
type countingLog struct{ *fakeLog }

func (l countingLog) CountEvents(ctx context.Context, queue string, req *backend.EventsRequest, count func(backend.EventType)) (uint64, error) {
	res, err := l.Events(ctx, queue, req)
	if err != nil {
		return 0, err
	}
	last := req.After
	for _, e := range res.Events {
		count(e.Type)
		last = e.ID
	}
	return last, nil
}

func TestRead(t *testing.T) {
	t.Run("events", func(t *testing.T) {
		testRead(t, func(l *fakeLog) backend.EventLog { return l })
	})
	t.Run("counted by the store", func(t *testing.T) {
		testRead(t, func(l *fakeLog) backend.EventLog { return countingLog{l} })
	})
}

// testRead reads a fakeLog through as, which gives it as an EventLog.
func testRead(t *testing.T, as func(*fakeLog) backend.EventLog) {
	ctx := context.Background()
	raw := &fakeLog{first: 1}
	log := as(raw)
	add := func(types ...backend.EventType) { raw.types = append(raw.types, types...) }
	add(backend.EventAdded, backend.EventWaiting, backend.EventActive, backend.EventCompleted)
	var tl Tally
	if err := tl.Read(ctx, log, "q", 4, 100, 3); err != nil {
		t.Fatal(err)
	}
	if want := (Counts{Added: 1, Completed: 1}); tl.Counts != want || tl.Cursor != 4 || raw.reads != 2 {
		t.Fatalf("after the first read: %+v, %d reads; want %+v at 4 in 2 reads of 3", tl, raw.reads, want)
	}

	// Only what is new is read; the budget stops a read short, and the
	// next goes on from there.
	add(backend.EventAdded, backend.EventFailed, backend.EventRetrying, backend.EventStalled)
	if err := tl.Read(ctx, log, "q", 8, 2, 3); err != nil {
		t.Fatal(err)
	}
	if tl.Cursor != 6 || tl.Added != 2 || tl.Failed != 1 || tl.Retried != 0 {
		t.Fatalf("after a read of 2: %+v", tl)
	}
	if err := tl.Read(ctx, log, "q", 8, 100, 3); err != nil {
		t.Fatal(err)
	}
	if want := (Counts{Added: 2, Completed: 1, Failed: 1, Retried: 1, Stalled: 1}); tl.Counts != want || tl.Cursor != 8 {
		t.Fatalf("after catching up: %+v; want %+v at 8", tl, want)
	}

	// Events trimmed before they were read are missed, not counted.
	add(backend.EventCompleted, backend.EventCompleted, backend.EventCompleted)
	raw.first = 11
	if err := tl.Read(ctx, log, "q", 11, 100, 3); err != nil {
		t.Fatal(err)
	}
	if tl.Missed != 2 || tl.Completed != 2 || tl.Cursor != 11 {
		t.Fatalf("after a trim: %+v; want 2 missed and the one kept counted", tl)
	}

	// A fresh tally does not count as missed what was trimmed before it.
	fresh := Tally{Fresh: true}
	if err := fresh.Read(ctx, log, "q", 11, 100, 3); err != nil {
		t.Fatal(err)
	}
	if fresh.Missed != 0 || fresh.Completed != 1 || fresh.Fresh {
		t.Fatalf("a fresh tally: %+v", fresh)
	}

	// A log that ends before the cursor lost its events: count from its end.
	behind := Tally{Cursor: 50}
	if err := behind.Read(ctx, log, "q", 11, 100, 3); err != nil || behind.Cursor != 11 || behind.Counts != (Counts{}) {
		t.Fatalf("a tally ahead of the log: %+v, %v", behind, err)
	}
}
