package conformance

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func testInvalid(t *testing.T, f Factory) {
	badJobs := []struct {
		name  string
		job   backend.NewJob
		field string
		err   error
	}{
		{"an empty name", backend.NewJob{}, "Name", nil},
		{"a negative delay", backend.NewJob{Name: "n", Delay: -time.Millisecond}, "Delay", nil},
		{"an absurd delay", backend.NewJob{Name: "n", Delay: backend.MaxDelay + time.Hour}, "Delay", nil},
		{"attempts below zero", backend.NewJob{Name: "n", Attempts: -1}, "Attempts", nil},
		{"a negative priority", backend.NewJob{Name: "n", Priority: -1}, "Priority", nil},
		{"a priority over the maximum", backend.NewJob{Name: "n", Priority: backend.MaxPriority + 1}, "Priority", nil},
		{"data over the payload limit", backend.NewJob{Name: "n", Data: []byte(strings.Repeat("x", 1025))}, "Data", backend.ErrTooLarge},
		{"an all-digit caller-chosen ID", backend.NewJob{Name: "n", ID: "42"}, "ID", nil},
		{"an unknown failure policy", backend.NewJob{Name: "n", FailurePolicy: "shrug"}, "FailurePolicy", nil},
		{"a negative retention", backend.NewJob{Name: "n", KeepCompleted: backend.Retention{Count: -1}}, "KeepCompleted", nil},
		{"a bad child", backend.NewJob{Name: "n", Children: []backend.NewJob{{Name: "ok"}, {Name: ""}}}, "Name", nil},
	}
	for _, c := range badJobs {
		t.Run("add with "+c.name+" is rejected and writes nothing", func(t *testing.T) {
			t.Parallel()
			b := setupWith(t, f, Options{MaxPayload: 1024})
			b.addOne(backend.NewJob{Name: "existing"})
			before := b.snapshot(b.q)
			_, err := b.store.Add(b.ctx, b.q, &backend.AddRequest{Jobs: []backend.NewJob{{Name: "fine"}, c.job}})
			var ve *backend.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, backend.ErrInvalid) {
				t.Fatalf("Add = %v, want a *ValidationError", err)
			}
			if ve.Index != 1 || ve.Field != c.field {
				t.Errorf("ValidationError Index %d Field %q, want 1 and %q", ve.Index, ve.Field, c.field)
			}
			if c.err != nil && !errors.Is(err, c.err) {
				t.Errorf("Add = %v, want it to match %v", err, c.err)
			}
			b.unchanged(b.q, before, "the rejected Add")
		})
	}

	t.Run("add with a bad queue name or no job is rejected", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		for _, q := range []string{"", "a{b}", "has space", strings.Repeat("q", backend.MaxNameLen+1)} {
			if _, err := b.store.Add(b.ctx, q, &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n"}}}); !errors.Is(err, backend.ErrInvalid) {
				t.Errorf("Add to queue %q = %v, want ErrInvalid", q, err)
			}
		}
		if _, err := b.store.Add(b.ctx, b.q, &backend.AddRequest{}); !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("Add of no job = %v, want ErrInvalid", err)
		}
		b.wantCounts(b.q, backend.Counts{})
	})

	t.Run("a result over the payload limit is rejected and the job stays active", func(t *testing.T) {
		t.Parallel()
		b := setupWith(t, f, Options{MaxPayload: 1024})
		b.addOne(backend.NewJob{Name: "n"})
		j := b.leaseOne()
		before := b.snapshot(b.q)
		err := b.settleErr(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeComplete, Result: []byte(strings.Repeat("r", 1025))})
		if !errors.Is(err, backend.ErrTooLarge) {
			t.Fatalf("Settle = %v, want ErrTooLarge", err)
		}
		b.unchanged(b.q, before, "the rejected Settle")
		b.complete(j, "small")
	})

	t.Run("lease with Max or TTL out of range is rejected", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{Name: "n"})
		before := b.snapshot(b.q)
		for _, req := range []backend.LeaseRequest{{Max: 0, TTL: time.Second}, {Max: -1, TTL: time.Second}, {Max: 1, TTL: 0}, {Max: 1, TTL: -time.Second}} {
			if _, err := b.store.Lease(b.ctx, b.q, &req); !errors.Is(err, backend.ErrInvalid) {
				t.Errorf("Lease(%+v) = %v, want ErrInvalid", req, err)
			}
		}
		b.unchanged(b.q, before, "the rejected Leases")
	})

	t.Run("unknown IDs are ErrNotFound and change nothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{Name: "n"})
		before := b.snapshot(b.q)
		if _, err := b.store.Job(b.ctx, b.q, "ghost"); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Job = %v, want ErrNotFound", err)
		}
		if err := b.store.RemoveJob(b.ctx, b.q, "ghost"); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("RemoveJob = %v, want ErrNotFound", err)
		}
		if err := b.store.RemoveScheduler(b.ctx, b.q, "ghost"); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("RemoveScheduler = %v, want ErrNotFound", err)
		}
		if _, err := b.store.Scheduler(b.ctx, b.q, "ghost"); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Scheduler = %v, want ErrNotFound", err)
		}
		b.unchanged(b.q, before, "calls with unknown IDs")
	})

	t.Run("settle with a stale lease is ErrLeaseLost and changes nothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{Name: "n"})
		j := b.leaseOne()
		before := b.snapshot(b.q)
		stale := backend.Lease{JobID: j.ID, Token: "not-a-token"}
		if err := b.settleErr(b.q, backend.Settlement{Lease: stale, Outcome: backend.OutcomeFail, Reason: "x"}); !errors.Is(err, backend.ErrLeaseLost) {
			t.Errorf("Settle = %v, want ErrLeaseLost", err)
		}
		if err := b.settleErr(b.q, backend.Settlement{Lease: backend.Lease{JobID: "ghost", Token: j.Lease.Token}, Outcome: backend.OutcomeComplete}); !errors.Is(err, backend.ErrLeaseLost) && !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Settle of an unknown job = %v, want ErrLeaseLost or ErrNotFound", err)
		}
		b.unchanged(b.q, before, "the stale Settle")
	})

	t.Run("calls after Close fail with ErrClosed and a second Close is harmless", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "n"})
		j := b.leaseOne()
		b.markClosed()
		if err := b.store.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		ctx := b.ctx
		checks := map[string]error{}
		_, checks["Add"] = b.store.Add(ctx, b.q, &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n"}}})
		_, checks["Lease"] = b.store.Lease(ctx, b.q, &backend.LeaseRequest{Max: 1, TTL: time.Second})
		_, checks["Renew"] = b.store.Renew(ctx, b.q, &backend.RenewRequest{Leases: []backend.Lease{j.Lease}, TTL: time.Second})
		_, checks["Settle"] = b.store.Settle(ctx, b.q, &backend.SettleRequest{Settlements: []backend.Settlement{{Lease: j.Lease, Outcome: backend.OutcomeComplete}}})
		_, checks["Job"] = b.store.Job(ctx, b.q, id)
		_, checks["Jobs"] = b.store.Jobs(ctx, b.q, &backend.JobsRequest{State: backend.StateWaiting})
		_, checks["Counts"] = b.store.Counts(ctx, b.q)
		checks["SetPaused"] = b.store.SetPaused(ctx, b.q, true)
		_, checks["Events"] = b.store.Events(ctx, b.q, &backend.EventsRequest{})
		_, checks["LastEventID"] = b.store.LastEventID(ctx, b.q)
		_, checks["CompareAndUpsert"] = b.store.CompareAndUpsert(ctx, b.q, &backend.CompareAndUpsertRequest{Scheduler: backend.Scheduler{ID: "s", Template: backend.NewJob{Name: "n"}, Next: epoch}})
		for call, err := range checks {
			if !errors.Is(err, backend.ErrClosed) {
				t.Errorf("%s after Close = %v, want ErrClosed", call, err)
			}
		}
		if err := b.store.Close(); err != nil {
			t.Errorf("second Close = %v, want nil", err)
		}
	})

	t.Run("Close ends a waiting lease with ErrClosed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		ch := b.leaseAsync(b.q, backend.LeaseRequest{Worker: "w", Max: 1, TTL: defaultTTL, Wait: longWait})
		b.awaitWaiters(1)
		b.markClosed()
		if err := b.store.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		r := receive(t, ch, deadline, "waiting Lease after Close")
		if !errors.Is(r.err, backend.ErrClosed) || len(r.jobs) != 0 {
			t.Errorf("waiting Lease = %v, %v; want ErrClosed", ids(r.jobs), r.err)
		}
	})
}
