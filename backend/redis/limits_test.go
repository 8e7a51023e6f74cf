package redis

import (
	"context"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/redis/internal/layout"
)

// testLimitsKeys checks where a queue's limits live, that wake tokens
// follow them, and that Obliterate clears them.
func testLimitsKeys(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	b := x.b.(*Backend)
	c := b.client
	meta, starts := b.key("q", layout.KeyMeta), b.key("q", layout.KeyStarts)
	if keySlot(starts) != keySlot(meta) {
		t.Fatalf("%s and %s hash to different slots", starts, meta)
	}
	tokens := func(want int64, after string) { t.Helper(); x.tokens(t, "q", want, after) }
	if err := b.SetLimits(x.ctx, "q", backend.Limits{Concurrency: 1, Rate: 2, RatePer: time.Second}); err != nil {
		t.Fatal(err)
	}
	x.add(t, "q", backend.NewJob{Name: "a"}, backend.NewJob{Name: "b"}, backend.NewJob{Name: "c"})
	jobs := x.lease(t, "q", 3)
	if len(jobs) != 1 {
		t.Fatalf("leased %d jobs under a concurrency of 1", len(jobs))
	}
	tokens(0, "a lease that reached the concurrency limit")
	x.add(t, "q", backend.NewJob{Name: "d"})
	tokens(0, "an add while the concurrency limit is reached")
	if errs := x.settle(t, "q", complete(jobs[0], "")); errs[0] != nil {
		t.Fatal(errs[0])
	}
	tokens(1, "a settle that freed the one slot")
	jobs = x.lease(t, "q", 3)
	if len(jobs) != 1 {
		t.Fatalf("leased %d jobs under a concurrency of 1", len(jobs))
	}
	if n := c.ZCard(x.ctx, starts).Val(); n != 2 {
		t.Fatalf("%d starts kept, want 2", n)
	}
	// A slot that frees while the rate allows no start wakes nobody.
	if errs := x.settle(t, "q", complete(jobs[0], "")); errs[0] != nil {
		t.Fatal(errs[0])
	}
	tokens(0, "a settle while the rate allows no start")
	if err := b.Hold(x.ctx, "q", time.Minute); err != nil {
		t.Fatal(err)
	}
	x.clock.Advance(time.Second)
	x.add(t, "q", backend.NewJob{Name: "e"})
	tokens(0, "an add while the queue is held")

	if err := b.Obliterate(x.ctx, "q", &backend.ObliterateRequest{Force: true}); err != nil {
		t.Fatal(err)
	}
	if n := c.Exists(x.ctx, starts).Val(); n != 0 {
		t.Fatal("the starts outlived Obliterate")
	}
	for _, v := range c.HMGet(x.ctx, meta, "conc", "rate", "per", "hold").Val() {
		if v != nil {
			t.Fatalf("limits outlived Obliterate: %v", c.HGetAll(x.ctx, meta).Val())
		}
	}
	if l, err := b.Limits(x.ctx, "q"); err != nil || l != (backend.QueueLimits{}) {
		t.Fatalf("Limits after Obliterate = %+v, %v; want none", l, err)
	}
}

// tokens checks that queue q has want wake tokens, after what the test
// did.
func (x *bundle) tokens(t *testing.T, q string, want int64, after string) {
	t.Helper()
	b := x.b.(*Backend)
	if n := b.client.LLen(x.ctx, b.key(q, layout.KeyWake)).Val(); n != want {
		t.Fatalf("%d wake tokens after %s, want %d", n, after, want)
	}
}

// testWakeRateLimited checks that a Lease that the rate limit keeps from
// taking a job waits, on the store's clock, exactly until the next start
// it allows: not until the end of its wait, nor for a poll interval.
func testWakeRateLimited(t *testing.T, f storeFactory) {
	wakesAtNextStart(t, f, func(b *Backend, l backend.Limits) error { return b.SetLimits(t.Context(), "q", l) },
		backend.NewJob{Name: "a"}, backend.NewJob{Name: "b"})
}

// wakesAtNextStart sets limits of one start per 20 s with set, adds two
// jobs, leases the first, and checks that a Lease of the second waits, on
// the store's clock, exactly until the limits allow its start.
func wakesAtNextStart(t *testing.T, f storeFactory, set func(b *Backend, l backend.Limits) error, first, second backend.NewJob) {
	x := setup(t, f, storeOptions{})
	if err := set(x.b.(*Backend), backend.Limits{Rate: 1, RatePer: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	x.add(t, "q", first, second)
	if jobs := x.lease(t, "q", 2); len(jobs) != 1 {
		t.Fatalf("leased %d jobs at a rate of 1", len(jobs))
	}
	x.clock.Advance(5 * time.Second)
	done := x.leaseLater(t, "q")
	// Before the lease of the first job expires (30s).
	next := t0.Add(20 * time.Second)
	ctx, cancel := context.WithTimeout(x.ctx, 10*time.Second)
	defer cancel()
	if err := x.clock.AwaitTimer(ctx, next, 1); err != nil {
		t.Fatalf("no timer of the blocked lease at %v: %v (timers at %v)", next, err, x.clock.Waiters())
	}
	if w := x.clock.Waiters(); len(w) != 1 || !w[0].Equal(next) {
		t.Fatalf("the blocked lease waits until %v, want %v", w, next)
	}
	x.clock.Set(next)
	jobs := <-done
	if len(jobs) != 1 || jobs[0].Name != second.Name || !jobs[0].ProcessedAt.Equal(next) {
		t.Fatalf("leased %v, want %s started at %v", jobs, second.Name, next)
	}
}
