package conformance

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func (b *testBundle) upsert(s backend.Scheduler, expect uint64) backend.CompareAndUpsertResult {
	b.t.Helper()
	res, err := b.store.CompareAndUpsert(b.ctx, b.q, &backend.CompareAndUpsertRequest{Scheduler: s, ExpectRevision: expect})
	if err != nil {
		b.t.Fatalf("CompareAndUpsert(%s, expect %d): %v", s.ID, expect, err)
	}
	return res
}

func (b *testBundle) scheduler(id string) *backend.Scheduler {
	b.t.Helper()
	s, err := b.store.Scheduler(b.ctx, b.q, id)
	if err != nil {
		b.t.Fatalf("Scheduler(%s): %v", id, err)
	}
	return s
}

// pendingIterations returns the waiting and delayed jobs of scheduler id.
func (b *testBundle) pendingIterations(id string) []*backend.Job {
	b.t.Helper()
	var out []*backend.Job
	for _, s := range []backend.JobState{backend.StateWaiting, backend.StateDelayed} {
		for _, j := range b.list(s) {
			if j.SchedulerID == id {
				out = append(out, j)
			}
		}
	}
	return out
}

// wantPending fails the case unless scheduler id has exactly one pending
// iteration, at run time at, with data; it returns that job.
func (b *testBundle) wantPending(id string, at time.Time, data string) *backend.Job {
	b.t.Helper()
	p := b.pendingIterations(id)
	if len(p) != 1 {
		b.t.Fatalf("scheduler %s has %d pending iterations %v, want 1", id, len(p), ids(p))
	}
	j := p[0]
	if want := backend.IterationID(id, at); j.ID != want {
		b.t.Fatalf("pending iteration is %s, want %s", j.ID, want)
	}
	if string(j.Data) != data {
		b.t.Fatalf("pending iteration data = %q, want %q", j.Data, data)
	}
	return j
}

func minutes(n ...int) []time.Time {
	var out []time.Time
	for _, m := range n {
		out = append(out, epoch.Add(time.Duration(m)*time.Minute))
	}
	return out
}

func tick(data string, next time.Time, upcoming ...time.Time) backend.Scheduler {
	return backend.Scheduler{
		ID:       "tick",
		Repeat:   []byte(`{"every":"1m"}`),
		Template: backend.NewJob{Name: "tick", Data: []byte(data), Priority: 2, Attempts: 3},
		Next:     next,
		Upcoming: upcoming,
	}
}

func testScheduler(t *testing.T, f Factory, cfg Config) {
	t.Run("upsert creates the record and its pending iteration", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.clock.Advance(time.Second)
		res := b.upsert(tick("v1", minutes(1)[0], minutes(2, 3)...), 0)
		if !res.Created || res.Scheduler.Revision != 1 || !res.Scheduler.UpdatedAt.Equal(b.clock.Now()) {
			t.Errorf("result: created %v revision %d updated %v", res.Created, res.Scheduler.Revision, res.Scheduler.UpdatedAt)
		}
		s := b.scheduler("tick")
		if s.Revision != 1 || string(s.Repeat) != `{"every":"1m"}` || string(s.Template.Data) != "v1" ||
			!s.Next.Equal(minutes(1)[0]) || len(s.Upcoming) != 2 || !s.Upcoming[1].Equal(minutes(3)[0]) {
			t.Errorf("stored record = %+v", s)
		}
		j := b.wantPending("tick", minutes(1)[0], "v1")
		if j.State != backend.StateDelayed || !j.RunAt.Equal(minutes(1)[0]) || j.Name != "tick" || j.Priority != 2 || j.Attempts != 3 || j.SchedulerID != "tick" {
			t.Errorf("iteration job = %+v", j)
		}
		evs := b.events(b.q, 0)
		if !slices.ContainsFunc(evs, func(e backend.Event) bool {
			return e.Type == backend.EventSchedulerUpserted && e.SchedulerID == "tick"
		}) {
			t.Errorf("no scheduler-upserted event in %v", evs)
		}
		b.wantCounts(b.q, backend.Counts{Delayed: 1})
	})

	t.Run("a template's run time and LIFO are ignored: each iteration runs at its planned time, in line", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		first := b.addOne(backend.NewJob{Name: "first", Priority: 2})
		s := tick("v1", epoch, minutes(2)...)
		s.Template.RunAt, s.Template.LIFO = minutes(1)[0], true
		b.upsert(s, 0)
		now := backend.IterationID("tick", epoch)
		b.wantState(b.q, now, backend.StateWaiting)
		if got := ids(b.lease(2)); !slices.Equal(got, []string{first, now}) {
			t.Errorf("leased %v, want %v", got, []string{first, now})
		}
		if j := b.wantPending("tick", minutes(2)[0], "v1"); j.State != backend.StateDelayed || !j.RunAt.Equal(minutes(2)[0]) {
			t.Errorf("next iteration %s at %v, want delayed until %v", j.State, j.RunAt, minutes(2)[0])
		}
	})

	t.Run("an iteration that is due at once is waiting", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.upsert(tick("v1", epoch, minutes(1)...), 0)
		b.wantState(b.q, backend.IterationID("tick", epoch), backend.StateWaiting)
	})

	t.Run("upsert compares the revision and writes nothing on mismatch", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		if _, err := b.store.CompareAndUpsert(b.ctx, b.q, &backend.CompareAndUpsertRequest{Scheduler: tick("v0", minutes(1)[0]), ExpectRevision: 3}); !errors.Is(err, backend.ErrRevisionMismatch) {
			t.Fatalf("upsert of a missing record expecting revision 3 = %v, want ErrRevisionMismatch", err)
		}
		b.gone(b.q, backend.IterationID("tick", minutes(1)[0]))
		b.upsert(tick("v1", minutes(1)[0], minutes(2)...), 0)
		before := b.snapshot(b.q)
		for _, expect := range []uint64{0, 2, 7} {
			_, err := b.store.CompareAndUpsert(b.ctx, b.q, &backend.CompareAndUpsertRequest{Scheduler: tick("bad", minutes(5)[0]), ExpectRevision: expect})
			if !errors.Is(err, backend.ErrRevisionMismatch) {
				t.Errorf("upsert expecting revision %d of a record at 1 = %v, want ErrRevisionMismatch", expect, err)
			}
		}
		b.unchanged(b.q, before, "the mismatched upserts")
		if s := b.scheduler("tick"); s.Revision != 1 || string(s.Template.Data) != "v1" {
			t.Fatalf("record after mismatches: revision %d data %q", s.Revision, s.Template.Data)
		}
		b.wantPending("tick", minutes(1)[0], "v1")
		if res := b.upsert(tick("v2", minutes(1)[0], minutes(2)...), 1); res.Created || res.Scheduler.Revision != 2 {
			t.Errorf("upsert at revision 1: created %v revision %d", res.Created, res.Scheduler.Revision)
		}
		if res := b.upsert(tick("v3", minutes(1)[0], minutes(2)...), backend.AnyRevision); res.Scheduler.Revision != 3 {
			t.Errorf("upsert with AnyRevision: revision %d, want 3", res.Scheduler.Revision)
		}
		b.wantPending("tick", minutes(1)[0], "v3")
		if s := b.scheduler("tick"); s.Revision != 3 || string(s.Template.Data) != "v3" {
			t.Errorf("record: revision %d data %q", s.Revision, s.Template.Data)
		}
	})

	t.Run("upsert with AnyRevision creates a missing record", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		if res := b.upsert(tick("v1", minutes(1)[0]), backend.AnyRevision); !res.Created || res.Scheduler.Revision != 1 {
			t.Errorf("created %v revision %d", res.Created, res.Scheduler.Revision)
		}
		b.wantPending("tick", minutes(1)[0], "v1")
	})

	t.Run("upsert replaces the pending iteration with one at the new Next", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.upsert(tick("v1", minutes(1)[0], minutes(2)...), 0)
		b.upsert(tick("v2", minutes(5)[0], minutes(6)...), 1)
		b.gone(b.q, backend.IterationID("tick", minutes(1)[0]))
		b.wantPending("tick", minutes(5)[0], "v2")
		b.wantCounts(b.q, backend.Counts{Delayed: 1})
	})

	t.Run("upsert with KeepPending writes only the record", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.upsert(tick("v1", minutes(1)[0], minutes(2)...), 0)
		s := tick("v2", minutes(1)[0], minutes(2, 3, 4)...)
		res, err := b.store.CompareAndUpsert(b.ctx, b.q, &backend.CompareAndUpsertRequest{Scheduler: s, ExpectRevision: 1, KeepPending: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Scheduler.Revision != 2 || len(res.Scheduler.Upcoming) != 3 {
			t.Errorf("record: revision %d upcoming %v", res.Scheduler.Revision, res.Scheduler.Upcoming)
		}
		b.wantPending("tick", minutes(1)[0], "v1")
		if got := b.scheduler("tick"); string(got.Template.Data) != "v2" || len(got.Upcoming) != 3 {
			t.Errorf("stored record data %q upcoming %v", got.Template.Data, got.Upcoming)
		}
	})

	t.Run("leasing the current iteration creates the next one in the same step", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.upsert(tick("v1", epoch, minutes(1, 2)...), 0)
		j := b.leaseOne()
		if j.ID != backend.IterationID("tick", epoch) || j.SchedulerID != "tick" || string(j.Data) != "v1" {
			t.Fatalf("leased %s (scheduler %q data %q)", j.ID, j.SchedulerID, j.Data)
		}
		s := b.scheduler("tick")
		if s.Revision != 2 || !s.Next.Equal(minutes(1)[0]) || !slices.EqualFunc(s.Upcoming, minutes(2), time.Time.Equal) {
			t.Fatalf("record after lease: revision %d next %v upcoming %v; want 2, %v, %v", s.Revision, s.Next, s.Upcoming, minutes(1)[0], minutes(2))
		}
		b.wantPending("tick", minutes(1)[0], "v1")
		b.complete(j, "ok")

		b.clock.Advance(time.Minute)
		second := b.leaseOne()
		if second.ID != backend.IterationID("tick", minutes(1)[0]) {
			t.Fatalf("second lease took %s", second.ID)
		}
		b.wantPending("tick", minutes(2)[0], "v1")
		b.complete(second, "ok")

		b.clock.Advance(time.Minute)
		if third := b.leaseOne(); third.ID != backend.IterationID("tick", minutes(2)[0]) {
			t.Fatalf("third lease took %s", third.ID)
		}
		s = b.scheduler("tick")
		if !s.Next.IsZero() || len(s.Upcoming) != 0 || !s.NeedsPlan(1) {
			t.Errorf("record with its plan used up: next %v upcoming %v", s.Next, s.Upcoming)
		}
		if p := b.pendingIterations("tick"); len(p) != 0 {
			t.Errorf("pending iterations %v with no planned time", ids(p))
		}
		if s.Revision != 4 {
			t.Errorf("Revision = %d after create and three leases, want 4", s.Revision)
		}
	})

	t.Run("a final scheduler is removed once its last iteration is leased", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		s := tick("v1", epoch, minutes(1)...)
		s.Final = true
		b.upsert(s, 0)
		b.complete(b.leaseOne(), "1")
		b.clock.Advance(time.Minute)
		b.complete(b.leaseOne(), "2")
		if _, err := b.store.Scheduler(b.ctx, b.q, "tick"); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Scheduler after its last iteration = %v, want ErrNotFound", err)
		}
	})

	t.Run("an iteration replaced before it ran is not counted twice", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		s := tick("v1", minutes(1)[0], minutes(2, 3)...)
		rev := b.upsert(s, 0).Scheduler.Revision
		for _, data := range []string{"v2", "v3", "v4"} {
			s.Template.Data = []byte(data)
			rev = b.upsert(s, rev).Scheduler.Revision
		}
		if got := b.scheduler("tick"); got == nil || got.Iterations != 1 {
			t.Fatalf("after 4 upserts of one pending iteration, scheduler = %+v; want Iterations 1", got)
		}
		b.wantPending("tick", minutes(1)[0], "v4")
		b.clock.Advance(time.Minute)
		b.complete(b.leaseOne(), "1")
		if got := b.scheduler("tick"); got.Iterations != 2 {
			t.Errorf("after the first run, Iterations %d, want 2 (the run and the next one)", got.Iterations)
		}
		b.wantCounts(b.q, backend.Counts{Completed: 1, Delayed: 1})
	})

	t.Run("an iteration slot taken by a finished job moves on to the next free time", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.upsert(tick("v1", epoch, minutes(1, 2)...), 0)
		b.complete(b.leaseOne(), "ran")
		if err := b.store.RemoveScheduler(b.ctx, b.q, "tick"); err != nil {
			t.Fatal(err)
		}
		res := b.upsert(tick("v2", epoch, minutes(1, 2)...), 0)
		if !res.Scheduler.Next.Equal(minutes(1)[0]) {
			t.Errorf("Next = %v, want the next free slot %v", res.Scheduler.Next, minutes(1)[0])
		}
		b.wantPending("tick", minutes(1)[0], "v2")
		if got := b.wantState(b.q, backend.IterationID("tick", epoch), backend.StateCompleted); string(got.Data) != "v1" || string(got.Result) != "ran" {
			t.Errorf("the finished iteration was touched: data %q result %q", got.Data, got.Result)
		}
	})

	t.Run("remove deletes the record and its pending iteration", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.upsert(tick("v1", minutes(1)[0], minutes(2)...), 0)
		if err := b.store.RemoveScheduler(b.ctx, b.q, "tick"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.Scheduler(b.ctx, b.q, "tick"); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Scheduler after remove = %v", err)
		}
		b.gone(b.q, backend.IterationID("tick", minutes(1)[0]))
		b.wantCounts(b.q, backend.Counts{})
		if err := b.store.RemoveScheduler(b.ctx, b.q, "tick"); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("second remove = %v, want ErrNotFound", err)
		}
		if !slices.ContainsFunc(b.events(b.q, 0), func(e backend.Event) bool { return e.Type == backend.EventSchedulerRemoved && e.SchedulerID == "tick" }) {
			t.Error("no scheduler-removed event")
		}
	})

	t.Run("a pending iteration is removed only with its scheduler: RemoveJob refuses it, Drain and Clean leave it", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		now := backend.Scheduler{ID: "now", Template: backend.NewJob{Name: "now"}, Next: epoch, Upcoming: minutes(1)}
		b.upsert(now, 0)
		b.upsert(tick("v1", minutes(1)[0], minutes(2)...), 0)
		waiting := b.wantPending("now", epoch, "")
		delayed := b.wantPending("tick", minutes(1)[0], "v1")
		before := b.snapshot(b.q)
		for _, j := range []*backend.Job{waiting, delayed} {
			err := b.store.RemoveJob(b.ctx, b.q, j.ID)
			if !errors.Is(err, backend.ErrSchedulerIteration) || !strings.Contains(err.Error(), "RemoveJobScheduler") {
				t.Errorf("RemoveJob(%s) = %v, want ErrSchedulerIteration naming RemoveJobScheduler", j.ID, err)
			}
		}
		b.unchanged(b.q, before, "the refused RemoveJob")

		plain := b.addOne(backend.NewJob{Name: "plain"})
		later := b.addOne(backend.NewJob{Name: "later", Delay: time.Hour})
		res, err := b.store.Drain(b.ctx, b.q, &backend.DrainRequest{Delayed: true})
		if err != nil || res.Removed != 2 {
			t.Errorf("Drain = %+v, %v; want the 2 plain jobs removed", res, err)
		}
		b.gone(b.q, plain)
		b.gone(b.q, later)
		b.clock.Advance(time.Second)
		for _, st := range []backend.JobState{backend.StateWaiting, backend.StateDelayed} {
			res, err := b.store.Clean(b.ctx, b.q, &backend.CleanRequest{State: st})
			if err != nil || len(res.IDs) != 0 {
				t.Errorf("Clean(%s) = %+v, %v; want nothing removed", st, res, err)
			}
		}
		b.wantPending("now", epoch, "")
		b.wantPending("tick", minutes(1)[0], "v1")

		// The scheduler goes on: its iteration runs, and once finished it
		// is an ordinary job that RemoveJob removes.
		j := b.leaseOne()
		if j.ID != waiting.ID {
			t.Fatalf("leased %s, want the iteration %s", j.ID, waiting.ID)
		}
		b.complete(j, "ok")
		b.wantPending("now", minutes(1)[0], "")
		if err := b.store.RemoveJob(b.ctx, b.q, j.ID); err != nil {
			t.Errorf("RemoveJob of a finished iteration = %v", err)
		}
	})

	t.Run("every event of an iteration names its scheduler", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.upsert(backend.Scheduler{ID: "now", Template: backend.NewJob{Name: "now", Attempts: 2}, Next: epoch}, 0)
		j := b.leaseOne()
		b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeRetry, Reason: "again", RetryDelay: time.Second})
		b.clock.Advance(time.Second)
		j = b.leaseOne()
		if err := b.store.UpdateProgress(b.ctx, b.q, j.ID, []byte("50")); err != nil {
			t.Fatal(err)
		}
		b.complete(j, "ok")
		if err := b.store.RemoveJob(b.ctx, b.q, j.ID); err != nil {
			t.Fatal(err)
		}
		types := map[backend.EventType]bool{}
		for _, e := range b.events(b.q, 0) {
			if e.JobID == "" {
				continue
			}
			types[e.Type] = true
			if e.SchedulerID != "now" || e.Name != "now" {
				t.Errorf("%s event of %s: scheduler %q name %q; want now and now", e.Type, e.JobID, e.SchedulerID, e.Name)
			}
		}
		for _, typ := range []backend.EventType{backend.EventAdded, backend.EventWaiting, backend.EventActive, backend.EventRetrying,
			backend.EventDelayed, backend.EventProgress, backend.EventCompleted, backend.EventRemoved} {
			if !types[typ] {
				t.Errorf("no %s event", typ)
			}
		}
	})

	t.Run("schedulers are listed by ID in pages", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		var want []string
		for _, id := range []string{"c", "a", "e", "b", "d"} {
			s := tick(id, minutes(1)[0])
			s.ID = id
			b.upsert(s, 0)
			want = append(want, id)
		}
		slices.Sort(want)
		var got []string
		for off := 0; off < 6; off += 2 {
			res, err := b.store.Schedulers(b.ctx, b.q, &backend.SchedulersRequest{Offset: off, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range res.Schedulers {
				got = append(got, s.ID)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("schedulers %v, want %v", got, want)
		}
	})

	t.Run("concurrent read-modify-CAS loops leave one record and one pending job", func(t *testing.T) {
		t.Parallel()
		heavy(t)
		b := setup(t, f)
		const workers = 50
		// Each worker gives up a round after casTries mismatches, so that
		// a round costs O(workers), not O(workers²), calls.
		const casTries = 3
		rounds := cfg.size(100)
		b.upsert(tick("start", minutes(1)[0], minutes(2)...), 0)
		wins := 0
		for round := range rounds {
			var mu sync.Mutex
			var lastRev uint64
			var lastData string
			errs := make(chan error, workers)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					data := fmt.Sprintf("round %d worker %d", round, w)
					for try := 0; try < casTries; try++ {
						cur, err := b.store.Scheduler(b.ctx, b.q, "tick")
						if err != nil {
							errs <- err
							return
						}
						next := *cur
						next.Template.Data = []byte(data)
						res, err := b.store.CompareAndUpsert(b.ctx, b.q, &backend.CompareAndUpsertRequest{Scheduler: next, ExpectRevision: cur.Revision})
						if errors.Is(err, backend.ErrRevisionMismatch) {
							continue
						}
						if err != nil {
							errs <- err
							return
						}
						mu.Lock()
						wins++
						if res.Scheduler.Revision > lastRev {
							lastRev, lastData = res.Scheduler.Revision, data
						}
						mu.Unlock()
						return
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("round %d: %v", round, err)
			}
			s := b.scheduler("tick")
			if s.Revision != lastRev || string(s.Template.Data) != lastData {
				t.Fatalf("round %d: record at revision %d with %q, want the last upsert %d with %q", round, s.Revision, s.Template.Data, lastRev, lastData)
			}
			b.wantPending("tick", minutes(1)[0], lastData)
			all, err := allSchedulers(b.ctx, b.store, b.q)
			if err != nil || len(all) != 1 {
				t.Fatalf("round %d: %d scheduler records, %v", round, len(all), err)
			}
		}
		if want := uint64(1 + wins); b.scheduler("tick").Revision != want {
			t.Errorf("final revision %d, want %d (one per successful upsert)", b.scheduler("tick").Revision, want)
		}
	})
}
