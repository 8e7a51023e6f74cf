package redis

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/redis/internal/layout"
)

var _ backend.GroupStore = (*Backend)(nil)

// Groups: see groups.lua in lua/parts for how a queue keeps them. The
// limits of each group are fields of the queue's meta hash, and every
// script that moves a job keeps the groups in step through the index
// hooks of that part, so that a lease takes jobs round robin between the
// groups within the limits of each, whatever the number of workers.

// SetGroupLimits sets the limits of each group of a queue, in one script
// call.
func (b *Backend) SetGroupLimits(ctx context.Context, queue string, l backend.Limits) error {
	if err := b.check(queue); err != nil {
		return err
	}
	if err := l.Validate(); err != nil {
		return err
	}
	_, err := b.run(ctx, "set_group_limits", queue, l.Concurrency, l.Rate, ceilMs(l.RatePer), string(l.EventData()))
	return err
}

// PauseGroup stops or resumes leases of a group's jobs, in one script
// call.
func (b *Backend) PauseGroup(ctx context.Context, queue, group string, paused bool) error {
	if err := b.check(queue); err != nil {
		return err
	}
	if group == "" {
		return backend.Invalid("Group", "group name is empty")
	}
	if err := backend.ValidateGroup(group); err != nil {
		return err
	}
	_, err := b.run(ctx, "pause_group", queue, group, flag(paused))
	return err
}

// Groups lists a page of a queue's groups in name order.
func (b *Backend) Groups(ctx context.Context, queue string, req *backend.GroupsRequest) (backend.GroupsResult, error) {
	if err := b.check(queue); err != nil {
		return backend.GroupsResult{}, err
	}
	if err := req.Validate(); err != nil {
		return backend.GroupsResult{}, err
	}
	var r backend.GroupsRequest
	if req != nil {
		r = *req
	}
	if r.Limit == 0 {
		r.Limit = 100
	}
	res, err := b.runRepeatable(ctx, "groups", queue, r.After, r.Limit)
	if err != nil {
		return backend.GroupsResult{}, err
	}
	a := toStrings(res)
	if len(a) < 3 || len(a)%2 != 1 {
		return backend.GroupsResult{}, fmt.Errorf("%w: groups of %s: reply of %d values", backend.ErrCorrupt, queue, len(a))
	}
	out := backend.GroupsResult{Limits: backend.Limits{
		Concurrency: int(atoi(a[0])), Rate: int(atoi(a[1])), RatePer: time.Duration(atoi(a[2])) * time.Millisecond,
	}}
	for i := 3; i+1 < len(a); i += 2 {
		f := strings.Split(a[i+1], layout.GroupSep)
		if len(f) != layout.NumGroupFields {
			return backend.GroupsResult{}, fmt.Errorf("%w: group %s of %s: record of %d fields", backend.ErrCorrupt, a[i], queue, len(f))
		}
		out.Groups = append(out.Groups, backend.GroupInfo{
			Name:    a[i],
			Waiting: int(atoi(f[layout.GroupReady])),
			Active:  int(atoi(f[layout.GroupActive])),
			Paused:  f[layout.GroupPaused] == "1",
		})
	}
	return out, nil
}

// GroupJobs returns a page of a group's waiting jobs, read from its line
// in the group index, or of its active ones, found among the queue's
// active jobs.
func (b *Backend) GroupJobs(ctx context.Context, queue, group string, req *backend.JobsRequest) (backend.JobsResult, error) {
	if err := b.check(queue); err != nil {
		return backend.JobsResult{}, err
	}
	if err := backend.ValidateGroupJobs(group, req); err != nil {
		return backend.JobsResult{}, err
	}
	limit := cmp.Or(req.Limit, 100)
	if req.State == backend.StateActive {
		out, err := b.activeJobs(ctx, queue, req.Offset, limit, func(j *backend.Job) bool { return j.Group == group })
		return backend.JobsResult{Jobs: out}, err
	}
	res, err := b.runRepeatable(ctx, "jobs", queue, string(req.State), req.Offset, limit, group)
	if err != nil {
		return backend.JobsResult{}, err
	}
	out, err := decodeJobs(queue, res)
	return backend.JobsResult{Jobs: out}, err
}
