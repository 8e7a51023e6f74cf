package conformance

import (
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

// leaseResult is what a Lease call made in a goroutine returned.
type leaseResult struct {
	jobs []*backend.Job
	err  error
}

// leaseAsync starts Lease in a goroutine and returns the channel its result
// arrives on. The goroutine never touches t.
func (b *testBundle) leaseAsync(q string, req backend.LeaseRequest) <-chan leaseResult {
	b.use(q)
	ch := make(chan leaseResult, 1)
	go func() {
		res, err := b.store.Lease(b.ctx, q, &req)
		ch <- leaseResult{res.Jobs, err}
	}()
	return ch
}

func testLease(t *testing.T, f Factory) {
	t.Run("lease moves a job to active under a lease from the store clock", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "n", Data: []byte("d")})
		b.clock.Advance(5 * time.Second)
		jobs := b.leaseReq(b.q, &backend.LeaseRequest{Worker: "worker-a", Max: 1, TTL: 45 * time.Second, MaxStalled: 1})
		if len(jobs) != 1 {
			t.Fatalf("Lease returned %d jobs, want 1", len(jobs))
		}
		j := jobs[0]
		now := b.clock.Now()
		if j.ID != id || j.State != backend.StateActive || j.Lease.JobID != id || j.Lease.Token == "" {
			t.Errorf("leased job = id %s state %s lease %+v", j.ID, j.State, j.Lease)
		}
		if !j.LeaseExpiresAt.Equal(now.Add(45*time.Second)) || !j.ProcessedAt.Equal(now) || j.Worker != "worker-a" {
			t.Errorf("LeaseExpiresAt %v ProcessedAt %v Worker %q; want %v, %v, worker-a", j.LeaseExpiresAt, j.ProcessedAt, j.Worker, now.Add(45*time.Second), now)
		}
		if string(j.Data) != "d" || j.Name != "n" {
			t.Errorf("leased job lost its name or data: %q %q", j.Name, j.Data)
		}
		stored := b.wantState(b.q, id, backend.StateActive)
		if stored.Lease != j.Lease || !stored.LeaseExpiresAt.Equal(j.LeaseExpiresAt) {
			t.Errorf("stored lease %+v until %v, leased %+v until %v", stored.Lease, stored.LeaseExpiresAt, j.Lease, j.LeaseExpiresAt)
		}
		b.wantCounts(b.q, backend.Counts{Active: 1})
	})

	t.Run("lease takes at most Max jobs", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		all := b.addN(5, "job")
		first := b.lease(2)
		second := b.lease(10)
		third := b.lease(10)
		if len(first) != 2 || len(second) != 3 || len(third) != 0 {
			t.Fatalf("leases took %d, %d, %d jobs; want 2, 3, 0", len(first), len(second), len(third))
		}
		got := append(ids(first), ids(second)...)
		for i, id := range all {
			if got[i] != id {
				t.Fatalf("leased %v, want FIFO order %v", got, all)
			}
		}
		b.wantCounts(b.q, backend.Counts{Active: 5})
	})

	t.Run("lease on an empty queue without Wait returns no job", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		if jobs := b.lease(3); len(jobs) != 0 {
			t.Errorf("Lease returned %v", ids(jobs))
		}
	})

	t.Run("lease on a paused queue takes nothing until it is resumed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{Name: "before"})
		if err := b.store.SetPaused(b.ctx, b.q, true); err != nil {
			t.Fatal(err)
		}
		id := b.addOne(backend.NewJob{Name: "while-paused"})
		if jobs := b.lease(5); len(jobs) != 0 {
			t.Fatalf("paused queue leased %v", ids(jobs))
		}
		if c := b.counts(); !c.Paused || c.Waiting != 2 {
			t.Fatalf("Counts = %+v, want Paused and 2 waiting", c)
		}
		if err := b.store.SetPaused(b.ctx, b.q, false); err != nil {
			t.Fatal(err)
		}
		jobs := b.lease(5)
		if len(jobs) != 2 || jobs[1].ID != id {
			t.Fatalf("after resume leased %v, want 2 jobs", ids(jobs))
		}
		if b.counts().Paused {
			t.Error("Counts.Paused still set after resume")
		}
	})

	t.Run("lease promotes a delayed job once the clock reaches its run time", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "later", Delay: time.Minute})
		b.clock.Advance(time.Minute - time.Second)
		if jobs := b.lease(1); len(jobs) != 0 {
			t.Fatalf("leased %v a second before its run time", ids(jobs))
		}
		b.clock.Advance(time.Second)
		j := b.leaseOne()
		if j.ID != id {
			t.Fatalf("leased %s, want %s", j.ID, id)
		}
		b.wantCounts(b.q, backend.Counts{Active: 1})
	})

	t.Run("a waiting lease returns the job an add makes ready", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		ch := b.leaseAsync(b.q, backend.LeaseRequest{Worker: "w", Max: 1, TTL: defaultTTL, Wait: longWait})
		b.awaitWaiters(1)
		id := b.addOne(backend.NewJob{Name: "wake"})
		r := receive(t, ch, deadline, "waiting Lease after Add")
		if r.err != nil || len(r.jobs) != 1 || r.jobs[0].ID != id {
			t.Fatalf("waiting Lease = %v, %v; want job %s", ids(r.jobs), r.err, id)
		}
		b.wantCounts(b.q, backend.Counts{Active: 1})
	})

	t.Run("a waiting lease returns empty once its wait has passed on the store clock", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		ch := b.leaseAsync(b.q, backend.LeaseRequest{Worker: "w", Max: 1, TTL: defaultTTL, Wait: 10 * time.Second})
		var r leaseResult
		waitFor(t, deadline, func() bool {
			select {
			case r = <-ch:
				return true
			default:
				b.clock.Advance(time.Second)
				return false
			}
		})
		if r.err != nil || len(r.jobs) != 0 {
			t.Fatalf("Lease after its wait = %v, %v; want no job and no error", ids(r.jobs), r.err)
		}
	})

	t.Run("a job is held by at most one lease among concurrent leasers", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		const n, workers = 60, 8
		b.addN(n, "job")
		var mu sync.Mutex
		holders := make(map[string]int)
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for {
					res, err := b.store.Lease(b.ctx, b.q, &backend.LeaseRequest{Worker: "w", Max: 1 + w%3, TTL: defaultTTL, MaxStalled: 1})
					if err != nil {
						errs <- err
						return
					}
					if len(res.Jobs) == 0 {
						return
					}
					mu.Lock()
					for _, j := range res.Jobs {
						holders[j.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("Lease: %v", err)
		}
		if len(holders) != n {
			t.Errorf("%d distinct jobs leased, want %d", len(holders), n)
		}
		for id, k := range holders {
			if k != 1 {
				t.Errorf("job %s leased %d times", id, k)
			}
		}
		b.wantCounts(b.q, backend.Counts{Active: n})
	})

	t.Run("each lease has a token of its own", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addN(10, "job")
		tokens := make(map[string]bool)
		for _, j := range b.lease(10) {
			if tokens[j.Lease.Token] {
				t.Errorf("token %q given twice", j.Lease.Token)
			}
			tokens[j.Lease.Token] = true
		}
	})
}
