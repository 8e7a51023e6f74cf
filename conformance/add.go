package conformance

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func testAdd(t *testing.T, f Factory) {
	t.Run("add stores a single job as waiting with its fields", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.clock.Advance(1500 * time.Millisecond)
		added := b.add(backend.NewJob{
			Name:          "send-welcome",
			Data:          []byte(`{"to":"ada@example.com"}`),
			Attempts:      3,
			Backoff:       backend.Backoff{Type: backend.BackoffExponential, Delay: time.Second, Jitter: 0.5},
			Timeout:       time.Minute,
			KeepCompleted: backend.Retention{Count: 10},
			KeepFailed:    backend.Retention{Age: time.Hour},
		})
		a := added[0]
		if a.ID == "" || a.Duplicate || a.Queue != b.q {
			t.Fatalf("Added = %+v, want a fresh ID in queue %s", a, b.q)
		}
		j := b.wantState(b.q, a.ID, backend.StateWaiting)
		if j.Queue != b.q || j.Name != "send-welcome" || string(j.Data) != `{"to":"ada@example.com"}` {
			t.Errorf("job = queue %q name %q data %q", j.Queue, j.Name, j.Data)
		}
		if j.Attempts != 3 || j.AttemptsMade != 0 || j.StalledCount != 0 {
			t.Errorf("Attempts %d, AttemptsMade %d, StalledCount %d; want 3, 0, 0", j.Attempts, j.AttemptsMade, j.StalledCount)
		}
		if j.Backoff != (backend.Backoff{Type: backend.BackoffExponential, Delay: time.Second, Jitter: 0.5}) || j.Timeout != time.Minute {
			t.Errorf("Backoff %+v, Timeout %v not kept", j.Backoff, j.Timeout)
		}
		if j.KeepCompleted != (backend.Retention{Count: 10}) || j.KeepFailed != (backend.Retention{Age: time.Hour}) {
			t.Errorf("retention %+v / %+v not kept", j.KeepCompleted, j.KeepFailed)
		}
		if !j.CreatedAt.Equal(b.clock.Now()) {
			t.Errorf("CreatedAt = %v, want the store clock's %v", j.CreatedAt, b.clock.Now())
		}
		if j.Seq == 0 {
			t.Errorf("Seq = 0, want an insertion number")
		}
		if j.Lease != (backend.Lease{}) || j.Parent != nil || j.SchedulerID != "" {
			t.Errorf("new job has lease %+v, parent %v, scheduler %q", j.Lease, j.Parent, j.SchedulerID)
		}
		b.wantCounts(b.q, backend.Counts{Waiting: 1})
	})

	t.Run("bulk add returns IDs in input order", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		names := []string{"c", "a", "e", "b", "d"}
		var jobs []backend.NewJob
		for _, n := range names {
			jobs = append(jobs, backend.NewJob{Name: n, Data: []byte(n)})
		}
		added := b.add(jobs...)
		for i, a := range added {
			j := b.job(a.ID)
			if j.Name != names[i] || string(j.Data) != names[i] {
				t.Errorf("entry %d (ID %s) is job %q, want %q", i, a.ID, j.Name, names[i])
			}
		}
		b.wantCounts(b.q, backend.Counts{Waiting: len(names)})
	})

	t.Run("store-assigned IDs are increasing numbers per queue", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		var all []string
		all = append(all, b.addN(3, "first")...)
		all = append(all, b.addOne(backend.NewJob{Name: "single"}))
		all = append(all, b.addN(4, "second")...)
		var prev uint64
		var prevSeq uint64
		for i, id := range all {
			n, err := strconv.ParseUint(id, 10, 64)
			if err != nil {
				t.Fatalf("store-assigned ID %q is not a number", id)
			}
			if i > 0 && n <= prev {
				t.Errorf("ID %d came after %d: want increasing IDs, got %v", n, prev, all)
			}
			prev = n
			seq := b.job(id).Seq
			if i > 0 && seq <= prevSeq {
				t.Errorf("Seq %d of job %s came after %d", seq, id, prevSeq)
			}
			prevSeq = seq
		}
		// Another queue of the same store numbers its own jobs.
		other := b.addTo("other", backend.NewJob{Name: "x"})[0]
		if other.Queue != "other" {
			t.Errorf("Added.Queue = %q, want other", other.Queue)
		}
		b.jobIn("other", other.ID)
	})

	t.Run("a bulk with one bad job writes nothing and names its index", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{Name: "before"})
		before := b.snapshot(b.q)
		_, err := b.store.Add(b.ctx, b.q, &backend.AddRequest{Jobs: []backend.NewJob{
			{Name: "ok-0"}, {Name: "ok-1", ID: "chosen"}, {Name: "bad", Delay: -time.Second}, {Name: "ok-3"},
		}})
		var ve *backend.ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, backend.ErrInvalid) {
			t.Fatalf("Add = %v, want a *ValidationError matching ErrInvalid", err)
		}
		if ve.Index != 2 || ve.Field != "Delay" {
			t.Errorf("ValidationError Index %d Field %q, want 2 and Delay", ve.Index, ve.Field)
		}
		b.unchanged(b.q, before, "the rejected bulk")
		b.gone(b.q, "chosen")
	})

	t.Run("an add whose context has ended writes nothing and returns its error", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{Name: "before"})
		before, beforeOther := b.snapshot(b.q), b.snapshot("other")
		b.use("other")
		ctx, cancel := context.WithCancel(b.ctx)
		cancel()
		for _, jobs := range [][]backend.NewJob{
			{{Name: "plain"}},
			{{Name: "plain"}, {Name: "chosen", ID: "chosen"}, {Name: "later", Delay: time.Minute}},
			{{Name: "parent", Children: []backend.NewJob{{Name: "child"}, {Name: "elsewhere", Queue: "other"}}}},
		} {
			res, err := b.store.Add(ctx, b.q, &backend.AddRequest{Jobs: jobs})
			if !errors.Is(err, context.Canceled) || len(res.Jobs) != 0 {
				t.Fatalf("Add of %d jobs with a cancelled context = %+v, %v; want context.Canceled", len(jobs), res, err)
			}
		}
		b.unchanged(b.q, before, "adds with a cancelled context")
		b.unchanged("other", beforeOther, "adds with a cancelled context")
		b.gone(b.q, "chosen")
	})

	t.Run("a caller-chosen ID that exists is reported as duplicate and not overwritten", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		first := b.add(backend.NewJob{ID: "invoice-7", Name: "bill", Data: []byte("first"), Priority: 3})[0]
		if first.ID != "invoice-7" || first.Duplicate {
			t.Fatalf("first Add = %+v", first)
		}
		b.clock.Advance(time.Minute)
		again := b.add(
			backend.NewJob{Name: "fresh"},
			backend.NewJob{ID: "invoice-7", Name: "rebill", Data: []byte("second"), Delay: time.Hour},
		)
		if again[0].Duplicate || again[0].ID == "" {
			t.Errorf("fresh job in the same bulk = %+v, want added", again[0])
		}
		if !again[1].Duplicate || again[1].ID != "invoice-7" {
			t.Errorf("repeated ID = %+v, want Duplicate with ID invoice-7", again[1])
		}
		j := b.wantState(b.q, "invoice-7", backend.StateWaiting)
		if j.Name != "bill" || string(j.Data) != "first" || j.Priority != 3 || !j.CreatedAt.Equal(epoch) {
			t.Errorf("existing job was overwritten: name %q data %q priority %d created %v", j.Name, j.Data, j.Priority, j.CreatedAt)
		}
		b.wantCounts(b.q, backend.Counts{Waiting: 2})
		evs := b.events(b.q, 0)
		if e := evs[len(evs)-1]; e.Type != backend.EventDuplicated || e.JobID != "invoice-7" || e.Name != "bill" {
			t.Errorf("last event %+v, want the duplicated event of invoice-7 named after the job that exists, bill", e)
		}
	})

	t.Run("a job added without Attempts has one attempt", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		a := b.add(backend.NewJob{Name: "once"}, backend.NewJob{Name: "flow", Children: []backend.NewJob{{Name: "child"}}})
		for _, id := range []string{a[0].ID, a[1].ID, a[1].Children[0].ID} {
			if j := b.job(id); j.Attempts != 1 {
				t.Errorf("job %s has Attempts %d, want 1", id, j.Attempts)
			}
		}
	})

	t.Run("a duplicate of a finished job is still a duplicate", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{ID: "once", Name: "n", Data: []byte("v1")})
		b.complete(b.leaseOne(), "done")
		a := b.add(backend.NewJob{ID: "once", Name: "n", Data: []byte("v2")})[0]
		if !a.Duplicate {
			t.Errorf("Added = %+v, want Duplicate", a)
		}
		j := b.wantState(b.q, "once", backend.StateCompleted)
		if !bytes.Equal(j.Data, []byte("v1")) {
			t.Errorf("Data = %q, want v1", j.Data)
		}
		b.wantCounts(b.q, backend.Counts{Completed: 1})
	})

	t.Run("a delayed job is delayed until its run time", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "later", Delay: 90 * time.Second})
		j := b.wantState(b.q, id, backend.StateDelayed)
		if want := epoch.Add(90 * time.Second); !j.RunAt.Equal(want) {
			t.Errorf("RunAt = %v, want %v", j.RunAt, want)
		}
		b.wantCounts(b.q, backend.Counts{Delayed: 1})
		if got := b.lease(1); len(got) != 0 {
			t.Errorf("Lease took %v before its run time", ids(got))
		}
	})

	t.Run("priority is kept and orders leases", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		added := b.add(
			backend.NewJob{Name: "p2", Priority: 2},
			backend.NewJob{Name: "p0"},
			backend.NewJob{Name: "p1", Priority: 1},
		)
		if p := b.job(added[0].ID).Priority; p != 2 {
			t.Errorf("Priority = %d, want 2", p)
		}
		got := ids(b.lease(3))
		want := []string{added[1].ID, added[2].ID, added[0].ID}
		if !slices.Equal(got, want) {
			t.Errorf("leased %v, want %v (priority order)", got, want)
		}
	})
}
