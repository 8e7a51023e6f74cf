package queue

import (
	"errors"

	"github.com/droverhq/drover/backend"
)

// Errors re-exported from the backend package, so callers need not import
// it. Each keeps the contract documented there.
var (
	ErrNotFound           = backend.ErrNotFound
	ErrLeaseLost          = backend.ErrLeaseLost
	ErrInvalid            = backend.ErrInvalid
	ErrTooLarge           = backend.ErrTooLarge
	ErrClosed             = backend.ErrClosed
	ErrLocked             = backend.ErrLocked
	ErrCorrupt            = backend.ErrCorrupt
	ErrRevisionMismatch   = backend.ErrRevisionMismatch
	ErrJobActive          = backend.ErrJobActive
	ErrSchedulerIteration = backend.ErrSchedulerIteration
	ErrConflict           = backend.ErrConflict
	ErrEventsTrimmed      = backend.ErrEventsTrimmed
	ErrEventsAhead        = backend.ErrEventsAhead
	ErrUnsupported        = backend.ErrUnsupported
	ErrUnavailable        = backend.ErrUnavailable
	ErrNotCommitted       = backend.ErrNotCommitted
	ErrDenied             = backend.ErrDenied
)

// ValidationError reports bad input; see backend.ValidationError.
type ValidationError = backend.ValidationError

// EventsTrimmedError reports a read position that was trimmed away; see
// backend.EventsTrimmedError.
type EventsTrimmedError = backend.EventsTrimmedError

// EventsAheadError reports a read position past the newest event; see
// backend.EventsAheadError.
type EventsAheadError = backend.EventsAheadError

// ErrUnrecoverable marks a handler error that must not be retried: the job
// fails at once, whatever attempts it has left.
var ErrUnrecoverable = errors.New("drover: unrecoverable")

// Unrecoverable wraps err so that the job fails without further attempts.
// errors.Is(Unrecoverable(err), err) and errors.Is(…, ErrUnrecoverable)
// both hold.
func Unrecoverable(err error) error {
	if err == nil {
		err = errors.New("unrecoverable")
	}
	return &unrecoverableError{err: err}
}

type unrecoverableError struct{ err error }

func (e *unrecoverableError) Error() string        { return e.err.Error() }
func (e *unrecoverableError) Unwrap() error        { return e.err }
func (e *unrecoverableError) Is(target error) bool { return target == ErrUnrecoverable }
