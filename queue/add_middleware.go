package queue

import (
	"context"
	"errors"
	"fmt"

	"github.com/droverhq/drover/backend"
)

// AddOp names the kind of call that adds jobs.
type AddOp string

// The kinds of add. The typed and JSON forms (AddArgs, AddJSON, …) are
// the kind of the call they make.
const (
	AddOpAdd  AddOp = "add"      // Add, AddTx: one job
	AddOpBulk AddOp = "add_bulk" // AddBulk, AddBulkTx
	AddOpFlow AddOp = "add_flow" // AddFlow, AddFlows
	// AddOpScheduler is UpsertJobScheduler: its one job is the
	// scheduler's template, whose Meta every iteration the scheduler
	// makes from now on carries, and what it adds is the pending
	// iteration that replaces the one before.
	AddOpScheduler AddOp = "upsert_scheduler"
)

// AddCall is one call that adds jobs through a queue, as add middleware
// sees it.
type AddCall struct {
	// Queue is the name of the queue added to. A flow job may be in
	// another (its NewJob.Queue).
	Queue string
	// Op is the kind of call.
	Op AddOp
	// Tx is set for an add in an application's transaction (AddTx,
	// AddBulkTx): the jobs exist once that transaction commits.
	Tx bool
	// SchedulerID is the ID of the job scheduler of an AddOpScheduler
	// call; else empty.
	SchedulerID string
	// Jobs are the jobs about to be added, in the order of the call, with
	// the queue's Defaults applied; a flow's children are in their
	// Children. Middleware may change a job's Meta (each job has a map of
	// its own, or nil) and its other fields, but not the number of jobs
	// or children. The store checks them after all middleware has run.
	Jobs []backend.NewJob
	// Added is what the store reported, in the order of Jobs: set once
	// next has returned nil, but for an add in a Redis transaction, which
	// is known only after EXEC. For AddOpScheduler it is the pending
	// iteration, with an empty ID when the scheduler has no run left.
	Added []backend.Added
}

// AddFunc adds the jobs of call to the store.
type AddFunc func(ctx context.Context, call *AddCall) error

// AddMiddleware wraps every add made through a queue (Options.AddMiddleware)
// as Middleware wraps attempts: it returns the AddFunc to call instead of
// next, which usually calls next once, with the call it was given and
// the call's context or one derived from it; it may change the call's
// jobs before and look at the result after. An error it returns fails the
// add as the store's would; an add that it does not pass on, or whose
// jobs it adds or removes, fails and writes nothing.
type AddMiddleware func(next AddFunc) AddFunc

// chainAdd wraps store in mw, the first outermost; nil entries are
// skipped.
func chainAdd(store AddFunc, mw []AddMiddleware) AddFunc {
	for i := len(mw) - 1; i >= 0; i-- {
		if mw[i] != nil {
			store = mw[i](store)
		}
	}
	return store
}

// runAdd runs call through the queue's add middleware to store. The
// store is not called when middleware changed the number of jobs or
// children, and an add that middleware did not let reach the store is an
// error.
func (q *Queue) runAdd(ctx context.Context, call *AddCall, store AddFunc) error {
	n, size := len(call.Jobs), treeSize(call.Jobs)
	checked := func(ctx context.Context, c *AddCall) error {
		if c != call || treeSize(c.Jobs) != size || len(c.Jobs) != n {
			return errors.New("add middleware changed the jobs of the call")
		}
		return store(ctx, c)
	}
	if err := chainAdd(checked, q.addMW)(ctx, call); err != nil {
		return err
	}
	if len(call.Added) != n && !(call.Tx && call.Added == nil) {
		return fmt.Errorf("add middleware reported %d added jobs for %d", len(call.Added), n)
	}
	return nil
}

// treeSize counts the jobs of a request, flow children included.
func treeSize(jobs []backend.NewJob) int {
	n := len(jobs)
	for i := range jobs {
		n += treeSize(jobs[i].Children)
	}
	return n
}
