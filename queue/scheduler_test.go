package queue

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func TestUpsertJobSchedulerCreatesOnePendingIteration(t *testing.T) {
	e := newSchedEnv(t, nil)
	js, err := e.q.UpsertJobScheduler(e.ctx, "tick", Repeat{Every: time.Minute}, JobTemplate{Name: "tick", Data: []byte(`1`)})
	if err != nil {
		t.Fatal(err)
	}
	if want := envStart.Add(time.Minute); !js.Next.Equal(want) {
		t.Errorf("Next = %v, want %v", js.Next, want)
	}
	if len(js.Upcoming) != planAhead {
		t.Errorf("%d upcoming times, want %d", len(js.Upcoming), planAhead)
	}
	p := e.pending("tick")
	if len(p) != 1 {
		t.Fatalf("%d pending iterations, want 1", len(p))
	}
	if p[0].ID != backend.IterationID("tick", js.Next) || string(p[0].Data) != "1" || p[0].Name != "tick" {
		t.Errorf("pending iteration %s %q %q", p[0].ID, p[0].Name, p[0].Data)
	}
	got, err := e.q.JobScheduler(e.ctx, "tick")
	if err != nil {
		t.Fatal(err)
	}
	if got.Repeat.Every != time.Minute || got.Template.Name != "tick" || !got.Next.Equal(js.Next) {
		t.Errorf("read back %+v", got)
	}
	list, err := e.q.JobSchedulers(e.ctx, Page{})
	if err != nil || len(list) != 1 || list[0].ID != "tick" {
		t.Errorf("JobSchedulers = %v, %v", list, err)
	}
}

func TestUpsertWithSameRepeatKeepsCadenceAndReplacesData(t *testing.T) {
	e := newSchedEnv(t, nil)
	first, err := e.q.UpsertJobScheduler(e.ctx, "s", Repeat{Every: 10 * time.Minute}, JobTemplate{Name: "n", Data: []byte(`"a"`)})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(7 * time.Minute)
	second, err := e.q.UpsertJobScheduler(e.ctx, "s", Repeat{Every: 10 * time.Minute}, JobTemplate{Name: "n", Data: []byte(`"b"`)})
	if err != nil {
		t.Fatal(err)
	}
	if !second.Next.Equal(first.Next) {
		t.Errorf("Next moved from %v to %v", first.Next, second.Next)
	}
	p := e.pending("s")
	if len(p) != 1 || string(p[0].Data) != `"b"` {
		t.Fatalf("pending = %d jobs, want 1 with the new data", len(p))
	}

	// A cron pattern keeps its next fire time too.
	c1, err := e.q.UpsertJobScheduler(e.ctx, "c", Repeat{Pattern: "0 0 * * *"}, JobTemplate{Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	c2, err := e.q.UpsertJobScheduler(e.ctx, "c", Repeat{Pattern: "0 0 * * *"}, JobTemplate{Name: "n", Data: []byte(`2`)})
	if err != nil {
		t.Fatal(err)
	}
	if !c1.Next.Equal(c2.Next) {
		t.Errorf("cron Next moved from %v to %v", c1.Next, c2.Next)
	}
}

func TestUpsertWithChangedRepeatReplans(t *testing.T) {
	e := newSchedEnv(t, nil)
	if _, err := e.q.UpsertJobScheduler(e.ctx, "s", Repeat{Every: time.Hour}, JobTemplate{Name: "n"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	js, err := e.q.UpsertJobScheduler(e.ctx, "s", Repeat{Every: 5 * time.Minute}, JobTemplate{Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	if want := envStart.Add(6 * time.Minute); !js.Next.Equal(want) {
		t.Errorf("Next = %v, want %v", js.Next, want)
	}
	js, err = e.q.UpsertJobScheduler(e.ctx, "s", Repeat{Every: 5 * time.Minute, Immediately: true, StartDate: envStart.Add(time.Hour)}, JobTemplate{Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	if want := envStart.Add(time.Hour); !js.Next.Equal(want) {
		t.Errorf("Next with StartDate = %v, want %v", js.Next, want)
	}
	if p := e.pending("s"); len(p) != 1 || !p[0].RunAt.Equal(js.Next) {
		t.Errorf("pending = %v", p)
	}
}

// runIteration moves the clock to the pending iteration, leases it and
// returns it; the store has then created the next one.
func (e *schedEnv) runIteration(id string) *backend.Job {
	e.t.Helper()
	js, err := e.q.JobScheduler(e.ctx, id)
	if err != nil {
		e.t.Fatalf("scheduler %s: %v", id, err)
	}
	e.clock.Set(js.Next)
	j := e.lease()
	if j == nil {
		e.t.Fatalf("no iteration of %s ready at %v", id, js.Next)
	}
	if j.SchedulerID != id || j.ID != backend.IterationID(id, js.Next) {
		e.t.Fatalf("leased %s (scheduler %q), want the iteration at %v", j.ID, j.SchedulerID, js.Next)
	}
	if err := e.q.replanScheduler(e.ctx, id); err != nil {
		e.t.Fatalf("replan: %v", err)
	}
	return j
}

func TestIterationsFollowCadenceAndHandlerUpsertChangesNextData(t *testing.T) {
	e := newSchedEnv(t, nil)
	repeat := Repeat{Every: 10 * time.Second}
	if _, err := e.q.UpsertJobScheduler(e.ctx, "etag", repeat, JobTemplate{Name: "check", Data: []byte(`"v0"`)}); err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= 3*planAhead; k++ {
		j := e.runIteration("etag")
		if want := envStart.Add(time.Duration(k) * 10 * time.Second); !j.RunAt.Equal(want) {
			t.Fatalf("iteration %d runs at %v, want %v", k, j.RunAt, want)
		}
		if want := fmt.Sprintf(`"v%d"`, k-1); string(j.Data) != want {
			t.Fatalf("iteration %d has data %s, want %s", k, j.Data, want)
		}
		// The handler hands the next ETag to the next run, a little later
		// than its own run time.
		e.clock.Advance(3 * time.Second)
		qj := newJob(e.q, j)
		if _, err := e.q.UpsertJobScheduler(e.ctx, qj.SchedulerID(), repeat, JobTemplate{Name: "check", Data: fmt.Appendf(nil, `"v%d"`, k)}); err != nil {
			t.Fatal(err)
		}
		e.settle(j, backend.Settlement{Outcome: backend.OutcomeComplete})
		p := e.pending("etag")
		if len(p) != 1 {
			t.Fatalf("after iteration %d: %d pending iterations", k, len(p))
		}
		if want := envStart.Add(time.Duration(k+1) * 10 * time.Second); !p[0].RunAt.Equal(want) {
			t.Fatalf("after iteration %d: next at %v, want %v", k, p[0].RunAt, want)
		}
	}
}

func TestLimitAndEndDateFinishTheScheduler(t *testing.T) {
	e := newSchedEnv(t, nil)
	if _, err := e.q.UpsertJobScheduler(e.ctx, "lim", Repeat{Every: time.Minute, Limit: 3}, JobTemplate{Name: "n"}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		j := e.runIteration("lim")
		e.settle(j, backend.Settlement{Outcome: backend.OutcomeComplete})
		if _, err := e.q.JobScheduler(e.ctx, "lim"); errors.Is(err, ErrNotFound) {
			break
		}
	}
	if p := e.pending("lim"); len(p) != 0 {
		t.Errorf("%d pending iterations after the limit", len(p))
	}
	if _, err := e.q.JobScheduler(e.ctx, "lim"); !errors.Is(err, ErrNotFound) {
		t.Errorf("scheduler after its limit: %v, want ErrNotFound", err)
	}
	c, _ := e.q.Counts(e.ctx)
	if c.Completed != 3 {
		t.Errorf("%d iterations completed, want 3", c.Completed)
	}

	end := e.clock.Now().Add(2*time.Minute + 30*time.Second)
	if _, err := e.q.UpsertJobScheduler(e.ctx, "end", Repeat{Every: time.Minute, EndDate: end}, JobTemplate{Name: "n"}); err != nil {
		t.Fatal(err)
	}
	runs := 0
	for {
		js, err := e.q.JobScheduler(e.ctx, "end")
		if errors.Is(err, ErrNotFound) || (err == nil && js.Next.IsZero()) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		j := e.runIteration("end")
		if j.RunAt.After(end) {
			t.Fatalf("iteration at %v after end date %v", j.RunAt, end)
		}
		e.settle(j, backend.Settlement{Outcome: backend.OutcomeComplete})
		runs++
		if runs > 10 {
			t.Fatal("scheduler did not end")
		}
	}
	if runs != 2 {
		t.Errorf("%d runs before the end date, want 2", runs)
	}
}

func TestReplanTopsUpPlan(t *testing.T) {
	e := newSchedEnv(t, nil)
	if _, err := e.q.UpsertJobScheduler(e.ctx, "s", Repeat{Pattern: "*/5 * * * * *"}, JobTemplate{Name: "n"}); err != nil {
		t.Fatal(err)
	}
	var last time.Time
	for range planAhead + 5 {
		// Lease without replanning, so the plan runs low.
		js, _ := e.q.JobScheduler(e.ctx, "s")
		e.clock.Set(js.Next)
		j := e.lease()
		if j == nil {
			t.Fatal("no iteration ready")
		}
		if !last.IsZero() && j.RunAt.Sub(last) != 5*time.Second {
			t.Fatalf("iteration at %v after %v", j.RunAt, last)
		}
		last = j.RunAt
		e.settle(j, backend.Settlement{Outcome: backend.OutcomeComplete})
		js, _ = e.q.JobScheduler(e.ctx, "s")
		if len(js.Upcoming) < planLowWater {
			if err := e.q.replanScheduler(e.ctx, "s"); err != nil {
				t.Fatal(err)
			}
			js, _ = e.q.JobScheduler(e.ctx, "s")
			if len(js.Upcoming) != planAhead {
				t.Fatalf("after replan %d upcoming, want %d", len(js.Upcoming), planAhead)
			}
		}
		if p := e.pending("s"); len(p) != 1 {
			t.Fatalf("%d pending iterations", len(p))
		}
	}
}

func TestRemoveJobScheduler(t *testing.T) {
	e := newSchedEnv(t, nil)
	if _, err := e.q.UpsertJobScheduler(e.ctx, "s", Repeat{Every: time.Minute}, JobTemplate{Name: "n"}); err != nil {
		t.Fatal(err)
	}
	if err := e.q.RemoveJobScheduler(e.ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if p := e.pending("s"); len(p) != 0 {
		t.Errorf("%d pending iterations after remove", len(p))
	}
	if err := e.q.RemoveJobScheduler(e.ctx, "s"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second remove: %v, want ErrNotFound", err)
	}
	// Re-creating after a remove plans afresh.
	js, err := e.q.UpsertJobScheduler(e.ctx, "s", Repeat{Every: time.Minute, Immediately: true}, JobTemplate{Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	if !js.Next.Equal(envStart) {
		t.Errorf("Next = %v, want now", js.Next)
	}
}

func TestUpsertJobSchedulerRejectsBadInput(t *testing.T) {
	e := newSchedEnv(t, nil)
	ok := JobTemplate{Name: "n"}
	cases := []struct {
		name   string
		id     string
		repeat Repeat
		tmpl   JobTemplate
		field  string
	}{
		{"invalid pattern", "s", Repeat{Pattern: "* * *"}, ok, "Repeat.Pattern"},
		{"a pattern that never fires", "s", Repeat{Pattern: "0 0 30 2 *"}, ok, "Repeat.Pattern"},
		{"@every 1ns", "s", Repeat{Pattern: "@every 1ns"}, ok, "Repeat.Pattern"},
		{"end date passed", "s", Repeat{Every: time.Second, EndDate: envStart.Add(-time.Hour)}, ok, "Repeat.EndDate"},
		{"control character in the id", "a\x01", Repeat{Every: time.Second}, ok, "ID"},
		{"both", "s", Repeat{Every: time.Second, Pattern: "* * * * *"}, ok, ""},
		{"neither", "s", Repeat{}, ok, ""},
		{"zero every with tz", "s", Repeat{TZ: "UTC"}, ok, ""},
		{"negative every", "s", Repeat{Every: -time.Second}, ok, ""},
		{"end before start", "s", Repeat{Every: time.Second, StartDate: envStart.Add(time.Hour), EndDate: envStart}, ok, ""},
		{"unknown tz", "s", Repeat{Pattern: "0 * * * *", TZ: "Nowhere/Atlantis"}, ok, ""},
		{"empty name", "s", Repeat{Every: time.Second}, JobTemplate{}, ""},
		{"bad options", "s", Repeat{Every: time.Second}, JobTemplate{Name: "n", Options: &AddOptions{Attempts: -1}}, ""},
		{"empty id", "", Repeat{Every: time.Second}, ok, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.q.UpsertJobScheduler(e.ctx, c.id, c.repeat, c.tmpl)
			var ve *ValidationError
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &ve) {
				t.Fatalf("got %v, want a *ValidationError", err)
			}
			if c.field != "" && ve.Field != c.field {
				t.Errorf("the error names field %s, want %s: %v", ve.Field, c.field, err)
			}
		})
	}
	list, err := e.q.JobSchedulers(e.ctx, Page{})
	if err != nil || len(list) != 0 {
		t.Errorf("schedulers after bad input: %v, %v", list, err)
	}
	c, err := e.q.Counts(e.ctx)
	if err != nil || c.Total() != 0 {
		t.Errorf("jobs after bad input: %+v, %v", c, err)
	}
}

// Many goroutines upserting one scheduler at once leave one record and one
// pending iteration, carrying the data of one of them.
func TestConcurrentUpsertsOfOneScheduler(t *testing.T) {
	e := newSchedEnv(t, nil)
	const workers = 50
	rounds := 100
	if testing.Short() {
		rounds = 10
	}
	for r := range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		repeat := Repeat{Every: time.Duration(1+r%3) * time.Minute}
		for w := range workers {
			wg.Go(func() {
				_, err := e.q.UpsertJobScheduler(e.ctx, "hot", repeat, JobTemplate{Name: "n", Data: fmt.Appendf(nil, `[%d,%d]`, r, w)})
				if err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", r, err)
		}
		list, err := e.q.JobSchedulers(e.ctx, Page{})
		if err != nil || len(list) != 1 {
			t.Fatalf("round %d: %d schedulers, %v", r, len(list), err)
		}
		p := e.pending("hot")
		if len(p) != 1 {
			t.Fatalf("round %d: %d pending iterations", r, len(p))
		}
		if string(p[0].Data) != string(list[0].Template.Data) || p[0].RunAt.IsZero() || !p[0].RunAt.Equal(list[0].Next) {
			t.Fatalf("round %d: pending %s at %v, record %s at %v", r, p[0].Data, p[0].RunAt, list[0].Template.Data, list[0].Next)
		}
		e.clock.Advance(time.Second)
	}
}

// Replacing the pending iteration with new data does not use up the limit.
func TestUpsertsDoNotUseUpTheLimit(t *testing.T) {
	e := newSchedEnv(t, nil)
	repeat := Repeat{Every: time.Minute, Limit: 3}
	for i := range 4 {
		if _, err := e.q.UpsertJobScheduler(e.ctx, "lim", repeat, JobTemplate{Name: "n", Data: fmt.Appendf(nil, "%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	runs := 0
	for ; runs < 5; runs++ {
		if _, err := e.q.JobScheduler(e.ctx, "lim"); errors.Is(err, ErrNotFound) {
			break
		}
		j := e.runIteration("lim")
		e.settle(j, backend.Settlement{Outcome: backend.OutcomeComplete})
	}
	if runs != 3 {
		t.Errorf("%d runs, want 3", runs)
	}
}
