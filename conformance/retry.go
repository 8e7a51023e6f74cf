package conformance

import (
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func testRetry(t *testing.T, f Factory) {
	t.Run("each retry counts one attempt until the job completes", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "flaky", Attempts: 4, Backoff: backend.Backoff{Type: backend.BackoffFixed, Delay: time.Second}})
		for attempt := 1; attempt <= 3; attempt++ {
			j := b.leaseOne()
			if j.ID != id || j.AttemptsMade != attempt-1 {
				t.Fatalf("attempt %d: leased %s with AttemptsMade %d", attempt, j.ID, j.AttemptsMade)
			}
			b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeRetry, Reason: "flaky", RetryDelay: time.Second})
			if got := b.wantState(b.q, id, backend.StateDelayed); got.AttemptsMade != attempt {
				t.Fatalf("after attempt %d: AttemptsMade %d", attempt, got.AttemptsMade)
			}
			b.clock.Advance(time.Second)
		}
		b.complete(b.leaseOne(), "finally")
		got := b.wantState(b.q, id, backend.StateCompleted)
		if got.AttemptsMade != 4 || got.Backoff != (backend.Backoff{Type: backend.BackoffFixed, Delay: time.Second}) {
			t.Errorf("AttemptsMade %d backoff %+v; want 4 and the job's backoff", got.AttemptsMade, got.Backoff)
		}
	})

	t.Run("a retry delay grows as the worker asks", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "exp", Attempts: 5, Backoff: backend.Backoff{Type: backend.BackoffExponential, Delay: time.Second}})
		for _, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
			j := b.leaseOne()
			b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeRetry, Reason: "x", RetryDelay: d})
			got := b.wantState(b.q, id, backend.StateDelayed)
			if want := b.clock.Now().Add(d); !got.RunAt.Equal(want) {
				t.Fatalf("RunAt = %v, want %v", got.RunAt, want)
			}
			b.clock.Advance(d)
		}
	})

	t.Run("a retried job that fails for good keeps its attempt count", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "doomed", Attempts: 2})
		j := b.leaseOne()
		b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeRetry, Reason: "first"})
		b.fail(b.leaseOne(), "second")
		got := b.wantState(b.q, id, backend.StateFailed)
		if got.AttemptsMade != 2 || got.FailedReason != "second" {
			t.Errorf("AttemptsMade %d reason %q; want 2 and second", got.AttemptsMade, got.FailedReason)
		}
	})
}
