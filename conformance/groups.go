package conformance

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

// grouper returns the store as a GroupStore, or skips the case on a store
// that does not serve groups (which the first case checks refuses them).
func (b *testBundle) grouper() backend.GroupStore {
	b.t.Helper()
	g, ok := b.store.(backend.GroupStore)
	if !ok {
		b.t.Skipf("store %T does not serve groups", b.store)
	}
	return g
}

// addGrouped adds n jobs of group g named g-0, g-1, … and returns their
// IDs.
func (b *testBundle) addGrouped(g string, n int) []string {
	b.t.Helper()
	jobs := make([]backend.NewJob, n)
	for i := range jobs {
		jobs[i] = backend.NewJob{Name: fmt.Sprintf("%s-%d", g, i), Group: g}
	}
	var out []string
	for _, a := range b.add(jobs...) {
		out = append(out, a.ID)
	}
	return out
}

// leaseNames leases one job at a time until none is ready or max were
// taken, and returns their names in order.
func (b *testBundle) leaseNames(max int) []string {
	b.t.Helper()
	var names []string
	for len(names) < max {
		got := b.lease(1)
		if len(got) == 0 {
			break
		}
		names = append(names, got[0].Name)
	}
	return names
}

func (b *testBundle) groups() backend.GroupsResult {
	b.t.Helper()
	res, err := b.grouper().Groups(b.ctx, b.q, nil)
	if err != nil {
		b.t.Fatalf("Groups: %v", err)
	}
	return res
}

func testGroups(t *testing.T, f Factory) {
	t.Run("a store without groups refuses a job with a group and changes nothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		if _, ok := b.store.(backend.GroupStore); ok {
			if j := b.job(b.addOne(backend.NewJob{Name: "n", Group: "tenant-1"})); j.Group != "tenant-1" {
				t.Fatalf("job Group = %q, want tenant-1", j.Group)
			}
			return
		}
		before := b.snapshot(b.q)
		if _, err := b.store.Add(b.ctx, b.q, &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n", Group: "tenant-1"}}}); !errors.Is(err, backend.ErrUnsupported) {
			t.Fatalf("Add with a group = %v, want ErrUnsupported", err)
		}
		b.unchanged(b.q, before, "a refused add with a group")
	})

	t.Run("groups are served in turn, jobs without a group as one more", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.grouper()
		b.addGrouped("a", 5)
		b.addGrouped("b", 2)
		b.add(backend.NewJob{Name: "plain"})
		got := b.leaseNames(10)
		want := []string{"a-0", "b-0", "plain", "a-1", "b-1", "a-2", "a-3", "a-4"}
		if !slices.Equal(got, want) {
			t.Fatalf("leased %v, want %v", got, want)
		}
	})

	t.Run("a group with many jobs does not starve one with few", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.grouper()
		b.addGrouped("big", 300)
		b.addGrouped("small", 10)
		got := b.leaseNames(20)
		small := 0
		for _, n := range got {
			if n[:5] == "small" {
				small++
			}
		}
		if small != 10 {
			t.Fatalf("the first 20 leases took %d of the small group's 10 jobs: %v", small, got)
		}
	})

	t.Run("a group's concurrency limit holds each group back on its own", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		g := b.grouper()
		if err := g.SetGroupLimits(b.ctx, b.q, backend.Limits{Concurrency: 1}); err != nil {
			t.Fatal(err)
		}
		b.addGrouped("a", 3)
		b.addGrouped("b", 3)
		b.add(backend.NewJob{Name: "plain-0"}, backend.NewJob{Name: "plain-1"})
		got := b.leaseN(10, 4)
		// One of each group, and every job without a group: the group
		// limits are not theirs.
		names := []string{got[0].Name, got[1].Name, got[2].Name, got[3].Name}
		slices.Sort(names)
		if !slices.Equal(names, []string{"a-0", "b-0", "plain-0", "plain-1"}) {
			t.Fatalf("leased %v", names)
		}
		b.leaseN(10, 0)
		b.complete(got[0], "")
		next := b.leaseN(10, 1)[0]
		if next.Group != got[0].Group || next.Name[:1] != got[0].Name[:1] {
			t.Fatalf("after %s completed, leased %s", got[0].Name, next.Name)
		}
		res := b.groups()
		if res.Limits != (backend.Limits{Concurrency: 1}) || len(res.Groups) != 2 {
			t.Fatalf("Groups = %+v", res)
		}
		if res.Groups[0] != (backend.GroupInfo{Name: "a", Active: 1, Waiting: 1}) || res.Groups[1] != (backend.GroupInfo{Name: "b", Active: 1, Waiting: 2}) {
			t.Fatalf("Groups = %+v", res.Groups)
		}
	})

	t.Run("a group's rate limit holds it back until the next start is allowed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		if err := b.grouper().SetGroupLimits(b.ctx, b.q, backend.Limits{Rate: 1, RatePer: time.Second}); err != nil {
			t.Fatal(err)
		}
		b.addGrouped("a", 2)
		b.addGrouped("b", 2)
		b.leaseN(10, 2)
		b.leaseN(10, 0)
		ch := b.blockedLease(1)
		b.clock.Advance(time.Second)
		r := receive(t, ch, deadline, "the blocked lease")
		if r.err != nil || len(r.jobs) != 1 {
			t.Fatalf("blocked lease = %v, %v; want a job once a group may start again", ids(r.jobs), r.err)
		}
		b.leaseN(10, 1)
	})

	t.Run("a paused group keeps its jobs until it is resumed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		g := b.grouper()
		b.addGrouped("a", 2)
		b.addGrouped("b", 1)
		mark := b.lastEventID(b.q)
		if err := g.PauseGroup(b.ctx, b.q, "a", true); err != nil {
			t.Fatal(err)
		}
		if err := g.PauseGroup(b.ctx, b.q, "a", true); err != nil {
			t.Fatal(err)
		}
		evs := b.events(b.q, mark)
		if len(evs) != 1 || evs[0].Type != backend.EventGroupPaused || evs[0].Group != "a" {
			t.Fatalf("events = %+v, want one group-paused of a", evs)
		}
		if got := b.leaseNames(10); !slices.Equal(got, []string{"b-0"}) {
			t.Fatalf("leased %v while a is paused, want b-0", got)
		}
		res := b.groups()
		if len(res.Groups) != 2 || res.Groups[0] != (backend.GroupInfo{Name: "a", Waiting: 2, Paused: true}) {
			t.Fatalf("Groups = %+v", res.Groups)
		}
		ch := b.blockedLease(1)
		if err := g.PauseGroup(b.ctx, b.q, "a", false); err != nil {
			t.Fatal(err)
		}
		r := receive(t, ch, deadline, "the blocked lease")
		if r.err != nil || len(r.jobs) != 1 || r.jobs[0].Name != "a-0" {
			t.Fatalf("blocked lease = %v, %v; want a-0 once a is resumed", ids(r.jobs), r.err)
		}
		if err := g.PauseGroup(b.ctx, b.q, "", true); !errors.Is(err, backend.ErrInvalid) {
			t.Fatalf("PauseGroup of no group = %v, want ErrInvalid", err)
		}
	})

	t.Run("a job of a group back to waiting is served again in its group", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.grouper()
		b.addGrouped("a", 2)
		b.addGrouped("b", 1)
		j := b.leaseOne() // a-0
		b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeRetry, Reason: "again"})
		got := b.leaseNames(10)
		// a went to the back after its start: b first, then a's line, where
		// the retried job is behind a-1.
		if !slices.Equal(got, []string{"b-0", "a-1", "a-0"}) {
			t.Fatalf("leased %v, want b-0 a-1 a-0", got)
		}
		if res := b.groups(); len(res.Groups) != 2 || res.Groups[0].Active != 2 || res.Groups[1].Active != 1 {
			t.Fatalf("Groups = %+v", res.Groups)
		}
	})

	t.Run("groups page in name order", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		g := b.grouper()
		for _, name := range []string{"c", "a", "d", "b"} {
			b.addGrouped(name, 1)
		}
		var names []string
		after := ""
		for {
			res, err := g.Groups(b.ctx, b.q, &backend.GroupsRequest{After: after, Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			for _, gi := range res.Groups {
				names = append(names, gi.Name)
			}
			if len(res.Groups) < 3 {
				break
			}
			after = res.Groups[len(res.Groups)-1].Name
		}
		if !slices.Equal(names, []string{"a", "b", "c", "d"}) {
			t.Fatalf("groups = %v", names)
		}
	})
	testGroupJobs(t, f)
}
