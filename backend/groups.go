package backend

import (
	"context"
	"fmt"
	"strings"
	"unicode"
)

// Groups share a queue but are served in turn: a lease takes the next
// job of the next group with jobs ready, round robin, so that a group with
// a million jobs waiting delays a group with ten by at most one job per
// group at a time. Jobs without a group are served as one more group.
// Within a group, jobs run in priority order and FIFO within a priority.
// Each group can also be limited (GroupStore.SetGroupLimits: the limits of
// every group, each on its own) and paused.
//
// A store that serves groups is a GroupStore; one that is not refuses
// jobs with a Group (ErrUnsupported).

// GroupInfo is what a store reports of one group of a queue.
type GroupInfo struct {
	Name string
	// Waiting is the number of the group's waiting jobs; Active of its
	// active ones.
	Waiting int
	Active  int
	Paused  bool
}

// GroupsRequest pages through a queue's groups in name order.
type GroupsRequest struct {
	// After is the name of the last group already seen; "" starts at the
	// first.
	After string
	// Limit is the most groups returned; 0 means 100.
	Limit int
}

// GroupsResult holds a page of groups, and the limits each group has.
type GroupsResult struct {
	Groups []GroupInfo
	Limits Limits
}

// GroupStore is a store that serves groups.
type GroupStore interface {
	// SetGroupLimits sets the limits that apply to each group of the queue
	// on its own (not to the groups together, nor to jobs without a
	// group), with a group-limits-changed event.
	SetGroupLimits(ctx context.Context, queue string, l Limits) error
	// PauseGroup stops leases from taking the group's jobs, or lets them
	// again, with a group-paused or group-resumed event. Adds go on.
	PauseGroup(ctx context.Context, queue, group string, paused bool) error
	// Groups lists the groups that have waiting or active jobs, or are
	// paused.
	Groups(ctx context.Context, queue string, req *GroupsRequest) (GroupsResult, error)
	// GroupJobs returns one page of a group's jobs in req.State, which
	// is waiting (in the order the group serves them: by priority, then
	// first in, first out) or active (by Seq). Jobs in other states are
	// not kept by group, and asking for them is ErrInvalid.
	GroupJobs(ctx context.Context, queue, group string, req *JobsRequest) (JobsResult, error)
}

// ValidateGroupJobs checks the arguments of GroupStore.GroupJobs.
func ValidateGroupJobs(group string, req *JobsRequest) error {
	if group == "" {
		return Invalid("Group", "group name is empty")
	}
	if err := ValidateGroup(group); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	if req.State != StateWaiting && req.State != StateActive {
		return Invalid("State", fmt.Sprintf("jobs in state %s are not kept by group; list waiting or active ones", req.State))
	}
	return nil
}

// ValidateGroup checks a group name: at most MaxNameLen bytes, no control
// characters. The empty name is no group.
func ValidateGroup(name string) error {
	if err := validateGroup(name); err != nil {
		err.Index = -1
		return err
	}
	return nil
}

func validateGroup(name string) *ValidationError {
	switch {
	case len(name) > MaxNameLen:
		return &ValidationError{Field: "Group", Reason: fmt.Sprintf("group name is longer than %d bytes", MaxNameLen)}
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return &ValidationError{Field: "Group", Reason: "group name contains a control character"}
	}
	return nil
}

// Validate checks a groups request.
func (r *GroupsRequest) Validate() error {
	if r == nil {
		return nil
	}
	if err := validatePage(0, r.Limit); err != nil {
		return err
	}
	return ValidateGroup(r.After)
}
