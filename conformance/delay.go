package conformance

import (
	"slices"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func testDelay(t *testing.T, f Factory) {
	t.Run("delayed jobs are listed by run time", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		added := b.add(
			backend.NewJob{Name: "c", Delay: 3 * time.Minute},
			backend.NewJob{Name: "a", Delay: time.Minute},
			backend.NewJob{Name: "b", Delay: 2 * time.Minute},
		)
		want := []string{added[1].ID, added[2].ID, added[0].ID}
		if got := ids(b.list(backend.StateDelayed)); !slices.Equal(got, want) {
			t.Errorf("delayed order %v, want %v", got, want)
		}
	})

	t.Run("only the delayed jobs that are due are promoted", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		added := b.add(
			backend.NewJob{Name: "soon", Delay: time.Minute},
			backend.NewJob{Name: "late", Delay: time.Hour},
		)
		b.clock.Advance(2 * time.Minute)
		jobs := b.lease(5)
		if len(jobs) != 1 || jobs[0].ID != added[0].ID {
			t.Fatalf("leased %v, want only %s", ids(jobs), added[0].ID)
		}
		b.wantState(b.q, added[1].ID, backend.StateDelayed)
		b.wantCounts(b.q, backend.Counts{Active: 1, Delayed: 1})
	})

	t.Run("a promoted job takes its place by priority", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		low := b.addOne(backend.NewJob{Name: "low", Priority: 5})
		urgent := b.addOne(backend.NewJob{Name: "urgent-later", Priority: 1, Delay: time.Second})
		b.clock.Advance(time.Second)
		if got := ids(b.lease(2)); !slices.Equal(got, []string{urgent, low}) {
			t.Errorf("leased %v, want %v", got, []string{urgent, low})
		}
	})

	t.Run("a delay of zero makes the job waiting at once", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "now", Delay: 0})
		b.wantState(b.q, id, backend.StateWaiting)
	})

	t.Run("a waiting lease is woken when a delayed job falls due", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "later", Delay: 10 * time.Second})
		ch := b.leaseAsync(b.q, backend.LeaseRequest{Worker: "w", Max: 1, TTL: defaultTTL, Wait: longWait})
		b.awaitWaiters(1)
		b.clock.Advance(10 * time.Second)
		r := receive(t, ch, deadline, "waiting Lease after the run time")
		if r.err != nil || len(r.jobs) != 1 || r.jobs[0].ID != id {
			t.Fatalf("waiting Lease = %v, %v; want job %s", ids(r.jobs), r.err, id)
		}
	})
}
