package conformance

import (
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func testPriority(t *testing.T, f Factory) {
	t.Run("lease takes the highest priority first and FIFO within a priority", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		prios := []int{3, 0, 1, 3, 0, 2, 1, 0, backend.MaxPriority, 2}
		type entry struct {
			id   string
			prio int
		}
		var want []entry
		// Half in one bulk, the rest one by one.
		var bulk []backend.NewJob
		for i, p := range prios[:5] {
			bulk = append(bulk, backend.NewJob{Name: fmt.Sprint(i), Priority: p})
		}
		for i, a := range b.add(bulk...) {
			want = append(want, entry{a.ID, prios[i]})
		}
		for i, p := range prios[5:] {
			want = append(want, entry{b.addOne(backend.NewJob{Name: fmt.Sprint(5 + i), Priority: p}), p})
		}
		sort.SliceStable(want, func(i, j int) bool { return want[i].prio < want[j].prio })
		var wantIDs []string
		for _, e := range want {
			wantIDs = append(wantIDs, e.id)
		}
		if got := ids(b.list(backend.StateWaiting)); !slices.Equal(got, wantIDs) {
			t.Errorf("waiting list %v, want %v", got, wantIDs)
		}
		var got []string
		for range prios {
			got = append(got, b.leaseOne().ID)
		}
		if !slices.Equal(got, wantIDs) {
			t.Errorf("lease order %v, want %v", got, wantIDs)
		}
	})

	t.Run("a job added later with a higher priority overtakes waiting jobs", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{Name: "a", Priority: 10})
		b.addOne(backend.NewJob{Name: "b", Priority: 10})
		urgent := b.addOne(backend.NewJob{Name: "urgent", Priority: 1})
		if got := b.leaseOne(); got.ID != urgent {
			t.Errorf("leased %s, want %s", got.ID, urgent)
		}
	})

	t.Run("a released job keeps its priority place", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		hi := b.addOne(backend.NewJob{Name: "hi", Priority: 1})
		lo := b.addOne(backend.NewJob{Name: "lo", Priority: 2})
		j := b.leaseOne()
		b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeRelease})
		b.addOne(backend.NewJob{Name: "hi-2", Priority: 1})
		if got := ids(b.lease(3)); len(got) != 3 || got[0] != hi || got[2] != lo {
			t.Errorf("leased %v, want %s first and %s last", got, hi, lo)
		}
	})

	t.Run("jobs of equal priority run in the order they became ready, and a job recovered from a stalled worker or released runs first", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		// Added first but delayed: it becomes ready after the others.
		promoted := b.addOne(backend.NewJob{Name: "promoted", Delay: 10 * time.Second})
		// Leased now, retried at once after another job was added.
		retried := b.addOne(backend.NewJob{Name: "retried", Attempts: 2})
		r := b.leaseOne()
		// Leased now, and its worker dies.
		stalled := b.addOne(backend.NewJob{Name: "stalled"})
		s := b.leaseOne()
		// Leased now, and given back unrun: to the front of the line.
		released := b.addOne(backend.NewJob{Name: "released"})
		rel := b.leaseOne()
		if r.ID != retried || s.ID != stalled || rel.ID != released {
			t.Fatalf("leased %s, %s, %s; want %s, %s, %s", r.ID, s.ID, rel.ID, retried, stalled, released)
		}
		plain := b.addOne(backend.NewJob{Name: "plain"})
		b.mustSettle(b.q, backend.Settlement{Lease: rel.Lease, Outcome: backend.OutcomeRelease})
		b.mustSettle(b.q, backend.Settlement{Lease: r.Lease, Outcome: backend.OutcomeRetry, Reason: "again"})
		other := b.addOne(backend.NewJob{Name: "other priority", Priority: 1})
		b.clock.Advance(defaultTTL + time.Second) // the stalled lease expires; the delayed job is due
		want := []string{stalled, released, plain, retried, promoted, other}
		var got []string
		for range want {
			got = append(got, b.leaseOne().ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("lease order %v, want %v (stalled, released, plain, retried, promoted, other priority)", got, want)
		}
	})
}
