package queue

import (
	"context"
	"fmt"

	"github.com/droverhq/drover/backend"
)

// GroupInfo is one group of a queue with its counts; see
// backend.GroupInfo.
type GroupInfo = backend.GroupInfo

func (q *Queue) grouper() (backend.GroupStore, error) {
	return capability[backend.GroupStore](q, "groups")
}

// SetGroupLimits sets the limits of each group of the queue, each on its
// own: with Concurrency 1, every group (every tenant, say) runs one job
// at a time, while the groups run side by side. Jobs without a group are
// not limited by them; the queue's own limits (SetLimits) bound all jobs
// together.
func (q *Queue) SetGroupLimits(ctx context.Context, l Limits) error {
	g, err := q.grouper()
	if err != nil {
		return err
	}
	if err := g.SetGroupLimits(ctx, q.name, l); err != nil {
		return fmt.Errorf("drover: set group limits of %s: %w", q.name, err)
	}
	return nil
}

// PauseGroup stops workers from taking the jobs of a group; adds go on.
func (q *Queue) PauseGroup(ctx context.Context, group string) error {
	return q.pauseGroup(ctx, group, true)
}

// ResumeGroup lets workers take the jobs of a paused group again.
func (q *Queue) ResumeGroup(ctx context.Context, group string) error {
	return q.pauseGroup(ctx, group, false)
}

func (q *Queue) pauseGroup(ctx context.Context, group string, paused bool) error {
	g, err := q.grouper()
	if err != nil {
		return err
	}
	if err := g.PauseGroup(ctx, q.name, group, paused); err != nil {
		return fmt.Errorf("drover: pause group %s of %s: %w", group, q.name, err)
	}
	return nil
}

// Groups returns one page of the queue's groups that have waiting or
// active jobs or are paused, in name order, after the group named after
// ("" for the first page), and the limits of each group.
func (q *Queue) Groups(ctx context.Context, after string, limit int) (backend.GroupsResult, error) {
	g, err := q.grouper()
	if err != nil {
		return backend.GroupsResult{}, err
	}
	res, err := g.Groups(ctx, q.name, &backend.GroupsRequest{After: after, Limit: limit})
	if err != nil {
		return backend.GroupsResult{}, fmt.Errorf("drover: groups of %s: %w", q.name, err)
	}
	return res, nil
}

// GroupJobs returns one page of a group's jobs in state, which is
// StateWaiting (in the order the group's jobs will start: by priority,
// then first in, first out) or StateActive (by Seq). Jobs in other states
// are not kept by group: list them with Jobs.
func (q *Queue) GroupJobs(ctx context.Context, group string, state JobState, page Page) ([]*Job, error) {
	g, err := q.grouper()
	if err != nil {
		return nil, err
	}
	res, err := g.GroupJobs(ctx, q.name, group, &backend.JobsRequest{State: state, Offset: page.Offset, Limit: page.Limit})
	if err != nil {
		return nil, fmt.Errorf("drover: list %s jobs of group %s of %s: %w", state, group, q.name, err)
	}
	out := make([]*Job, len(res.Jobs))
	for i, r := range res.Jobs {
		out[i] = newJob(q, r)
	}
	return out, nil
}
