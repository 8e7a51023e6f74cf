package conformance

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/fakeclock"
)

// rapidTB lets a Factory register its cleanup with one rapid run, so that
// each run gets a store of its own that is closed when the run ends. What
// rapid.T lacks comes from the enclosing test.
type rapidTB struct {
	testing.TB
	rt   *rapid.T
	name string
}

func (r rapidTB) Cleanup(f func())                  { r.rt.Cleanup(f) }
func (r rapidTB) Helper()                           {}
func (r rapidTB) Name() string                      { return r.name }
func (r rapidTB) Error(args ...any)                 { r.rt.Error(args...) }
func (r rapidTB) Errorf(format string, args ...any) { r.rt.Errorf(format, args...) }
func (r rapidTB) Fatal(args ...any)                 { r.rt.Fatal(args...) }
func (r rapidTB) Fatalf(format string, args ...any) { r.rt.Fatalf(format, args...) }
func (r rapidTB) Fail()                             { r.rt.Fail() }
func (r rapidTB) FailNow()                          { r.rt.FailNow() }
func (r rapidTB) Failed() bool                      { return r.rt.Failed() }
func (r rapidTB) Log(args ...any)                   { r.rt.Log(args...) }
func (r rapidTB) Logf(format string, args ...any)   { r.rt.Logf(format, args...) }
func (r rapidTB) Skip(args ...any)                  { r.rt.Skip(args...) }
func (r rapidTB) Skipf(format string, args ...any)  { r.rt.Skipf(format, args...) }
func (r rapidTB) SkipNow()                          { r.rt.SkipNow() }

// propertyStore makes a fresh store with a fake clock for one rapid run.
func propertyStore(t *testing.T, rt *rapid.T, f Factory, run *int) (backend.Full, *fakeclock.Clock) {
	*run++
	clock := fakeclock.New(epoch)
	store := f(rapidTB{TB: t, rt: rt, name: fmt.Sprintf("%s/run-%d", t.Name(), *run)}, Options{Clock: clock})
	return store, clock
}

// checkProperty runs the rapid property name, a heavy case: body gets a
// fresh store and its fake clock for each run.
func checkProperty(t *testing.T, f Factory, name string, body func(rt *rapid.T, store backend.Full, clock *fakeclock.Clock)) {
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		heavy(t)
		run := 0
		rapid.Check(t, func(rt *rapid.T) {
			store, clock := propertyStore(t, rt, f, &run)
			body(rt, store, clock)
		})
	})
}

// drawJob draws one of jobs, and takes it out.
func drawJob(t *rapid.T, jobs *[]*backend.Job) *backend.Job {
	i := rapid.IntRange(0, len(*jobs)-1).Draw(t, "job")
	j := (*jobs)[i]
	*jobs = slices.Delete(*jobs, i, i+1)
	return j
}

// modelJob is what the model knows of one job.
type modelJob struct {
	id       string
	priority int
	state    backend.JobState
	runAt    time.Time
	lease    backend.Lease
	expires  time.Time
	stalled  int
	attempts int
	old      []backend.Lease // leases that no longer hold
	// stallFailed is set once a recovery failed the job.
	stallFailed bool
	// cancelled is set while the job runs marked by Cancel.
	cancelled bool
	// attemptsUnsure is set when the model cannot tell AttemptsMade (a
	// marked job's release), until a retry resets it.
	attemptsUnsure bool
}

const (
	propQueue = "prop"
	// propTTL is off the whole second, and the clock moves in whole
	// seconds, so no step lands exactly on a lease's deadline.
	propTTL        = 10*time.Second + 500*time.Millisecond
	propMaxStalled = 1
)

// jobMachine drives random operations against a store and a model of its
// job states.
type jobMachine struct {
	store backend.Full
	clock *fakeclock.Clock
	jobs  map[string]*modelJob
	order []string
}

func (m *jobMachine) pick(t *rapid.T, label string, ok func(*modelJob) bool) *modelJob {
	var cands []string
	for _, id := range m.order {
		if ok(m.jobs[id]) {
			cands = append(cands, id)
		}
	}
	if len(cands) == 0 {
		t.Skip("no job to " + label)
	}
	return m.jobs[rapid.SampledFrom(cands).Draw(t, label)]
}

func (m *jobMachine) add(t *rapid.T) {
	n := rapid.IntRange(1, 4).Draw(t, "n")
	jobs := make([]backend.NewJob, n)
	for i := range jobs {
		jobs[i] = backend.NewJob{
			Name:     "p",
			Priority: rapid.IntRange(0, 3).Draw(t, "priority"),
			Delay:    time.Duration(rapid.SampledFrom([]int{0, 0, 0, 5, 20}).Draw(t, "delay")) * time.Second,
			Attempts: 5,
		}
	}
	res, err := m.store.Add(t.Context(), propQueue, &backend.AddRequest{Jobs: jobs})
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	now := m.clock.Now()
	for i, a := range res.Jobs {
		if _, ok := m.jobs[a.ID]; ok || a.Duplicate {
			t.Fatalf("Add returned the ID %s twice", a.ID)
		}
		j := &modelJob{id: a.ID, priority: jobs[i].Priority, state: backend.StateWaiting}
		if jobs[i].Delay > 0 {
			j.state, j.runAt = backend.StateDelayed, now.Add(jobs[i].Delay)
		}
		m.jobs[a.ID] = j
		m.order = append(m.order, a.ID)
	}
}

func (m *jobMachine) lease(t *rapid.T) {
	maxJobs := rapid.IntRange(1, 3).Draw(t, "max")
	now := m.clock.Now()
	// What Lease does first: promote due delayed jobs, recover expired
	// leases.
	for _, id := range m.order {
		j := m.jobs[id]
		switch {
		case j.state == backend.StateDelayed && !j.runAt.After(now):
			j.state = backend.StateWaiting
		case j.state == backend.StateActive && j.expires.Before(now):
			j.old = append(j.old, j.lease)
			j.lease = backend.Lease{}
			if j.cancelled {
				// A marked job whose worker is gone fails as cancelled.
				j.state, j.stallFailed, j.attemptsUnsure, j.cancelled = backend.StateFailed, true, true, false
				continue
			}
			if j.stalled >= propMaxStalled {
				// Whether the failing recovery counts in StalledCount is
				// not specified; check stops comparing it.
				j.state, j.stallFailed = backend.StateFailed, true
			} else {
				j.stalled++
				j.state = backend.StateWaiting
			}
		}
	}
	res, err := m.store.Lease(t.Context(), propQueue, &backend.LeaseRequest{Worker: "prop", Max: maxJobs, TTL: propTTL, MaxStalled: propMaxStalled})
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	waiting := 0
	for _, j := range m.jobs {
		if j.state == backend.StateWaiting {
			waiting++
		}
	}
	if want := min(maxJobs, waiting); len(res.Jobs) != want {
		t.Fatalf("Lease(Max %d) took %d jobs with %d waiting", maxJobs, len(res.Jobs), waiting)
	}
	taken := make(map[string]bool)
	worst := -1
	for _, lj := range res.Jobs {
		j, ok := m.jobs[lj.ID]
		if !ok || j.state != backend.StateWaiting || taken[lj.ID] {
			t.Fatalf("Lease took job %s, which is not waiting (model: %+v)", lj.ID, j)
		}
		if lj.StalledCount != j.stalled {
			t.Fatalf("leased job %s has StalledCount %d, want %d", lj.ID, lj.StalledCount, j.stalled)
		}
		taken[lj.ID] = true
		worst = max(worst, j.priority)
	}
	for _, j := range m.jobs {
		if j.state == backend.StateWaiting && !taken[j.id] && j.priority < worst {
			t.Fatalf("Lease took a job of priority %d and left %s of priority %d", worst, j.id, j.priority)
		}
	}
	for _, lj := range res.Jobs {
		j := m.jobs[lj.ID]
		j.state, j.lease, j.expires = backend.StateActive, lj.Lease, now.Add(propTTL)
	}
}

// held picks an active job whose lease has not expired.
func (m *jobMachine) held(t *rapid.T, label string) *modelJob {
	now := m.clock.Now()
	return m.pick(t, label, func(j *modelJob) bool { return j.state == backend.StateActive && j.expires.After(now) })
}

func (m *jobMachine) settle(t *rapid.T) {
	j := m.held(t, "settle")
	s := backend.Settlement{Lease: j.lease, Outcome: rapid.SampledFrom([]backend.Outcome{
		backend.OutcomeComplete, backend.OutcomeFail, backend.OutcomeRetry, backend.OutcomeRelease,
	}).Draw(t, "outcome"), Reason: "r"}
	if s.Outcome == backend.OutcomeRetry {
		s.RetryDelay = time.Duration(rapid.SampledFrom([]int{0, 3}).Draw(t, "retry delay")) * time.Second
	}
	res, err := m.store.Settle(t.Context(), propQueue, &backend.SettleRequest{Settlements: []backend.Settlement{s}})
	if err != nil || len(res.Errs) != 1 || res.Errs[0] != nil {
		t.Fatalf("Settle %s of %s: %v %v", s.Outcome, j.id, err, res.Errs)
	}
	j.old = append(j.old, j.lease)
	j.lease = backend.Lease{}
	if j.cancelled && s.Outcome != backend.OutcomeComplete {
		// A marked job is not retried or released: it fails.
		j.cancelled, j.attemptsUnsure = false, true
		j.state = backend.StateFailed
		return
	}
	j.cancelled = false
	switch s.Outcome {
	case backend.OutcomeComplete:
		j.state = backend.StateCompleted
		j.attempts++
	case backend.OutcomeFail:
		j.state = backend.StateFailed
		j.attempts++
	case backend.OutcomeRetry:
		j.attempts++
		j.state = backend.StateWaiting
		if s.RetryDelay > 0 {
			j.state, j.runAt = backend.StateDelayed, m.clock.Now().Add(s.RetryDelay)
		}
	case backend.OutcomeRelease:
		j.state = backend.StateWaiting
	}
}

func (m *jobMachine) staleSettle(t *rapid.T) {
	j := m.pick(t, "stale settle", func(j *modelJob) bool { return len(j.old) > 0 })
	l := rapid.SampledFrom(j.old).Draw(t, "old lease")
	res, err := m.store.Settle(t.Context(), propQueue, &backend.SettleRequest{Settlements: []backend.Settlement{{Lease: l, Outcome: backend.OutcomeComplete}}})
	if err != nil || len(res.Errs) != 1 || !errors.Is(res.Errs[0], backend.ErrLeaseLost) {
		t.Fatalf("Settle with the stale lease %+v: %v %v; want ErrLeaseLost", l, err, res.Errs)
	}
}

func (m *jobMachine) renew(t *rapid.T) {
	j := m.held(t, "renew")
	res, err := m.store.Renew(t.Context(), propQueue, &backend.RenewRequest{Leases: []backend.Lease{j.lease}, TTL: propTTL})
	if err != nil || len(res.Lost) != 0 {
		t.Fatalf("Renew of %s: %v, lost %v", j.id, err, res.Lost)
	}
	if marked := len(res.Cancelled) == 1 && res.Cancelled[0].Lease == j.lease; marked != j.cancelled || len(res.Cancelled) > 1 {
		t.Fatalf("Renew of %s reported cancelled %+v; model says marked %v", j.id, res.Cancelled, j.cancelled)
	}
	j.expires = m.clock.Now().Add(propTTL)
}

func (m *jobMachine) advance(t *rapid.T) {
	m.clock.Advance(time.Duration(rapid.IntRange(1, 15).Draw(t, "seconds")) * time.Second)
}

func (m *jobMachine) check(t *rapid.T) {
	ctx := t.Context()
	var want backend.Counts
	for _, id := range m.order {
		j := m.jobs[id]
		switch j.state {
		case backend.StateWaiting:
			want.Waiting++
		case backend.StateDelayed:
			want.Delayed++
		case backend.StateActive:
			want.Active++
		case backend.StateCompleted:
			want.Completed++
		case backend.StateFailed:
			want.Failed++
		}
		got, err := m.store.Job(ctx, propQueue, id)
		if err != nil {
			t.Fatalf("Job(%s): %v", id, err)
		}
		if got.State != j.state {
			t.Fatalf("job %s is %s, model says %s", id, got.State, j.state)
		}
		if got.StalledCount != j.stalled && !j.stallFailed {
			t.Fatalf("job %s has StalledCount %d, model says %d", id, got.StalledCount, j.stalled)
		}
		if j.stalled == 0 && !j.attemptsUnsure && got.AttemptsMade != j.attempts {
			t.Fatalf("job %s has AttemptsMade %d, model says %d", id, got.AttemptsMade, j.attempts)
		}
		if j.state == backend.StateActive && got.Lease != j.lease {
			t.Fatalf("job %s holds %+v, model says %+v", id, got.Lease, j.lease)
		}
	}
	got, err := m.store.Counts(ctx, propQueue)
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	if got != want {
		t.Fatalf("Counts = %+v, model says %+v", got, want)
	}
	for _, err := range invariantErrors(ctx, m.store, propQueue) {
		t.Fatalf("invariant: %v", err)
	}
	evs, err := m.store.Events(ctx, propQueue, &backend.EventsRequest{Max: 1 << 20})
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	replayed := replay(evs.Events)
	for _, id := range m.order {
		if replayed[id] != m.jobs[id].state {
			t.Fatalf("job %s's events replay to %q; it is %s", id, replayed[id], m.jobs[id].state)
		}
	}
}

// schedMachine drives concurrent scheduler upserts, removes and iteration
// runs against one scheduler ID.
type schedMachine struct {
	store  backend.Full
	clock  *fakeclock.Clock
	serial int
}

const propSched = "sched"

type schedOp struct {
	kind string
	data string
	next time.Duration
}

type schedOutcome struct {
	op  schedOp
	rev uint64
	err error
}

func (m *schedMachine) step(t *rapid.T) {
	ctx := t.Context()
	var expect uint64
	if cur, err := m.store.Scheduler(ctx, propQueue, propSched); err == nil {
		expect = cur.Revision
	} else if !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Scheduler: %v", err)
	}
	n := rapid.IntRange(1, 4).Draw(t, "concurrent ops")
	ops := make([]schedOp, n)
	for i := range ops {
		m.serial++
		ops[i] = schedOp{
			kind: rapid.SampledFrom([]string{"cas", "cas", "any", "remove", "run"}).Draw(t, "op"),
			data: fmt.Sprint("data-", m.serial),
			next: time.Duration(rapid.IntRange(1, 120).Draw(t, "next in seconds")) * time.Second,
		}
	}
	now := m.clock.Now()
	out := make([]schedOutcome, n)
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Go(func() {
			out[i] = m.apply(t, op, now, expect)
		})
	}
	wg.Wait()
	var upserts []schedOutcome
	removed := false
	for _, o := range out {
		switch {
		case o.err != nil && (o.op.kind == "cas" && errors.Is(o.err, backend.ErrRevisionMismatch) || o.op.kind == "remove" && errors.Is(o.err, backend.ErrNotFound)):
		case o.err != nil:
			t.Fatalf("%s: %v", o.op.kind, o.err)
		case o.op.kind == "cas" || o.op.kind == "any":
			upserts = append(upserts, o)
		case o.op.kind == "remove":
			removed = true
		}
	}
	rec, err := m.store.Scheduler(ctx, propQueue, propSched)
	if errors.Is(err, backend.ErrNotFound) {
		return
	}
	if err != nil {
		t.Fatalf("Scheduler: %v", err)
	}
	if len(upserts) == 0 {
		return
	}
	if removed {
		if !slices.ContainsFunc(upserts, func(o schedOutcome) bool { return o.op.data == string(rec.Template.Data) }) {
			t.Fatalf("record data %q is from no upsert of this step", rec.Template.Data)
		}
		return
	}
	last := slices.MaxFunc(upserts, func(a, b schedOutcome) int { return compareUint(a.rev, b.rev) })
	if string(rec.Template.Data) != last.op.data {
		t.Fatalf("record data %q, want %q of the last upsert (revision %d)", rec.Template.Data, last.op.data, last.rev)
	}
}

func compareUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (m *schedMachine) apply(t *rapid.T, op schedOp, now time.Time, expect uint64) schedOutcome {
	ctx := t.Context()
	o := schedOutcome{op: op}
	next := now.Add(op.next)
	rec := backend.Scheduler{
		ID:       propSched,
		Template: backend.NewJob{Name: "iteration", Data: []byte(op.data)},
		Next:     next,
		Upcoming: []time.Time{next.Add(time.Minute), next.Add(2 * time.Minute), next.Add(3 * time.Minute)},
	}
	switch op.kind {
	case "cas", "any":
		req := &backend.CompareAndUpsertRequest{Scheduler: rec, ExpectRevision: expect}
		if op.kind == "any" {
			req.ExpectRevision = backend.AnyRevision
		}
		res, err := m.store.CompareAndUpsert(ctx, propQueue, req)
		o.rev, o.err = res.Scheduler.Revision, err
	case "remove":
		o.err = m.store.RemoveScheduler(ctx, propQueue, propSched)
	case "run":
		res, err := m.store.Lease(ctx, propQueue, &backend.LeaseRequest{Worker: "prop", Max: 1, TTL: time.Hour})
		if err != nil {
			o.err = err
			break
		}
		for _, j := range res.Jobs {
			r, err := m.store.Settle(ctx, propQueue, &backend.SettleRequest{Settlements: []backend.Settlement{{Lease: j.Lease, Outcome: backend.OutcomeComplete}}})
			if err == nil {
				err = r.Errs[0]
			}
			o.err = err
		}
	}
	return o
}

func (m *schedMachine) check(t *rapid.T) {
	ctx := t.Context()
	for _, err := range invariantErrors(ctx, m.store, propQueue) {
		t.Fatalf("invariant: %v", err)
	}
	scheds, err := allSchedulers(ctx, m.store, propQueue)
	if err != nil {
		t.Fatalf("Schedulers: %v", err)
	}
	if len(scheds) > 1 {
		t.Fatalf("%d scheduler records", len(scheds))
	}
	var pending []*backend.Job
	for _, s := range []backend.JobState{backend.StateWaiting, backend.StateDelayed} {
		jobs, err := allJobs(ctx, m.store, propQueue, s)
		if err != nil {
			t.Fatalf("Jobs: %v", err)
		}
		for _, j := range jobs {
			if j.SchedulerID == propSched {
				pending = append(pending, j)
			}
		}
	}
	if len(pending) > 1 {
		t.Fatalf("%d pending iterations: %v", len(pending), ids(pending))
	}
	if len(scheds) == 0 {
		if len(pending) != 0 {
			t.Fatalf("pending iteration %s without a scheduler", pending[0].ID)
		}
		return
	}
	rec := scheds[0]
	if rec.Next.IsZero() {
		if len(pending) != 0 {
			t.Fatalf("pending iteration %s while the record has no Next", pending[0].ID)
		}
		return
	}
	if len(pending) != 1 {
		t.Fatalf("record has Next %v but no pending iteration", rec.Next)
	}
	if want := backend.IterationID(propSched, rec.Next); pending[0].ID != want {
		t.Fatalf("pending iteration %s, want %s", pending[0].ID, want)
	}
	if string(pending[0].Data) != string(rec.Template.Data) {
		t.Fatalf("pending iteration data %q, record template %q", pending[0].Data, rec.Template.Data)
	}
}

func testProperty(t *testing.T, f Factory) {
	t.Run("random job operations keep the store equal to a model", func(t *testing.T) {
		t.Parallel()
		heavy(t)
		run := 0
		rapid.Check(t, func(rt *rapid.T) {
			store, clock := propertyStore(t, rt, f, &run)
			m := &jobMachine{store: store, clock: clock, jobs: make(map[string]*modelJob)}
			rt.Repeat(map[string]func(*rapid.T){
				"add":          m.add,
				"lease":        m.lease,
				"settle":       m.settle,
				"stale settle": m.staleSettle,
				"renew":        m.renew,
				"advance":      m.advance,
				"control":      m.control,
				"concurrent":   m.concurrentControl,
				"":             m.check,
			})
		})
	})

	t.Run("random concurrent scheduler upserts, removes and runs keep one record and one pending iteration", func(t *testing.T) {
		t.Parallel()
		heavy(t)
		run := 0
		rapid.Check(t, func(rt *rapid.T) {
			store, clock := propertyStore(t, rt, f, &run)
			m := &schedMachine{store: store, clock: clock}
			rt.Repeat(map[string]func(*rapid.T){
				"concurrent ops": m.step,
				"advance": func(t *rapid.T) {
					m.clock.Advance(time.Duration(rapid.IntRange(1, 90).Draw(t, "seconds")) * time.Second)
				},
				"": m.check,
			})
		})
	})
}
