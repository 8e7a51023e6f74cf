package queue

import (
	"context"
	"errors"
)

// Outcome is how a worker ends an attempt of a job.
type Outcome string

// The outcomes of an attempt.
const (
	// OutcomeCompleted: the handler returned no error.
	OutcomeCompleted Outcome = "completed"
	// OutcomeRetrying: the handler failed and the job has attempts left;
	// it runs again after its backoff.
	OutcomeRetrying Outcome = "retrying"
	// OutcomeFailed: the handler failed with no attempts left, or with an
	// error matching ErrUnrecoverable; the job failed for good.
	OutcomeFailed Outcome = "failed"
	// OutcomeSnoozed: the handler returned Snooze(d); the job is delayed
	// without using up the attempt.
	OutcomeSnoozed Outcome = "snoozed"
	// OutcomeRateLimited: the handler returned RateLimited(d); the job
	// waits again without using up the attempt, and the queue is held
	// for d.
	OutcomeRateLimited Outcome = "rate-limited"
	// OutcomeCancelled: the job was cancelled while it ran and its
	// handler failed; the job failed, not retried.
	OutcomeCancelled Outcome = "cancelled"
	// OutcomeReleased: the worker stopped and gave the job back before
	// the handler returned; it runs again without using up the attempt.
	OutcomeReleased Outcome = "released"
	// OutcomeLeaseLost: the worker lost the job's lease while the handler
	// ran; nothing is settled, and the store recovers the job as stalled.
	OutcomeLeaseLost Outcome = "lease-lost"
)

// AttemptOutcome returns how the worker ends the attempt of job whose
// handler returned err: for middleware that reports outcomes, to call
// with the context and job it was given and the error next returned. A
// handler that outlived its timeout and grace period has its attempt
// failed (or retried) whatever it returned. Outside a worker (a handler
// called directly) it judges by ctx and err alone.
//
// The outcome is the worker's decision; the store may still refuse the
// settlement when the lease was lost meanwhile.
func AttemptOutcome(ctx context.Context, job *Job, err error) Outcome {
	var cancelled bool
	if r := job.run; r != nil {
		switch {
		case r.lost.Load():
			return OutcomeLeaseLost
		case r.state.Load() == stateReleased:
			return OutcomeReleased
		case r.state.Load() == stateAbandoned:
			err = ErrTimeout
		}
		cancelled = r.cancelled.Load() != nil
	} else {
		_, cancelled = errors.AsType[*CancelledError](context.Cause(ctx))
	}
	if err == nil {
		return OutcomeCompleted
	}
	return failureOutcome(job, err, cancelled)
}

// failureOutcome is the outcome of an attempt of job whose handler failed
// with err; cancelled says the job was cancelled while it ran.
func failureOutcome(job *Job, err error, cancelled bool) Outcome {
	if cancelled {
		return OutcomeCancelled
	}
	if _, ok := snoozeOf(err); ok {
		return OutcomeSnoozed
	}
	if _, ok := RateLimitedFor(err); ok {
		return OutcomeRateLimited
	}
	if errors.Is(err, ErrUnrecoverable) || job.AttemptsMade+1 >= max(job.Attempts, 1) {
		return OutcomeFailed
	}
	return OutcomeRetrying
}
