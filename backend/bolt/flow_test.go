package bolt

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func TestFlowPoliciesAndPropagation(t *testing.T) {
	b, _ := setup(t)
	// top ← mid ← {a (fails, fail-parent), b (fails, ignore)}; top also
	// waits for c in another queue.
	a := add(t, b, "q", backend.NewJob{Name: "top", ID: "top", Children: []backend.NewJob{
		{Name: "mid", ID: "mid", Children: []backend.NewJob{
			{Name: "a", ID: "a"},
			{Name: "b", ID: "b", FailurePolicy: backend.PolicyIgnore},
		}},
		{Name: "c", ID: "c", Queue: "other"},
	}})[0]
	if len(a.Children) != 2 || a.Children[1].Queue != "other" || len(a.Children[0].Children) != 2 {
		t.Fatalf("added %+v", a)
	}
	if c := counts(t, b, "q"); c.WaitingChildren != 2 || c.Waiting != 2 {
		t.Fatalf("counts %+v", c)
	}
	fail := func(id string) {
		for _, j := range lease(t, b, "q", 10) {
			out := backend.OutcomeRelease
			if j.ID == id {
				out = backend.OutcomeFail
			}
			settle(t, b, "q", backend.Settlement{Lease: j.Lease, Outcome: out, Reason: "no " + j.ID})
		}
	}
	fail("b")
	if m := job(t, b, "q", "mid"); m.State != backend.StateWaitingChildren || !m.ChildOutcomes["q/b"].Ignored {
		t.Fatalf("mid after ignored failure %+v", m)
	}
	fail("a")
	m := job(t, b, "q", "mid")
	if m.State != backend.StateFailed || !strings.Contains(m.FailedReason, "q/a") {
		t.Fatalf("mid after failed child %+v", m)
	}
	top := job(t, b, "q", "top")
	if top.State != backend.StateFailed || !strings.Contains(top.FailedReason, "q/mid") {
		t.Fatalf("top %+v", top)
	}
}

func TestFlowParentRunsAfterChildrenAndSeesResults(t *testing.T) {
	b, _ := setup(t)
	add(t, b, "q", backend.NewJob{Name: "p", ID: "p", Children: []backend.NewJob{{Name: "x"}, {Name: "y"}}})
	jobs := lease(t, b, "q", 10)
	if len(jobs) != 2 {
		t.Fatalf("leased %d", len(jobs))
	}
	settle(t, b, "q", backend.Settlement{Lease: jobs[0].Lease, Outcome: backend.OutcomeComplete, Result: []byte("1")})
	if p := job(t, b, "q", "p"); p.State != backend.StateWaitingChildren || p.PendingChildren() != 1 {
		t.Fatalf("parent %+v", p)
	}
	settle(t, b, "q", backend.Settlement{Lease: jobs[1].Lease, Outcome: backend.OutcomeComplete, Result: []byte("2")})
	p := lease(t, b, "q", 10)
	if len(p) != 1 || p[0].ID != "p" || len(p[0].ChildOutcomes) != 2 || string(p[0].ChildOutcomes["q/"+jobs[1].ID].Result) != "2" {
		t.Fatalf("parent leased %+v", p)
	}
}

func TestFlowConflictWritesNothing(t *testing.T) {
	b, _ := setup(t)
	add(t, b, "q", backend.NewJob{Name: "x", ID: "taken"})
	before := counts(t, b, "q")
	_, err := b.Add(ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{
		{Name: "ok"},
		{Name: "p", Children: []backend.NewJob{{Name: "c", ID: "taken"}}},
	}})
	if !errors.Is(err, backend.ErrConflict) {
		t.Fatalf("err %v", err)
	}
	if after := counts(t, b, "q"); after != before {
		t.Fatalf("counts %+v, were %+v", after, before)
	}
}

func TestRemoveFlowParentAndPendingChild(t *testing.T) {
	b, _ := setup(t)
	add(t, b, "q", backend.NewJob{Name: "p", ID: "p", Children: []backend.NewJob{
		{Name: "a", ID: "a"}, {Name: "b", ID: "b", Delay: time.Hour}, {Name: "c", ID: "c", Delay: time.Hour},
	}})
	active := lease(t, b, "q", 1)[0] // a
	if err := b.RemoveJob(ctx, "q", "b"); err != nil {
		t.Fatal(err)
	}
	if p := job(t, b, "q", "p"); len(p.Children) != 2 || p.State != backend.StateWaitingChildren {
		t.Fatalf("parent after removing a pending child %+v", p)
	}
	if err := b.RemoveJob(ctx, "q", "p"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"p", "c"} {
		if _, err := b.Job(ctx, "q", id); !errors.Is(err, backend.ErrNotFound) {
			t.Fatalf("%s after removing the parent: %v", id, err)
		}
	}
	if a := job(t, b, "q", "a"); a.Parent != nil || a.State != backend.StateActive {
		t.Fatalf("active child %+v", a)
	}
	if errs := settle(t, b, "q", backend.Settlement{Lease: active.Lease, Outcome: backend.OutcomeComplete}); errs[0] != nil {
		t.Fatal(errs[0])
	}
}

func TestSchedulerIterations(t *testing.T) {
	b, clock := setup(t)
	at := func(m int) time.Time { return epoch.Add(time.Duration(m) * time.Minute) }
	s := backend.Scheduler{ID: "s", Template: backend.NewJob{Name: "tick"}, Next: at(0), Upcoming: []time.Time{at(1)}, Final: true}
	res, err := b.CompareAndUpsert(ctx, "q", &backend.CompareAndUpsertRequest{Scheduler: s})
	if err != nil || !res.Created || res.Scheduler.Revision != 1 || res.Scheduler.Iterations != 1 {
		t.Fatalf("upsert %+v %v", res, err)
	}
	if _, err := b.CompareAndUpsert(ctx, "q", &backend.CompareAndUpsertRequest{Scheduler: s}); !errors.Is(err, backend.ErrRevisionMismatch) {
		t.Fatalf("create again: %v", err)
	}
	first := lease(t, b, "q", 1)
	if len(first) != 1 || first[0].ID != backend.IterationID("s", at(0)) || first[0].SchedulerID != "s" {
		t.Fatalf("first %+v", first)
	}
	got, err := b.Scheduler(ctx, "q", "s")
	if err != nil || !got.Next.Equal(at(1)) || got.Revision != 2 || got.Iterations != 2 {
		t.Fatalf("after lease %+v %v", got, err)
	}
	settle(t, b, "q", backend.Settlement{Lease: first[0].Lease, Outcome: backend.OutcomeComplete})
	clock.Advance(time.Minute)
	if second := lease(t, b, "q", 1); len(second) != 1 || second[0].ID != backend.IterationID("s", at(1)) {
		t.Fatalf("second %+v", second)
	}
	// The final plan has run out and nothing is pending: the record is gone.
	if _, err := b.Scheduler(ctx, "q", "s"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("after the last run: %v", err)
	}
	// A slot whose ID is taken is skipped.
	s2 := backend.Scheduler{ID: "s", Template: backend.NewJob{Name: "tick"}, Next: at(1), Upcoming: []time.Time{at(5)}}
	res, err = b.CompareAndUpsert(ctx, "q", &backend.CompareAndUpsertRequest{Scheduler: s2, ExpectRevision: backend.AnyRevision})
	if err != nil || !res.Scheduler.Next.Equal(at(5)) {
		t.Fatalf("skip taken slot %+v %v", res, err)
	}
	if err := b.RemoveScheduler(ctx, "q", "s"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Job(ctx, "q", backend.IterationID("s", at(5))); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("pending iteration after remove: %v", err)
	}
	if err := b.RemoveScheduler(ctx, "q", "s"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("remove again: %v", err)
	}
}
