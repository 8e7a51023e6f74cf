package backend

import (
	"context"
	"time"
)

// Admin is the optional capability to manage a queue as a whole.
type Admin interface {
	// SetPaused pauses or resumes a queue. While paused, Lease takes no job;
	// adds, settles and promotions go on.
	SetPaused(ctx context.Context, queue string, paused bool) error
	// Drain removes the waiting jobs, and the delayed ones too when
	// req.Delayed is set. Active jobs, flows waiting for children and the
	// pending iterations of job schedulers stay.
	Drain(ctx context.Context, queue string, req *DrainRequest) (DrainResult, error)
	// Clean removes jobs of one state that entered it longer ago than
	// req.Grace, at most req.Limit of them (0: all). The pending
	// iterations of job schedulers stay.
	Clean(ctx context.Context, queue string, req *CleanRequest) (CleanResult, error)
	// Obliterate removes the queue and everything in it, its events and
	// schedulers included. With active jobs it fails with ErrJobActive
	// unless req.Force is set.
	Obliterate(ctx context.Context, queue string, req *ObliterateRequest) error
	// RemoveJob removes one job. An active job is not removed
	// (ErrJobActive), nor is the pending iteration of a job scheduler
	// (ErrSchedulerIteration: remove the scheduler instead). Removing a flow parent removes its descendants that
	// are not active, and detaches the active ones: they finish on their
	// own and find no parent to report to. Removing a pending child of a
	// waiting parent drops that dependency; if it was the last pending one,
	// the parent becomes ready.
	RemoveJob(ctx context.Context, queue string, id string) error
}

// DrainRequest selects what Drain removes.
type DrainRequest struct {
	Delayed bool
}

// DrainResult counts the removed jobs.
type DrainResult struct {
	Removed int
}

// CleanRequest selects what Clean removes.
type CleanRequest struct {
	// State is StateCompleted, StateFailed, StateWaiting or StateDelayed.
	State JobState
	// Grace keeps jobs younger than this (by finish time for final states,
	// by creation time otherwise).
	Grace time.Duration
	// Limit caps the number removed; 0 means no cap.
	Limit int
}

// CleanResult lists the removed job IDs.
type CleanResult struct {
	IDs []string
}

// ObliterateRequest controls Obliterate.
type ObliterateRequest struct {
	Force bool
}

// JobUpdater is the optional capability to report progress and keep log
// lines for a job. Neither needs the lease: BullMQ semantics.
type JobUpdater interface {
	// UpdateProgress stores progress (JSON) on the job and appends a
	// progress event.
	UpdateProgress(ctx context.Context, queue, id string, progress []byte) error
	// AddLog appends a log line to the job and returns the new line count.
	AddLog(ctx context.Context, queue, id, line string) (int, error)
	// Logs returns log lines [req.Offset, req.Offset+req.Limit) and the
	// total count.
	Logs(ctx context.Context, queue, id string, req *LogsRequest) (LogsResult, error)
}

// LogsRequest pages through a job's log lines.
type LogsRequest struct {
	Offset int
	// Limit is the page size; 0 means all.
	Limit int
}

// LogsResult is one page of log lines.
type LogsResult struct {
	Lines []string
	Total int
}

// QueueLister is the optional capability to name every queue of a store.
// Tools (the CLI, metrics) use it to find the queues nobody named to them.
// It may read more than one key or bucket per queue, or (on Redis) scan
// the key space; it is not for a hot path.
type QueueLister interface {
	// Queues returns the names of the queues that have ever had a job, an
	// event, a job scheduler or a pause (every change appends an event),
	// sorted, and an empty slice when there is none. A queue stays
	// listed when its jobs are gone, even after Obliterate: the store
	// keeps its ID counters so that no ID is reused. Reads, and calls
	// refused before they changed anything, list no queue.
	Queues(ctx context.Context) ([]string, error)
}
