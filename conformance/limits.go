package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

// --- queue limit helpers ---

func (b *testBundle) limiter() backend.Limiter { return capability[backend.Limiter](b) }

func (b *testBundle) setLimits(l backend.Limits) {
	b.t.Helper()
	if err := b.limiter().SetLimits(b.ctx, b.q, l); err != nil {
		b.t.Fatalf("SetLimits(%+v): %v", l, err)
	}
}

func (b *testBundle) limits() backend.QueueLimits {
	b.t.Helper()
	l, err := b.limiter().Limits(b.ctx, b.q)
	if err != nil {
		b.t.Fatalf("Limits: %v", err)
	}
	return l
}

// leaseN leases up to max jobs and fails the case unless it got want.
func (b *testBundle) leaseN(max, want int) []*backend.Job {
	b.t.Helper()
	got := b.lease(max)
	if len(got) != want {
		b.t.Fatalf("at %v: Lease(Max %d) took %d jobs, want %d", b.clock.Now().Sub(epoch), max, len(got), want)
	}
	return got
}

// blockedLease starts a Lease that waits; its result arrives on the
// returned channel. It returns once the Lease is waiting on the clock.
func (b *testBundle) blockedLease(timers int) <-chan leaseResult {
	ch := make(chan leaseResult, 1)
	go func() {
		res, err := b.store.Lease(b.ctx, b.q, &backend.LeaseRequest{Worker: "blocked", Max: 1, TTL: defaultTTL, Wait: longWait, MaxStalled: 1})
		ch <- leaseResult{res.Jobs, err}
	}()
	b.awaitWaiters(timers)
	return ch
}

// startTimes returns the time of every active event of queue q, in order.
func (b *testBundle) startTimes(q string) []time.Time {
	b.t.Helper()
	var out []time.Time
	for _, e := range b.events(q, 0) {
		if e.Type == backend.EventActive {
			out = append(out, e.Time)
		}
	}
	return out
}

// wantRateKept fails the case when more than rate of the start times fall
// in any span of per.
func wantRateKept(t testing.TB, starts []time.Time, rate int, per time.Duration) {
	t.Helper()
	for i := rate; i < len(starts); i++ {
		if d := starts[i].Sub(starts[i-rate]); d < per {
			t.Fatalf("starts %d and %d are %v apart: %d starts within %v, limit %d", i-rate, i, d, rate+1, per, rate)
		}
	}
}

func testLimits(t *testing.T, f Factory) {
	t.Run("limits are stored, announced and read back", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		if l := b.limits(); l != (backend.QueueLimits{}) {
			t.Fatalf("limits of a new queue = %+v, want none", l)
		}
		want := backend.Limits{Concurrency: 3, Rate: 10, RatePer: time.Second}
		b.setLimits(want)
		if l := b.limits(); l.Limits != want || !l.HeldUntil.IsZero() || !l.NextStart.IsZero() {
			t.Fatalf("Limits = %+v, want %+v and no hold", l, want)
		}
		evs := b.events(b.q, 0)
		if len(evs) != 1 || evs[0].Type != backend.EventLimitsChanged {
			t.Fatalf("events = %v, want one limits-changed", typesOf(evs))
		}
		if got, err := backend.LimitsOf(&evs[0]); err != nil || got != want {
			t.Fatalf("LimitsOf(event) = %+v, %v; want %+v", got, err, want)
		}
		b.setLimits(backend.Limits{})
		if l := b.limits(); l != (backend.QueueLimits{}) {
			t.Fatalf("limits after clearing = %+v, want none", l)
		}
		lim := b.limiter()
		for _, bad := range []backend.Limits{{Concurrency: -1}, {Rate: -1, RatePer: time.Second}, {Rate: 1}, {RatePer: time.Second},
			{Rate: backend.MaxRate + 1, RatePer: time.Second}, {Rate: 1, RatePer: -time.Second}} {
			if err := lim.SetLimits(b.ctx, b.q, bad); !errors.Is(err, backend.ErrInvalid) {
				t.Errorf("SetLimits(%+v) = %v, want ErrInvalid", bad, err)
			}
		}
		for _, d := range []time.Duration{0, -time.Second, backend.MaxDelay + 1} {
			if err := lim.Hold(b.ctx, b.q, d); !errors.Is(err, backend.ErrInvalid) {
				t.Errorf("Hold(%v) = %v, want ErrInvalid", d, err)
			}
		}
		if err := lim.SetLimits(b.ctx, "a b", want); !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("SetLimits on a bad queue name = %v, want ErrInvalid", err)
		}
		if n := len(b.events(b.q, 0)); n != 2 {
			t.Fatalf("%d events after refused calls, want the 2 of the accepted ones", n)
		}
	})

	t.Run("obliterating a queue lifts its limits and its hold", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.setLimits(backend.Limits{Concurrency: 1, Rate: 1, RatePer: time.Minute})
		b.addN(2, "job")
		b.leaseN(2, 1)
		if err := b.limiter().Hold(b.ctx, b.q, time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := b.store.Obliterate(b.ctx, b.q, &backend.ObliterateRequest{Force: true}); err != nil {
			t.Fatal(err)
		}
		if l := b.limits(); l != (backend.QueueLimits{}) {
			t.Fatalf("limits after obliterate = %+v, want none", l)
		}
		b.addN(2, "again")
		b.leaseN(2, 2)
	})

	t.Run("concurrency caps the active jobs of a queue", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.setLimits(backend.Limits{Concurrency: 2})
		b.addN(5, "job")
		got := b.leaseN(5, 2)
		b.leaseN(5, 0)
		b.complete(got[0], "")
		got = append(got[1:], b.leaseN(5, 1)...)
		b.wantCounts(b.q, backend.Counts{Waiting: 2, Active: 2, Completed: 1})
		// Raising the limit lets more start; lowering it stops new starts
		// and leaves the running ones be.
		b.setLimits(backend.Limits{Concurrency: 3})
		got = append(got, b.leaseN(5, 1)...)
		b.setLimits(backend.Limits{Concurrency: 1})
		b.complete(got[0], "")
		b.leaseN(5, 0)
		b.complete(got[1], "")
		b.complete(got[2], "")
		b.leaseN(5, 1)
	})

	t.Run("a lease blocked by concurrency gets a job when a slot frees", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.setLimits(backend.Limits{Concurrency: 1})
		b.addN(2, "job")
		first := b.leaseOne()
		ch := b.blockedLease(1)
		b.complete(first, "")
		r := receive(t, ch, deadline, "the blocked lease")
		if r.err != nil || len(r.jobs) != 1 || r.jobs[0].ID == first.ID {
			t.Fatalf("blocked lease = %v, %v; want the other job", ids(r.jobs), r.err)
		}
	})

	t.Run("the rate limit allows N starts in any span of its period", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.setLimits(backend.Limits{Rate: 2, RatePer: time.Second})
		b.addN(8, "job")
		b.leaseN(1, 1)
		b.clock.Advance(400 * time.Millisecond)
		b.leaseN(8, 1)
		if l := b.limits(); !l.NextStart.Equal(epoch.Add(time.Second)) {
			t.Fatalf("NextStart = %v, want %v", l.NextStart, epoch.Add(time.Second))
		}
		b.clock.Advance(599 * time.Millisecond)
		b.leaseN(8, 0)
		b.clock.Advance(time.Millisecond) // the first start leaves the window
		b.leaseN(8, 1)
		b.clock.Advance(400 * time.Millisecond) // and the second
		b.leaseN(8, 1)
		b.clock.Advance(time.Second) // both
		b.leaseN(8, 2)
		wantRateKept(t, b.startTimes(b.q), 2, time.Second)
	})

	t.Run("a lease blocked by the rate limit wakes when the next start is allowed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.setLimits(backend.Limits{Rate: 1, RatePer: time.Minute})
		b.addN(2, "job")
		b.leaseOne()
		ch := b.blockedLease(1)
		b.clock.Advance(59 * time.Second)
		select {
		case r := <-ch:
			t.Fatalf("blocked lease returned %v, %v before the next start was allowed", ids(r.jobs), r.err)
		default:
		}
		b.clock.Advance(time.Second)
		r := receive(t, ch, deadline, "the blocked lease")
		if r.err != nil || len(r.jobs) != 1 {
			t.Fatalf("blocked lease = %v, %v; want a job", ids(r.jobs), r.err)
		}
		if !r.jobs[0].ProcessedAt.Equal(epoch.Add(time.Minute)) {
			t.Fatalf("second job started at %v, want %v", r.jobs[0].ProcessedAt, epoch.Add(time.Minute))
		}
	})

	t.Run("a hold keeps every job from starting until it ends", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addN(2, "job")
		mark := b.lastEventID(b.q)
		if err := b.limiter().Hold(b.ctx, b.q, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := b.limiter().Hold(b.ctx, b.q, time.Second); err != nil {
			t.Fatal(err)
		}
		evs := b.events(b.q, mark)
		if len(evs) != 1 || evs[0].Type != backend.EventRateLimited || !evs[0].RunAt.Equal(epoch.Add(5*time.Second)) {
			t.Fatalf("events = %+v, want one rate-limited until %v (a shorter hold changes nothing)", evs, epoch.Add(5*time.Second))
		}
		if l := b.limits(); !l.HeldUntil.Equal(epoch.Add(5 * time.Second)) {
			t.Fatalf("HeldUntil = %v, want %v", l.HeldUntil, epoch.Add(5*time.Second))
		}
		b.leaseN(2, 0)
		ch := b.blockedLease(1)
		b.clock.Advance(5 * time.Second)
		r := receive(t, ch, deadline, "the blocked lease")
		if r.err != nil || len(r.jobs) != 1 {
			t.Fatalf("blocked lease = %v, %v; want a job once the hold ended", ids(r.jobs), r.err)
		}
		b.leaseN(2, 1)
		if l := b.limits(); !l.HeldUntil.IsZero() {
			t.Fatalf("HeldUntil = %v after the hold, want zero", l.HeldUntil)
		}
	})

	t.Run("a release with HoldQueue gives the job back and holds the queue", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		added := b.addN(2, "job")
		j := b.leaseOne()
		mark := b.lastEventID(b.q)
		b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeRelease, HoldQueue: 3 * time.Second})
		back := b.wantState(b.q, j.ID, backend.StateWaiting)
		if back.AttemptsMade != 0 {
			t.Fatalf("AttemptsMade = %d after a rate-limited release, want 0", back.AttemptsMade)
		}
		var held bool
		for _, e := range b.events(b.q, mark) {
			if e.Type == backend.EventRateLimited {
				held = e.JobID == j.ID && e.RunAt.Equal(epoch.Add(3*time.Second))
			}
		}
		if !held {
			t.Fatalf("events = %v, want rate-limited by job %s until %v", typesOf(b.events(b.q, mark)), j.ID, epoch.Add(3*time.Second))
		}
		b.leaseN(2, 0)
		b.clock.Advance(3 * time.Second)
		if got := b.leaseN(1, 1); got[0].ID != added[0] {
			t.Fatalf("leased %s first after the hold, want the released %s", got[0].ID, added[0])
		}
		for _, s := range []backend.Settlement{
			{Lease: j.Lease, Outcome: backend.OutcomeComplete, HoldQueue: time.Second},
			{Lease: j.Lease, Outcome: backend.OutcomeRelease, HoldQueue: -time.Second},
		} {
			if err := b.settleErr(b.q, s); !errors.Is(err, backend.ErrInvalid) {
				t.Errorf("Settle(%s with HoldQueue %v) = %v, want ErrInvalid", s.Outcome, s.HoldQueue, err)
			}
		}
	})

	t.Run("a limit of 1 per 100ms spreads 10 jobs over 900ms whatever the number of workers", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.setLimits(backend.Limits{Rate: 1, RatePer: 100 * time.Millisecond, Concurrency: 3})
		const n, workers = 10, 4
		b.addN(n, "job")
		var (
			mu    sync.Mutex
			taken int
		)
		ctx, cancel := context.WithCancel(b.ctx)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for ctx.Err() == nil {
					res, err := b.store.Lease(ctx, b.q, &backend.LeaseRequest{Worker: fmt.Sprint("w", w), Max: 2, TTL: time.Hour, Wait: longWait})
					if err != nil {
						if ctx.Err() == nil {
							errs <- err
						}
						return
					}
					mu.Lock()
					taken += len(res.Jobs)
					mu.Unlock()
					for _, j := range res.Jobs {
						if _, err := b.store.Settle(context.Background(), b.q, &backend.SettleRequest{Settlements: []backend.Settlement{{Lease: j.Lease, Outcome: backend.OutcomeComplete}}}); err != nil {
							errs <- err
							return
						}
					}
				}
			})
		}
		ok := pollProgress(deadline, time.Millisecond, func() (bool, int) {
			mu.Lock()
			got := taken
			mu.Unlock()
			if got < n {
				b.clock.Advance(10 * time.Millisecond)
			}
			return got >= n, got
		})
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if !ok {
			t.Fatalf("took %d of %d jobs", taken, n)
		}
		starts := b.startTimes(b.q)
		if len(starts) != n {
			t.Fatalf("%d active events, want %d", len(starts), n)
		}
		wantRateKept(t, starts, 1, 100*time.Millisecond)
		if d := starts[n-1].Sub(starts[0]); d < 900*time.Millisecond {
			t.Fatalf("10 starts took %v of the store's time, want at least 900ms", d)
		}
	})

	t.Run("concurrent workers never run more than the concurrency limit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		const n, limit, workers = 60, 3, 6
		b.setLimits(backend.Limits{Concurrency: limit})
		b.addN(n, "job")
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for {
					res, err := b.store.Lease(b.ctx, b.q, &backend.LeaseRequest{Worker: fmt.Sprint("w", w), Max: 2, TTL: time.Hour})
					if err != nil {
						errs <- err
						return
					}
					if len(res.Jobs) == 0 {
						c, err := b.store.Counts(b.ctx, b.q)
						if err != nil {
							errs <- err
							return
						}
						if c.Waiting == 0 {
							return
						}
						continue
					}
					for _, j := range res.Jobs {
						if _, err := b.store.Settle(b.ctx, b.q, &backend.SettleRequest{Settlements: []backend.Settlement{{Lease: j.Lease, Outcome: backend.OutcomeComplete}}}); err != nil {
							errs <- err
							return
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// Replay the log: it orders every start and end.
		active, peak := 0, 0
		for _, e := range b.events(b.q, 0) {
			switch e.Type {
			case backend.EventActive:
				active++
				peak = max(peak, active)
			case backend.EventCompleted:
				active--
			}
		}
		if peak > limit {
			t.Fatalf("the event log shows %d jobs active at once, limit %d", peak, limit)
		}
		b.wantCounts(b.q, backend.Counts{Completed: n})
	})
}
