package queue

import (
	"errors"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

// leaseIn takes one ready job of queue name, or nil.
func (e *schedEnv) leaseIn(name string) *backend.Job {
	e.t.Helper()
	res, err := e.store.Lease(e.ctx, name, &backend.LeaseRequest{Worker: "test", Max: 1, TTL: time.Minute, MaxStalled: 1})
	if err != nil {
		e.t.Fatalf("lease %s: %v", name, err)
	}
	if len(res.Jobs) == 0 {
		return nil
	}
	return res.Jobs[0]
}

func TestAddFlowRunsParentAfterChildren(t *testing.T) {
	e := newSchedEnv(t, nil)
	node, err := e.q.AddFlow(e.ctx, Flow{
		Name:    "parent",
		Options: &AddOptions{ID: "p"},
		Children: []Flow{
			{Name: "a", Data: []byte(`1`)},
			{Name: "b", Data: []byte(`2`), Queue: "other"},
			{Name: "c", Data: []byte(`3`), FailurePolicy: PolicyIgnore},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if node.Job.ID != "p" || node.Job.State != StateWaitingChildren || len(node.Children) != 3 {
		t.Fatalf("parent node %+v", node.Job)
	}
	if c := node.Children[1].Job; c.Queue != "other" || c.Parent() == nil || *c.Parent() != (JobRef{Queue: "sched", ID: "p"}) {
		t.Errorf("child in other queue: %s/%s parent %v", c.Queue, c.ID, c.Parent())
	}
	if node.Job.Parent() != nil {
		t.Error("top job has a parent")
	}

	deps, err := node.Job.Dependencies(e.ctx)
	if err != nil || len(deps) != 3 {
		t.Fatalf("dependencies: %v, %v", deps, err)
	}
	for _, d := range deps {
		if d.State != StateWaiting || d.Removed || d.Outcome != nil {
			t.Errorf("dependency %+v before any ran", d)
		}
	}

	// Children in the parent's queue come first; the parent is not ready.
	for range 2 {
		j := e.leaseIn("sched")
		if j == nil || j.ID == "p" {
			t.Fatalf("leased %v, want a child", j)
		}
		if j.Name == "a" {
			e.settle(j, backend.Settlement{Outcome: backend.OutcomeComplete, Result: []byte(`"A"`)})
		} else {
			e.settle(j, backend.Settlement{Outcome: backend.OutcomeFail, Reason: "c broke"})
		}
	}
	if j := e.leaseIn("sched"); j != nil {
		t.Fatalf("leased %s while a child is pending", j.ID)
	}
	j := e.leaseIn("other")
	if j == nil {
		t.Fatal("child in other queue not ready")
	}
	e.settle(j, backend.Settlement{Outcome: backend.OutcomeComplete, Result: []byte(`"B"`)})

	p := e.leaseIn("sched")
	if p == nil || p.ID != "p" {
		t.Fatalf("leased %v, want the parent", p)
	}
	pj := newJob(e.q, p)
	vals := pj.ChildrenValues()
	a, b, c := node.Children[0].Job, node.Children[1].Job, node.Children[2].Job
	ref := func(j *Job) string { return JobRef{Queue: j.Queue, ID: j.ID}.String() }
	if len(vals) != 2 || string(vals[ref(a)]) != `"A"` || string(vals[ref(b)]) != `"B"` {
		t.Errorf("ChildrenValues = %q", vals)
	}
	if failed := pj.FailedChildren(); len(failed) != 1 || failed[ref(c)] != "c broke" {
		t.Errorf("FailedChildren = %v", failed)
	}
	deps, err = pj.Dependencies(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps {
		if d.Outcome == nil || !d.State.Final() {
			t.Errorf("dependency %+v after all ended", d)
		}
	}
}

func TestAddFlowsIsOneStep(t *testing.T) {
	e := newSchedEnv(t, nil)
	nodes, err := e.q.AddFlows(e.ctx, []Flow{
		{Name: "p1", Children: []Flow{{Name: "c1"}}},
		{Name: "p2", Children: []Flow{{Name: "c2", Children: []Flow{{Name: "g"}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || len(nodes[1].Children[0].Children) != 1 {
		t.Fatalf("nodes %+v", nodes)
	}
	if g := nodes[1].Children[0].Children[0].Job; g.Parent() == nil || g.Parent().ID != nodes[1].Children[0].Job.ID {
		t.Errorf("grandchild's parent %v", g.Parent())
	}
	// A bad tree writes nothing, the good one included.
	before, _ := e.q.Counts(e.ctx)
	_, err = e.q.AddFlows(e.ctx, []Flow{
		{Name: "ok", Children: []Flow{{Name: "fine"}}},
		{Name: "bad", Children: []Flow{{Name: ""}}},
	})
	var ve *ValidationError
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &ve) || ve.Index != 1 {
		t.Fatalf("got %v, want a *ValidationError for tree 1", err)
	}
	after, _ := e.q.Counts(e.ctx)
	if after != before {
		t.Errorf("counts changed from %+v to %+v", before, after)
	}
}

func TestDependenciesReportARemovedChild(t *testing.T) {
	e := newSchedEnv(t, nil)
	node, err := e.q.AddFlow(e.ctx, Flow{Name: "p", Children: []Flow{{Name: "a"}, {Name: "b"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.q.RemoveJob(e.ctx, node.Children[0].Job.ID); err != nil {
		t.Fatal(err)
	}
	deps, err := node.Job.Dependencies(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps {
		if d.Ref.ID == node.Children[0].Job.ID && !d.Removed {
			t.Errorf("removed child reported as %+v", d)
		}
	}
}
