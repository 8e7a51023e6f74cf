package conformance

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func testQuery(t *testing.T, f Factory) {
	t.Run("job by ID returns ErrNotFound for an unknown ID", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{Name: "n"})
		for _, id := range []string{"nope", "999999", ""} {
			if _, err := b.store.Job(b.ctx, b.q, id); !errors.Is(err, backend.ErrNotFound) {
				t.Errorf("Job(%q) = %v, want ErrNotFound", id, err)
			}
		}
		if _, err := b.store.Job(b.ctx, "elsewhere", "1"); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Job in an unknown queue = %v, want ErrNotFound", err)
		}
	})

	t.Run("jobs by state pages in lease order", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		var all []string
		for i := range 5 {
			all = append(all, b.addN(50, fmt.Sprint("batch", i))...)
		}
		var got []string
		for off := 0; ; off += 100 {
			res, err := b.store.Jobs(b.ctx, b.q, &backend.JobsRequest{State: backend.StateWaiting, Offset: off, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if want := min(100, max(0, len(all)-off)); len(res.Jobs) != want {
				t.Fatalf("page at %d has %d jobs, want %d", off, len(res.Jobs), want)
			}
			got = append(got, ids(res.Jobs)...)
			if len(res.Jobs) == 0 {
				break
			}
		}
		if !slices.Equal(got, all) {
			t.Errorf("pages hold %d jobs not in insertion order", len(got))
		}
		res, err := b.store.Jobs(b.ctx, b.q, &backend.JobsRequest{State: backend.StateWaiting})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Jobs) != 100 {
			t.Errorf("Limit 0 gave %d jobs, want 100", len(res.Jobs))
		}
		res, err = b.store.Jobs(b.ctx, b.q, &backend.JobsRequest{State: backend.StateWaiting, Offset: 248, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(res.Jobs), all[248:]) {
			t.Errorf("last page = %v, want %v", ids(res.Jobs), all[248:])
		}
	})

	t.Run("finished jobs are listed most recently finished first", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		all := b.addN(4, "job")
		jobs := b.lease(4)
		for _, i := range []int{2, 0, 3, 1} {
			b.clock.Advance(time.Second)
			b.complete(jobs[i], "")
		}
		want := []string{all[1], all[3], all[0], all[2]}
		if got := ids(b.list(backend.StateCompleted)); !slices.Equal(got, want) {
			t.Errorf("completed list %v, want %v", got, want)
		}
	})

	t.Run("active jobs are listed by insertion order", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		all := b.addN(3, "job")
		b.lease(3)
		if got := ids(b.list(backend.StateActive)); !slices.Equal(got, all) {
			t.Errorf("active list %v, want %v", got, all)
		}
	})

	t.Run("counts cover every state", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addN(2, "done")
		b.addN(1, "bad")
		b.addN(1, "busy")
		jobs := b.lease(4)
		b.complete(jobs[0], "")
		b.complete(jobs[1], "")
		b.fail(jobs[2], "no")
		b.addN(3, "waiting")
		b.addOne(backend.NewJob{Name: "later", Delay: time.Minute})
		b.add(backend.NewJob{Name: "parent", Children: []backend.NewJob{{Name: "kid", Delay: time.Hour}}})
		b.wantCounts(b.q, backend.Counts{Waiting: 3, Delayed: 2, Active: 1, WaitingChildren: 1, Completed: 2, Failed: 1})
		if c := b.countsOf("empty-queue"); c != (backend.Counts{}) {
			t.Errorf("Counts of an unknown queue = %+v, want zero", c)
		}
	})
}
