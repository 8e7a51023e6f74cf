package conformance

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func testAdmin(t *testing.T, f Factory) {
	t.Run("pause lets adds and settles go on", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{Name: "n"})
		j := b.leaseOne()
		if err := b.store.SetPaused(b.ctx, b.q, true); err != nil {
			t.Fatal(err)
		}
		if err := b.store.SetPaused(b.ctx, b.q, true); err != nil {
			t.Fatalf("pausing a paused queue: %v", err)
		}
		b.complete(j, "ok")
		b.addOne(backend.NewJob{Name: "m"})
		b.wantCounts(b.q, backend.Counts{Waiting: 1, Completed: 1})
		if !b.counts().Paused {
			t.Error("Counts.Paused not set")
		}
		if err := b.store.SetPaused(b.ctx, b.q, false); err != nil {
			t.Fatal(err)
		}
		if c := b.counts(); c.Paused {
			t.Error("Counts.Paused still set after resume")
		}
	})

	t.Run("drain removes waiting jobs and keeps delayed and active ones", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addN(2, "active")
		active := b.lease(2)
		b.addN(3, "waiting")
		b.addOne(backend.NewJob{Name: "prio", Priority: 4})
		delayed := b.addOne(backend.NewJob{Name: "delayed", Delay: time.Hour})
		res, err := b.store.Drain(b.ctx, b.q, &backend.DrainRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Removed != 4 {
			t.Errorf("Drain removed %d, want 4", res.Removed)
		}
		b.wantCounts(b.q, backend.Counts{Active: 2, Delayed: 1})
		b.wantState(b.q, delayed, backend.StateDelayed)
		for _, j := range active {
			b.complete(j, "still mine")
		}
	})

	t.Run("drain with Delayed removes delayed jobs too", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addN(2, "waiting")
		b.addOne(backend.NewJob{Name: "delayed", Delay: time.Hour})
		b.addOne(backend.NewJob{Name: "delayed", Delay: time.Minute})
		res, err := b.store.Drain(b.ctx, b.q, &backend.DrainRequest{Delayed: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Removed != 4 {
			t.Errorf("Drain removed %d, want 4", res.Removed)
		}
		b.wantCounts(b.q, backend.Counts{})
		b.clock.Advance(2 * time.Hour)
		if jobs := b.lease(5); len(jobs) != 0 {
			t.Errorf("drained jobs came back: %v", ids(jobs))
		}
	})

	t.Run("drain keeps a flow parent waiting for its children", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		parent := b.add(backend.NewJob{Name: "parent", Children: []backend.NewJob{{Name: "child"}}})[0]
		child := b.leaseOne()
		if _, err := b.store.Drain(b.ctx, b.q, &backend.DrainRequest{Delayed: true}); err != nil {
			t.Fatal(err)
		}
		b.wantState(b.q, parent.ID, backend.StateWaitingChildren)
		b.complete(child, "ok")
		b.wantState(b.q, parent.ID, backend.StateWaiting)
	})

	t.Run("clean removes finished jobs older than the grace, up to the limit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		old := b.addN(3, "old")
		for range old {
			b.complete(b.leaseOne(), "ok")
		}
		b.clock.Advance(time.Hour)
		fresh := b.addN(2, "fresh")
		for range fresh {
			b.complete(b.leaseOne(), "ok")
		}
		b.clock.Advance(time.Minute)
		res, err := b.store.Clean(b.ctx, b.q, &backend.CleanRequest{State: backend.StateCompleted, Grace: 30 * time.Minute, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.IDs) != 2 {
			t.Fatalf("Clean with Limit 2 removed %v", res.IDs)
		}
		for _, id := range res.IDs {
			if !slices.Contains(old, id) {
				t.Errorf("Clean removed %s, which finished inside the grace", id)
			}
			b.gone(b.q, id)
		}
		res, err = b.store.Clean(b.ctx, b.q, &backend.CleanRequest{State: backend.StateCompleted, Grace: 30 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.IDs) != 1 || !slices.Contains(old, res.IDs[0]) {
			t.Errorf("second Clean removed %v, want the last old job", res.IDs)
		}
		b.wantCounts(b.q, backend.Counts{Completed: 2})
		for _, id := range fresh {
			b.wantState(b.q, id, backend.StateCompleted)
		}
	})

	t.Run("clean of failed, waiting and delayed jobs goes by state", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		failed := b.addOne(backend.NewJob{Name: "f"})
		b.fail(b.leaseOne(), "no")
		waiting := b.addOne(backend.NewJob{Name: "w"})
		delayed := b.addOne(backend.NewJob{Name: "d", Delay: 24 * time.Hour})
		b.clock.Advance(time.Hour)
		for _, c := range []struct {
			state backend.JobState
			id    string
		}{{backend.StateFailed, failed}, {backend.StateWaiting, waiting}, {backend.StateDelayed, delayed}} {
			res, err := b.store.Clean(b.ctx, b.q, &backend.CleanRequest{State: c.state, Grace: time.Minute})
			if err != nil {
				t.Fatalf("Clean(%s): %v", c.state, err)
			}
			if !slices.Equal(res.IDs, []string{c.id}) {
				t.Errorf("Clean(%s) removed %v, want [%s]", c.state, res.IDs, c.id)
			}
		}
		b.wantCounts(b.q, backend.Counts{})
	})

	t.Run("obliterate refuses a queue with active jobs unless forced", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addN(3, "job")
		b.addOne(backend.NewJob{Name: "d", Delay: time.Hour})
		j := b.leaseOne()
		before := b.snapshot(b.q)
		if err := b.store.Obliterate(b.ctx, b.q, &backend.ObliterateRequest{}); !errors.Is(err, backend.ErrJobActive) {
			t.Fatalf("Obliterate = %v, want ErrJobActive", err)
		}
		b.unchanged(b.q, before, "the refused Obliterate")
		if err := b.store.Obliterate(b.ctx, b.q, &backend.ObliterateRequest{Force: true}); err != nil {
			t.Fatalf("forced Obliterate: %v", err)
		}
		b.wantCounts(b.q, backend.Counts{})
		b.gone(b.q, j.ID)
		if err := b.settleErr(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeComplete}); err == nil {
			t.Error("settling a job of an obliterated queue succeeded")
		}
		b.wantCounts(b.q, backend.Counts{})
	})

	t.Run("obliterate removes schedulers and leaves the queue usable", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addN(2, "job")
		b.upsert(backend.Scheduler{ID: "nightly", Template: backend.NewJob{Name: "n"}, Next: epoch.Add(time.Hour)}, 0)
		if err := b.store.SetPaused(b.ctx, b.q, true); err != nil {
			t.Fatal(err)
		}
		if err := b.store.Obliterate(b.ctx, b.q, &backend.ObliterateRequest{}); err != nil {
			t.Fatal(err)
		}
		b.wantCounts(b.q, backend.Counts{})
		if _, err := b.store.Scheduler(b.ctx, b.q, "nightly"); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Scheduler after Obliterate = %v, want ErrNotFound", err)
		}
		id := b.addOne(backend.NewJob{Name: "after"})
		if j := b.leaseOne(); j.ID != id {
			t.Errorf("leased %s after Obliterate, want %s", j.ID, id)
		}
	})

	t.Run("obliterate reuses no job or event ID: a saved cursor sees the queue's new events", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		old := b.addN(3, "before")
		b.complete(b.leaseOne(), "ok")
		cursor := b.lastEventID(b.q)
		if err := b.store.Obliterate(b.ctx, b.q, &backend.ObliterateRequest{}); err != nil {
			t.Fatal(err)
		}
		if last := b.lastEventID(b.q); last < cursor {
			t.Errorf("LastEventID after Obliterate is %d, was %d", last, cursor)
		}
		id := b.addOne(backend.NewJob{Name: "after"})
		if slices.Contains(old, id) {
			t.Errorf("the job added after Obliterate got the old ID %s", id)
		}
		evs := b.events(b.q, cursor)
		if len(evs) == 0 || evs[0].ID <= cursor || evs[0].JobID != id || evs[0].Type != backend.EventAdded {
			t.Fatalf("events after the saved cursor %d: %+v; want the added event of %s, with a later ID", cursor, evs, id)
		}
	})

	t.Run("obliterating a queue ends the dependency of a parent in another queue on its children there", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.use("thumbs")
		a := b.add(backend.NewJob{Name: "album", Children: []backend.NewJob{{Queue: "thumbs", Name: "thumb"}}})[0]
		b.wantState(b.q, a.ID, backend.StateWaitingChildren)
		if err := b.store.Obliterate(b.ctx, "thumbs", &backend.ObliterateRequest{}); err != nil {
			t.Fatal(err)
		}
		b.wantState(b.q, a.ID, backend.StateWaiting)
		if j := b.leaseOne(); j.ID != a.ID {
			t.Errorf("leased %s, want the parent %s", j.ID, a.ID)
		}
	})

	t.Run("remove job deletes a job that is not active", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		done := b.addOne(backend.NewJob{Name: "done"})
		b.complete(b.leaseOne(), "ok")
		waiting := b.addOne(backend.NewJob{Name: "waiting"})
		delayed := b.addOne(backend.NewJob{Name: "delayed", Delay: time.Hour})
		for _, id := range []string{done, waiting, delayed} {
			if err := b.store.RemoveJob(b.ctx, b.q, id); err != nil {
				t.Fatalf("RemoveJob(%s): %v", id, err)
			}
			b.gone(b.q, id)
		}
		b.wantCounts(b.q, backend.Counts{})
		b.clock.Advance(2 * time.Hour)
		if jobs := b.lease(3); len(jobs) != 0 {
			t.Errorf("removed jobs came back: %v", ids(jobs))
		}
	})

	t.Run("remove job refuses an active job", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{Name: "busy"})
		j := b.leaseOne()
		if err := b.store.RemoveJob(b.ctx, b.q, j.ID); !errors.Is(err, backend.ErrJobActive) {
			t.Fatalf("RemoveJob of an active job = %v, want ErrJobActive", err)
		}
		b.complete(j, "ok")
	})
}
