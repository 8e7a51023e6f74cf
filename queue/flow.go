package queue

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/droverhq/drover/backend"
)

// FailurePolicy says what a flow child's failure does to its parent; see
// backend.FailurePolicy.
type FailurePolicy = backend.FailurePolicy

// Failure policies of a flow child.
const (
	PolicyFailParent = backend.PolicyFailParent
	PolicyIgnore     = backend.PolicyIgnore
	PolicyRemove     = backend.PolicyRemove
	PolicyContinue   = backend.PolicyContinue
)

// JobRef names a job in a queue of the same store.
type JobRef = backend.JobRef

// ChildOutcome is how a flow child ended; see backend.ChildOutcome.
type ChildOutcome = backend.ChildOutcome

// Flow is a tree of jobs: a job with Children waits in state
// waiting-children until every child has ended, then becomes ready.
type Flow struct {
	Name string
	Data []byte
	// Queue is the queue of this job. Defaults to the queue of its parent,
	// or of the AddFlow call at the top.
	Queue   string
	Options *AddOptions
	// FailurePolicy applies when this job, as a child, fails for good.
	// Defaults to PolicyFailParent.
	FailurePolicy FailurePolicy
	Children      []Flow
}

// FlowNode is one added job of a flow and the nodes of its children, in
// the order of Flow.Children.
type FlowNode struct {
	Job      *Job
	Children []*FlowNode
}

// AddFlow adds a flow tree in one atomic step: all of it or nothing. A job
// whose caller-chosen ID exists already is returned as it is, with
// Duplicate set.
func (q *Queue) AddFlow(ctx context.Context, f Flow) (*FlowNode, error) {
	nodes, err := q.AddFlows(ctx, []Flow{f})
	if err != nil {
		return nil, err
	}
	return nodes[0], nil
}

// AddFlows adds several flow trees in one atomic step. The nodes are in
// input order. A bad entry fails the whole call with a *ValidationError
// whose Index names the tree.
func (q *Queue) AddFlows(ctx context.Context, flows []Flow) ([]*FlowNode, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	call := &AddCall{Queue: q.name, Op: AddOpFlow, Jobs: make([]backend.NewJob, len(flows))}
	for i := range flows {
		call.Jobs[i] = flows[i].newJob(q.defaults)
	}
	if err := q.runAdd(ctx, call, q.storeAdd); err != nil {
		return nil, fmt.Errorf("drover: add flow to %s: %w", q.name, err)
	}
	now := q.clock.Now()
	out := make([]*FlowNode, len(flows))
	for i, a := range call.Added {
		n, err := q.flowNode(ctx, q.b, q.name, nil, &call.Jobs[i], a, now)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

func (f *Flow) newJob(defaults *AddOptions) backend.NewJob {
	nj := f.Options.with(defaults).newJob(f.Name, f.Data)
	nj.Queue = f.Queue
	nj.FailurePolicy = f.FailurePolicy
	if len(f.Children) > 0 {
		nj.Children = make([]backend.NewJob, len(f.Children))
		for i := range f.Children {
			nj.Children[i] = f.Children[i].newJob(defaults)
		}
	}
	return nj
}

// flowNode builds the node of an added job from what was asked and what
// the store reported, reading back only duplicates, through rd.
func (q *Queue) flowNode(ctx context.Context, rd jobReader, queue string, parent *JobRef, nj *backend.NewJob, a backend.Added, now time.Time) (*FlowNode, error) {
	if nj.Queue != "" {
		queue = nj.Queue
	}
	if a.Queue != "" {
		queue = a.Queue
	}
	owner := q.in(queue)
	n := &FlowNode{}
	if a.Duplicate {
		rec, err := rd.Job(ctx, queue, a.ID)
		switch {
		case a.Dedup != "" && errors.Is(err, ErrNotFound):
			// A throttled key outlives its job: the job is gone.
			rec = &backend.Job{Queue: queue, ID: a.ID}
		case err != nil:
			return nil, fmt.Errorf("drover: add to %s: read existing job %s: %w", queue, a.ID, err)
		}
		n.Job = newJob(owner, rec)
		n.Job.Duplicate, n.Job.Dedup = true, a.Dedup
		return n, nil
	}
	r := nj.Record(queue, a.ID, now)
	rec := &r
	rec.FailurePolicy = nj.FailurePolicy
	if parent != nil {
		p := *parent
		rec.Parent = &p
	}
	self := JobRef{Queue: queue, ID: a.ID}
	if len(nj.Children) > 0 {
		rec.State = StateWaitingChildren
		if len(a.Children) != len(nj.Children) {
			return nil, fmt.Errorf("drover: add flow: store reported %d children of %s for %d", len(a.Children), self, len(nj.Children))
		}
	}
	for i := range nj.Children {
		c, err := q.flowNode(ctx, rd, queue, &self, &nj.Children[i], a.Children[i], now)
		if err != nil {
			return nil, err
		}
		rec.Children = append(rec.Children, JobRef{Queue: c.Job.Queue, ID: c.Job.ID})
		n.Children = append(n.Children, c)
	}
	n.Job = newJob(owner, rec)
	return n, nil
}

// Parent returns the job's flow parent, or nil if it has none.
func (j *Job) Parent() *JobRef {
	if j.Job.Parent == nil {
		return nil
	}
	p := *j.Job.Parent
	return &p
}

// ChildrenValues returns the results of the job's completed children, by
// "queue/id". In a parent's handler these are all its children that
// completed.
func (j *Job) ChildrenValues() map[string][]byte {
	out := make(map[string][]byte)
	for k, o := range j.ChildOutcomes {
		if o.State == StateCompleted {
			out[k] = o.Result
		}
	}
	return out
}

// FailedChildren returns the failure reasons of children that failed while
// the job went on (PolicyIgnore or PolicyContinue), by "queue/id".
func (j *Job) FailedChildren() map[string]string {
	out := make(map[string]string)
	for k, o := range j.ChildOutcomes {
		if o.State == StateFailed {
			out[k] = o.Reason
		}
	}
	return out
}

// Dependency is one child of a flow job and where it is now.
type Dependency struct {
	Ref JobRef
	// State is the child's current state; empty when Removed.
	State JobState
	// Removed is set when the child no longer exists in the store.
	Removed bool
	// Outcome is how the child ended, as its parent recorded it; nil while
	// it is pending.
	Outcome *ChildOutcome
}

// Dependencies returns the job's children, as currently attached to it in
// the store, each with its current state.
func (j *Job) Dependencies(ctx context.Context) ([]Dependency, error) {
	if err := j.q.check(); err != nil {
		return nil, err
	}
	rec, err := j.q.b.Job(ctx, j.Queue, j.ID)
	if err != nil {
		return nil, fmt.Errorf("drover: dependencies of %s/%s: %w", j.Queue, j.ID, err)
	}
	outcomes := maps.Clone(rec.ChildOutcomes)
	deps := make([]Dependency, 0, len(rec.Children))
	for _, c := range rec.Children {
		d := Dependency{Ref: c}
		if o, ok := outcomes[c.String()]; ok {
			d.Outcome = &o
		}
		child, err := j.q.b.Job(ctx, c.Queue, c.ID)
		switch {
		case errors.Is(err, ErrNotFound):
			d.Removed = true
		case err != nil:
			return nil, fmt.Errorf("drover: dependencies of %s/%s: child %s: %w", j.Queue, j.ID, c, err)
		default:
			d.State = child.State
		}
		deps = append(deps, d)
	}
	return deps, nil
}
