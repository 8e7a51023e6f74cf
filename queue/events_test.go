package queue

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/bolt"
)

// nextEvent reads one event with a deadline, failing the test on error.
func nextEvent(t *testing.T, s *Subscription) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("next event: %v", err)
	}
	return e
}

func TestSubscribeFromNowSeesTheNextChange(t *testing.T) {
	e := newSchedEnv(t, nil)
	for round := range 200 {
		sub, err := e.q.Subscribe(e.ctx, FromNow(), nil)
		if err != nil {
			t.Fatal(err)
		}
		j, err := e.q.Add(e.ctx, "n", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ev := nextEvent(t, sub)
		if ev.Type != EventAdded || ev.JobID != j.ID {
			t.Fatalf("round %d: first event %s of %s, want added of %s", round, ev.Type, ev.JobID, j.ID)
		}
		if sub.Cursor() != ev.ID {
			t.Fatalf("cursor %d, want %d", sub.Cursor(), ev.ID)
		}
		sub.Close()
	}
}

func TestSubscribeFromStartAndResume(t *testing.T) {
	e := newSchedEnv(t, nil)
	for i := range 30 {
		if _, err := e.q.Add(e.ctx, "n", fmt.Appendf(nil, "%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	last, err := e.store.LastEventID(e.ctx, e.q.name)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := e.q.Subscribe(e.ctx, FromStart(), &SubscribeOptions{Batch: 7})
	if err != nil {
		t.Fatal(err)
	}
	var seen []uint64
	for range last / 2 {
		seen = append(seen, nextEvent(t, sub).ID)
	}
	cursor := sub.Cursor()
	sub.Close()
	if _, err := sub.Next(e.ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close: %v, want ErrClosed", err)
	}
	sub2, err := e.q.Subscribe(e.ctx, FromID(cursor), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Close()
	for uint64(len(seen)) < last {
		seen = append(seen, nextEvent(t, sub2).ID)
	}
	for i, id := range seen {
		if id != uint64(i+1) {
			t.Fatalf("event %d has ID %d: log read with a gap or twice", i, id)
		}
	}
}

func TestSubscriptionAllYieldsInOrderAndStopsOnClose(t *testing.T) {
	e := newSchedEnv(t, nil)
	sub, err := e.q.Subscribe(e.ctx, FromNow(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.q.AddBulk(e.ctx, []BulkJob{{Name: "a"}, {Name: "b"}, {Name: "c"}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var added int
	go func() {
		var prev uint64
		for ev, err := range sub.All() {
			if err != nil {
				done <- err
				return
			}
			if ev.ID <= prev {
				done <- fmt.Errorf("event %d after %d", ev.ID, prev)
				return
			}
			prev = ev.ID
			if ev.Type == EventAdded {
				added++
				if added == 3 {
					sub.Close() // the iterator then ends with ErrClosed
				}
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("iterator ended with %v, want ErrClosed", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("iterator did not end after Close")
	}
}

func TestCloseUnblocksAWaitingReader(t *testing.T) {
	e := newSchedEnv(t, nil)
	sub, err := e.q.Subscribe(e.ctx, FromNow(), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := sub.Next(context.Background())
		done <- err
	}()
	sub.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Next returned %v, want ErrClosed", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Next did not return after Close")
	}
}

func TestTrimmedPositionIsAnError(t *testing.T) {
	e := newSchedEnv(t, &bolt.Options{EventRetention: backend.EventRetention{Count: 10}})
	for range 20 {
		if _, err := e.q.Add(e.ctx, "n", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := e.q.Subscribe(e.ctx, FromID(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	_, err = sub.Next(e.ctx)
	var te *EventsTrimmedError
	if !errors.Is(err, ErrEventsTrimmed) || !errors.As(err, &te) || te.FirstAvailable <= 2 {
		t.Fatalf("got %v, want an *EventsTrimmedError", err)
	}
	if _, again := sub.Next(e.ctx); !errors.Is(again, ErrEventsTrimmed) {
		t.Errorf("second Next: %v, want the same error", again)
	}
	// From the start means from the oldest event kept.
	all, err := e.q.Subscribe(e.ctx, FromStart(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	if ev := nextEvent(t, all); ev.ID != te.FirstAvailable {
		t.Errorf("from start got event %d, want %d", ev.ID, te.FirstAvailable)
	}
}

func TestSchedulerEventsAreAppended(t *testing.T) {
	e := newSchedEnv(t, nil)
	sub, err := e.q.Subscribe(e.ctx, FromNow(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := e.q.UpsertJobScheduler(e.ctx, "s", Repeat{Every: time.Minute}, JobTemplate{Name: "n"}); err != nil {
		t.Fatal(err)
	}
	if err := e.q.RemoveJobScheduler(e.ctx, "s"); err != nil {
		t.Fatal(err)
	}
	var upserted, removed bool
	for !removed {
		ev := nextEvent(t, sub)
		switch ev.Type {
		case EventSchedulerUpserted:
			upserted = ev.SchedulerID == "s"
		case EventSchedulerRemoved:
			removed = ev.SchedulerID == "s"
		}
	}
	if !upserted {
		t.Error("no scheduler-upserted event before scheduler-removed")
	}
}

func TestWaitUntilFinished(t *testing.T) {
	e := newSchedEnv(t, nil)
	run := func(outcome backend.Settlement) *Job {
		j, err := e.q.Add(e.ctx, "n", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		leased := e.lease()
		if leased == nil || leased.ID != j.ID {
			t.Fatalf("leased %v, want %s", leased, j.ID)
		}
		e.settle(leased, outcome)
		return j
	}
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()

	t.Run("completed before the call", func(t *testing.T) {
		j := run(backend.Settlement{Outcome: backend.OutcomeComplete, Result: []byte(`42`)})
		res, err := j.WaitUntilFinished(ctx)
		if err != nil || string(res) != "42" {
			t.Fatalf("got %s, %v", res, err)
		}
	})
	t.Run("failed before the call", func(t *testing.T) {
		j := run(backend.Settlement{Outcome: backend.OutcomeFail, Reason: "boom"})
		_, err := j.WaitUntilFinished(ctx)
		var fe *JobFailedError
		if !errors.Is(err, ErrJobFailed) || !errors.As(err, &fe) || fe.Reason != "boom" {
			t.Fatalf("got %v, want a *JobFailedError with reason boom", err)
		}
	})
	t.Run("finishing while waiting", func(t *testing.T) {
		j, err := e.q.Add(e.ctx, "n", nil, &AddOptions{Attempts: 2})
		if err != nil {
			t.Fatal(err)
		}
		type answer struct {
			res []byte
			err error
		}
		done := make(chan answer, 1)
		go func() {
			res, err := j.WaitUntilFinished(ctx)
			done <- answer{res, err}
		}()
		// A retry is not the end.
		leased := e.lease()
		e.settle(leased, backend.Settlement{Outcome: backend.OutcomeRetry, Reason: "again"})
		leased = e.lease()
		if leased == nil {
			t.Fatal("retry not ready")
		}
		e.settle(leased, backend.Settlement{Outcome: backend.OutcomeComplete, Result: []byte(`"ok"`)})
		a := <-done
		if a.err != nil || string(a.res) != `"ok"` {
			t.Fatalf("got %s, %v", a.res, a.err)
		}
	})
	t.Run("removed", func(t *testing.T) {
		j, err := e.q.Add(e.ctx, "n", nil, &AddOptions{Delay: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := j.WaitUntilFinished(ctx)
			done <- err
		}()
		// Whether the removal lands before or after the wait starts, the
		// answer is the same.
		if err := e.q.RemoveJob(e.ctx, j.ID); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
	})
}

func TestSubscribeRejectsACursorAheadOfTheLog(t *testing.T) {
	e := newSchedEnv(t, nil)
	if _, err := e.q.Add(e.ctx, "n", nil, nil); err != nil {
		t.Fatal(err)
	}
	last, err := e.store.LastEventID(e.ctx, e.q.name)
	if err != nil {
		t.Fatal(err)
	}
	for _, after := range []uint64{last + 1, 1 << 63, ^uint64(0)} {
		_, err := e.q.Subscribe(e.ctx, FromID(after), nil)
		var ae *EventsAheadError
		if !errors.As(err, &ae) || !errors.Is(err, ErrEventsAhead) || ae.Last != last {
			t.Errorf("Subscribe(FromID(%d)) = %v, want an *EventsAheadError naming %d", after, err, last)
		}
	}
	sub, err := e.q.Subscribe(e.ctx, FromID(last), nil)
	if err != nil {
		t.Fatalf("Subscribe(FromID(last)) = %v", err)
	}
	sub.Close()
}

func TestSubscribeRejectsNegativeOptions(t *testing.T) {
	e := newSchedEnv(t, nil)
	for _, o := range []SubscribeOptions{{Batch: -1}, {Wait: -time.Second}} {
		if _, err := e.q.Subscribe(e.ctx, FromNow(), &o); !errors.Is(err, ErrInvalid) {
			t.Errorf("Subscribe with %+v = %v, want ErrInvalid", o, err)
		}
	}
}
