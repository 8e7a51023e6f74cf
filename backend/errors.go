package backend

import (
	"errors"
	"fmt"
)

// Sentinel errors. Stores wrap them (fmt.Errorf("%w: %w", sentinel, cause))
// so that callers can test with errors.Is while the cause stays visible.
var (
	// ErrNotFound: the job, scheduler or queue named in the call does not
	// exist. Nothing was changed.
	ErrNotFound = errors.New("drover: not found")

	// ErrLeaseLost: the lease token no longer holds (the lease expired and
	// the job was recovered, or it was settled already). The attempt was not
	// settled by this call; retrying with the same lease cannot succeed.
	ErrLeaseLost = errors.New("drover: lease lost")

	// ErrInvalid: the request was rejected before anything was written; the
	// store is as it was. The error is usually a *ValidationError that names
	// the field and, for bulk calls, the index of the bad entry.
	ErrInvalid = errors.New("drover: invalid input")

	// ErrTooLarge: a payload (data, result, progress, log line) is over the
	// store's limit. It is reported inside a *ValidationError, so
	// errors.Is(err, ErrInvalid) holds too. Nothing was written.
	ErrTooLarge = errors.New("drover: payload too large")

	// ErrClosed: the store or queue was closed before or during the call. An
	// operation that returned ErrClosed was not applied.
	ErrClosed = errors.New("drover: closed")

	// ErrLocked: another process holds the store (a bbolt file is opened by
	// one process at a time). Nothing was opened; retry once the other
	// process has exited.
	ErrLocked = errors.New("drover: store locked by another process")

	// ErrCorrupt: the store's file is damaged (truncated, overwritten, or
	// not a store file at all). Nothing was written: from Open, nothing was
	// opened either; from another call, the call read a damaged record and
	// was not applied. Retrying cannot help. Restore the file from a
	// backup, or move it aside to start an empty store.
	ErrCorrupt = errors.New("drover: store file is damaged")

	// ErrRevisionMismatch: a compare-and-set found a revision other than the
	// expected one. Nothing was written; read the record again and retry.
	ErrRevisionMismatch = errors.New("drover: revision mismatch")

	// ErrJobActive: the job is leased by a worker and the operation (remove,
	// obliterate without force) would pull it from under that worker.
	// Nothing was changed.
	ErrJobActive = errors.New("drover: job is active")

	// ErrSchedulerIteration: the job is the pending (waiting or delayed)
	// iteration of a job scheduler, which exists for as long as its
	// scheduler does; removing it alone would leave the scheduler with no
	// next run. Nothing was changed; remove the scheduler instead.
	ErrSchedulerIteration = errors.New("drover: job is the pending iteration of a job scheduler")

	// ErrWrongState: the job is not in a state the call accepts (retrying
	// a job that has not finished, promoting one that is not delayed,
	// changing one that runs). The error is a *WrongStateError that names
	// the job's state. Nothing was changed.
	ErrWrongState = errors.New("drover: job is not in a state the call accepts")

	// ErrCancelled is the cause of a handler context cancelled because the
	// job was cancelled (Cancel), and is wrapped in the failure of such an
	// attempt: the job failed and is not retried.
	ErrCancelled = errors.New("drover: job cancelled")

	// ErrConflict: a caller-chosen ID is taken by a job that cannot take the
	// requested role (a flow child that exists outside this flow, a cycle).
	// Nothing was written.
	ErrConflict = errors.New("drover: conflicting job id")

	// ErrEventsTrimmed: the requested position in the event log is older
	// than the oldest event kept. The error is an *EventsTrimmedError that
	// gives the first ID still available; no event was skipped silently.
	ErrEventsTrimmed = errors.New("drover: events trimmed")

	// ErrEventsAhead: the requested position in the event log is past the
	// newest event the queue ever had, so it cannot come from this log (a
	// cursor of another queue or store, or of a log the server lost). The
	// error is an *EventsAheadError that gives the newest ID; waiting
	// would not help, since the events that later take those IDs would be
	// skipped.
	ErrEventsAhead = errors.New("drover: event cursor is ahead of the log")

	// ErrUnsupported: the store does not have the capability the call
	// needs (for example a flow across Redis Cluster slots). Nothing was
	// written.
	ErrUnsupported = errors.New("drover: unsupported by this backend")

	// ErrDenied: the store refused the caller: a wrong or missing password,
	// or a user whose permissions do not allow drover's commands. Nothing
	// was applied; retrying cannot help until the credentials or
	// permissions are fixed.
	ErrDenied = errors.New("drover: access denied by the store")

	// ErrUnavailable: the store could not be reached or did not answer in
	// time. The operation may or may not have been applied; callers retry
	// only what is safe to repeat (Lease, Renew, reads, Add with a
	// caller-chosen ID, Settle — a repeated Settle reports ErrLeaseLost if
	// the first one landed).
	ErrUnavailable = errors.New("drover: backend unavailable")

	// ErrNotCommitted: an add made in an application's transaction (Tx)
	// has no result, because the transaction has not run yet or was
	// discarded; the jobs were not added.
	ErrNotCommitted = errors.New("drover: transaction not committed")
)

// sentinels lists every sentinel above, for IsSentinel.
var sentinels = []error{
	ErrNotFound, ErrLeaseLost, ErrInvalid, ErrTooLarge, ErrClosed, ErrLocked, ErrCorrupt, ErrRevisionMismatch,
	ErrJobActive, ErrSchedulerIteration, ErrWrongState, ErrCancelled, ErrConflict, ErrEventsTrimmed, ErrEventsAhead,
	ErrUnsupported, ErrDenied, ErrUnavailable, ErrNotCommitted,
}

// IsSentinel reports whether err matches one of the sentinels of this
// package: a store uses it to pass its own errors through unchanged while
// it translates the errors of the library below it.
func IsSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// ValidationError reports bad input. It matches ErrInvalid with errors.Is,
// and also Err when that is set (for example ErrTooLarge).
type ValidationError struct {
	// Index is the position of the bad entry in a bulk call, or -1.
	Index int
	// Field names the offending field, such as "Name" or "Delay".
	Field string
	// Reason says what is wrong, in words.
	Reason string
	// Err is an optional more specific sentinel, such as ErrTooLarge, or
	// the cause, such as the error of a failed stat of a path.
	Err error
}

func (e *ValidationError) Error() string {
	if e.Index >= 0 {
		return fmt.Sprintf("drover: invalid input: job %d: %s: %s", e.Index, e.Field, e.Reason)
	}
	return fmt.Sprintf("drover: invalid input: %s: %s", e.Field, e.Reason)
}

// Is reports whether target is ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Unwrap returns the more specific sentinel, if any.
func (e *ValidationError) Unwrap() error { return e.Err }

// Invalid returns a *ValidationError for a single (non-bulk) field.
func Invalid(field, reason string) *ValidationError {
	return &ValidationError{Index: -1, Field: field, Reason: reason}
}

// EventsTrimmedError reports a read position older than the oldest event
// still kept. It matches ErrEventsTrimmed.
type EventsTrimmedError struct {
	// After is the position the reader asked to read after.
	After uint64
	// FirstAvailable is the ID of the oldest event still kept (or the ID the
	// next event will get, when the log is empty).
	FirstAvailable uint64
}

func (e *EventsTrimmedError) Error() string {
	return fmt.Sprintf("drover: events trimmed: asked for events after %d, oldest kept is %d", e.After, e.FirstAvailable)
}

// Is reports whether target is ErrEventsTrimmed.
func (e *EventsTrimmedError) Is(target error) bool { return target == ErrEventsTrimmed }

// EventsAheadError reports a read position past the newest event of the
// queue. It matches ErrEventsAhead.
type EventsAheadError struct {
	// After is the position the reader asked to read after.
	After uint64
	// Last is the ID of the newest event appended to the queue (0 if it
	// never had one).
	Last uint64
}

func (e *EventsAheadError) Error() string {
	return fmt.Sprintf("drover: event cursor is ahead of the log: asked for events after %d, the newest is %d", e.After, e.Last)
}

// Is reports whether target is ErrEventsAhead.
func (e *EventsAheadError) Is(target error) bool { return target == ErrEventsAhead }

// WrongStateError reports a job that is not in a state the call accepts.
// It matches ErrWrongState.
type WrongStateError struct {
	Queue, ID string
	// State is the job's state; Want the states the call accepts.
	State JobState
	Want  []JobState
}

func (e *WrongStateError) Error() string {
	return fmt.Sprintf("drover: job %s in %s is %s, not %s", e.ID, e.Queue, e.State, joinStates(e.Want))
}

// Is reports whether target is ErrWrongState.
func (e *WrongStateError) Is(target error) bool { return target == ErrWrongState }

func joinStates(s []JobState) string {
	out := ""
	for i, st := range s {
		switch {
		case i == 0:
		case i == len(s)-1:
			out += " or "
		default:
			out += ", "
		}
		out += string(st)
	}
	return out
}
