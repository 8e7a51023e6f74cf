package backend

import "time"

// Outcome is how an attempt ends.
type Outcome uint8

// Outcomes of Settle.
const (
	// OutcomeComplete: the job completed with Result.
	OutcomeComplete Outcome = iota + 1
	// OutcomeFail: the job failed for good with Reason.
	OutcomeFail
	// OutcomeRetry: the attempt failed with Reason; the job runs again after
	// RetryDelay (waiting at once when zero, else delayed).
	OutcomeRetry
	// OutcomeRelease: the worker gives the job back unrun (shutdown). It is
	// waiting again, at the front of its priority, and the attempt does
	// not count.
	OutcomeRelease
	// OutcomeSnooze: the handler asked to run again later. The job is
	// delayed for RetryDelay (waiting at once when zero), and the attempt
	// does not count.
	OutcomeSnooze
)

func (o Outcome) String() string {
	switch o {
	case OutcomeComplete:
		return "complete"
	case OutcomeFail:
		return "fail"
	case OutcomeRetry:
		return "retry"
	case OutcomeRelease:
		return "release"
	case OutcomeSnooze:
		return "snooze"
	}
	return "unknown"
}

// Settlement ends one attempt.
type Settlement struct {
	Lease      Lease
	Outcome    Outcome
	Result     []byte
	Reason     string
	Stacktrace []string
	RetryDelay time.Duration
	// HoldQueue, with OutcomeRelease, holds the whole queue for this long
	// from now, as Limiter.Hold does, in the same step: a handler that
	// learns it is rate limited gives its job back unrun (the attempt does
	// not count) and keeps every worker from starting another too soon.
	HoldQueue time.Duration
}

// A job that Cancel marked is not retried, released or snoozed: such a
// settlement fails it as cancelled.

// SettleRequest ends attempts. Each settlement is applied on its own: one
// with a stale lease does not stop the others. A store applies a request in
// as few atomic steps as it can.
type SettleRequest struct {
	Settlements []Settlement
}

// SettleResult has one entry per settlement, in order: nil when it was
// applied, else an error such as ErrLeaseLost.
type SettleResult struct {
	Errs []error
}
