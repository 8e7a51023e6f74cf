package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func testStalled(t *testing.T, f Factory) {
	t.Run("an expired lease is recovered by the next lease as stalled", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "orphan"})
		first := b.leaseOne()
		b.clock.Advance(defaultTTL - time.Second)
		if jobs := b.lease(1); len(jobs) != 0 {
			t.Fatalf("lease before expiry took %v", ids(jobs))
		}
		b.wantState(b.q, id, backend.StateActive)
		b.clock.Advance(2 * time.Second)
		second := b.leaseOne()
		if second.ID != id || second.StalledCount != 1 || second.Lease.Token == first.Lease.Token {
			t.Fatalf("recovered job = %s stalled %d token %q; want %s, 1 and a new token", second.ID, second.StalledCount, second.Lease.Token, id)
		}
		if err := b.settleErr(b.q, backend.Settlement{Lease: first.Lease, Outcome: backend.OutcomeComplete, Result: []byte("late")}); !errors.Is(err, backend.ErrLeaseLost) {
			t.Fatalf("settle with the expired lease = %v, want ErrLeaseLost", err)
		}
		if got := b.wantState(b.q, id, backend.StateActive); got.Lease != second.Lease {
			t.Fatalf("old token's settle changed the lease to %+v", got.Lease)
		}
		b.complete(second, "ok")
		if got := b.job(id); got.StalledCount != 1 || string(got.Result) != "ok" {
			t.Errorf("completed job: stalled %d result %q", got.StalledCount, got.Result)
		}
	})

	t.Run("a job fails after MaxStalled recoveries", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "crasher", Attempts: 10})
		req := &backend.LeaseRequest{Worker: "w", Max: 1, TTL: defaultTTL, MaxStalled: 2}
		if jobs := b.leaseReq(b.q, req); len(jobs) != 1 {
			t.Fatal("first lease took nothing")
		}
		for recovery := 1; recovery <= 2; recovery++ {
			b.clock.Advance(defaultTTL + time.Second)
			jobs := b.leaseReq(b.q, req)
			if len(jobs) != 1 || jobs[0].StalledCount != recovery {
				t.Fatalf("recovery %d: leased %d jobs (stalled %v)", recovery, len(jobs), jobs)
			}
		}
		b.clock.Advance(defaultTTL + time.Second)
		if jobs := b.leaseReq(b.q, req); len(jobs) != 0 {
			t.Fatalf("third recovery leased %v; want the job failed", ids(jobs))
		}
		got := b.wantState(b.q, id, backend.StateFailed)
		if got.FailedReason != backend.StalledReason || got.Lease != (backend.Lease{}) || got.Worker != "" {
			t.Errorf("stalled-out job: reason %q lease %+v worker %q; want %q, no lease, no worker", got.FailedReason, got.Lease, got.Worker, backend.StalledReason)
		}
		// The attempt that started and was lost counts, on the job and on
		// its failed event.
		if got.AttemptsMade != 1 {
			t.Errorf("stalled-out job made %d attempts, want 1", got.AttemptsMade)
		}
		evs := b.events(b.q, 0)
		if e := evs[len(evs)-1]; e.Type != backend.EventFailed || e.AttemptsMade != 1 || e.Reason != backend.StalledReason {
			t.Errorf("last event %+v, want failed after 1 attempt, with the stalled reason", e)
		}
		b.wantCounts(b.q, backend.Counts{Failed: 1})
	})

	t.Run("a recovered or released job names no worker until it is leased again", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		stalled := b.addOne(backend.NewJob{Name: "stalled"})
		req := &backend.LeaseRequest{Worker: "gone", Max: 1, TTL: defaultTTL, MaxStalled: 5}
		b.leaseReq(b.q, req)
		b.clock.Advance(defaultTTL + time.Second)
		// A lease of the paused queue recovers the stalled job and takes
		// nothing.
		if err := b.store.SetPaused(b.ctx, b.q, true); err != nil {
			t.Fatal(err)
		}
		b.leaseReq(b.q, req)
		if err := b.store.SetPaused(b.ctx, b.q, false); err != nil {
			t.Fatal(err)
		}
		if j := b.wantState(b.q, stalled, backend.StateWaiting); j.Worker != "" || j.StalledCount != 1 {
			t.Errorf("recovered job: worker %q stalled %d; want none and 1", j.Worker, j.StalledCount)
		}
		j := b.leaseReq(b.q, &backend.LeaseRequest{Worker: "polite", Max: 1, TTL: defaultTTL})[0]
		if j.Worker != "polite" {
			t.Errorf("leased job names worker %q, want polite", j.Worker)
		}
		b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeRelease})
		if j := b.wantState(b.q, stalled, backend.StateWaiting); j.Worker != "" {
			t.Errorf("released job names worker %q, want none", j.Worker)
		}
		j = b.leaseReq(b.q, &backend.LeaseRequest{Worker: "finisher", Max: 1, TTL: defaultTTL})[0]
		b.complete(j, "ok")
		if j := b.job(stalled); j.Worker != "finisher" {
			t.Errorf("completed job names worker %q, want finisher", j.Worker)
		}
	})

	t.Run("with MaxStalled 0 the first recovery fails the job", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "crasher"})
		req := &backend.LeaseRequest{Worker: "w", Max: 1, TTL: defaultTTL}
		b.leaseReq(b.q, req)
		b.clock.Advance(defaultTTL + time.Second)
		if jobs := b.leaseReq(b.q, req); len(jobs) != 0 {
			t.Fatalf("leased %v; want the job failed", ids(jobs))
		}
		b.wantState(b.q, id, backend.StateFailed)
	})

	t.Run("a waiting lease is woken when another lease expires", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "orphan"})
		b.leaseOne()
		ch := b.leaseAsync(b.q, backend.LeaseRequest{Worker: "w2", Max: 1, TTL: defaultTTL, Wait: longWait, MaxStalled: 1})
		b.awaitWaiters(1)
		b.clock.Advance(defaultTTL + time.Second)
		r := receive(t, ch, deadline, "waiting Lease after the other lease expired")
		if r.err != nil || len(r.jobs) != 1 || r.jobs[0].ID != id || r.jobs[0].StalledCount != 1 {
			t.Fatalf("waiting Lease = %+v, %v; want job %s recovered", r.jobs, r.err, id)
		}
	})

	t.Run("a lease that expired while the queue was paused is recovered after resume", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "orphan"})
		b.leaseOne()
		if err := b.store.SetPaused(b.ctx, b.q, true); err != nil {
			t.Fatal(err)
		}
		b.clock.Advance(defaultTTL + time.Second)
		if jobs := b.lease(1); len(jobs) != 0 {
			t.Fatalf("paused queue leased %v", ids(jobs))
		}
		if err := b.store.SetPaused(b.ctx, b.q, false); err != nil {
			t.Fatal(err)
		}
		if j := b.leaseOne(); j.ID != id || j.StalledCount != 1 {
			t.Fatalf("leased %s stalled %d", j.ID, j.StalledCount)
		}
	})
}
