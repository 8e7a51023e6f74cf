package backend

import (
	"context"
	"strconv"
	"time"
)

// Scheduler is a job scheduler's record: a template and the plan of run
// times for its iteration jobs. The store does not interpret the repeat rule
// (Every or cron): the queue package plans run times and hands the store a
// list, so that a store never parses cron and a Lua script can create the
// next iteration in the same step that leases the current one.
//
// At any time a scheduler has at most one pending (delayed or waiting)
// iteration job, the one at Next, with ID IterationID(ID, Next).
type Scheduler struct {
	ID string
	// Revision is set by the store: 1 on create, one more on every write
	// (an upsert, or a lease of its current iteration).
	Revision uint64
	// Repeat is the repeat rule as the queue package encodes it; opaque to
	// the store.
	Repeat []byte
	// Template gives the name, data and options of each iteration. Its ID,
	// Queue, Delay, RunAt, LIFO and Children are ignored: each iteration
	// runs at its planned time, in the order it became ready.
	Template NewJob
	// Iterations counts the iteration jobs created so far. Kept by the
	// store: an iteration that an upsert removes and replaces before it ran
	// is not counted twice.
	Iterations int
	// Next is the run time of the pending iteration; zero when there is
	// none.
	Next time.Time
	// Upcoming are the planned run times after Next, ascending. Leasing the
	// current iteration pops the first one and creates its job.
	Upcoming []time.Time
	// Final says Upcoming holds every remaining run time (the queue package
	// planned up to an end date or a limit). A scheduler whose Next is zero
	// and which is Final is done: the store removes it.
	Final bool
	// UpdatedAt is set by the store on every write.
	UpdatedAt time.Time
}

// NeedsPlan reports whether the scheduler has run out of planned times
// while more may follow: the queue package should refill Upcoming.
func (s *Scheduler) NeedsPlan(lowWater int) bool {
	if s.Final {
		return false
	}
	return s.Next.IsZero() || len(s.Upcoming) < lowWater
}

// AnyRevision makes CompareAndUpsert skip the revision check.
const AnyRevision = ^uint64(0)

// IterationPrefix starts the ID of every scheduler iteration.
const IterationPrefix = "repeat:"

// IterationID returns the deterministic job ID of a scheduler's iteration at
// run time t, so that no retry or race can add a second job for one slot:
// IterationPrefix, the scheduler's ID, ":" and t in Unix milliseconds.
func IterationID(schedulerID string, t time.Time) string {
	return IterationPrefix + schedulerID + ":" + strconv.FormatInt(t.UnixMilli(), 10)
}

// CompareAndUpsertRequest writes a scheduler record and its pending iteration
// in one atomic step.
type CompareAndUpsertRequest struct {
	// Scheduler is the record to write. The store sets Revision,
	// Iterations and UpdatedAt.
	Scheduler Scheduler
	// ExpectRevision is the revision the record must have now: 0 for "must
	// not exist", AnyRevision to skip the check. On mismatch nothing is
	// written and the error is ErrRevisionMismatch.
	ExpectRevision uint64
	// KeepPending keeps the current pending iteration job as it is and only
	// writes the record (a refill of Upcoming). When false, the pending
	// iteration is removed and a new one is created at Scheduler.Next from
	// the template. If the ID of that slot is taken by a job that is not
	// pending (it ran before), the store moves on to the next free time in
	// Upcoming.
	KeepPending bool
}

// CompareAndUpsertResult is the record as stored.
type CompareAndUpsertResult struct {
	Scheduler Scheduler
	// Created is set when the record did not exist before.
	Created bool
}

// SchedulersRequest pages through the schedulers of a queue, ordered by ID.
type SchedulersRequest struct {
	Offset int
	// Limit is the page size; 0 means 100.
	Limit int
}

// SchedulersResult is one page.
type SchedulersResult struct {
	Schedulers []*Scheduler
}

// SchedulerStore is the optional capability to keep job schedulers. A store
// that has it also creates the next iteration whenever Lease takes the
// current one: the job whose ID is IterationID(s.ID, s.Next).
type SchedulerStore interface {
	// CompareAndUpsert writes a scheduler record if its revision is the
	// one the request expects, and in the same step replaces its pending
	// iteration (unless KeepPending); on a mismatch it writes nothing and
	// fails with ErrRevisionMismatch.
	CompareAndUpsert(ctx context.Context, queue string, req *CompareAndUpsertRequest) (CompareAndUpsertResult, error)
	// RemoveScheduler removes the record and its pending iteration job.
	// ErrNotFound if there is no such scheduler.
	RemoveScheduler(ctx context.Context, queue, id string) error
	// Scheduler returns one record, or ErrNotFound.
	Scheduler(ctx context.Context, queue, id string) (*Scheduler, error)
	Schedulers(ctx context.Context, queue string, req *SchedulersRequest) (SchedulersResult, error)
}
