package queue

import (
	"cmp"
	"log/slog"
	"time"

	"github.com/droverhq/drover/backend"
)

// Options configure a Queue. The zero value is ready to use.
type Options struct {
	// Clock tells the time for delays and schedulers. Defaults to the
	// system clock; it should be the clock the store uses.
	Clock backend.Clock
	// Defaults are the options every job added through the queue takes
	// where its own AddOptions leave them at their zero value: Attempts,
	// Backoff, Timeout, KeepCompleted and KeepFailed (the others are a
	// job's own). Defaults to none.
	Defaults *AddOptions
	// Logger receives the queue's logs. Defaults to slog.Default().
	Logger *slog.Logger
	// AddMiddleware wraps every add made through the queue (Add,
	// AddBulk, AddFlow, AddFlows, AddTx, AddBulkTx and their typed and
	// JSON forms), the first outermost, before the jobs reach the store:
	// to trace adds or put metadata on the jobs (package tracing has
	// one). Defaults to none. Job schedulers' upserts are not adds.
	AddMiddleware []AddMiddleware
}

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.Clock == nil {
		out.Clock = backend.SystemClock()
	}
	out.Logger = cmp.Or(out.Logger, slog.Default())
	return out
}

// AddOptions are the per-job options of Add and AddBulk. The zero value adds
// a job that runs once, as soon as a worker is free, and is kept forever.
type AddOptions struct {
	// ID is a caller-chosen job ID. Adding a job whose ID exists returns
	// the existing job and adds nothing. It must not be all digits.
	// Defaults to the queue's next number.
	ID string
	// Delay postpones the job. Defaults to 0.
	Delay time.Duration
	// RunAt runs the job at a time instead of after a Delay; a time not
	// later than now (the store's clock) is now. Defaults to none.
	RunAt time.Time
	// LIFO puts the job at the front of its priority's line, before the
	// jobs of that priority already waiting. Defaults to false.
	LIFO bool
	// Priority: smaller values run first; jobs of equal priority run in the
	// order they were added. Defaults to 0, the highest.
	Priority int
	// Attempts is the number of tries before the job fails. Defaults to 1.
	Attempts int
	// Backoff is the delay between tries. Defaults to none (retry at once).
	Backoff Backoff
	// Timeout bounds one attempt, from when the store leased the job:
	// the handler's context is cancelled then. Defaults to no limit.
	Timeout time.Duration
	// KeepCompleted says how many completed jobs to keep. Defaults to all.
	KeepCompleted Retention
	// KeepFailed says how many failed jobs to keep. Defaults to all.
	KeepFailed Retention
	// Meta is the job's metadata: string pairs kept with the job, never
	// changed, and seen by every attempt as Job.Meta — for context that
	// travels from the code that adds a job to its handler, such as trace
	// context (see AddMiddleware). At most backend.MaxMetaEntries
	// entries and backend.MaxMetaSize bytes; keys are not empty and have
	// no control characters. In a job scheduler's template it is given
	// to every iteration. The map is copied. Defaults to none.
	Meta map[string]string
	// Dedup makes no new job while another job holds Dedup.Key: Add
	// returns that job instead, with Duplicate set and Dedup saying what
	// the add did to it. Only a top-level job without children can have
	// a key, and a scheduler's template cannot. Defaults to none.
	Dedup Dedup
	// Group puts the job in a group of the queue (a tenant, a customer,
	// an account): groups are served in turn, so that a group with a
	// million jobs waiting cannot starve one with ten, and can be limited
	// (SetGroupLimits) and paused each on its own. Defaults to none.
	Group string
}

// Retention says which finished jobs are kept; see backend.Retention.
type Retention = backend.Retention

// Backoff is a retry delay policy kept with the job: Fixed, Exponential, or
// the zero value for none. A Worker's BackoffFunc, when set, overrides it.
type Backoff = backend.Backoff

// FixedBackoff waits d before each retry.
func FixedBackoff(d time.Duration) Backoff {
	return Backoff{Type: backend.BackoffFixed, Delay: d}
}

// ExponentialBackoff waits d, 2d, 4d, … before the retries, each delay
// randomised by up to jitter (a fraction between 0 and 1) of itself.
func ExponentialBackoff(d time.Duration, jitter float64) Backoff {
	return Backoff{Type: backend.BackoffExponential, Delay: d, Jitter: jitter}
}

// with returns o with the fields that are zero taken from defaults (see
// Options.Defaults); o and defaults may be nil.
func (o *AddOptions) with(defaults *AddOptions) *AddOptions {
	if defaults == nil {
		return o
	}
	var out AddOptions
	if o != nil {
		out = *o
	}
	out.Attempts = cmp.Or(out.Attempts, defaults.Attempts)
	out.Backoff = cmp.Or(out.Backoff, defaults.Backoff)
	out.Timeout = cmp.Or(out.Timeout, defaults.Timeout)
	out.KeepCompleted = cmp.Or(out.KeepCompleted, defaults.KeepCompleted)
	out.KeepFailed = cmp.Or(out.KeepFailed, defaults.KeepFailed)
	return &out
}

func (o *AddOptions) newJob(name string, data []byte) backend.NewJob {
	var opts AddOptions
	if o != nil {
		opts = *o
	}
	return backend.NewJob{
		ID:            opts.ID,
		Name:          name,
		Data:          data,
		Delay:         opts.Delay,
		RunAt:         opts.RunAt,
		LIFO:          opts.LIFO,
		Priority:      opts.Priority,
		Attempts:      opts.Attempts,
		Backoff:       opts.Backoff,
		Timeout:       opts.Timeout,
		KeepCompleted: opts.KeepCompleted,
		KeepFailed:    opts.KeepFailed,
		Meta:          backend.CloneMeta(opts.Meta),
		Dedup:         opts.Dedup,
		Group:         opts.Group,
	}
}
