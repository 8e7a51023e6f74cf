package conformance

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func testSettle(t *testing.T, f Factory) {
	t.Run("complete stores the result and ends the attempt", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "n", Attempts: 3})
		j := b.leaseOne()
		b.clock.Advance(3 * time.Second)
		b.complete(j, `{"sent":true}`)
		got := b.wantState(b.q, id, backend.StateCompleted)
		if string(got.Result) != `{"sent":true}` || !got.FinishedAt.Equal(b.clock.Now()) || got.AttemptsMade != 1 {
			t.Errorf("completed job: result %q finished %v attempts %d; want the result, %v, 1", got.Result, got.FinishedAt, got.AttemptsMade, b.clock.Now())
		}
		if got.Lease != (backend.Lease{}) {
			t.Errorf("completed job still holds %+v", got.Lease)
		}
		b.wantCounts(b.q, backend.Counts{Completed: 1})
	})

	t.Run("fail stores the reason and stack and ends the job", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "n", Attempts: 5})
		j := b.leaseOne()
		b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeFail, Reason: "smtp: 550", Stacktrace: []string{"main.send", "main.run"}})
		got := b.wantState(b.q, id, backend.StateFailed)
		if got.FailedReason != "smtp: 550" || !slices.Equal(got.Stacktrace, []string{"main.send", "main.run"}) || got.AttemptsMade != 1 || !got.FinishedAt.Equal(b.clock.Now()) {
			t.Errorf("failed job: reason %q stack %q attempts %d finished %v", got.FailedReason, got.Stacktrace, got.AttemptsMade, got.FinishedAt)
		}
		b.wantCounts(b.q, backend.Counts{Failed: 1})
	})

	t.Run("retry without delay makes the job waiting again and counts the attempt", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "n", Attempts: 3})
		j := b.leaseOne()
		b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeRetry, Reason: "timeout"})
		got := b.wantState(b.q, id, backend.StateWaiting)
		if got.AttemptsMade != 1 {
			t.Errorf("retried job: attempts %d, want 1", got.AttemptsMade)
		}
		again := b.leaseOne()
		if again.ID != id || again.Lease.Token == j.Lease.Token {
			t.Fatalf("second lease = %s with token %q, want %s with a new token", again.ID, again.Lease.Token, id)
		}
		b.complete(again, "ok")
		if got := b.job(id); got.AttemptsMade != 2 {
			t.Errorf("AttemptsMade = %d after retry and complete, want 2", got.AttemptsMade)
		}
	})

	t.Run("retry with a delay makes the job delayed until then", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "n", Attempts: 3})
		j := b.leaseOne()
		b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeRetry, Reason: "busy", RetryDelay: 10 * time.Second})
		got := b.wantState(b.q, id, backend.StateDelayed)
		if want := b.clock.Now().Add(10 * time.Second); !got.RunAt.Equal(want) || got.AttemptsMade != 1 {
			t.Errorf("retried job: RunAt %v attempts %d; want %v and 1", got.RunAt, got.AttemptsMade, want)
		}
		b.clock.Advance(9 * time.Second)
		if jobs := b.lease(1); len(jobs) != 0 {
			t.Fatalf("leased %v before the retry delay ended", ids(jobs))
		}
		b.clock.Advance(time.Second)
		if again := b.leaseOne(); again.ID != id {
			t.Fatalf("leased %s, want %s", again.ID, id)
		}
	})

	t.Run("release puts the job back in its old place without counting the attempt", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		all := b.addN(3, "job")
		j := b.leaseOne()
		if j.ID != all[0] {
			t.Fatalf("leased %s, want %s", j.ID, all[0])
		}
		b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeRelease})
		got := b.wantState(b.q, j.ID, backend.StateWaiting)
		if got.AttemptsMade != 0 || got.Lease != (backend.Lease{}) {
			t.Errorf("released job: attempts %d lease %+v; want 0 and none", got.AttemptsMade, got.Lease)
		}
		if w := ids(b.list(backend.StateWaiting)); !slices.Equal(w, all) {
			t.Errorf("waiting order %v, want %v", w, all)
		}
		if again := b.leaseOne(); again.ID != all[0] {
			t.Errorf("next lease took %s, want the released %s", again.ID, all[0])
		}
	})

	t.Run("a stale lease fails only its own item of a settle request", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addN(3, "job")
		jobs := b.lease(3)
		stale := backend.Lease{JobID: jobs[1].ID, Token: jobs[1].Lease.Token + "-stale"}
		errs := b.settle(b.q,
			backend.Settlement{Lease: jobs[0].Lease, Outcome: backend.OutcomeComplete, Result: []byte("a")},
			backend.Settlement{Lease: stale, Outcome: backend.OutcomeComplete, Result: []byte("b")},
			backend.Settlement{Lease: jobs[2].Lease, Outcome: backend.OutcomeFail, Reason: "c"},
		)
		if errs[0] != nil || !errors.Is(errs[1], backend.ErrLeaseLost) || errs[2] != nil {
			t.Fatalf("Settle errors = %v, want [nil ErrLeaseLost nil]", errs)
		}
		b.wantState(b.q, jobs[0].ID, backend.StateCompleted)
		if got := b.wantState(b.q, jobs[1].ID, backend.StateActive); got.Lease != jobs[1].Lease || got.Result != nil {
			t.Errorf("stale settle changed the job: lease %+v result %q", got.Lease, got.Result)
		}
		b.wantState(b.q, jobs[2].ID, backend.StateFailed)
		b.wantCounts(b.q, backend.Counts{Active: 1, Completed: 1, Failed: 1})
	})

	t.Run("a second settle of the same attempt reports ErrLeaseLost and changes nothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "n", Attempts: 3})
		j := b.leaseOne()
		b.complete(j, "first")
		before := b.snapshot(b.q)
		for _, o := range []backend.Outcome{backend.OutcomeComplete, backend.OutcomeFail, backend.OutcomeRetry, backend.OutcomeRelease} {
			err := b.settleErr(b.q, backend.Settlement{Lease: j.Lease, Outcome: o, Result: []byte("second"), Reason: "again"})
			if !errors.Is(err, backend.ErrLeaseLost) {
				t.Errorf("second settle (%s) = %v, want ErrLeaseLost", o, err)
			}
		}
		b.unchanged(b.q, before, "settling twice")
		if got := b.wantState(b.q, id, backend.StateCompleted); string(got.Result) != "first" || got.AttemptsMade != 1 {
			t.Errorf("job after second settle: result %q attempts %d", got.Result, got.AttemptsMade)
		}
	})

	t.Run("settling with another job's token is lost", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addN(2, "job")
		jobs := b.lease(2)
		crossed := backend.Lease{JobID: jobs[0].ID, Token: jobs[1].Lease.Token}
		if err := b.settleErr(b.q, backend.Settlement{Lease: crossed, Outcome: backend.OutcomeComplete}); !errors.Is(err, backend.ErrLeaseLost) {
			t.Fatalf("Settle with another job's token = %v, want ErrLeaseLost", err)
		}
		b.wantCounts(b.q, backend.Counts{Active: 2})
	})
}
