package conformance

import (
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func (b *testBundle) renew(ttl time.Duration, leases ...backend.Lease) backend.RenewResult {
	b.t.Helper()
	res, err := b.store.Renew(b.ctx, b.q, &backend.RenewRequest{Leases: leases, TTL: ttl})
	if err != nil {
		b.t.Fatalf("Renew: %v", err)
	}
	return res
}

func testRenew(t *testing.T, f Factory) {
	t.Run("renew extends the lease from the store clock", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{Name: "long"})
		j := b.leaseOne()
		b.clock.Advance(20 * time.Second)
		res := b.renew(time.Minute, j.Lease)
		want := b.clock.Now().Add(time.Minute)
		if len(res.Lost) != 0 || !res.ExpiresAt.Equal(want) {
			t.Fatalf("Renew = %+v, want nothing lost and expiry %v", res, want)
		}
		if got := b.job(j.ID).LeaseExpiresAt; !got.Equal(want) {
			t.Errorf("LeaseExpiresAt = %v, want %v", got, want)
		}
		// Past the first deadline but inside the renewed one: not stalled.
		b.clock.Advance(30 * time.Second)
		if jobs := b.lease(1); len(jobs) != 0 {
			t.Fatalf("Lease took %v", ids(jobs))
		}
		k := b.wantState(b.q, j.ID, backend.StateActive)
		if k.Lease != j.Lease || k.StalledCount != 0 {
			t.Fatalf("renewed job was recovered: lease %+v, stalled %d", k.Lease, k.StalledCount)
		}
		b.complete(j, "ok")
	})

	t.Run("renew reckons from the time the caller chose to renew when that is earlier", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{Name: "long"})
		j := b.leaseOne()
		chose := b.clock.Now().Add(10 * time.Second)
		b.clock.Advance(20 * time.Second)
		res, err := b.store.Renew(b.ctx, b.q, &backend.RenewRequest{Leases: []backend.Lease{j.Lease}, TTL: time.Minute, At: chose})
		if err != nil || len(res.Lost) != 0 || !res.ExpiresAt.Equal(chose.Add(time.Minute)) {
			t.Fatalf("Renew = %+v, %v; want the lease to expire a minute after %v", res, err, chose)
		}
		if got := b.wantState(b.q, j.ID, backend.StateActive); !got.LeaseExpiresAt.Equal(chose.Add(time.Minute)) {
			t.Errorf("lease expires at %v, want %v", got.LeaseExpiresAt, chose.Add(time.Minute))
		}
		// A time later than the store's is the store's.
		res = b.renew(time.Minute, j.Lease)
		later, err := b.store.Renew(b.ctx, b.q, &backend.RenewRequest{Leases: []backend.Lease{j.Lease}, TTL: time.Minute, At: b.clock.Now().Add(time.Hour)})
		if err != nil || !later.ExpiresAt.Equal(res.ExpiresAt) {
			t.Errorf("Renew with a later At = %+v, %v; want expiry %v", later, err, res.ExpiresAt)
		}
	})

	t.Run("renew reports a stale token as lost and extends the others", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addN(2, "job")
		jobs := b.lease(2)
		stale := backend.Lease{JobID: jobs[1].ID, Token: jobs[1].Lease.Token + "-stale"}
		res := b.renew(time.Minute, jobs[0].Lease, stale)
		if len(res.Lost) != 1 || res.Lost[0] != stale {
			t.Fatalf("Lost = %+v, want only %+v", res.Lost, stale)
		}
		if got := b.job(jobs[0].ID).LeaseExpiresAt; !got.Equal(b.clock.Now().Add(time.Minute)) {
			t.Errorf("held lease not extended: expires %v", got)
		}
		if got := b.job(jobs[1].ID); got.Lease != jobs[1].Lease || !got.LeaseExpiresAt.Equal(jobs[1].LeaseExpiresAt) {
			t.Errorf("stale renew changed the job's lease to %+v until %v", got.Lease, got.LeaseExpiresAt)
		}
	})

	t.Run("renew of a settled lease reports it lost", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{Name: "n"})
		j := b.leaseOne()
		b.complete(j, "")
		res := b.renew(time.Minute, j.Lease)
		if len(res.Lost) != 1 || res.Lost[0] != j.Lease {
			t.Fatalf("Lost = %+v, want %+v", res.Lost, j.Lease)
		}
		b.wantState(b.q, j.ID, backend.StateCompleted)
	})

	t.Run("renew of a recovered lease reports it lost", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{Name: "n"})
		j := b.leaseOne()
		b.clock.Advance(defaultTTL + time.Second)
		again := b.leaseOne()
		res := b.renew(time.Minute, j.Lease)
		if len(res.Lost) != 1 || res.Lost[0] != j.Lease {
			t.Fatalf("Lost = %+v, want %+v", res.Lost, j.Lease)
		}
		if got := b.job(j.ID); got.Lease != again.Lease {
			t.Errorf("stale renew changed the new lease: %+v, want %+v", got.Lease, again.Lease)
		}
	})
}
