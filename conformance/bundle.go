package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/fakeclock"
)

// epoch is where every case's clock starts: a whole second, so that stores
// keeping milliseconds round-trip every time stamp exactly.
var epoch = time.Date(2030, time.January, 7, 9, 0, 0, 0, time.UTC)

// Defaults used by the helpers.
const (
	defaultQueue = "mail"
	defaultTTL   = 30 * time.Second
	// longWait is a Lease or Events wait that no case lets run out: if the
	// wake-up it waits for never comes, the case fails at its real-time
	// deadline first.
	longWait = time.Hour
	// deadline bounds, in real time, how long a case waits for something
	// that should happen at once. It is generous for slow -race runs; no
	// case asserts how quickly anything happens.
	deadline = 20 * time.Second
)

// testBundle is one case's store, clock and default queue.
type testBundle struct {
	t     *testing.T
	ctx   context.Context
	store backend.Full
	clock *fakeclock.Clock
	q     string
	opts  Options

	mu     sync.Mutex
	queues []string
	closed bool
}

// setup makes a fresh store with a fake clock and registers the invariant
// check to run after the case.
func setup(t *testing.T, f Factory) *testBundle {
	return setupWith(t, f, Options{})
}

// setupWith is setup with options; o.Clock is replaced by a fake clock.
func setupWith(t *testing.T, f Factory, o Options) *testBundle {
	t.Helper()
	clock := fakeclock.New(epoch)
	o.Clock = clock
	store := f(t, o)
	if store == nil {
		t.Fatal("factory returned a nil store")
	}
	b := &testBundle{
		t:      t,
		ctx:    t.Context(),
		store:  store,
		clock:  clock,
		q:      defaultQueue,
		opts:   o,
		queues: []string{defaultQueue},
	}
	// Registered after the factory's cleanup, so it runs before Close.
	t.Cleanup(func() {
		b.mu.Lock()
		closed := b.closed
		b.mu.Unlock()
		if closed || t.Failed() {
			return
		}
		checkInvariants(t, store, b.usedQueues())
	})
	return b
}

// use records that the case touches queue q, so the invariant check covers
// it too.
func (b *testBundle) use(q string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !slices.Contains(b.queues, q) {
		b.queues = append(b.queues, q)
	}
}

func (b *testBundle) usedQueues() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.queues)
}

// markClosed tells the invariant check that the case closed the store.
func (b *testBundle) markClosed() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
}

// checkInvariants checks what must hold of a store between calls: every job
// listed in a state has that state, the counts equal the listed totals, no
// job is listed twice, active jobs and only they hold a lease, and no
// scheduler has more than one pending iteration.
func checkInvariants(t testing.TB, store backend.Full, queues []string) {
	t.Helper()
	for _, q := range queues {
		for _, err := range invariantErrors(context.Background(), store, q) {
			t.Errorf("invariant: queue %s: %v", q, err)
		}
	}
}

// invariantErrors returns every invariant violation found in queue q.
// Each store call it makes is bounded by deadline on its own (see
// guarded).
func invariantErrors(ctx context.Context, store backend.Full, q string) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	cctx, cancel := guarded(ctx)
	counts, err := store.Counts(cctx, q)
	cancel()
	if err != nil {
		return []error{fmt.Errorf("Counts: %w", err)}
	}
	seen := make(map[string]backend.JobState)
	pendingBySched := make(map[string][]string)
	for _, s := range backend.States {
		jobs, err := allJobs(ctx, store, q, s)
		if err != nil {
			bad("Jobs(%s): %v", s, err)
			continue
		}
		if len(jobs) != counts.Of(s) {
			bad("Counts says %d %s, Jobs lists %d", counts.Of(s), s, len(jobs))
		}
		for _, j := range jobs {
			if j.State != s {
				bad("job %s listed as %s has State %q", j.ID, s, j.State)
			}
			if prev, ok := seen[j.ID]; ok {
				bad("job %s listed as both %s and %s", j.ID, prev, s)
			}
			seen[j.ID] = s
			hasLease := j.Lease != (backend.Lease{})
			switch {
			case s == backend.StateActive && (j.Lease.Token == "" || j.Lease.JobID != j.ID || j.LeaseExpiresAt.IsZero()):
				bad("active job %s has no complete lease: %+v, expires %v", j.ID, j.Lease, j.LeaseExpiresAt)
			case s != backend.StateActive && hasLease:
				bad("%s job %s still holds lease %+v", s, j.ID, j.Lease)
			}
			if j.SchedulerID != "" && (s == backend.StateWaiting || s == backend.StateDelayed) {
				pendingBySched[j.SchedulerID] = append(pendingBySched[j.SchedulerID], j.ID)
			}
		}
	}
	for id, pending := range pendingBySched {
		if len(pending) > 1 {
			bad("scheduler %s has %d pending iterations: %v", id, len(pending), pending)
		}
	}
	scheds, err := allSchedulers(ctx, store, q)
	if err != nil {
		bad("Schedulers: %v", err)
	}
	ids := make(map[string]bool)
	for _, s := range scheds {
		if ids[s.ID] {
			bad("scheduler %s listed twice", s.ID)
		}
		ids[s.ID] = true
	}
	return errs
}

// guarded bounds ctx by deadline from now, for one store call of a check
// that reads a whole queue: it catches a store that hangs, but a check of
// a thousand jobs through a slow path (HTTP, -race, a loaded machine)
// does not run out of time as it would with one deadline for all its
// calls.
func guarded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, deadline)
}

// allJobs pages through every job of state s, each page guarded.
func allJobs(ctx context.Context, store backend.Backend, q string, s backend.JobState) ([]*backend.Job, error) {
	var out []*backend.Job
	const page = 100
	for {
		cctx, cancel := guarded(ctx)
		res, err := store.Jobs(cctx, q, &backend.JobsRequest{State: s, Offset: len(out), Limit: page})
		cancel()
		if err != nil {
			return nil, err
		}
		out = append(out, res.Jobs...)
		if len(res.Jobs) < page {
			return out, nil
		}
		if len(out) > 1_000_000 {
			return nil, errors.New("paging does not end")
		}
	}
}

// allSchedulers pages through every scheduler of queue q, each page
// guarded.
func allSchedulers(ctx context.Context, store backend.SchedulerStore, q string) ([]*backend.Scheduler, error) {
	var out []*backend.Scheduler
	const page = 100
	for {
		cctx, cancel := guarded(ctx)
		res, err := store.Schedulers(cctx, q, &backend.SchedulersRequest{Offset: len(out), Limit: page})
		cancel()
		if err != nil {
			return nil, err
		}
		out = append(out, res.Schedulers...)
		if len(res.Schedulers) < page {
			return out, nil
		}
		if len(out) > 1_000_000 {
			return nil, errors.New("paging does not end")
		}
	}
}

// heavySlot lets one heavy case (thousands of calls) run at a time, so
// that heavy cases do not starve the others of a shared server.
var heavySlot = make(chan struct{}, 1)

// heavy marks the case as heavy: it waits for the heavy slot and holds it
// until the case ends.
func heavy(t *testing.T) {
	heavySlot <- struct{}{}
	t.Cleanup(func() { <-heavySlot })
}

// waitFor polls cond until it holds, failing the case if it still does not
// after d of real time.
func waitFor(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	if !poll(d, cond) {
		t.Fatalf("condition still false after %v", d)
	}
}

// poll reports whether cond came to hold within d of real time.
func poll(d time.Duration, cond func() bool) bool {
	return pollEvery(d, time.Millisecond, cond)
}

// pollEvery is poll checking cond every interval, for conditions that cost
// a store call or more each.
func pollEvery(d, interval time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(interval)
	}
}

// pollProgress checks cond every interval until it reports done, and
// reports whether it did. cond also reports a measure of progress; the
// wait fails only once that measure has stood still for stall of real
// time, so a long workload on a slow machine is not cut short.
func pollProgress(stall, interval time.Duration, cond func() (done bool, progress int)) bool {
	last, end := -1, time.Time{}
	for {
		done, p := cond()
		if done {
			return true
		}
		now := time.Now()
		if p != last {
			last, end = p, now.Add(stall)
		} else if now.After(end) {
			return false
		}
		time.Sleep(interval)
	}
}

// receive returns the value sent on ch, failing the case if none comes
// within d of real time.
func receive[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("%s: nothing after %v", what, d)
		var zero T
		return zero
	}
}

// awaitWaiters gives goroutines that were just started the chance to block
// on the store's clock: it returns once the clock has at least n timers, or
// after a short while if the store waits some other way. A case that uses it
// passes only if the wake-up under test works either way.
func (b *testBundle) awaitWaiters(n int) {
	poll(2*time.Second, func() bool { return b.clock.Timers() >= n })
}

// --- store helpers: each fails the case on an unexpected error ---

func (b *testBundle) add(jobs ...backend.NewJob) []backend.Added {
	b.t.Helper()
	return b.addTo(b.q, jobs...)
}

func (b *testBundle) addTo(q string, jobs ...backend.NewJob) []backend.Added {
	b.t.Helper()
	b.use(q)
	res, err := b.store.Add(b.ctx, q, &backend.AddRequest{Jobs: jobs})
	if err != nil {
		b.t.Fatalf("Add(%s): %v", q, err)
	}
	if len(res.Jobs) != len(jobs) {
		b.t.Fatalf("Add(%s) of %d jobs reported %d", q, len(jobs), len(res.Jobs))
	}
	return res.Jobs
}

// addOne adds one job and returns its ID.
func (b *testBundle) addOne(j backend.NewJob) string {
	b.t.Helper()
	return b.add(j)[0].ID
}

// addN adds n jobs named name-0 … in one call and returns their IDs.
func (b *testBundle) addN(n int, name string) []string {
	b.t.Helper()
	jobs := make([]backend.NewJob, n)
	for i := range jobs {
		jobs[i] = backend.NewJob{Name: fmt.Sprintf("%s-%d", name, i), Data: []byte(fmt.Sprintf(`{"n":%d}`, i))}
	}
	var ids []string
	for _, a := range b.add(jobs...) {
		ids = append(ids, a.ID)
	}
	return ids
}

func (b *testBundle) lease(max int) []*backend.Job {
	b.t.Helper()
	return b.leaseReq(b.q, &backend.LeaseRequest{Worker: "w1", Max: max, TTL: defaultTTL, MaxStalled: 1})
}

func (b *testBundle) leaseReq(q string, req *backend.LeaseRequest) []*backend.Job {
	b.t.Helper()
	b.use(q)
	res, err := b.store.Lease(b.ctx, q, req)
	if err != nil {
		b.t.Fatalf("Lease(%s, %+v): %v", q, *req, err)
	}
	if len(res.Jobs) > req.Max {
		b.t.Fatalf("Lease(Max %d) returned %d jobs", req.Max, len(res.Jobs))
	}
	return res.Jobs
}

// leaseOne leases one job and fails the case if there is none.
func (b *testBundle) leaseOne() *backend.Job {
	b.t.Helper()
	jobs := b.lease(1)
	if len(jobs) != 1 {
		b.t.Fatalf("Lease(Max 1) returned %d jobs, want 1", len(jobs))
	}
	return jobs[0]
}

// settle applies settlements and returns the per-item errors; a request
// error fails the case.
func (b *testBundle) settle(q string, ss ...backend.Settlement) []error {
	b.t.Helper()
	res, err := b.store.Settle(b.ctx, q, &backend.SettleRequest{Settlements: ss})
	if err != nil {
		b.t.Fatalf("Settle(%s): %v", q, err)
	}
	if len(res.Errs) != len(ss) {
		b.t.Fatalf("Settle of %d settlements returned %d results", len(ss), len(res.Errs))
	}
	return res.Errs
}

// settleErr applies one settlement and returns its error, whether the store
// reports it for the request or for the item.
func (b *testBundle) settleErr(q string, s backend.Settlement) error {
	b.t.Helper()
	res, err := b.store.Settle(b.ctx, q, &backend.SettleRequest{Settlements: []backend.Settlement{s}})
	if err != nil {
		return err
	}
	if len(res.Errs) != 1 {
		b.t.Fatalf("Settle of 1 settlement returned %d results", len(res.Errs))
	}
	return res.Errs[0]
}

// mustSettle applies one settlement in queue q and fails the case on error.
func (b *testBundle) mustSettle(q string, s backend.Settlement) {
	b.t.Helper()
	if err := b.settle(q, s)[0]; err != nil {
		b.t.Fatalf("Settle %s of %s: %v", s.Outcome, s.Lease.JobID, err)
	}
}

func (b *testBundle) complete(j *backend.Job, result string) {
	b.t.Helper()
	b.mustSettle(queueOf(j, b.q), backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeComplete, Result: []byte(result)})
}

func (b *testBundle) fail(j *backend.Job, reason string) {
	b.t.Helper()
	b.mustSettle(queueOf(j, b.q), backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeFail, Reason: reason})
}

func queueOf(j *backend.Job, def string) string {
	if j.Queue != "" {
		return j.Queue
	}
	return def
}

func (b *testBundle) job(id string) *backend.Job {
	b.t.Helper()
	return b.jobIn(b.q, id)
}

func (b *testBundle) jobIn(q, id string) *backend.Job {
	b.t.Helper()
	j, err := b.store.Job(b.ctx, q, id)
	if err != nil {
		b.t.Fatalf("Job(%s, %s): %v", q, id, err)
	}
	if j.ID != id {
		b.t.Fatalf("Job(%s, %s) returned job %s", q, id, j.ID)
	}
	return j
}

// gone fails the case unless job id is not found in queue q.
func (b *testBundle) gone(q, id string) {
	b.t.Helper()
	j, err := b.store.Job(b.ctx, q, id)
	if !errors.Is(err, backend.ErrNotFound) {
		b.t.Fatalf("Job(%s, %s) = %+v, %v; want ErrNotFound", q, id, j, err)
	}
}

func (b *testBundle) counts() backend.Counts {
	b.t.Helper()
	return b.countsOf(b.q)
}

func (b *testBundle) countsOf(q string) backend.Counts {
	b.t.Helper()
	c, err := b.store.Counts(b.ctx, q)
	if err != nil {
		b.t.Fatalf("Counts(%s): %v", q, err)
	}
	return c
}

// wantState fails the case unless job id of queue q is in state s.
func (b *testBundle) wantState(q, id string, s backend.JobState) *backend.Job {
	b.t.Helper()
	j := b.jobIn(q, id)
	if j.State != s {
		b.t.Fatalf("job %s is %s, want %s", id, j.State, s)
	}
	return j
}

// wantCounts fails the case unless the counts of queue q are want (Paused
// ignored).
func (b *testBundle) wantCounts(q string, want backend.Counts) {
	b.t.Helper()
	got := b.countsOf(q)
	got.Paused, want.Paused = false, false
	if got != want {
		b.t.Fatalf("Counts(%s) = %+v, want %+v", q, got, want)
	}
}

func (b *testBundle) list(s backend.JobState) []*backend.Job {
	b.t.Helper()
	jobs, err := allJobs(b.ctx, b.store, b.q, s)
	if err != nil {
		b.t.Fatalf("Jobs(%s): %v", s, err)
	}
	return jobs
}

func (b *testBundle) lastEventID(q string) uint64 {
	b.t.Helper()
	id, err := b.store.LastEventID(b.ctx, q)
	if err != nil {
		b.t.Fatalf("LastEventID(%s): %v", q, err)
	}
	return id
}

// events reads every event of queue q after the given ID.
func (b *testBundle) events(q string, after uint64) []backend.Event {
	b.t.Helper()
	out, err := allEvents(b.ctx, b.store, q, after)
	if err != nil {
		b.t.Fatalf("Events(%s, after %d): %v", q, after, err)
	}
	return out
}

// allEvents pages through every event of queue q after the given ID.
func allEvents(ctx context.Context, store backend.EventLog, q string, after uint64) ([]backend.Event, error) {
	var out []backend.Event
	for {
		res, err := store.Events(ctx, q, &backend.EventsRequest{After: after, Max: 1000})
		if err != nil {
			return out, err
		}
		out = append(out, res.Events...)
		if len(res.Events) == 0 {
			return out, nil
		}
		after = res.Events[len(res.Events)-1].ID
	}
}

func ids(jobs []*backend.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

// state is a snapshot of a queue for "nothing changed" checks.
type state struct {
	counts    backend.Counts
	lastEvent uint64
}

func (b *testBundle) snapshot(q string) state {
	b.t.Helper()
	return state{counts: b.countsOf(q), lastEvent: b.lastEventID(q)}
}

// unchanged fails the case if queue q differs from the snapshot.
func (b *testBundle) unchanged(q string, before state, what string) {
	b.t.Helper()
	if after := b.snapshot(q); after != before {
		b.t.Errorf("%s changed the store: before %+v, after %+v", what, before, after)
	}
}
