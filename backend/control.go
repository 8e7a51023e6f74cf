package backend

import (
	"context"
	"time"
)

// JobController is the optional capability to act on jobs after they
// were added: retry, promote, change, cancel, and application events.
// Each call is one atomic step, and appends exactly one event per job it
// changes.
type JobController interface {
	// Retry moves failed or completed jobs back to waiting, at the back of
	// their priority, with their attempts and stalls reset and their
	// result, failure reason and stack trace cleared; each gets a retried
	// event. A job named by ID that is not failed or completed is an
	// *WrongStateError, and nothing changes. A flow parent that failed
	// while some of its children were still pending goes back to
	// waiting-children instead, until they have ended.
	Retry(ctx context.Context, queue string, req *RetryRequest) (RetryResult, error)
	// Promote moves delayed jobs to waiting now, at the back of their
	// priority; each gets a promoted event. A job named by ID that is not
	// delayed is an *WrongStateError. A scheduler's pending iteration may
	// be promoted: it runs now, and its scheduler goes on.
	Promote(ctx context.Context, queue string, req *PromoteRequest) (PromoteResult, error)
	// Change changes a waiting or delayed job: its priority, its run time
	// (a later one makes a waiting job delayed, one not later than now
	// makes a delayed job waiting) and its data, with a changed event. A
	// delayed job whose run time has come becomes waiting on any change. A
	// job in another state is an *WrongStateError; a job whose place
	// changes goes to the back of its line.
	Change(ctx context.Context, queue string, req *ChangeRequest) error
	// Cancel fails a waiting, delayed or waiting-children job at once
	// with CancelledReason, not retried, with a cancelled event (its flow
	// parent is told, as of any failure). An active job is marked: Renew
	// reports its lease in RenewResult.Cancelled, so that its worker
	// cancels the handler and settles the attempt as failed, not retried;
	// if its worker is gone, the job fails as cancelled when its lease
	// expires. A final job is an *WrongStateError; a job marked already
	// changes nothing. A scheduler's pending iteration may be cancelled:
	// it fails, and its scheduler goes on with its next run, created in
	// the same step as when the iteration is leased.
	Cancel(ctx context.Context, queue string, req *CancelRequest) (CancelResult, error)
	// Publish appends an application event (EventPublished) to the
	// queue's log and returns its ID.
	Publish(ctx context.Context, queue string, req *PublishRequest) (uint64, error)
}

// MaxBulk is the most jobs one Retry or Promote call changes; a caller
// that wants more calls again.
const MaxBulk = 1000

// CancelledReason is the failure reason of a cancelled job, followed by
// ": " and the reason the canceller gave, if any (see CancelFailure).
const CancelledReason = "job cancelled"

// CancelFailure returns the failure reason of a job cancelled for reason.
func CancelFailure(reason string) string {
	if reason == "" {
		return CancelledReason
	}
	return CancelledReason + ": " + reason
}

// RetryRequest selects the jobs Retry moves back to waiting: one job by
// ID, or up to Limit jobs of State (StateFailed or StateCompleted), those
// that finished first first.
type RetryRequest struct {
	ID    string
	State JobState
	// Limit caps a retry by state: 1 to MaxBulk; 0 means MaxBulk.
	Limit int
}

// RetryResult lists the jobs retried.
type RetryResult struct {
	IDs []string
}

// PromoteRequest selects the delayed jobs Promote makes waiting: one job
// by ID, or with ID empty up to Limit of them, those due first first.
type PromoteRequest struct {
	ID string
	// Limit caps a promotion in bulk: 1 to MaxBulk; 0 means MaxBulk.
	Limit int
}

// PromoteResult lists the jobs promoted.
type PromoteResult struct {
	IDs []string
}

// ChangeRequest changes a waiting or delayed job. A nil field leaves that
// part of the job as it is.
type ChangeRequest struct {
	ID       string
	Priority *int
	// RunAt is the job's new run time; one not later than now makes it
	// waiting.
	RunAt *time.Time
	Data  *[]byte
}

// CancelRequest cancels one job.
type CancelRequest struct {
	ID string
	// Reason says why, for the job's failure reason and the handler's
	// context cause; it may be empty.
	Reason string
}

// CancelResult reports what Cancel did.
type CancelResult struct {
	// Active is set when the job was running: it is marked, and fails as
	// cancelled when its worker settles it or its lease expires.
	Active bool
}

// PublishRequest is an application event.
type PublishRequest struct {
	// Name names the event (Event.Name); it is not empty.
	Name string
	// Data is the event's payload (Event.Data), within the payload limit.
	Data []byte
}
