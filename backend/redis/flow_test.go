package redis

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func testFlow(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	r := x.add(t, "q", backend.NewJob{Name: "parent", ID: "p", Children: []backend.NewJob{
		{Name: "c1"}, {Name: "c2", Children: []backend.NewJob{{Name: "gc"}}},
	}})
	p := r.Jobs[0]
	if p.ID != "p" || len(p.Children) != 2 || len(p.Children[1].Children) != 1 {
		t.Fatalf("added %+v", p)
	}
	pj := x.job(t, "q", "p")
	if pj.State != backend.StateWaitingChildren || len(pj.Children) != 2 || pj.PendingChildren() != 2 {
		t.Fatalf("parent %+v", pj)
	}
	for round := 0; round < 3; round++ {
		jobs := x.lease(t, "q", 10)
		for _, j := range jobs {
			if j.ID == "p" && round < 2 {
				t.Fatalf("parent ran before its children")
			}
			x.settle(t, "q", complete(j, "r-"+j.Name))
		}
	}
	pj = x.job(t, "q", "p")
	if pj.State != backend.StateCompleted {
		t.Fatalf("parent %s", pj.State)
	}
	c1 := backend.JobRef{Queue: "q", ID: p.Children[0].ID}
	if o := pj.ChildOutcomes[c1.String()]; o.State != backend.StateCompleted || string(o.Result) != "r-c1" {
		t.Fatalf("outcomes %+v", pj.ChildOutcomes)
	}
	if c := x.job(t, "q", c1.ID); c.Parent == nil || *c.Parent != (backend.JobRef{Queue: "q", ID: "p"}) {
		t.Fatalf("child parent %+v", c.Parent)
	}
}

func testFlowPolicies(t *testing.T, f storeFactory) {
	for _, tc := range []struct {
		policy backend.FailurePolicy
		want   backend.JobState // parent state after the failing child ends, other child pending
	}{
		{backend.PolicyFailParent, backend.StateFailed},
		{backend.PolicyIgnore, backend.StateWaitingChildren},
		{backend.PolicyRemove, backend.StateWaitingChildren},
		{backend.PolicyContinue, backend.StateWaiting},
	} {
		x := setup(t, f, storeOptions{})
		x.add(t, "q", backend.NewJob{Name: "p", ID: "p", Children: []backend.NewJob{
			{Name: "bad", ID: "bad", FailurePolicy: tc.policy}, {Name: "slow", ID: "slow", Delay: time.Hour},
		}})
		bad := x.lease(t, "q", 1)[0]
		x.settle(t, "q", backend.Settlement{Lease: bad.Lease, Outcome: backend.OutcomeFail, Reason: "boom"})
		p := x.job(t, "q", "p")
		if p.State != tc.want {
			t.Fatalf("%q: parent %s, want %s", tc.policy, p.State, tc.want)
		}
		switch tc.policy {
		case backend.PolicyIgnore, backend.PolicyContinue:
			if o := p.ChildOutcomes["q/bad"]; !o.Ignored || o.Reason != "boom" {
				t.Fatalf("%q: outcome %+v", tc.policy, o)
			}
		case backend.PolicyRemove:
			if len(p.Children) != 1 || p.Children[0].ID != "slow" {
				t.Fatalf("remove: children %v", p.Children)
			}
		case backend.PolicyFailParent:
			if p.FailedReason == "" {
				t.Fatal("fail parent: no reason")
			}
		}
		if tc.policy == backend.PolicyIgnore {
			// Removing the last pending child makes the parent ready.
			if err := x.b.RemoveJob(x.ctx, "q", "slow"); err != nil {
				t.Fatal(err)
			}
			if p := x.job(t, "q", "p"); p.State != backend.StateWaiting {
				t.Fatalf("after removing last child: %s", p.State)
			}
		}
	}
}

func testFlowAcrossQueues(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	r := x.add(t, "parents", backend.NewJob{Name: "p", ID: "p", Children: []backend.NewJob{
		{Name: "c", Queue: "kids"}, {Name: "d", Queue: "kids", Children: []backend.NewJob{{Name: "e", Queue: "parents"}}},
	}})
	if r.Jobs[0].Children[0].Queue != "kids" || r.Jobs[0].Children[1].Children[0].Queue != "parents" {
		t.Fatalf("added %+v", r.Jobs)
	}
	e := x.lease(t, "parents", 10)
	if len(e) != 1 || e[0].Name != "e" {
		t.Fatalf("parents leased %v", e)
	}
	x.settle(t, "parents", complete(e[0], "E"))
	kids := x.lease(t, "kids", 10)
	if len(kids) != 2 {
		t.Fatalf("kids leased %d", len(kids))
	}
	for _, k := range kids {
		x.settle(t, "kids", complete(k, k.Name))
	}
	p := x.lease(t, "parents", 10)
	if len(p) != 1 || p[0].ID != "p" || len(p[0].ChildOutcomes) != 2 {
		t.Fatalf("parent %v", p)
	}
	// Removing a parent removes its descendants in its queue.
	x.add(t, "q2", backend.NewJob{Name: "p", ID: "p2", Children: []backend.NewJob{{Name: "c", ID: "c2"}}})
	if err := x.b.RemoveJob(x.ctx, "q2", "p2"); err != nil {
		t.Fatal(err)
	}
	if _, err := x.b.Job(x.ctx, "q2", "c2"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("child survived: %v", err)
	}
}

func testScheduler(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	s := backend.Scheduler{ID: "s", Repeat: []byte("every 1m"), Template: backend.NewJob{Name: "tick", Data: []byte("v1")},
		Next: at(1), Upcoming: []time.Time{at(2), at(3)}, Final: true}
	r, err := x.b.CompareAndUpsert(x.ctx, "q", &backend.CompareAndUpsertRequest{Scheduler: s, ExpectRevision: 0})
	if err != nil || !r.Created || r.Scheduler.Revision != 1 || r.Scheduler.Iterations != 1 {
		t.Fatalf("upsert %+v %v", r, err)
	}
	if _, err := x.b.CompareAndUpsert(x.ctx, "q", &backend.CompareAndUpsertRequest{Scheduler: s, ExpectRevision: 0}); !errors.Is(err, backend.ErrRevisionMismatch) {
		t.Fatalf("second create: %v", err)
	}
	id1 := backend.IterationID("s", at(1))
	if j := x.job(t, "q", id1); j.State != backend.StateDelayed || j.SchedulerID != "s" || string(j.Data) != "v1" {
		t.Fatalf("iteration %+v", j)
	}
	// Upsert with new data replaces the pending iteration.
	s.Template.Data = []byte("v2")
	r, err = x.b.CompareAndUpsert(x.ctx, "q", &backend.CompareAndUpsertRequest{Scheduler: s, ExpectRevision: 1})
	if err != nil || r.Scheduler.Revision != 2 || r.Created {
		t.Fatalf("update %+v %v", r, err)
	}
	if c := x.counts(t, "q"); c.Delayed != 1 {
		t.Fatalf("counts %+v", c)
	}
	var ran []string
	for m := 1; m <= 4; m++ {
		x.clock.Set(at(m))
		for _, j := range x.lease(t, "q", 5) {
			ran = append(ran, j.ID+"="+string(j.Data))
			x.settle(t, "q", complete(j, ""))
		}
	}
	want := []string{id1 + "=v2", backend.IterationID("s", at(2)) + "=v2", backend.IterationID("s", at(3)) + "=v2"}
	if !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
	if _, err := x.b.Scheduler(x.ctx, "q", "s"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("finished scheduler still there: %v", err)
	}
	// A slot taken by a job that ran moves the scheduler to the next one.
	s2 := backend.Scheduler{ID: "s", Template: backend.NewJob{Name: "tick"}, Next: at(3), Upcoming: []time.Time{at(10)}}
	r, err = x.b.CompareAndUpsert(x.ctx, "q", &backend.CompareAndUpsertRequest{Scheduler: s2, ExpectRevision: backend.AnyRevision})
	if err != nil || !r.Scheduler.Next.Equal(at(10)) {
		t.Fatalf("re-upsert %+v %v", r.Scheduler, err)
	}
	list, err := x.b.Schedulers(x.ctx, "q", nil)
	if err != nil || len(list.Schedulers) != 1 {
		t.Fatalf("list %v %v", list, err)
	}
	if err := x.b.RemoveScheduler(x.ctx, "q", "s"); err != nil {
		t.Fatal(err)
	}
	if c := x.counts(t, "q"); c.Delayed != 0 {
		t.Fatalf("pending iteration survived: %+v", c)
	}
	if err := x.b.RemoveScheduler(x.ctx, "q", "s"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("remove missing: %v", err)
	}
}
