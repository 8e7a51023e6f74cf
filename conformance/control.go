package conformance

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

// --- job control helpers: each fails the case on an unexpected error ---

func (b *testBundle) retry(req backend.RetryRequest) []string {
	b.t.Helper()
	res, err := b.store.Retry(b.ctx, b.q, &req)
	if err != nil {
		b.t.Fatalf("Retry(%+v): %v", req, err)
	}
	return res.IDs
}

func (b *testBundle) promote(req backend.PromoteRequest) []string {
	b.t.Helper()
	res, err := b.store.Promote(b.ctx, b.q, &req)
	if err != nil {
		b.t.Fatalf("Promote(%+v): %v", req, err)
	}
	return res.IDs
}

func (b *testBundle) change(req backend.ChangeRequest) {
	b.t.Helper()
	if err := b.store.Change(b.ctx, b.q, &req); err != nil {
		b.t.Fatalf("Change(%s): %v", req.ID, err)
	}
}

func (b *testBundle) cancel(q, id, reason string) backend.CancelResult {
	b.t.Helper()
	res, err := b.store.Cancel(b.ctx, q, &backend.CancelRequest{ID: id, Reason: reason})
	if err != nil {
		b.t.Fatalf("Cancel(%s): %v", id, err)
	}
	return res
}

// wantEvents fails the case unless evs are one event of type typ for each
// job of ids, in that order, and nothing else.
func wantEvents(t testing.TB, evs []backend.Event, typ backend.EventType, ids ...string) {
	t.Helper()
	var got, want []string
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%s %s", e.Type, e.JobID))
	}
	for _, id := range ids {
		want = append(want, fmt.Sprintf("%s %s", typ, id))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

// stateJobs names a job in each state.
type stateJobs map[backend.JobState]string

// jobInEveryState adds a job in each state: completed, failed, active
// (leased), waiting, delayed, and a flow parent waiting for a delayed
// child.
func (b *testBundle) jobInEveryState() stateJobs {
	b.t.Helper()
	s := stateJobs{}
	s[backend.StateCompleted] = b.addOne(backend.NewJob{Name: "done"})
	b.complete(b.leaseOne(), "ok")
	s[backend.StateFailed] = b.addOne(backend.NewJob{Name: "broken"})
	b.fail(b.leaseOne(), "boom")
	s[backend.StateActive] = b.addOne(backend.NewJob{Name: "running"})
	if j := b.leaseOne(); j.ID != s[backend.StateActive] {
		b.t.Fatalf("leased %s, want %s", j.ID, s[backend.StateActive])
	}
	s[backend.StateWaiting] = b.addOne(backend.NewJob{Name: "waiting"})
	s[backend.StateDelayed] = b.addOne(backend.NewJob{Name: "later", Delay: time.Hour})
	s[backend.StateWaitingChildren] = b.add(backend.NewJob{Name: "parent", Children: []backend.NewJob{{Name: "child", Delay: time.Hour}}})[0].ID
	return s
}

// wantWrongState calls call on the job of each state that it does not
// accept, and on a job that does not exist: each gets its typed error
// and leaves the store as it was.
func (b *testBundle) wantWrongState(cfg Config, jobs stateJobs, accepts []backend.JobState, call func(id string) error) {
	b.t.Helper()
	before := b.fingerprint(cfg)
	for _, s := range backend.States {
		if slices.Contains(accepts, s) {
			continue
		}
		err := call(jobs[s])
		var ws *backend.WrongStateError
		if !errors.As(err, &ws) || !errors.Is(err, backend.ErrWrongState) || ws.ID != jobs[s] || ws.State != s {
			b.t.Errorf("call on the %s job %s = %v, want a *WrongStateError naming it and its state", s, jobs[s], err)
		}
		if ws != nil && !sameStates(ws.Want, accepts) {
			b.t.Errorf("call on the %s job: the error says the call wants %v, want %v", s, ws.Want, accepts)
		}
		if after := b.fingerprint(cfg); after != before {
			b.t.Errorf("call on the %s job changed the store", s)
			before = after
		}
	}
	if err := call("ghost"); !errors.Is(err, backend.ErrNotFound) {
		b.t.Errorf("call on an unknown job = %v, want ErrNotFound", err)
	}
	if b.fingerprint(cfg) != before {
		b.t.Errorf("call on an unknown job changed the store")
	}
}

// sameStates reports whether a and b hold the same states, in any order.
func sameStates(a, b []backend.JobState) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

func testControl(t *testing.T, f Factory, cfg Config) {
	t.Run("retry moves a failed job back to waiting with its attempts and stalls reset, with one retried event", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "flaky", Attempts: 2})
		b.lease(1)
		b.clock.Advance(defaultTTL + time.Second)
		j := b.leaseOne() // recovered from the stalled lease
		b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeFail, Reason: "boom", Stacktrace: []string{"at x"}})
		if got := b.wantState(b.q, id, backend.StateFailed); got.AttemptsMade != 1 || got.StalledCount != 1 {
			t.Fatalf("failed job: attempts %d stalled %d", got.AttemptsMade, got.StalledCount)
		}
		mark := b.lastEventID(b.q)
		if got := b.retry(backend.RetryRequest{ID: id}); !slices.Equal(got, []string{id}) {
			t.Fatalf("Retry = %v, want [%s]", got, id)
		}
		evs := b.events(b.q, mark)
		wantEvents(t, evs, backend.EventRetried, id)
		if e := evs[0]; e.Name != "flaky" || e.AttemptsMade != 0 {
			t.Errorf("retried event %+v, want the job's name and 0 attempts", e)
		}
		got := b.wantState(b.q, id, backend.StateWaiting)
		if got.AttemptsMade != 0 || got.StalledCount != 0 || got.FailedReason != "" || len(got.Stacktrace) != 0 || !got.FinishedAt.IsZero() {
			t.Errorf("retried job: attempts %d stalled %d reason %q stack %v finished %v; want all cleared",
				got.AttemptsMade, got.StalledCount, got.FailedReason, got.Stacktrace, got.FinishedAt)
		}
		b.wantCounts(b.q, backend.Counts{Waiting: 1})
		j = b.leaseOne()
		if j.ID != id || j.AttemptsMade != 0 {
			t.Fatalf("leased %s with %d attempts made, want %s with 0", j.ID, j.AttemptsMade, id)
		}
		b.complete(j, "ok")
		if got := b.wantState(b.q, id, backend.StateCompleted); got.AttemptsMade != 1 {
			t.Errorf("AttemptsMade %d after one more attempt, want 1", got.AttemptsMade)
		}
	})

	t.Run("retry of a completed job clears its result and puts it at the back of its priority", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		done := b.addOne(backend.NewJob{Name: "done"})
		b.complete(b.leaseOne(), "result")
		first := b.addOne(backend.NewJob{Name: "first"})
		second := b.addOne(backend.NewJob{Name: "second"})
		b.retry(backend.RetryRequest{ID: done})
		if got := b.job(done); len(got.Result) != 0 || got.State != backend.StateWaiting {
			t.Errorf("retried job: state %s result %q", got.State, got.Result)
		}
		if got := ids(b.list(backend.StateWaiting)); !slices.Equal(got, []string{first, second, done}) {
			t.Errorf("waiting %v, want %v", got, []string{first, second, done})
		}
	})

	t.Run("retry of a job that has not finished gets a wrong-state error and changes nothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.wantWrongState(cfg, b.jobInEveryState(), []backend.JobState{backend.StateFailed, backend.StateCompleted}, func(id string) error {
			_, err := b.store.Retry(b.ctx, b.q, &backend.RetryRequest{ID: id})
			return err
		})
	})

	t.Run("retry in bulk takes the jobs of a state that finished first, up to the limit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		all := b.addN(5, "job")
		jobs := b.lease(5)
		order := []int{2, 0, 4, 1, 3} // the order they fail in
		for _, i := range order {
			b.clock.Advance(time.Second)
			b.fail(jobs[i], "boom")
		}
		done := b.addOne(backend.NewJob{Name: "done"})
		b.complete(b.leaseOne(), "ok")
		mark := b.lastEventID(b.q)
		if got := b.retry(backend.RetryRequest{State: backend.StateFailed, Limit: 2}); !slices.Equal(got, []string{all[2], all[0]}) {
			t.Fatalf("Retry(limit 2) = %v, want %v", got, []string{all[2], all[0]})
		}
		wantEvents(t, b.events(b.q, mark), backend.EventRetried, all[2], all[0])
		mark = b.lastEventID(b.q)
		if got := b.retry(backend.RetryRequest{State: backend.StateFailed}); !slices.Equal(got, []string{all[4], all[1], all[3]}) {
			t.Fatalf("Retry(no limit) = %v, want %v", got, []string{all[4], all[1], all[3]})
		}
		wantEvents(t, b.events(b.q, mark), backend.EventRetried, all[4], all[1], all[3])
		mark = b.lastEventID(b.q)
		if got := b.retry(backend.RetryRequest{State: backend.StateFailed}); len(got) != 0 {
			t.Fatalf("Retry with no failed job = %v", got)
		}
		wantEvents(t, b.events(b.q, mark), backend.EventRetried)
		if got, want := ids(b.list(backend.StateWaiting)), []string{all[2], all[0], all[4], all[1], all[3]}; !slices.Equal(got, want) {
			t.Errorf("waiting %v, want %v", got, want)
		}
		b.wantState(b.q, done, backend.StateCompleted)
		if got := b.retry(backend.RetryRequest{State: backend.StateCompleted}); !slices.Equal(got, []string{done}) {
			t.Errorf("Retry(completed) = %v, want [%s]", got, done)
		}
	})

	t.Run("retry of a flow parent that failed while children were pending waits for them again", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		a := b.add(backend.NewJob{Name: "parent", Children: children(2, nil)})[0]
		b.cancel(b.q, a.Children[0].ID, "") // fails the parent; the other child is pending
		b.wantState(b.q, a.ID, backend.StateFailed)
		mark := b.lastEventID(b.q)
		b.retry(backend.RetryRequest{ID: a.ID})
		wantEvents(t, b.events(b.q, mark), backend.EventRetried, a.ID)
		b.wantState(b.q, a.ID, backend.StateWaitingChildren)
		kid := b.leaseOne()
		if kid.ID != a.Children[1].ID {
			t.Fatalf("leased %s, want the pending child %s", kid.ID, a.Children[1].ID)
		}
		b.complete(kid, "ok")
		b.wantState(b.q, a.ID, backend.StateWaiting)
	})

	t.Run("one retry or promote in bulk changes at most MaxBulk jobs", func(t *testing.T) {
		t.Parallel()
		heavy(t)
		b := setup(t, f)
		n := backend.MaxBulk + 1
		jobs := make([]backend.NewJob, n)
		for i := range jobs {
			jobs[i] = backend.NewJob{Name: "j", Delay: time.Hour}
		}
		b.add(jobs...)
		if got := b.promote(backend.PromoteRequest{}); len(got) != backend.MaxBulk {
			t.Fatalf("Promote promoted %d jobs, want %d", len(got), backend.MaxBulk)
		}
		if got := b.promote(backend.PromoteRequest{}); len(got) != 1 {
			t.Fatalf("the second Promote promoted %d jobs, want 1", len(got))
		}
		var ss []backend.Settlement
		for range 2 {
			for _, j := range b.lease(backend.MaxLease) {
				ss = append(ss, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeFail, Reason: "no"})
			}
		}
		b.settle(b.q, ss...)
		b.wantCounts(b.q, backend.Counts{Failed: n})
		if got := b.retry(backend.RetryRequest{State: backend.StateFailed}); len(got) != backend.MaxBulk {
			t.Fatalf("Retry retried %d jobs, want %d", len(got), backend.MaxBulk)
		}
		b.wantCounts(b.q, backend.Counts{Waiting: backend.MaxBulk, Failed: 1})
	})

	t.Run("a retried job leaves the retention of its final state", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		keep := backend.Retention{Count: 2}
		var all []string
		for i := range 4 {
			all = append(all, b.addOne(backend.NewJob{Name: fmt.Sprint("job-", i), KeepFailed: keep}))
		}
		jobs := b.lease(4)
		b.fail(jobs[0], "a")
		b.clock.Advance(time.Second)
		b.fail(jobs[1], "b")
		b.retry(backend.RetryRequest{ID: all[0]})
		b.clock.Advance(time.Second)
		b.fail(jobs[2], "c")
		b.clock.Advance(time.Second)
		b.fail(jobs[3], "d") // three failed now: the oldest goes
		b.wantState(b.q, all[0], backend.StateWaiting)
		b.gone(b.q, all[1])
		if got := ids(b.list(backend.StateFailed)); len(got) != 2 || !slices.Contains(got, all[2]) || !slices.Contains(got, all[3]) {
			t.Errorf("failed %v, want %s and %s", got, all[2], all[3])
		}
	})

	t.Run("promote makes a delayed job waiting now at the back of its priority, with one promoted event", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		first := b.addOne(backend.NewJob{Name: "first"})
		later := b.addOne(backend.NewJob{Name: "later", Delay: time.Hour})
		second := b.addOne(backend.NewJob{Name: "second"})
		mark := b.lastEventID(b.q)
		if got := b.promote(backend.PromoteRequest{ID: later}); !slices.Equal(got, []string{later}) {
			t.Fatalf("Promote = %v, want [%s]", got, later)
		}
		wantEvents(t, b.events(b.q, mark), backend.EventPromoted, later)
		if got := ids(b.list(backend.StateWaiting)); !slices.Equal(got, []string{first, second, later}) {
			t.Errorf("waiting %v, want %v", got, []string{first, second, later})
		}
		b.wantCounts(b.q, backend.Counts{Waiting: 3})
	})

	t.Run("promote of a job that is not delayed gets a wrong-state error and changes nothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.wantWrongState(cfg, b.jobInEveryState(), []backend.JobState{backend.StateDelayed}, func(id string) error {
			_, err := b.store.Promote(b.ctx, b.q, &backend.PromoteRequest{ID: id})
			return err
		})
	})

	t.Run("promote in bulk takes the jobs due first, up to the limit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		var all []string
		for _, h := range []int{3, 1, 2} {
			all = append(all, b.addOne(backend.NewJob{Name: fmt.Sprint("in-", h), Delay: time.Duration(h) * time.Hour}))
		}
		mark := b.lastEventID(b.q)
		if got := b.promote(backend.PromoteRequest{Limit: 2}); !slices.Equal(got, []string{all[1], all[2]}) {
			t.Fatalf("Promote(limit 2) = %v, want %v", got, []string{all[1], all[2]})
		}
		wantEvents(t, b.events(b.q, mark), backend.EventPromoted, all[1], all[2])
		if got := b.promote(backend.PromoteRequest{}); !slices.Equal(got, []string{all[0]}) {
			t.Fatalf("Promote = %v, want [%s]", got, all[0])
		}
		mark = b.lastEventID(b.q)
		if got := b.promote(backend.PromoteRequest{}); len(got) != 0 {
			t.Fatalf("Promote with no delayed job = %v", got)
		}
		wantEvents(t, b.events(b.q, mark), backend.EventPromoted)
		if got := ids(b.list(backend.StateWaiting)); !slices.Equal(got, []string{all[1], all[2], all[0]}) {
			t.Errorf("waiting %v, want %v", got, []string{all[1], all[2], all[0]})
		}
	})

	t.Run("a promoted scheduler iteration runs now and its scheduler goes on", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		next, after := epoch.Add(time.Hour), epoch.Add(2*time.Hour)
		b.upsert(backend.Scheduler{ID: "tick", Template: backend.NewJob{Name: "tick"}, Next: next, Upcoming: []time.Time{after}}, 0)
		it := backend.IterationID("tick", next)
		mark := b.lastEventID(b.q)
		b.promote(backend.PromoteRequest{ID: it})
		evs := b.events(b.q, mark)
		wantEvents(t, evs, backend.EventPromoted, it)
		if evs[0].SchedulerID != "tick" {
			t.Errorf("promoted event names scheduler %q, want tick", evs[0].SchedulerID)
		}
		if j := b.leaseOne(); j.ID != it {
			t.Fatalf("leased %s, want the promoted iteration %s", j.ID, it)
		}
		b.wantPending("tick", after, "")
		if s := b.scheduler("tick"); !s.Next.Equal(after) {
			t.Errorf("scheduler Next = %v, want %v", s.Next, after)
		}
	})

	t.Run("a blocked lease takes a job that retry, promote or change makes waiting", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		failed := b.addOne(backend.NewJob{Name: "failed"})
		b.fail(b.leaseOne(), "boom")
		delayed := b.addOne(backend.NewJob{Name: "delayed", Delay: time.Hour})
		changed := b.addOne(backend.NewJob{Name: "changed", Delay: time.Hour})
		for _, c := range []struct {
			id   string
			call func()
		}{
			{failed, func() { b.retry(backend.RetryRequest{ID: failed}) }},
			{delayed, func() { b.promote(backend.PromoteRequest{ID: delayed}) }},
			{changed, func() { now := b.clock.Now(); b.change(backend.ChangeRequest{ID: changed, RunAt: &now}) }},
		} {
			ch := b.leaseAsync(b.q, backend.LeaseRequest{Worker: "w", Max: 1, TTL: defaultTTL, Wait: longWait})
			b.awaitWaiters(1)
			c.call()
			r := receive(t, ch, deadline, "blocked Lease")
			if r.err != nil || len(r.jobs) != 1 || r.jobs[0].ID != c.id {
				t.Fatalf("blocked Lease = %v, %v; want job %s", r.jobs, r.err, c.id)
			}
		}
	})

	t.Run("change sets a waiting job's priority and data, with one changed event, and moves it to the back of its new line", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		a := b.addOne(backend.NewJob{Name: "a", Priority: 1})
		c := b.addOne(backend.NewJob{Name: "c", Data: []byte("old")})
		bb := b.addOne(backend.NewJob{Name: "b", Priority: 1})
		mark := b.lastEventID(b.q)
		prio, data := 1, []byte("new")
		b.change(backend.ChangeRequest{ID: c, Priority: &prio, Data: &data})
		evs := b.events(b.q, mark)
		wantEvents(t, evs, backend.EventChanged, c)
		if !evs[0].RunAt.IsZero() {
			t.Errorf("changed event of a waiting job has RunAt %v", evs[0].RunAt)
		}
		got := b.wantState(b.q, c, backend.StateWaiting)
		if got.Priority != 1 || string(got.Data) != "new" {
			t.Errorf("changed job: priority %d data %q", got.Priority, got.Data)
		}
		if got := ids(b.list(backend.StateWaiting)); !slices.Equal(got, []string{a, bb, c}) {
			t.Errorf("waiting %v, want %v", got, []string{a, bb, c})
		}
		// Data alone does not move a job.
		data = []byte("newer")
		b.change(backend.ChangeRequest{ID: a, Data: &data})
		if got := ids(b.lease(3)); !slices.Equal(got, []string{a, bb, c}) {
			t.Errorf("lease order %v, want %v", got, []string{a, bb, c})
		}
	})

	t.Run("change of the run time moves a job between waiting and delayed, to the back of its line", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		moved := b.addOne(backend.NewJob{Name: "moved"})
		other := b.addOne(backend.NewJob{Name: "other"})
		mark := b.lastEventID(b.q)
		later := epoch.Add(time.Hour)
		b.change(backend.ChangeRequest{ID: moved, RunAt: &later})
		evs := b.events(b.q, mark)
		wantEvents(t, evs, backend.EventChanged, moved)
		if !evs[0].RunAt.Equal(later) {
			t.Errorf("changed event RunAt %v, want %v", evs[0].RunAt, later)
		}
		if got := b.wantState(b.q, moved, backend.StateDelayed); !got.RunAt.Equal(later) {
			t.Errorf("RunAt %v, want %v", got.RunAt, later)
		}
		b.wantCounts(b.q, backend.Counts{Waiting: 1, Delayed: 1})
		third := b.addOne(backend.NewJob{Name: "third"})
		mark = b.lastEventID(b.q)
		now := b.clock.Now()
		b.change(backend.ChangeRequest{ID: moved, RunAt: &now})
		evs = b.events(b.q, mark)
		wantEvents(t, evs, backend.EventChanged, moved)
		if !evs[0].RunAt.IsZero() {
			t.Errorf("changed event of a job made waiting has RunAt %v", evs[0].RunAt)
		}
		if got := ids(b.list(backend.StateWaiting)); !slices.Equal(got, []string{other, third, moved}) {
			t.Errorf("waiting %v, want %v", got, []string{other, third, moved})
		}
	})

	t.Run("change of a delayed job's run time or priority keeps it delayed until its run time", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "later", Delay: time.Hour})
		later := epoch.Add(2 * time.Hour)
		prio := 4
		b.change(backend.ChangeRequest{ID: id, RunAt: &later})
		mark := b.lastEventID(b.q)
		b.change(backend.ChangeRequest{ID: id, Priority: &prio})
		if evs := b.events(b.q, mark); len(evs) != 1 || !evs[0].RunAt.Equal(later) {
			t.Errorf("changed event %+v, want RunAt %v", evs, later)
		}
		if got := b.wantState(b.q, id, backend.StateDelayed); !got.RunAt.Equal(later) || got.Priority != 4 {
			t.Errorf("job RunAt %v priority %d, want %v and 4", got.RunAt, got.Priority, later)
		}
		b.clock.Advance(time.Hour)
		if jobs := b.lease(1); len(jobs) != 0 {
			t.Fatalf("leased %v before the new run time", ids(jobs))
		}
		b.clock.Advance(time.Hour)
		if j := b.leaseOne(); j.ID != id || j.Priority != 4 {
			t.Errorf("leased %s priority %d, want %s and 4", j.ID, j.Priority, id)
		}
	})

	t.Run("change of a delayed job that leaves its place (its data, the same run time) tells its run time in the changed event", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "later", Delay: time.Hour})
		at := epoch.Add(time.Hour)
		data := []byte("new")
		for _, req := range []backend.ChangeRequest{{ID: id, Data: &data}, {ID: id, RunAt: &at}} {
			mark := b.lastEventID(b.q)
			b.change(req)
			if evs := b.events(b.q, mark); len(evs) != 1 || evs[0].Type != backend.EventChanged || !evs[0].RunAt.Equal(at) {
				t.Errorf("after change %+v: events %+v, want one changed event with RunAt %v", req, evs, at)
			}
		}
		b.wantState(b.q, id, backend.StateDelayed)
	})

	t.Run("change of a delayed job whose run time has come makes it waiting", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		data := []byte("new")
		prio := 2
		for _, req := range []backend.ChangeRequest{{Data: &data}, {Priority: &prio}} {
			req.ID = b.addOne(backend.NewJob{Name: "due", Delay: time.Minute})
			b.clock.Advance(time.Minute)
			mark := b.lastEventID(b.q)
			b.change(req)
			if evs := b.events(b.q, mark); len(evs) != 1 || evs[0].Type != backend.EventChanged || !evs[0].RunAt.IsZero() {
				t.Errorf("after change %+v: events %+v, want one changed event without RunAt", req, evs)
			}
			b.wantState(b.q, req.ID, backend.StateWaiting)
		}
	})

	t.Run("change of the priority of a waiting job that was delayed once keeps it waiting", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "once delayed", Delay: time.Hour})
		b.cancel(b.q, id, "")
		b.retry(backend.RetryRequest{ID: id})
		prio := 3
		b.change(backend.ChangeRequest{ID: id, Priority: &prio})
		b.wantState(b.q, id, backend.StateWaiting)
	})

	t.Run("change of a job that is not waiting or delayed gets a wrong-state error and changes nothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		prio := 3
		b.wantWrongState(cfg, b.jobInEveryState(), []backend.JobState{backend.StateWaiting, backend.StateDelayed}, func(id string) error {
			return b.store.Change(b.ctx, b.q, &backend.ChangeRequest{ID: id, Priority: &prio})
		})
	})

	t.Run("cancel fails a waiting, delayed or waiting-children job at once, not retried, with one cancelled event", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		all := []string{
			b.addOne(backend.NewJob{Name: "waiting", Attempts: 3}),
			b.addOne(backend.NewJob{Name: "delayed", Attempts: 3, Delay: time.Hour}),
			b.add(backend.NewJob{Name: "parent", Attempts: 3, Children: []backend.NewJob{{Name: "child", FailurePolicy: backend.PolicyIgnore}}})[0].ID,
		}
		child := b.job(all[2]).Children[0].ID
		mark := b.lastEventID(b.q)
		reasons := []string{"not needed", "", "changed my mind"}
		for i, id := range all {
			if res := b.cancel(b.q, id, reasons[i]); res.Active {
				t.Errorf("Cancel of %s reports it active", id)
			}
		}
		evs := b.events(b.q, mark)
		wantEvents(t, evs, backend.EventCancelled, all...)
		for i, id := range all {
			want := backend.CancelFailure(reasons[i])
			if evs[i].Reason != want {
				t.Errorf("cancelled event of %s has reason %q, want %q", id, evs[i].Reason, want)
			}
			if got := b.wantState(b.q, id, backend.StateFailed); got.FailedReason != want || got.CancelRequested {
				t.Errorf("cancelled job %s: reason %q marked %v; want %q, not marked", id, got.FailedReason, got.CancelRequested, want)
			}
		}
		if backend.CancelFailure("") != backend.CancelledReason {
			t.Errorf("CancelFailure of no reason = %q", backend.CancelFailure(""))
		}
		b.wantState(b.q, child, backend.StateWaiting)
		b.wantCounts(b.q, backend.Counts{Waiting: 1, Failed: 3})
	})

	t.Run("cancel of a final job gets a wrong-state error and changes nothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		jobs := b.jobInEveryState()
		b.wantWrongState(cfg, jobs, []backend.JobState{backend.StateWaiting, backend.StateDelayed, backend.StateActive, backend.StateWaitingChildren}, func(id string) error {
			_, err := b.store.Cancel(b.ctx, b.q, &backend.CancelRequest{ID: id})
			return err
		})
	})

	t.Run("cancel of an active job marks it, Renew reports it, and its retry, release or snooze fails it as cancelled", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addN(4, "job")
		jobs := b.lease(4)
		mark := b.lastEventID(b.q)
		for i, j := range jobs[:3] {
			if res := b.cancel(b.q, j.ID, fmt.Sprint("stop ", i)); !res.Active {
				t.Errorf("Cancel of active job %s does not report it active", j.ID)
			}
		}
		evs := b.events(b.q, mark)
		wantEvents(t, evs, backend.EventCancelled, ids(jobs[:3])...)
		for i, j := range jobs[:3] {
			want := fmt.Sprint("stop ", i)
			if evs[i].Reason != backend.CancelFailure(want) {
				t.Errorf("cancelled event of %s has reason %q, want %q", j.ID, evs[i].Reason, backend.CancelFailure(want))
			}
			got := b.wantState(b.q, j.ID, backend.StateActive)
			if !got.CancelRequested || got.CancelReason != want || got.Lease != j.Lease {
				t.Errorf("marked job %s: marked %v reason %q lease %+v", j.ID, got.CancelRequested, got.CancelReason, got.Lease)
			}
		}
		// A second cancel of a marked job changes nothing.
		before := b.fingerprint(cfg)
		if res := b.cancel(b.q, jobs[0].ID, "again"); !res.Active {
			t.Errorf("second Cancel does not report the job active")
		}
		if b.fingerprint(cfg) != before {
			t.Errorf("a second Cancel of a marked job changed the store")
		}
		var leases []backend.Lease
		for _, j := range jobs {
			leases = append(leases, j.Lease)
		}
		res := b.renew(time.Minute, leases...)
		if len(res.Lost) != 0 || len(res.Cancelled) != 3 {
			t.Fatalf("Renew = %+v, want nothing lost and 3 cancelled", res)
		}
		for i, j := range jobs[:3] {
			want := backend.Cancellation{Lease: j.Lease, Reason: fmt.Sprint("stop ", i)}
			if !slices.Contains(res.Cancelled, want) {
				t.Errorf("Renew reports %+v, want %+v among them", res.Cancelled, want)
			}
		}
		if got := b.job(jobs[3].ID).LeaseExpiresAt; !got.Equal(b.clock.Now().Add(time.Minute)) {
			t.Errorf("the unmarked lease expires %v, want it renewed", got)
		}
		mark = b.lastEventID(b.q)
		outcomes := []backend.Outcome{backend.OutcomeRetry, backend.OutcomeRelease, backend.OutcomeSnooze}
		for i, o := range outcomes {
			b.mustSettle(b.q, backend.Settlement{Lease: jobs[i].Lease, Outcome: o, Reason: "handler stopped", RetryDelay: time.Minute})
			got := b.wantState(b.q, jobs[i].ID, backend.StateFailed)
			if want := backend.CancelFailure(fmt.Sprint("stop ", i)); got.FailedReason != want || got.CancelRequested {
				t.Errorf("job settled with %s: reason %q marked %v; want %q, not marked", o, got.FailedReason, got.CancelRequested, want)
			}
		}
		wantEvents(t, b.events(b.q, mark), backend.EventFailed, ids(jobs[:3])...)
		if got := b.job(jobs[0].ID); got.AttemptsMade != 1 {
			t.Errorf("the job settled with retry made %d attempts, want 1", got.AttemptsMade)
		}
		b.complete(jobs[3], "ok")
	})

	t.Run("a marked job whose worker is gone fails as cancelled when its lease expires", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "orphan", Attempts: 3})
		b.leaseOne()
		b.cancel(b.q, id, "gone")
		mark := b.lastEventID(b.q)
		b.clock.Advance(defaultTTL + time.Second)
		if jobs := b.lease(1); len(jobs) != 0 {
			t.Fatalf("leased %v; want the marked job failed, not recovered", ids(jobs))
		}
		got := b.wantState(b.q, id, backend.StateFailed)
		if got.FailedReason != backend.CancelFailure("gone") || got.Lease != (backend.Lease{}) {
			t.Errorf("job reason %q lease %+v; want %q and no lease", got.FailedReason, got.Lease, backend.CancelFailure("gone"))
		}
		types := typesFor(b.events(b.q, mark), id)
		if len(types) == 0 || types[len(types)-1] != backend.EventFailed || slices.Contains(types, backend.EventWaiting) {
			t.Errorf("events of the job %v, want it failed and never waiting", types)
		}
	})

	t.Run("cancel of a flow child fails its parent under the default policy", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		a := b.add(backend.NewJob{Name: "parent", Children: children(2, nil)})[0]
		kid := a.Children[0].ID
		mark := b.lastEventID(b.q)
		b.cancel(b.q, kid, "wrong input")
		evs := b.events(b.q, mark)
		if got := typesFor(evs, kid); !slices.Equal(got, []backend.EventType{backend.EventCancelled}) {
			t.Errorf("events of the child %v, want [cancelled]", got)
		}
		if got := typesFor(evs, a.ID); !slices.Equal(got, []backend.EventType{backend.EventFailed}) {
			t.Errorf("events of the parent %v, want [failed]", got)
		}
		p := b.wantState(b.q, a.ID, backend.StateFailed)
		o := p.ChildOutcomes[backend.JobRef{Queue: b.q, ID: kid}.String()]
		if o.State != backend.StateFailed || o.Reason != backend.CancelFailure("wrong input") {
			t.Errorf("the parent's outcome of the child %+v", o)
		}
		b.wantState(b.q, a.Children[1].ID, backend.StateWaiting)
	})

	t.Run("cancel applies the failed retention", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "gone", KeepFailed: backend.Retention{Remove: true}})
		mark := b.lastEventID(b.q)
		b.cancel(b.q, id, "")
		b.gone(b.q, id)
		if got := typesFor(b.events(b.q, mark), id); len(got) == 0 || got[0] != backend.EventCancelled {
			t.Errorf("events of the job %v, want cancelled first", got)
		}
		b.wantCounts(b.q, backend.Counts{})
	})

	t.Run("a cancelled scheduler iteration fails and its scheduler goes on", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		next, after := epoch.Add(time.Hour), epoch.Add(2*time.Hour)
		b.upsert(backend.Scheduler{ID: "tick", Template: backend.NewJob{Name: "tick"}, Next: next, Upcoming: []time.Time{after}}, 0)
		it := backend.IterationID("tick", next)
		mark := b.lastEventID(b.q)
		b.cancel(b.q, it, "skip this one")
		if got := typesFor(b.events(b.q, mark), it); !slices.Equal(got, []backend.EventType{backend.EventCancelled}) {
			t.Errorf("events of the iteration %v, want [cancelled]", got)
		}
		b.wantState(b.q, it, backend.StateFailed)
		b.wantPending("tick", after, "")
	})

	t.Run("a snoozed job is delayed without using an attempt, with one snoozed event", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "sleepy"})
		j := b.leaseOne()
		mark := b.lastEventID(b.q)
		b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeSnooze, RetryDelay: time.Minute})
		evs := b.events(b.q, mark)
		wantEvents(t, evs, backend.EventSnoozed, id)
		due := b.clock.Now().Add(time.Minute)
		if !evs[0].RunAt.Equal(due) || evs[0].AttemptsMade != 0 {
			t.Errorf("snoozed event RunAt %v attempts %d, want %v and 0", evs[0].RunAt, evs[0].AttemptsMade, due)
		}
		got := b.wantState(b.q, id, backend.StateDelayed)
		if !got.RunAt.Equal(due) || got.AttemptsMade != 0 || got.Lease != (backend.Lease{}) {
			t.Errorf("snoozed job RunAt %v attempts %d lease %+v", got.RunAt, got.AttemptsMade, got.Lease)
		}
		b.clock.Advance(time.Minute)
		j = b.leaseOne()
		if j.ID != id || j.AttemptsMade != 0 {
			t.Fatalf("leased %s with %d attempts, want %s with 0", j.ID, j.AttemptsMade, id)
		}
		b.complete(j, "ok")
		if got := b.job(id); got.AttemptsMade != 1 {
			t.Errorf("AttemptsMade %d, want 1", got.AttemptsMade)
		}
	})

	t.Run("a snooze without a delay makes the job waiting at the back of its line", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "sleepy"})
		other := b.addOne(backend.NewJob{Name: "other"})
		j := b.leaseOne()
		mark := b.lastEventID(b.q)
		b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeSnooze})
		evs := b.events(b.q, mark)
		wantEvents(t, evs, backend.EventSnoozed, id)
		if !evs[0].RunAt.IsZero() {
			t.Errorf("snoozed event of a waiting job has RunAt %v", evs[0].RunAt)
		}
		if got := ids(b.list(backend.StateWaiting)); !slices.Equal(got, []string{other, id}) {
			t.Errorf("waiting %v, want %v", got, []string{other, id})
		}
	})

	t.Run("a job added with RunAt waits until then; a RunAt past is now", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		at := epoch.Add(90 * time.Second)
		later := b.addOne(backend.NewJob{Name: "later", RunAt: at})
		now := b.addOne(backend.NewJob{Name: "now", RunAt: epoch.Add(-time.Minute)})
		if got := b.wantState(b.q, later, backend.StateDelayed); !got.RunAt.Equal(at) {
			t.Errorf("RunAt %v, want %v", got.RunAt, at)
		}
		for _, e := range b.events(b.q, 0) {
			if e.JobID == later && e.Type == backend.EventDelayed && !e.RunAt.Equal(at) {
				t.Errorf("delayed event RunAt %v, want %v", e.RunAt, at)
			}
		}
		jobs := b.lease(2)
		if got := ids(jobs); !slices.Equal(got, []string{now}) {
			t.Fatalf("leased %v, want [%s]", got, now)
		}
		b.complete(jobs[0], "ok")
		b.clock.Advance(90 * time.Second)
		if j := b.leaseOne(); j.ID != later {
			t.Errorf("leased %s, want %s", j.ID, later)
		}
	})

	t.Run("a LIFO job runs before the waiting jobs of its priority", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		a := b.addOne(backend.NewJob{Name: "a"})
		bb := b.addOne(backend.NewJob{Name: "b"})
		low := b.addOne(backend.NewJob{Name: "low", Priority: 1})
		lifo := b.addOne(backend.NewJob{Name: "lifo", LIFO: true})
		lowLIFO := b.addOne(backend.NewJob{Name: "low lifo", Priority: 1, LIFO: true})
		last := b.addOne(backend.NewJob{Name: "last lifo", LIFO: true})
		want := []string{last, lifo, a, bb, lowLIFO, low}
		if got := ids(b.list(backend.StateWaiting)); !slices.Equal(got, want) {
			t.Errorf("waiting %v, want %v", got, want)
		}
		if got := ids(b.lease(len(want))); !slices.Equal(got, want) {
			t.Errorf("lease order %v, want %v", got, want)
		}
	})

	t.Run("a lease that takes the last waiting job appends one drained event, once per idle period", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.lease(1) // an empty queue: nothing drained
		b.addN(3, "job")
		b.addOne(backend.NewJob{Name: "later", Delay: time.Hour})
		b.lease(2)
		b.lease(1)
		b.lease(1) // nothing left: no second drained event
		// A blocked lease takes the next job that comes: a new period.
		ch := b.leaseAsync(b.q, backend.LeaseRequest{Worker: "w", Max: 5, TTL: defaultTTL, Wait: longWait})
		b.awaitWaiters(1)
		id := b.addOne(backend.NewJob{Name: "woken"})
		if r := receive(t, ch, deadline, "blocked Lease"); r.err != nil || len(r.jobs) != 1 || r.jobs[0].ID != id {
			t.Fatalf("blocked Lease = %v, %v; want job %s", r.jobs, r.err, id)
		}
		var drained []int
		evs := b.events(b.q, 0)
		for i, e := range evs {
			if e.Type != backend.EventDrained {
				continue
			}
			drained = append(drained, i)
			if e.Count != 0 || e.JobID != "" {
				t.Errorf("drained event %+v, want Count 0 and no job", e)
			}
			if i == 0 || evs[i-1].Type != backend.EventActive {
				t.Errorf("drained event %d does not follow the active event of the last job taken", e.ID)
			}
		}
		if len(drained) != 2 {
			t.Errorf("%d drained events, want 2 (one per idle period)", len(drained))
		}
	})

	t.Run("published events take their place in the log among the others", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		before := b.addOne(backend.NewJob{Name: "before"})
		id, err := b.store.Publish(b.ctx, b.q, &backend.PublishRequest{Name: "deploy", Data: []byte(`{"v":2}`)})
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		bare, err := b.store.Publish(b.ctx, b.q, &backend.PublishRequest{Name: "ping"})
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		after := b.addOne(backend.NewJob{Name: "after"})
		evs := b.events(b.q, 0)
		var seq []string
		for _, e := range evs {
			seq = append(seq, fmt.Sprint(e.Type, " ", e.JobID, e.Name))
		}
		want := []string{"added " + before + "before", "waiting " + before + "before", "published deploy", "published ping",
			"added " + after + "after", "waiting " + after + "after"}
		if !slices.Equal(seq, want) {
			t.Fatalf("events %v, want %v", seq, want)
		}
		if evs[2].ID != id || string(evs[2].Data) != `{"v":2}` || evs[3].ID != bare || len(evs[3].Data) != 0 {
			t.Errorf("published events %+v and %+v, want IDs %d and %d with their data", evs[2], evs[3], id, bare)
		}
		b.use("fresh")
		if id, err := b.store.Publish(b.ctx, "fresh", &backend.PublishRequest{Name: "hello"}); err != nil || id != 1 {
			t.Errorf("Publish to an unused queue = %d, %v; want the first event", id, err)
		}
	})
}
