package backend

import "context"

// Backend is the core of a store. All methods are safe for concurrent use.
// Every state change is one atomic step together with its events.
type Backend interface {
	// Add inserts jobs and flow trees, all or nothing. A job whose
	// caller-chosen ID exists already is reported as Duplicate and left as
	// it is. Add wakes as many waiting Lease calls as it made jobs ready.
	Add(ctx context.Context, queue string, req *AddRequest) (AddResult, error)
	// Lease first promotes delayed jobs that are due and recovers expired
	// leases, then moves up to req.Max ready jobs to active under fresh
	// leases. If none is ready it blocks up to req.Wait for one. A store
	// may hand jobs to a blocked Lease in the same step that makes them
	// ready; such a Lease returns them even if ctx ends meanwhile, since
	// they are leased to it already, so a caller must handle (or release)
	// the jobs of every Lease that returns them, whatever its ctx.
	Lease(ctx context.Context, queue string, req *LeaseRequest) (LeaseResult, error)
	// Renew extends leases that still hold and reports the lost ones.
	Renew(ctx context.Context, queue string, req *RenewRequest) (RenewResult, error)
	// Settle ends attempts whose lease still holds; it updates flow
	// parents and applies retention in the same step.
	Settle(ctx context.Context, queue string, req *SettleRequest) (SettleResult, error)
	// Job returns one job, or ErrNotFound.
	Job(ctx context.Context, queue, id string) (*Job, error)
	// Jobs returns one page of the jobs in a state.
	Jobs(ctx context.Context, queue string, req *JobsRequest) (JobsResult, error)
	// Counts returns the number of jobs in each state.
	Counts(ctx context.Context, queue string) (Counts, error)
	// Close releases the store. Calls after Close fail with ErrClosed.
	Close() error
}

// Full is a store with every optional capability; both of drover's stores
// are Full.
type Full interface {
	Backend
	Admin
	JobUpdater
	SchedulerStore
	EventLog
	JobController
	Deduplicator
	Limiter
}
