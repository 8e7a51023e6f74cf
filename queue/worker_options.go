package queue

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/droverhq/drover/backend"
)

// WorkerOptions configure a Worker. The zero value is ready to use.
type WorkerOptions struct {
	// BackoffFunc, when set, gives the delay before retrying a job whose
	// attempt failed, overriding the job's own Backoff. attempt is the
	// number of the attempt that failed (1 for the first) and err its
	// error. The result is capped at backend.MaxDelay; a negative one
	// means no delay. Defaults to nil: the job's Backoff applies.
	BackoffFunc func(attempt int, err error, job *Job) time.Duration
	// Clock tells the time for lease renewals, job timeouts, the shutdown
	// timeout and backoff waits; it should be the clock the store uses.
	// Defaults to the system clock.
	Clock backend.Clock
	// Concurrency is the most handlers that run at once. Defaults to 1.
	Concurrency int
	// ErrorBackoff gives the wait before the nth retry (1, 2, …) of a
	// store call that failed, such as a Lease while Redis restarts.
	// Defaults to an exponential backoff from 100ms to 5s, with jitter.
	ErrorBackoff func(n int) time.Duration
	// LeaseTTL is how long a lease holds unless renewed; a job whose worker
	// dies is recovered after about this long. Defaults to 30s.
	LeaseTTL time.Duration
	// LeaseWait is the longest one Lease call blocks when no job is ready.
	// Defaults to 5s.
	LeaseWait time.Duration
	// Logger receives the worker's logs. Defaults to slog.Default().
	Logger *slog.Logger
	// MaxStalled is how many times a job may be recovered after its
	// worker stopped renewing its lease; the recovery after that fails it.
	// Set -1 to fail a job at its first stall. Defaults to 1.
	MaxStalled int
	// Middleware wraps the handler, the first outermost, for every job the
	// worker runs; see Middleware. The worker recovers panics around all
	// of it. Defaults to none.
	Middleware []Middleware
	// Name names the worker in the store, for inspection. Defaults to
	// host-pid-random.
	Name string
	// RenewEvery is the time between lease renewals; it must be shorter
	// than LeaseTTL. Defaults to LeaseTTL/3.
	RenewEvery time.Duration
	// SettleTimeout bounds one Settle call; a failed call is retried until
	// the leases it carries have expired. Defaults to 10s.
	SettleTimeout time.Duration
	// ShutdownTimeout is how long a stopping worker lets running handlers
	// finish before it cancels their contexts and releases their jobs.
	// Defaults to 30s.
	ShutdownTimeout time.Duration
	// StrictPriority makes a worker of several queues (NewMultiWorker)
	// take jobs from the first of its queues that has one ready, rather
	// than from each in turn by weight. Defaults to false.
	StrictPriority bool
	// TimeoutGrace is how long a handler may run on after its job's
	// Timeout cancelled its context. After that the worker abandons it:
	// the attempt is recorded as failed (and retried if attempts remain)
	// and whatever the handler returns later is discarded. Defaults to 5s.
	TimeoutGrace time.Duration
}

func (o *WorkerOptions) withDefaults() WorkerOptions {
	var out WorkerOptions
	if o != nil {
		out = *o
	}
	if out.Clock == nil {
		out.Clock = backend.SystemClock()
	}
	out.Concurrency = cmp.Or(out.Concurrency, 1)
	if out.ErrorBackoff == nil {
		out.ErrorBackoff = defaultErrorBackoff
	}
	out.LeaseTTL = cmp.Or(out.LeaseTTL, 30*time.Second)
	out.LeaseWait = cmp.Or(out.LeaseWait, 5*time.Second)
	out.Logger = cmp.Or(out.Logger, slog.Default())
	switch out.MaxStalled {
	case 0:
		out.MaxStalled = 1
	case -1:
		out.MaxStalled = 0
	}
	out.Name = cmp.Or(out.Name, defaultWorkerName())
	out.RenewEvery = cmp.Or(out.RenewEvery, out.LeaseTTL/3)
	out.SettleTimeout = cmp.Or(out.SettleTimeout, 10*time.Second)
	out.ShutdownTimeout = cmp.Or(out.ShutdownTimeout, 30*time.Second)
	out.TimeoutGrace = cmp.Or(out.TimeoutGrace, 5*time.Second)
	return out
}

// validate checks options that went through withDefaults.
func (o *WorkerOptions) validate() error {
	bad := func(field, reason string) error { return backend.Invalid(field, reason) }
	switch {
	case o.Concurrency < 0:
		return bad("Concurrency", "concurrency is negative")
	case o.Concurrency > 1<<16:
		return bad("Concurrency", fmt.Sprintf("concurrency %d is over %d", o.Concurrency, 1<<16))
	case o.LeaseTTL < time.Millisecond:
		return bad("LeaseTTL", "lease TTL is negative or under 1ms")
	case o.RenewEvery <= 0:
		return bad("RenewEvery", "renew interval is negative")
	case o.RenewEvery >= o.LeaseTTL:
		return bad("RenewEvery", fmt.Sprintf("renew interval %s is not shorter than the lease TTL %s", o.RenewEvery, o.LeaseTTL))
	case o.LeaseWait < 0:
		return bad("LeaseWait", "lease wait is negative")
	case o.MaxStalled < 0:
		return bad("MaxStalled", "max stalled is below -1")
	case o.SettleTimeout < 0:
		return bad("SettleTimeout", "settle timeout is negative")
	case o.ShutdownTimeout < 0:
		return bad("ShutdownTimeout", "shutdown timeout is negative")
	case o.TimeoutGrace < 0:
		return bad("TimeoutGrace", "timeout grace is negative")
	case len(o.Name) > backend.MaxNameLen:
		return bad("Name", fmt.Sprintf("worker name is longer than %d bytes", backend.MaxNameLen))
	}
	return nil
}

func defaultWorkerName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "worker"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
