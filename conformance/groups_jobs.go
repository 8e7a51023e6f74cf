package conformance

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

// groupJobNames lists a page of a group's jobs in state by name.
func (b *testBundle) groupJobNames(group string, state backend.JobState, offset, limit int) []string {
	b.t.Helper()
	res, err := b.grouper().GroupJobs(b.ctx, b.q, group, &backend.JobsRequest{State: state, Offset: offset, Limit: limit})
	if err != nil {
		b.t.Fatalf("GroupJobs(%s, %s): %v", group, state, err)
	}
	names := []string{}
	for _, j := range res.Jobs {
		if j.Group != group {
			b.t.Fatalf("GroupJobs(%s) returned %s of group %q", group, j.ID, j.Group)
		}
		names = append(names, j.Name)
	}
	return names
}

func testGroupJobs(t *testing.T, f Factory) {
	t.Run("a group's waiting jobs list in the order they will start, its active ones by Seq", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.grouper()
		b.add(
			backend.NewJob{Name: "a-low", Group: "a", Priority: 5},
			backend.NewJob{Name: "b-0", Group: "b"},
			backend.NewJob{Name: "a-0", Group: "a"},
			backend.NewJob{Name: "plain"},
			backend.NewJob{Name: "a-1", Group: "a"},
			backend.NewJob{Name: "a-later", Group: "a", Delay: time.Minute},
		)
		if got, want := b.groupJobNames("a", backend.StateWaiting, 0, 0), []string{"a-0", "a-1", "a-low"}; !slices.Equal(got, want) {
			t.Fatalf("waiting jobs of a = %v, want %v", got, want)
		}
		if got, want := b.groupJobNames("a", backend.StateWaiting, 1, 1), []string{"a-1"}; !slices.Equal(got, want) {
			t.Fatalf("second page of one = %v, want %v", got, want)
		}
		if got := b.groupJobNames("a", backend.StateWaiting, 3, 10); len(got) != 0 {
			t.Fatalf("page past the end = %v", got)
		}
		if got := b.groupJobNames("nobody", backend.StateWaiting, 0, 0); len(got) != 0 {
			t.Fatalf("jobs of a group with none = %v", got)
		}
		// Served in turn: a-0, b-0, plain, a-1.
		if got := b.leaseNames(4); !slices.Equal(got, []string{"a-0", "b-0", "plain", "a-1"}) {
			t.Fatalf("leased %v", got)
		}
		if got, want := b.groupJobNames("a", backend.StateActive, 0, 0), []string{"a-0", "a-1"}; !slices.Equal(got, want) {
			t.Fatalf("active jobs of a = %v, want %v", got, want)
		}
		if got, want := b.groupJobNames("a", backend.StateActive, 1, 5), []string{"a-1"}; !slices.Equal(got, want) {
			t.Fatalf("active jobs of a from the second = %v, want %v", got, want)
		}
		if got, want := b.groupJobNames("a", backend.StateWaiting, 0, 0), []string{"a-low"}; !slices.Equal(got, want) {
			t.Fatalf("waiting jobs of a after the leases = %v, want %v", got, want)
		}
		if got, want := b.groupJobNames("b", backend.StateActive, 0, 0), []string{"b-0"}; !slices.Equal(got, want) {
			t.Fatalf("active jobs of b = %v, want %v", got, want)
		}
	})

	t.Run("listing a group's jobs in another state, or of no group, is ErrInvalid", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		g := b.grouper()
		b.addGrouped("a", 1)
		for _, c := range []struct {
			group string
			req   *backend.JobsRequest
		}{
			{"a", &backend.JobsRequest{State: backend.StateCompleted}},
			{"a", &backend.JobsRequest{State: backend.StateDelayed}},
			{"a", &backend.JobsRequest{State: "nonsense"}},
			{"a", &backend.JobsRequest{State: backend.StateWaiting, Limit: -1}},
			{"a", nil},
			{"", &backend.JobsRequest{State: backend.StateWaiting}},
			{"a\x00b", &backend.JobsRequest{State: backend.StateWaiting}},
		} {
			if _, err := g.GroupJobs(b.ctx, b.q, c.group, c.req); !errors.Is(err, backend.ErrInvalid) {
				t.Errorf("GroupJobs(%q, %+v) = %v, want ErrInvalid", c.group, c.req, err)
			}
		}
	})
}
