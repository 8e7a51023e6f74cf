package settler

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/fakeclock"
)

// fakeStore records Settle calls; fail makes the next calls fail, and
// lost names job IDs reported as ErrLeaseLost.
type fakeStore struct {
	backend.Backend
	mu      sync.Mutex
	calls   [][]backend.Settlement
	fail    int
	lost    map[string]bool
	tooBig  map[string]bool
	entered chan struct{}
	gate    chan struct{}
}

func (f *fakeStore) Settle(ctx context.Context, q string, req *backend.SettleRequest) (backend.SettleResult, error) {
	if f.entered != nil {
		f.entered <- struct{}{}
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail > 0 {
		f.fail--
		return backend.SettleResult{}, backend.ErrUnavailable
	}
	f.calls = append(f.calls, append([]backend.Settlement(nil), req.Settlements...))
	errs := make([]error, len(req.Settlements))
	for i, s := range req.Settlements {
		switch {
		case f.lost[s.Lease.JobID]:
			errs[i] = backend.ErrLeaseLost
		case f.tooBig[s.Lease.JobID] && s.Outcome == backend.OutcomeComplete:
			errs[i] = &backend.ValidationError{Field: "Result", Reason: "big", Err: backend.ErrTooLarge}
		}
	}
	return backend.SettleResult{Errs: errs}, nil
}

func newSettler(f *fakeStore, clock backend.Clock, settled func(*Item, error)) *Settler {
	return New(Config{
		Backend: f, Queue: "q", Timeout: time.Second,
		Backoff: func(int) time.Duration { return time.Second },
		Clock:   clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Settled: settled,
	})
}

func item(id string, o backend.Outcome, expires time.Time) *Item {
	return &Item{Settlement: backend.Settlement{Lease: backend.Lease{JobID: id, Token: id}, Outcome: o}, Expires: expires}
}

func TestSettlesWhatQueuedDuringTheLastCallInOneBatch(t *testing.T) {
	clock := fakeclock.New(time.Unix(0, 0))
	f := &fakeStore{entered: make(chan struct{}), gate: make(chan struct{})}
	s := newSettler(f, clock, nil)
	s.Start(context.Background())
	s.Enqueue(item("1", backend.OutcomeComplete, time.Time{}))
	<-f.entered // the first call is in flight
	for _, id := range []string{"2", "3", "4"} {
		s.Enqueue(item(id, backend.OutcomeComplete, time.Time{}))
	}
	f.gate <- struct{}{}
	<-f.entered
	f.gate <- struct{}{}
	close(f.gate)
	f.entered = nil
	s.Close()
	if len(f.calls) != 2 || len(f.calls[0]) != 1 || len(f.calls[1]) != 3 {
		t.Fatalf("calls %v; want one of 1, then one of 3", f.calls)
	}
}

func TestRetriesUntilTheLeaseExpires(t *testing.T) {
	clock := fakeclock.New(time.Unix(0, 0))
	f := &fakeStore{fail: 100}
	fates := map[string]error{}
	s := newSettler(f, clock, recordFates(fates))
	s.Start(context.Background())
	s.Enqueue(item("short", backend.OutcomeComplete, clock.Now().Add(3*time.Second)))
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-closed:
			if err := fates["short"]; !errors.Is(err, backend.ErrLeaseLost) {
				t.Fatalf("fate %v, want ErrLeaseLost", err)
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("settler did not give up")
		}
		clock.Advance(time.Second)
		time.Sleep(time.Millisecond)
	}
}

func TestPerItemErrors(t *testing.T) {
	clock := fakeclock.New(time.Unix(0, 0))
	f := &fakeStore{fail: 1, lost: map[string]bool{"lost": true}, tooBig: map[string]bool{"big": true}}
	fates := map[string]error{}
	s := newSettler(f, clock, recordFates(fates))
	s.Start(context.Background())
	for _, id := range []string{"ok", "lost", "big"} {
		s.Enqueue(item(id, backend.OutcomeComplete, time.Time{}))
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	for done := false; !done; {
		select {
		case <-closed:
			done = true
		default:
			clock.Advance(time.Second) // the backoff after the failed call
			time.Sleep(time.Millisecond)
		}
	}
	if fates["ok"] != nil || !errors.Is(fates["lost"], backend.ErrLeaseLost) || fates["big"] != nil {
		t.Errorf("fates %v", fates)
	}
	last := f.calls[len(f.calls)-1]
	if len(last) != 1 || last[0].Lease.JobID != "big" || last[0].Outcome != backend.OutcomeFail {
		t.Errorf("too-large result not turned into a failure: %+v", last)
	}
}

// recordFates returns a Settled function that records each item's fate in
// fates by job ID. Read fates only after the settler has closed.
func recordFates(fates map[string]error) func(*Item, error) {
	var mu sync.Mutex
	return func(it *Item, err error) {
		mu.Lock()
		defer mu.Unlock()
		fates[it.Settlement.Lease.JobID] = err
	}
}

func TestStartsAgainAfterClose(t *testing.T) {
	clock := fakeclock.New(time.Unix(0, 0))
	f := &fakeStore{}
	fates := map[string]error{}
	s := newSettler(f, clock, recordFates(fates))
	for _, id := range []string{"1", "2"} {
		s.Start(context.Background())
		s.Enqueue(item(id, backend.OutcomeComplete, time.Time{}))
		s.Close()
		if err, ok := fates[id]; !ok || err != nil {
			t.Fatalf("item %s: settled %v, fate %v; want it applied before Close returned", id, ok, err)
		}
	}
	if len(f.calls) != 2 {
		t.Errorf("calls %v; want one per start", f.calls)
	}
}
