package bolt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/fakeclock"
)

// leaseResult is what a blocked Lease call returned.
type leaseResult struct {
	jobs []*backend.Job
	err  error
}

// blockedLease starts a Lease call that waits up to an hour, and returns
// once the call is idle: its look has found nothing and its timer is armed
// (the clock then has timers armed by every idle call, counted by idle).
func blockedLease(t *testing.T, b *Backend, clock *fakeclock.Clock, idle int, ctx context.Context, req backend.LeaseRequest) <-chan leaseResult {
	t.Helper()
	if req.Wait == 0 {
		req.Wait = time.Hour
	}
	ch := make(chan leaseResult, 1)
	go func() {
		res, err := b.Lease(ctx, "q", &req)
		ch <- leaseResult{res.Jobs, err}
	}()
	waitFor(t, deadlineReal, func() bool { return clock.Timers() >= idle })
	return ch
}

func receiveLease(t *testing.T, ch <-chan leaseResult) leaseResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(deadlineReal):
		t.Fatal("blocked Lease did not return")
		return leaseResult{}
	}
}

func TestAddHandsJobsToIdleLeasesInOneCommit(t *testing.T) {
	b, clock := setup(t)
	const k = 4
	chans := make([]<-chan leaseResult, k)
	for i := range chans {
		chans[i] = blockedLease(t, b, clock, i+1, ctx, backend.LeaseRequest{Worker: fmt.Sprint("w", i), Max: 1, TTL: time.Duration(i+1) * time.Minute})
	}
	before := b.commits.Load()
	jobs := make([]backend.NewJob, k)
	for i := range jobs {
		jobs[i] = backend.NewJob{Name: fmt.Sprint("j", i)}
	}
	added := add(t, b, "q", jobs...)
	for i, ch := range chans {
		r := receiveLease(t, ch)
		if r.err != nil || len(r.jobs) != 1 {
			t.Fatalf("lease %d: %v, %v", i, r.jobs, r.err)
		}
		j := r.jobs[0]
		// First come, first served, in the order of the queue.
		if j.ID != added[i].ID || j.State != backend.StateActive || j.Worker != fmt.Sprint("w", i) ||
			!j.LeaseExpiresAt.Equal(epoch.Add(time.Duration(i+1)*time.Minute)) || j.Lease.Token == "" {
			t.Fatalf("lease %d got %+v", i, j)
		}
		if stored := job(t, b, "q", j.ID); stored.Lease != j.Lease || stored.State != backend.StateActive {
			t.Fatalf("stored job %+v, handed lease %+v", stored, j.Lease)
		}
	}
	if got := b.commits.Load() - before; got != 1 {
		t.Fatalf("add and hand-off took %d commits, want 1", got)
	}
	if c := counts(t, b, "q"); c.Active != k || c.Waiting != 0 {
		t.Fatalf("counts %+v", c)
	}
	var types []string
	for _, e := range events(t, b, "q", 0) {
		types = append(types, string(e.Type))
	}
	want := []string{"added", "waiting", "added", "waiting", "added", "waiting", "added", "waiting", "active", "active", "active", "active", "drained"}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", types, want)
	}
}

func TestHandOffTakesPriorityOrderAndMaxAcrossWaiters(t *testing.T) {
	b, clock := setup(t)
	first := blockedLease(t, b, clock, 1, ctx, backend.LeaseRequest{Worker: "a", Max: 2, TTL: time.Minute})
	second := blockedLease(t, b, clock, 2, ctx, backend.LeaseRequest{Worker: "b", Max: 2, TTL: time.Minute})
	add(t, b, "q",
		backend.NewJob{Name: "p5", Priority: 5},
		backend.NewJob{Name: "p1", Priority: 1},
		backend.NewJob{Name: "p3", Priority: 3},
		backend.NewJob{Name: "p1b", Priority: 1},
		backend.NewJob{Name: "p9", Priority: 9},
	)
	names := func(r leaseResult) string {
		if r.err != nil {
			t.Fatal(r.err)
		}
		var s []string
		for _, j := range r.jobs {
			s = append(s, j.Name)
		}
		return fmt.Sprint(s)
	}
	if got := names(receiveLease(t, first)); got != "[p1 p1b]" {
		t.Fatalf("first waiter got %s", got)
	}
	if got := names(receiveLease(t, second)); got != "[p3 p5]" {
		t.Fatalf("second waiter got %s", got)
	}
	if got := lease(t, b, "q", 5); len(got) != 1 || got[0].Name != "p9" {
		t.Fatalf("left over: %v", got)
	}
}

func TestPausedQueueHandsNothing(t *testing.T) {
	b, clock := setup(t)
	if err := b.SetPaused(ctx, "q", true); err != nil {
		t.Fatal(err)
	}
	ch := blockedLease(t, b, clock, 1, ctx, backend.LeaseRequest{Worker: "w", Max: 1, TTL: time.Minute})
	id := add(t, b, "q", backend.NewJob{Name: "n"})[0].ID
	// The add is committed; a hand-off would have made the job active in
	// the same commit.
	if c := counts(t, b, "q"); c.Waiting != 1 || c.Active != 0 {
		t.Fatalf("paused queue: counts %+v", c)
	}
	select {
	case r := <-ch:
		t.Fatalf("lease on a paused queue returned %v, %v", r.jobs, r.err)
	default:
	}
	if err := b.SetPaused(ctx, "q", false); err != nil {
		t.Fatal(err)
	}
	if r := receiveLease(t, ch); r.err != nil || len(r.jobs) != 1 || r.jobs[0].ID != id {
		t.Fatalf("after resume: %v, %v", r.jobs, r.err)
	}
}

// TestLeaseThatGaveUpIsNotHandedJobs: a waiter whose context ends before
// the add is never claimed, and the job stays waiting.
func TestLeaseThatGaveUpIsNotHandedJobs(t *testing.T) {
	b, clock := setup(t)
	lctx, cancel := context.WithCancel(ctx)
	ch := blockedLease(t, b, clock, 1, lctx, backend.LeaseRequest{Worker: "w", Max: 1, TTL: time.Minute})
	cancel()
	if r := receiveLease(t, ch); !errors.Is(r.err, context.Canceled) || len(r.jobs) != 0 {
		t.Fatalf("cancelled lease: %v, %v", r.jobs, r.err)
	}
	add(t, b, "q", backend.NewJob{Name: "n"})
	if c := counts(t, b, "q"); c.Waiting != 1 || c.Active != 0 {
		t.Fatalf("counts %+v", c)
	}
}

// TestClaimedLeaseReturnsItsJobs: a waiter claimed by a transaction gets
// its jobs even when its context ends, or its wait times out, before the
// commit is durable.
func TestClaimedLeaseReturnsItsJobs(t *testing.T) {
	for _, how := range []string{"context ends", "wait times out", "store closes"} {
		t.Run(how, func(t *testing.T) {
			b, clock := setup(t)
			lctx, cancel := context.WithCancel(ctx)
			defer cancel()
			ch := blockedLease(t, b, clock, 1, lctx, backend.LeaseRequest{Worker: "w", Max: 1, TTL: time.Minute, Wait: time.Second})
			var once sync.Once
			b.testHookHandedOff = func() {
				once.Do(func() {
					switch how {
					case "context ends":
						cancel()
					case "wait times out":
						clock.Advance(time.Hour)
					case "store closes":
						// Close waits for this commit to end.
						go b.Close()
						for !b.isClosed() {
							time.Sleep(time.Millisecond)
						}
					}
				})
			}
			id := add(t, b, "q", backend.NewJob{Name: "n"})[0].ID
			r := receiveLease(t, ch)
			if r.err != nil || len(r.jobs) != 1 || r.jobs[0].ID != id {
				t.Fatalf("claimed lease: %v, %v", r.jobs, r.err)
			}
			if how == "store closes" {
				return
			}
			if c := counts(t, b, "q"); c.Active != 1 {
				t.Fatalf("counts %+v", c)
			}
		})
	}
}

// TestFailedHandOffLeavesWriterAndWaiterWhole: when the hand-off fails,
// the transaction runs again without it, so the add succeeds, and the
// claimed waiter looks on its own; no job is left active.
func TestFailedHandOffLeavesWriterAndWaiterWhole(t *testing.T) {
	b, clock := setup(t)
	ch := blockedLease(t, b, clock, 1, ctx, backend.LeaseRequest{Worker: "w", Max: 1, TTL: time.Minute})
	fail := true
	b.testHookHandedOff = func() {
		if fail {
			fail = false
			panic("hand-off breaks")
		}
	}
	id := add(t, b, "q", backend.NewJob{Name: "n"})[0].ID
	// The waiter was claimed, told to look again, and leased the job
	// itself.
	if r := receiveLease(t, ch); r.err != nil || len(r.jobs) != 1 || r.jobs[0].ID != id {
		t.Fatalf("lease after a failed hand-off: %v, %v", r.jobs, r.err)
	}
	if c := counts(t, b, "q"); c.Active != 1 || c.Waiting != 0 {
		t.Fatalf("counts %+v", c)
	}
}

// TestHandOffInBatchRunAgainAlone: a batch whose request fails after
// writing runs again request by request; the add's hand-off then happens
// in its own transaction, and the failed request's writes are gone.
func TestHandOffInBatchRunAgainAlone(t *testing.T) {
	b, clock := setup(t)
	ch := blockedLease(t, b, clock, 1, ctx, backend.LeaseRequest{Worker: "w", Max: 1, TTL: time.Minute})
	queued, release := holdCommitter(t, b)
	var wg sync.WaitGroup
	errBoom := errors.New("boom")
	var addErr, badErr error
	var added backend.AddResult
	wg.Go(func() {
		added, addErr = b.Add(ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "kept"}}})
	})
	queued(1)
	wg.Go(func() {
		badErr = writeThenFail(b, errBoom)
	})
	queued(2)
	release()
	wg.Wait()
	if addErr != nil || !errors.Is(badErr, errBoom) {
		t.Fatalf("add: %v; failing request: %v", addErr, badErr)
	}
	if r := receiveLease(t, ch); r.err != nil || len(r.jobs) != 1 || r.jobs[0].ID != added.Jobs[0].ID {
		t.Fatalf("lease: %v, %v", r.jobs, r.err)
	}
	if _, err := b.Job(ctx, "q", "bad"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("write of the failed request kept: %v", err)
	}
	if c := counts(t, b, "q"); c.Active != 1 || c.Waiting != 0 {
		t.Fatalf("counts %+v", c)
	}
}

// TestHandOffToLeaseWhoseLookIsInTheSameBatch: a look that finds nothing
// and an add after it in the same transaction: the hand-off gives the job
// to that look's caller, in that one commit.
func TestHandOffToLeaseWhoseLookIsInTheSameBatch(t *testing.T) {
	b, clock := setup(t)
	queued, release := holdCommitter(t, b)
	ch := make(chan leaseResult, 1)
	go func() {
		res, err := b.Lease(ctx, "q", &backend.LeaseRequest{Worker: "w", Max: 1, TTL: time.Minute, Wait: time.Hour})
		ch <- leaseResult{res.Jobs, err}
	}()
	queued(1)
	var wg sync.WaitGroup
	wg.Go(func() { add(t, b, "q", backend.NewJob{Name: "n"}) })
	queued(2)
	before := b.commits.Load()
	release()
	wg.Wait()
	if r := receiveLease(t, ch); r.err != nil || len(r.jobs) != 1 {
		t.Fatalf("lease: %v, %v", r.jobs, r.err)
	}
	if got := b.commits.Load() - before; got != 1 {
		t.Fatalf("look, add and hand-off took %d commits, want 1", got)
	}
	if clock.Timers() != 0 {
		t.Fatalf("%d timers left", clock.Timers())
	}
}

// TestLeaseWhoseLookIsInFlightIsNotClaimed: a waiter registered before its
// look is not claimed by an add ahead of that look; its own look takes the
// job, and it gets exactly one.
func TestLeaseWhoseLookIsInFlightIsNotClaimed(t *testing.T) {
	b, _ := setup(t)
	queued, release := holdCommitter(t, b)
	var wg sync.WaitGroup
	wg.Go(func() { add(t, b, "q", backend.NewJob{Name: "a"}, backend.NewJob{Name: "b"}) })
	queued(1)
	ch := make(chan leaseResult, 1)
	go func() {
		res, err := b.Lease(ctx, "q", &backend.LeaseRequest{Worker: "w", Max: 1, TTL: time.Minute, Wait: time.Hour})
		ch <- leaseResult{res.Jobs, err}
	}()
	queued(2)
	release()
	wg.Wait()
	if r := receiveLease(t, ch); r.err != nil || len(r.jobs) != 1 || r.jobs[0].Name != "a" {
		t.Fatalf("lease: %v, %v", r.jobs, r.err)
	}
	if c := counts(t, b, "q"); c.Active != 1 || c.Waiting != 1 {
		t.Fatalf("counts %+v", c)
	}
}

// TestHandOffRacesWithGivingUp: many waiters give up while adds hand jobs
// out; every job ends either returned by a Lease call or still waiting.
func TestHandOffRacesWithGivingUp(t *testing.T) {
	b := openTest(t, nil)
	const rounds = 200
	var wg sync.WaitGroup
	got := make(chan string, rounds*2)
	for i := range rounds {
		lctx, cancel := context.WithCancel(ctx)
		wg.Go(func() {
			res, err := b.Lease(lctx, "q", &backend.LeaseRequest{Worker: "w", Max: 2, TTL: time.Minute, Wait: time.Duration(i%3) * time.Millisecond})
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Error(err)
			}
			for _, j := range res.Jobs {
				got <- j.ID
			}
		})
		wg.Go(func() { add(t, b, "q", backend.NewJob{Name: "n"}) })
		wg.Go(cancel)
	}
	wg.Wait()
	close(got)
	seen := map[string]bool{}
	for id := range got {
		if seen[id] {
			t.Fatalf("job %s leased twice", id)
		}
		seen[id] = true
	}
	if c := counts(t, b, "q"); c.Active != len(seen) || c.Active+c.Waiting != rounds {
		t.Fatalf("counts %+v, %d jobs returned", c, len(seen))
	}
}
