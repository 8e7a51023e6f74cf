package backend

import "time"

// Lease is one worker's hold on one active job. Token is unique to this
// attempt: once the lease is settled or lost, no later lease has the same
// token.
type Lease struct {
	JobID string
	Token string
}

// StalledReason is the failure reason of a job that stalled more than
// LeaseRequest.MaxStalled times.
const StalledReason = "job stalled more than MaxStalled times"

// LeaseRequest asks for ready jobs.
type LeaseRequest struct {
	// Worker names the caller, for inspection.
	Worker string
	// Max is the most jobs to lease; at least 1.
	Max int
	// TTL is how long each lease holds unless renewed; more than 0.
	TTL time.Duration
	// Wait is how long to block when no job is ready. Zero returns at once.
	// The wait ends early when any change makes a job ready: an Add, a
	// delayed job falling due (also one added while the call waits), a
	// retry, a release, a resume, a flow parent whose children ended, an
	// expired lease.
	Wait time.Duration
	// MaxStalled is how many times a job may be recovered from an expired
	// lease; the recovery after that fails it.
	MaxStalled int
}

// LeaseResult holds the leased jobs, in the order they were taken. Each has
// State StateActive, Lease and LeaseExpiresAt set.
type LeaseResult struct {
	Jobs []*Job
}

// RenewRequest extends leases.
type RenewRequest struct {
	Leases []Lease
	// TTL is the new time to live of each lease, from now.
	TTL time.Duration
	// At, if set, is when the caller chose the leases to renew; a store
	// reckons the new expiry from it when it is earlier than the store's
	// now, so that a renewal that took long to arrive extends no lease
	// further than the caller meant. Tests read it too.
	At time.Time
}

// From returns the time a renewal at now reckons from: At when it is set
// and earlier, else now.
func (r *RenewRequest) From(now time.Time) time.Time {
	if !r.At.IsZero() && r.At.Before(now) {
		return r.At
	}
	return now
}

// RenewResult reports the leases that no longer hold. The others now expire
// at ExpiresAt.
type RenewResult struct {
	Lost      []Lease
	ExpiresAt time.Time
	// Cancelled lists the leases renewed whose jobs Cancel marked: their
	// workers are to stop the handlers and settle the attempts.
	Cancelled []Cancellation
}

// Cancellation is a cancel request for a running job.
type Cancellation struct {
	Lease  Lease
	Reason string
}
