package conformance

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func children(n int, mod func(i int, c *backend.NewJob)) []backend.NewJob {
	out := make([]backend.NewJob, n)
	for i := range out {
		out[i] = backend.NewJob{Name: fmt.Sprint("child-", i)}
		if mod != nil {
			mod(i, &out[i])
		}
	}
	return out
}

// leaseAll leases every ready job of queue q.
func (b *testBundle) leaseAll(q string) []*backend.Job {
	b.t.Helper()
	var out []*backend.Job
	for {
		jobs := b.leaseReq(q, &backend.LeaseRequest{Worker: "w", Max: 100, TTL: defaultTTL, MaxStalled: 1})
		if len(jobs) == 0 {
			return out
		}
		out = append(out, jobs...)
	}
}

func testFlow(t *testing.T, f Factory, cfg Config) {
	t.Run("a parent runs only after its last child ends and sees every result", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		a := b.add(backend.NewJob{Name: "parent", Children: children(5, nil)})[0]
		if len(a.Children) != 5 {
			t.Fatalf("Added.Children has %d entries, want 5", len(a.Children))
		}
		p := b.wantState(b.q, a.ID, backend.StateWaitingChildren)
		if len(p.Children) != 5 || p.PendingChildren() != 5 {
			t.Fatalf("parent children %v, pending %d", p.Children, p.PendingChildren())
		}
		for i, c := range a.Children {
			cj := b.wantState(b.q, c.ID, backend.StateWaiting)
			if cj.Parent == nil || *cj.Parent != (backend.JobRef{Queue: b.q, ID: a.ID}) || cj.Name != fmt.Sprint("child-", i) {
				t.Errorf("child %d: parent %v name %q", i, cj.Parent, cj.Name)
			}
		}
		kids := b.leaseAll(b.q)
		if len(kids) != 5 {
			t.Fatalf("leased %d jobs, want the 5 children only", len(kids))
		}
		for i, k := range kids[:4] {
			b.complete(k, fmt.Sprint("result-", i))
			if got := b.wantState(b.q, a.ID, backend.StateWaitingChildren); got.PendingChildren() != 4-i {
				t.Fatalf("after %d children: pending %d", i+1, got.PendingChildren())
			}
			if jobs := b.lease(1); len(jobs) != 0 {
				t.Fatalf("leased %v while a child is pending", ids(jobs))
			}
		}
		b.complete(kids[4], "result-4")
		p = b.wantState(b.q, a.ID, backend.StateWaiting)
		if len(p.ChildOutcomes) != 5 {
			t.Fatalf("ChildOutcomes has %d entries, want 5", len(p.ChildOutcomes))
		}
		for i, k := range kids {
			o, ok := p.ChildOutcomes[backend.JobRef{Queue: b.q, ID: k.ID}.String()]
			if !ok || o.State != backend.StateCompleted || string(o.Result) != fmt.Sprint("result-", i) {
				t.Errorf("outcome of child %s = %+v", k.ID, o)
			}
		}
		if j := b.leaseOne(); j.ID != a.ID {
			t.Fatalf("leased %s, want the parent", j.ID)
		}
	})

	t.Run("a failed child fails its parent by default with a reason naming it", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		a := b.add(backend.NewJob{Name: "parent", Children: children(2, nil)})[0]
		kids := b.leaseAll(b.q)
		b.fail(kids[0], "boom")
		p := b.wantState(b.q, a.ID, backend.StateFailed)
		if !strings.Contains(p.FailedReason, kids[0].ID) {
			t.Errorf("parent reason %q does not name child %s", p.FailedReason, kids[0].ID)
		}
		b.complete(kids[1], "late")
		b.wantState(b.q, a.ID, backend.StateFailed)
	})

	t.Run("a retried child does not end its parent's wait", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		a := b.add(backend.NewJob{Name: "parent", Children: children(1, func(_ int, c *backend.NewJob) { c.Attempts = 2 })})[0]
		k := b.leaseOne()
		b.mustSettle(b.q, backend.Settlement{Lease: k.Lease, Outcome: backend.OutcomeRetry, Reason: "again"})
		b.wantState(b.q, a.ID, backend.StateWaitingChildren)
		b.complete(b.leaseOne(), "ok")
		b.wantState(b.q, a.ID, backend.StateWaiting)
	})

	t.Run("an ignored failure lets the parent run once all children ended", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		a := b.add(backend.NewJob{Name: "parent", Children: children(2, func(_ int, c *backend.NewJob) { c.FailurePolicy = backend.PolicyIgnore })})[0]
		kids := b.leaseAll(b.q)
		b.fail(kids[0], "boom")
		b.wantState(b.q, a.ID, backend.StateWaitingChildren)
		b.complete(kids[1], "ok")
		p := b.wantState(b.q, a.ID, backend.StateWaiting)
		o := p.ChildOutcomes[backend.JobRef{Queue: b.q, ID: kids[0].ID}.String()]
		if o.State != backend.StateFailed || !o.Ignored || o.Reason != "boom" {
			t.Errorf("outcome of the failed child = %+v, want failed, ignored, reason boom", o)
		}
	})

	t.Run("a removed dependency is dropped from the parent", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		a := b.add(backend.NewJob{Name: "parent", Children: children(2, func(_ int, c *backend.NewJob) { c.FailurePolicy = backend.PolicyRemove })})[0]
		kids := b.leaseAll(b.q)
		b.fail(kids[0], "boom")
		p := b.wantState(b.q, a.ID, backend.StateWaitingChildren)
		for _, c := range p.Children {
			if c.ID == kids[0].ID {
				t.Errorf("parent still lists the removed dependency %s", c)
			}
		}
		b.complete(kids[1], "ok")
		p = b.wantState(b.q, a.ID, backend.StateWaiting)
		if p.PendingChildren() != 0 || len(p.Children) != 1 {
			t.Errorf("parent children %v pending %d; want only the completed one", p.Children, p.PendingChildren())
		}
	})

	t.Run("a continue failure makes the parent ready at once", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		a := b.add(backend.NewJob{Name: "parent", Children: children(2, func(_ int, c *backend.NewJob) { c.FailurePolicy = backend.PolicyContinue })})[0]
		kids := b.leaseAll(b.q)
		b.fail(kids[0], "boom")
		p := b.wantState(b.q, a.ID, backend.StateWaiting)
		if o := p.ChildOutcomes[backend.JobRef{Queue: b.q, ID: kids[0].ID}.String()]; o.State != backend.StateFailed || !o.Ignored {
			t.Errorf("outcome of the failed child = %+v", o)
		}
		b.complete(kids[1], "ok")
	})

	t.Run("a failure propagates to the grandparent", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		a := b.add(backend.NewJob{Name: "grandparent", Children: []backend.NewJob{
			{Name: "parent", Children: []backend.NewJob{{Name: "leaf"}}},
		}})[0]
		parent := a.Children[0]
		leaf := b.leaseOne()
		if leaf.ID != parent.Children[0].ID {
			t.Fatalf("leased %s, want the leaf", leaf.ID)
		}
		b.fail(leaf, "boom")
		b.wantState(b.q, parent.ID, backend.StateFailed)
		b.wantState(b.q, a.ID, backend.StateFailed)
		b.wantCounts(b.q, backend.Counts{Failed: 3})
	})

	t.Run("a completed grandchild makes the parent and then the grandparent ready", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		a := b.add(backend.NewJob{Name: "grandparent", Children: []backend.NewJob{
			{Name: "parent", Children: []backend.NewJob{{Name: "leaf"}}},
		}})[0]
		b.complete(b.leaseOne(), "leaf")
		b.wantState(b.q, a.ID, backend.StateWaitingChildren)
		p := b.leaseOne()
		if p.ID != a.Children[0].ID {
			t.Fatalf("leased %s, want the parent", p.ID)
		}
		b.complete(p, "parent")
		if g := b.wantState(b.q, a.ID, backend.StateWaiting); string(g.ChildOutcomes[backend.JobRef{Queue: b.q, ID: p.ID}.String()].Result) != "parent" {
			t.Errorf("grandparent outcomes %+v", g.ChildOutcomes)
		}
	})

	t.Run("children may live in another queue of the store", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.use("images")
		a := b.add(backend.NewJob{Name: "album", Children: children(2, func(_ int, c *backend.NewJob) { c.Queue = "images" })})[0]
		for _, c := range a.Children {
			if c.Queue != "images" {
				t.Errorf("child reported in queue %q", c.Queue)
			}
			b.wantState("images", c.ID, backend.StateWaiting)
		}
		b.wantCounts(b.q, backend.Counts{WaitingChildren: 1})
		b.wantCounts("images", backend.Counts{Waiting: 2})
		p := b.job(a.ID)
		if len(p.Children) != 2 || p.Children[0].Queue != "images" {
			t.Errorf("parent children %v", p.Children)
		}
		for _, k := range b.leaseAll("images") {
			b.complete(k, "thumb")
		}
		p = b.wantState(b.q, a.ID, backend.StateWaiting)
		if o := p.ChildOutcomes[backend.JobRef{Queue: "images", ID: a.Children[0].ID}.String()]; string(o.Result) != "thumb" {
			t.Errorf("outcomes %+v", p.ChildOutcomes)
		}
	})

	t.Run("a child ID that exists outside the flow is a conflict and writes nothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{ID: "shared", Name: "standalone"})
		before := b.snapshot(b.q)
		_, err := b.store.Add(b.ctx, b.q, &backend.AddRequest{Jobs: []backend.NewJob{
			{Name: "other"},
			{Name: "parent", ID: "the-parent", Children: []backend.NewJob{{Name: "new"}, {ID: "shared", Name: "reuse"}}},
		}})
		if !errors.Is(err, backend.ErrConflict) {
			t.Fatalf("Add = %v, want ErrConflict", err)
		}
		b.unchanged(b.q, before, "the conflicting flow")
		b.gone(b.q, "the-parent")
		if j := b.job("shared"); j.Parent != nil || j.Name != "standalone" {
			t.Errorf("existing job was changed: %+v", j)
		}
	})

	t.Run("a caller-chosen ID twice in one flow is rejected", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		_, err := b.store.Add(b.ctx, b.q, &backend.AddRequest{Jobs: []backend.NewJob{
			{ID: "loop", Name: "parent", Children: []backend.NewJob{{ID: "loop", Name: "child"}}},
		}})
		if !errors.Is(err, backend.ErrConflict) || !errors.Is(err, backend.ErrInvalid) {
			t.Fatalf("Add = %v, want ErrConflict and ErrInvalid", err)
		}
		b.wantCounts(b.q, backend.Counts{})
	})

	t.Run("a flow ten levels deep completes from the leaf up", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		const depth = 10
		root := backend.NewJob{Name: "level-0"}
		cur := &root
		for i := 1; i < depth; i++ {
			cur.Children = []backend.NewJob{{Name: fmt.Sprint("level-", i)}}
			cur = &cur.Children[0]
		}
		b.add(root)
		b.wantCounts(b.q, backend.Counts{Waiting: 1, WaitingChildren: depth - 1})
		for i := depth - 1; i >= 0; i-- {
			jobs := b.lease(5)
			if len(jobs) != 1 || jobs[0].Name != fmt.Sprint("level-", i) {
				t.Fatalf("step %d: leased %v, want only level-%d", depth-1-i, ids(jobs), i)
			}
			b.complete(jobs[0], fmt.Sprint(i))
		}
		b.wantCounts(b.q, backend.Counts{Completed: depth})
	})

	t.Run("a flow of a thousand children completes", func(t *testing.T) {
		t.Parallel()
		heavy(t)
		b := setup(t, f)
		width := cfg.size(1000)
		a := b.add(backend.NewJob{Name: "fan-out", Children: children(width, nil)})[0]
		if len(a.Children) != width {
			t.Fatalf("Added.Children has %d entries", len(a.Children))
		}
		for done := 0; done < width; {
			jobs := b.lease(100)
			if len(jobs) == 0 {
				t.Fatalf("nothing to lease after %d children ended", done)
			}
			done += len(jobs)
			var ss []backend.Settlement
			for _, j := range jobs {
				if j.ID == a.ID {
					t.Fatal("parent leased before its children ended")
				}
				ss = append(ss, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeComplete, Result: []byte(j.ID)})
			}
			for i, err := range b.settle(b.q, ss...) {
				if err != nil {
					t.Fatalf("settle %s: %v", ss[i].Lease.JobID, err)
				}
			}
		}
		p := b.wantState(b.q, a.ID, backend.StateWaiting)
		if len(p.ChildOutcomes) != width || p.PendingChildren() != 0 {
			t.Errorf("parent has %d outcomes, %d pending", len(p.ChildOutcomes), p.PendingChildren())
		}
	})

	t.Run("removing a pending child drops the dependency and may make the parent ready", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		a := b.add(backend.NewJob{Name: "parent", Children: children(3, func(i int, c *backend.NewJob) {
			if i == 2 {
				c.Delay = time.Hour
			}
		})})[0]
		if err := b.store.RemoveJob(b.ctx, b.q, a.Children[0].ID); err != nil {
			t.Fatal(err)
		}
		p := b.wantState(b.q, a.ID, backend.StateWaitingChildren)
		if p.PendingChildren() != 2 {
			t.Errorf("pending children %d after removing one of 3, want 2", p.PendingChildren())
		}
		b.complete(b.leaseOne(), "ok")
		b.wantState(b.q, a.ID, backend.StateWaitingChildren)
		if err := b.store.RemoveJob(b.ctx, b.q, a.Children[2].ID); err != nil {
			t.Fatal(err)
		}
		b.wantState(b.q, a.ID, backend.StateWaiting)
	})

	t.Run("removing a parent removes its idle descendants and detaches active ones", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		a := b.add(backend.NewJob{Name: "parent", Children: []backend.NewJob{
			{Name: "busy"},
			{Name: "idle", Delay: time.Minute},
			{Name: "sub", Children: []backend.NewJob{{Name: "grandchild", Delay: time.Minute}}},
		}})[0]
		busy := b.leaseOne()
		if busy.ID != a.Children[0].ID {
			t.Fatalf("leased %s, want the first child", busy.ID)
		}
		if err := b.store.RemoveJob(b.ctx, b.q, a.ID); err != nil {
			t.Fatal(err)
		}
		b.gone(b.q, a.ID)
		b.gone(b.q, a.Children[1].ID)
		b.gone(b.q, a.Children[2].ID)
		b.gone(b.q, a.Children[2].Children[0].ID)
		b.wantCounts(b.q, backend.Counts{Active: 1})
		b.complete(busy, "done anyway")
		b.wantState(b.q, busy.ID, backend.StateCompleted)
		b.wantCounts(b.q, backend.Counts{Completed: 1})
	})
}
