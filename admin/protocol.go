package admin

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/droverhq/drover/backend"
)

// call is the body of a request: the arguments of one store method.
type call struct {
	Queue  string `json:"queue,omitempty"`
	ID     string `json:"id,omitempty"`
	Paused bool   `json:"paused,omitempty"`
	// Req is the method's request struct, as JSON.
	Req json.RawMessage `json:"req,omitempty"`
}

// reply is the body of a response: a result, or an error.
type reply struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *wireError      `json:"error,omitempty"`
}

// wireError is an error as the endpoint sends it. The fields after
// Message carry the typed errors' details.
type wireError struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`

	// *backend.WrongStateError
	Queue string             `json:"queue,omitempty"`
	ID    string             `json:"id,omitempty"`
	State backend.JobState   `json:"state,omitempty"`
	Want  []backend.JobState `json:"want,omitempty"`
	// *backend.ValidationError
	Index  int    `json:"index,omitempty"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason,omitempty"`
	// *backend.EventsTrimmedError and *backend.EventsAheadError
	After          uint64 `json:"after,omitempty"`
	FirstAvailable uint64 `json:"first_available,omitempty"`
	Last           uint64 `json:"last,omitempty"`
}

// Code names the class of an error in the endpoint's replies: one per
// sentinel of package backend, and CodeInternal for the rest.
type Code string

// The error codes, each with the sentinel it stands for.
const (
	CodeNotFound           Code = "not_found"           // backend.ErrNotFound
	CodeLeaseLost          Code = "lease_lost"          // backend.ErrLeaseLost
	CodeTooLarge           Code = "too_large"           // backend.ErrTooLarge (and ErrInvalid)
	CodeInvalid            Code = "invalid"             // backend.ErrInvalid
	CodeClosed             Code = "closed"              // backend.ErrClosed
	CodeLocked             Code = "locked"              // backend.ErrLocked
	CodeCorrupt            Code = "corrupt"             // backend.ErrCorrupt
	CodeRevisionMismatch   Code = "revision_mismatch"   // backend.ErrRevisionMismatch
	CodeJobActive          Code = "job_active"          // backend.ErrJobActive
	CodeSchedulerIteration Code = "scheduler_iteration" // backend.ErrSchedulerIteration
	CodeWrongState         Code = "wrong_state"         // backend.ErrWrongState
	CodeCancelled          Code = "cancelled"           // backend.ErrCancelled
	CodeConflict           Code = "conflict"            // backend.ErrConflict
	CodeEventsTrimmed      Code = "events_trimmed"      // backend.ErrEventsTrimmed
	CodeEventsAhead        Code = "events_ahead"        // backend.ErrEventsAhead
	CodeUnsupported        Code = "unsupported"         // backend.ErrUnsupported
	CodeDenied             Code = "denied"              // backend.ErrDenied
	CodeUnavailable        Code = "unavailable"         // backend.ErrUnavailable
	CodeNotCommitted       Code = "not_committed"       // backend.ErrNotCommitted
	CodeInternal           Code = "internal"            // anything else
)

// codes maps each code to its sentinel and HTTP status, the more
// specific first: an error matching ErrTooLarge matches ErrInvalid too.
var codes = []struct {
	code     Code
	sentinel error
	status   int
}{
	{CodeNotFound, backend.ErrNotFound, http.StatusNotFound},
	{CodeLeaseLost, backend.ErrLeaseLost, http.StatusConflict},
	{CodeTooLarge, backend.ErrTooLarge, http.StatusRequestEntityTooLarge},
	{CodeInvalid, backend.ErrInvalid, http.StatusBadRequest},
	{CodeClosed, backend.ErrClosed, http.StatusServiceUnavailable},
	{CodeLocked, backend.ErrLocked, http.StatusLocked},
	{CodeCorrupt, backend.ErrCorrupt, http.StatusInternalServerError},
	{CodeRevisionMismatch, backend.ErrRevisionMismatch, http.StatusConflict},
	{CodeJobActive, backend.ErrJobActive, http.StatusConflict},
	{CodeSchedulerIteration, backend.ErrSchedulerIteration, http.StatusConflict},
	{CodeWrongState, backend.ErrWrongState, http.StatusConflict},
	{CodeCancelled, backend.ErrCancelled, http.StatusConflict},
	{CodeConflict, backend.ErrConflict, http.StatusConflict},
	{CodeEventsTrimmed, backend.ErrEventsTrimmed, http.StatusGone},
	{CodeEventsAhead, backend.ErrEventsAhead, http.StatusConflict},
	{CodeUnsupported, backend.ErrUnsupported, http.StatusNotImplemented},
	{CodeDenied, backend.ErrDenied, http.StatusForbidden},
	{CodeUnavailable, backend.ErrUnavailable, http.StatusServiceUnavailable},
	{CodeNotCommitted, backend.ErrNotCommitted, http.StatusConflict},
}

// encodeError turns a store's error into what the endpoint sends, and its
// HTTP status.
func encodeError(err error) (*wireError, int) {
	w := &wireError{Code: CodeInternal, Message: err.Error()}
	status := http.StatusInternalServerError
	for _, c := range codes {
		if errors.Is(err, c.sentinel) {
			w.Code, status = c.code, c.status
			break
		}
	}
	if e, ok := errors.AsType[*backend.WrongStateError](err); ok {
		w.Queue, w.ID, w.State, w.Want = e.Queue, e.ID, e.State, e.Want
	}
	if e, ok := errors.AsType[*backend.ValidationError](err); ok {
		w.Index, w.Field, w.Reason = e.Index, e.Field, e.Reason
	}
	if e, ok := errors.AsType[*backend.EventsTrimmedError](err); ok {
		w.After, w.FirstAvailable = e.After, e.FirstAvailable
	}
	if e, ok := errors.AsType[*backend.EventsAheadError](err); ok {
		w.After, w.Last = e.After, e.Last
	}
	return w, status
}

// decode rebuilds an error the endpoint sent: the typed error of its code
// where there is one, so that errors.As finds it, else an error that
// matches the code's sentinel and says what the store said.
func (w *wireError) decode() error {
	var sentinel error
	for _, c := range codes {
		if c.code == w.Code {
			sentinel = c.sentinel
		}
	}
	var typed error
	switch w.Code {
	case CodeWrongState:
		typed = &backend.WrongStateError{Queue: w.Queue, ID: w.ID, State: w.State, Want: w.Want}
	case CodeInvalid, CodeTooLarge:
		if w.Field != "" {
			v := &backend.ValidationError{Index: w.Index, Field: w.Field, Reason: w.Reason}
			if w.Code == CodeTooLarge {
				v.Err = backend.ErrTooLarge
			}
			typed = v
		}
	case CodeEventsTrimmed:
		typed = &backend.EventsTrimmedError{After: w.After, FirstAvailable: w.FirstAvailable}
	case CodeEventsAhead:
		typed = &backend.EventsAheadError{After: w.After, Last: w.Last}
	}
	return &RemoteError{Code: w.Code, Message: w.Message, typed: typed, sentinel: sentinel}
}

// RemoteError is an error that the store behind an endpoint returned. Its
// message is the store's; it matches the sentinel its Code stands for,
// and unwraps to the typed error of the code (a *backend.WrongStateError,
// a *backend.ValidationError, an *backend.EventsTrimmedError or an
// *backend.EventsAheadError) when there is one.
type RemoteError struct {
	Code    Code
	Message string

	typed    error
	sentinel error
}

func (e *RemoteError) Error() string { return e.Message }

// Unwrap returns the typed error and the sentinel of the code.
func (e *RemoteError) Unwrap() []error {
	var out []error
	for _, err := range []error{e.typed, e.sentinel} {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}
