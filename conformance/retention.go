package conformance

import (
	"slices"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func testRetention(t *testing.T, f Factory) {
	t.Run("KeepCompleted Remove drops a job as it completes", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "n", KeepCompleted: backend.Retention{Remove: true}})
		b.complete(b.leaseOne(), "ok")
		b.gone(b.q, id)
		b.wantCounts(b.q, backend.Counts{})
	})

	t.Run("KeepFailed Remove drops a job as it fails for good but not on retry", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "n", Attempts: 2, KeepFailed: backend.Retention{Remove: true}})
		j := b.leaseOne()
		b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeRetry, Reason: "again"})
		b.wantState(b.q, id, backend.StateWaiting)
		b.fail(b.leaseOne(), "gave up")
		b.gone(b.q, id)
		b.wantCounts(b.q, backend.Counts{})
	})

	t.Run("KeepCompleted Count keeps the most recently finished jobs", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		var all []string
		for range 5 {
			all = append(all, b.addOne(backend.NewJob{Name: "n", KeepCompleted: backend.Retention{Count: 2}}))
		}
		for range all {
			b.clock.Advance(time.Second)
			b.complete(b.leaseOne(), "ok")
		}
		if got, want := ids(b.list(backend.StateCompleted)), []string{all[4], all[3]}; !slices.Equal(got, want) {
			t.Errorf("completed jobs %v, want %v (newest first)", got, want)
		}
		for _, id := range all[:3] {
			b.gone(b.q, id)
		}
	})

	t.Run("KeepFailed Count keeps the most recently failed jobs", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		var all []string
		for range 4 {
			all = append(all, b.addOne(backend.NewJob{Name: "n", KeepFailed: backend.Retention{Count: 1}}))
		}
		for range all {
			b.clock.Advance(time.Second)
			b.fail(b.leaseOne(), "no")
		}
		if got := ids(b.list(backend.StateFailed)); !slices.Equal(got, all[3:]) {
			t.Errorf("failed jobs %v, want %v", got, all[3:])
		}
		b.wantCounts(b.q, backend.Counts{Failed: 1})
	})

	t.Run("KeepCompleted Age drops jobs finished longer ago", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		keep := backend.Retention{Age: time.Hour}
		old := b.addOne(backend.NewJob{Name: "old", KeepCompleted: keep})
		recent := b.addOne(backend.NewJob{Name: "recent", KeepCompleted: keep})
		newest := b.addOne(backend.NewJob{Name: "newest", KeepCompleted: keep})
		b.complete(b.leaseOne(), "1")
		b.clock.Advance(50 * time.Minute)
		b.complete(b.leaseOne(), "2")
		b.clock.Advance(20 * time.Minute)
		b.complete(b.leaseOne(), "3")
		b.gone(b.q, old)
		b.wantState(b.q, recent, backend.StateCompleted)
		b.wantState(b.q, newest, backend.StateCompleted)
		b.wantCounts(b.q, backend.Counts{Completed: 2})
	})

	t.Run("the zero retention keeps every finished job", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addN(30, "job")
		for _, j := range b.lease(30) {
			b.clock.Advance(time.Hour)
			b.complete(j, "ok")
		}
		b.wantCounts(b.q, backend.Counts{Completed: 30})
	})
}
