package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func testDispatch(t *testing.T, f Factory) {
	for _, k := range []int{2, 4, 8} {
		t.Run(fmt.Sprintf("one bulk add of %d jobs wakes all %d waiting leases", k, k), func(t *testing.T) {
			t.Parallel()
			b := setup(t, f)
			chans := make([]<-chan leaseResult, k)
			for i := range chans {
				chans[i] = b.leaseAsync(b.q, backend.LeaseRequest{Worker: fmt.Sprint("w", i), Max: 1, TTL: defaultTTL, Wait: longWait, MaxStalled: 1})
			}
			b.awaitWaiters(k)
			b.addN(k, "job")
			got := make(map[string]bool)
			for i, ch := range chans {
				r := receive(t, ch, deadline, fmt.Sprintf("waiting Lease %d after the bulk add", i))
				if r.err != nil || len(r.jobs) != 1 {
					t.Fatalf("waiting Lease %d = %v, %v; want one job", i, ids(r.jobs), r.err)
				}
				if got[r.jobs[0].ID] {
					t.Fatalf("job %s leased twice", r.jobs[0].ID)
				}
				got[r.jobs[0].ID] = true
			}
			b.wantCounts(b.q, backend.Counts{Active: k})
		})
	}

	t.Run("a bulk add larger than the waiting leases fills each of them", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		const k = 3
		chans := make([]<-chan leaseResult, k)
		for i := range chans {
			chans[i] = b.leaseAsync(b.q, backend.LeaseRequest{Worker: "w", Max: 2, TTL: defaultTTL, Wait: longWait, MaxStalled: 1})
		}
		b.awaitWaiters(k)
		b.addN(10, "job")
		total := 0
		for i, ch := range chans {
			r := receive(t, ch, deadline, fmt.Sprintf("waiting Lease %d", i))
			if r.err != nil || len(r.jobs) == 0 {
				t.Fatalf("waiting Lease %d = %v, %v; want jobs", i, ids(r.jobs), r.err)
			}
			total += len(r.jobs)
		}
		b.wantCounts(b.q, backend.Counts{Active: total, Waiting: 10 - total})
	})

	t.Run("a release wakes a waiting lease", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "n"})
		j := b.leaseOne()
		ch := b.leaseAsync(b.q, backend.LeaseRequest{Worker: "w2", Max: 1, TTL: defaultTTL, Wait: longWait, MaxStalled: 1})
		b.awaitWaiters(1)
		b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeRelease})
		wantLeased(t, ch, id, "waiting Lease after a release")
	})

	t.Run("a retry without delay wakes a waiting lease", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "n", Attempts: 2})
		j := b.leaseOne()
		ch := b.leaseAsync(b.q, backend.LeaseRequest{Worker: "w2", Max: 1, TTL: defaultTTL, Wait: longWait, MaxStalled: 1})
		b.awaitWaiters(1)
		b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeRetry, Reason: "again"})
		wantLeased(t, ch, id, "waiting Lease after a retry")
	})

	t.Run("a resume wakes a waiting lease", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		if err := b.store.SetPaused(b.ctx, b.q, true); err != nil {
			t.Fatal(err)
		}
		id := b.addOne(backend.NewJob{Name: "n"})
		ch := b.leaseAsync(b.q, backend.LeaseRequest{Worker: "w", Max: 1, TTL: defaultTTL, Wait: longWait, MaxStalled: 1})
		b.awaitWaiters(1)
		if err := b.store.SetPaused(b.ctx, b.q, false); err != nil {
			t.Fatal(err)
		}
		wantLeased(t, ch, id, "waiting Lease after resume")
	})

	t.Run("an add to another queue does not end a waiting lease with a job", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		ch := b.leaseAsync(b.q, backend.LeaseRequest{Worker: "w", Max: 1, TTL: defaultTTL, Wait: longWait, MaxStalled: 1})
		b.awaitWaiters(1)
		b.addTo("other", backend.NewJob{Name: "elsewhere"})
		id := b.addOne(backend.NewJob{Name: "mine"})
		wantLeased(t, ch, id, "waiting Lease")
	})

	t.Run("a waiting lease takes a delayed job added after it began waiting, once the job falls due", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		ch := b.leaseAsync(b.q, backend.LeaseRequest{Worker: "w", Max: 1, TTL: defaultTTL, Wait: longWait, MaxStalled: 1})
		b.awaitWaiters(1)
		id := b.addOne(backend.NewJob{Name: "later", Delay: 5 * time.Second})
		// The lease may have re-armed its wait for the new due time or not
		// yet; either way, moving the clock past it must hand it the job.
		b.awaitWaiters(1)
		b.clock.Advance(5 * time.Second)
		wantLeased(t, ch, id, "waiting Lease after the delayed job fell due")
	})

	t.Run("a waiting lease takes a job retried with a delay, once the delay has passed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "n", Attempts: 2})
		j := b.leaseOne()
		ch := b.leaseAsync(b.q, backend.LeaseRequest{Worker: "w2", Max: 1, TTL: defaultTTL, Wait: longWait, MaxStalled: 1})
		b.awaitWaiters(1)
		b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeRetry, Reason: "again", RetryDelay: 3 * time.Second})
		b.awaitWaiters(1)
		b.clock.Advance(3 * time.Second)
		wantLeased(t, ch, id, "waiting Lease after the retry delay")
	})

	t.Run("a flow parent made ready by its last child wakes a waiting lease", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		res := b.add(backend.NewJob{Name: "parent", Children: []backend.NewJob{{Name: "child"}}})
		parent := res[0].ID
		child := b.leaseOne()
		ch := b.leaseAsync(b.q, backend.LeaseRequest{Worker: "w2", Max: 1, TTL: defaultTTL, Wait: longWait, MaxStalled: 1})
		b.awaitWaiters(1)
		b.mustSettle(b.q, backend.Settlement{Lease: child.Lease, Outcome: backend.OutcomeComplete, Result: []byte(`1`)})
		wantLeased(t, ch, parent, "waiting Lease after the last child completed")
	})
}

// wantLeased waits for the waiting Lease behind ch and fails the case unless
// it returned exactly the job id.
func wantLeased(t *testing.T, ch <-chan leaseResult, id, what string) {
	t.Helper()
	r := receive(t, ch, deadline, what)
	if r.err != nil || len(r.jobs) != 1 || r.jobs[0].ID != id {
		t.Fatalf("%s: Lease = %v, %v; want only %s", what, ids(r.jobs), r.err, id)
	}
}
