package redis

import (
	"slices"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/redis/internal/layout"
)

// names returns the names of jobs, in order.
func names(jobs []*backend.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.Name
	}
	return out
}

// leaseEach leases one job at a time until none is left, and returns
// their names in order.
func (x *bundle) leaseEach(t *testing.T, q string) []string {
	t.Helper()
	var out []string
	for {
		jobs := x.lease(t, q, 1)
		if len(jobs) == 0 {
			return out
		}
		out = append(out, jobs[0].Name)
	}
}

// testGroupsEnter checks a queue that enters grouped mode with jobs
// waiting already, of priority 0 (in the list w) and higher: they keep
// their order, as the line of the jobs without a group, and w is left
// empty, every waiting job in p.
func testGroupsEnter(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	b := x.b.(*Backend)
	x.add(t, "q", backend.NewJob{Name: "p0a"}, backend.NewJob{Name: "p1", Priority: 1}, backend.NewJob{Name: "p0b"})
	released := x.lease(t, "q", 1)[0]
	if errs := x.settle(t, "q", backend.Settlement{Lease: released.Lease, Outcome: backend.OutcomeRelease}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	x.add(t, "q", backend.NewJob{Name: "a-0", Group: "a"}, backend.NewJob{Name: "a-1", Group: "a"})
	if n := b.client.LLen(x.ctx, b.key("q", layout.KeyWaiting)).Val(); n != 0 {
		t.Fatalf("%d jobs left in w in grouped mode", n)
	}
	page, err := b.Jobs(x.ctx, "q", &backend.JobsRequest{State: backend.StateWaiting})
	if err != nil {
		t.Fatal(err)
	}
	// The waiting order: priority, then the order they became ready in,
	// the released job first.
	if got, want := names(page.Jobs), []string{"p0a", "p0b", "a-0", "a-1", "p1"}; !slices.Equal(got, want) {
		t.Fatalf("waiting %v, want %v", got, want)
	}
	if got, want := x.leaseEach(t, "q"), []string{"p0a", "a-0", "p0b", "a-1", "p1"}; !slices.Equal(got, want) {
		t.Fatalf("leased %v, want %v: the jobs without a group as one group, in their order", got, want)
	}
}

// testGroupsKeys checks the wake tokens of a queue whose groups are
// limited, that a group whose rate window still holds starts is
// forgotten once they leave it, and that Obliterate clears the groups.
func testGroupsKeys(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	b := x.b.(*Backend)
	c := b.client
	meta, recs, index, ring := b.key("q", layout.KeyMeta), b.key("q", layout.KeyGroups), b.key("q", layout.KeyGroupIndex), b.key("q", layout.KeyRing)
	tokens := func(want int64, after string) { t.Helper(); x.tokens(t, "q", want, after) }
	if err := b.SetGroupLimits(x.ctx, "q", backend.Limits{Concurrency: 1}); err != nil {
		t.Fatal(err)
	}
	x.add(t, "q", backend.NewJob{Name: "a-0", Group: "a"}, backend.NewJob{Name: "a-1", Group: "a"}, backend.NewJob{Name: "a-2", Group: "a"})
	tokens(1, "an add of 3 jobs of a group of concurrency 1")
	jobs := x.lease(t, "q", 3)
	if len(jobs) != 1 {
		t.Fatalf("leased %d jobs of a group of concurrency 1", len(jobs))
	}
	tokens(0, "a lease that reached the group's limit")
	x.add(t, "q", backend.NewJob{Name: "a-3", Group: "a"})
	tokens(0, "an add to a group at its limit")
	x.add(t, "q", backend.NewJob{Name: "b-0", Group: "b"})
	tokens(1, "an add to another group")
	if errs := x.settle(t, "q", complete(jobs[0], "")); errs[0] != nil {
		t.Fatal(errs[0])
	}
	tokens(2, "a settle that freed the group's one slot")
	x.leaseEach(t, "q")

	// A group whose rate window holds starts keeps its record until they
	// leave it, then is forgotten.
	rrecs := b.key("r", layout.KeyGroups)
	if err := b.SetGroupLimits(x.ctx, "r", backend.Limits{Rate: 1, RatePer: time.Second}); err != nil {
		t.Fatal(err)
	}
	x.add(t, "r", backend.NewJob{Name: "r-0", Group: "r"})
	jobs = x.lease(t, "r", 1)
	if len(jobs) != 1 {
		t.Fatal("no job of r leased")
	}
	if errs := x.settle(t, "r", complete(jobs[0], "")); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if !c.HExists(x.ctx, rrecs, "r").Val() {
		t.Fatal("group r forgotten while its start is in its rate window")
	}
	x.clock.Advance(time.Second)
	x.lease(t, "r", 1)
	if n := c.HLen(x.ctx, rrecs).Val(); n != 0 {
		t.Fatalf("group r kept after its start left its rate window: %v", c.HGetAll(x.ctx, rrecs).Val())
	}
	if n := c.ZCard(x.ctx, b.key("r", layout.KeyGroupIndex)).Val(); n != 0 {
		t.Fatalf("%d entries left in the group index of r", n)
	}
	if n := c.ZCard(x.ctx, b.key("r", layout.KeyRing)).Val(); n != 0 {
		t.Fatalf("%d groups left in the ring of r", n)
	}

	x.add(t, "q", backend.NewJob{Name: "z-0", Group: "z"})
	if err := b.PauseGroup(x.ctx, "q", "y", true); err != nil {
		t.Fatal(err)
	}
	if err := b.Obliterate(x.ctx, "q", &backend.ObliterateRequest{Force: true}); err != nil {
		t.Fatal(err)
	}
	if n := c.Exists(x.ctx, recs, index, ring).Val(); n != 0 {
		t.Fatal("the groups outlived Obliterate")
	}
	for _, v := range c.HMGet(x.ctx, meta, "groups", "gconc", "grate", "gper", "gseq", "groom").Val() {
		if v != nil {
			t.Fatalf("group fields outlived Obliterate: %v", c.HGetAll(x.ctx, meta).Val())
		}
	}
	if res, err := b.Groups(x.ctx, "q", nil); err != nil || len(res.Groups) != 0 || res.Limits != (backend.Limits{}) {
		t.Fatalf("Groups after Obliterate = %+v, %v; want none", res, err)
	}
	// The queue is a queue without groups again: its jobs wait in w.
	x.add(t, "q", backend.NewJob{Name: "plain"})
	if n := c.LLen(x.ctx, b.key("q", layout.KeyWaiting)).Val(); n != 1 {
		t.Fatalf("%d jobs in w after Obliterate and an add, want 1", n)
	}
}

// testWakeGroupRateLimited checks that a Lease that only a group's rate
// limit keeps from taking a job waits, on the store's clock, exactly
// until the group may start one.
func testWakeGroupRateLimited(t *testing.T, f storeFactory) {
	wakesAtNextStart(t, f, func(b *Backend, l backend.Limits) error { return b.SetGroupLimits(t.Context(), "q", l) },
		backend.NewJob{Name: "a-0", Group: "a"}, backend.NewJob{Name: "a-1", Group: "a"})
}
