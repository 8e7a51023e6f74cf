package backend

import (
	"maps"
	"time"
)

// JobState is where a job is in its life.
type JobState string

// The states of a job. Waiting jobs are ready to run, in priority order and
// FIFO within a priority. Completed and failed are final.
const (
	StateWaiting         JobState = "waiting"
	StateDelayed         JobState = "delayed"
	StateActive          JobState = "active"
	StateCompleted       JobState = "completed"
	StateFailed          JobState = "failed"
	StateWaitingChildren JobState = "waiting-children"
)

// States lists every JobState, in life order.
var States = []JobState{StateWaiting, StateDelayed, StateActive, StateWaitingChildren, StateCompleted, StateFailed}

// Valid reports whether s is one of the known states.
func (s JobState) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// Final reports whether no operation other than removal moves a job out of s.
func (s JobState) Final() bool { return s == StateCompleted || s == StateFailed }

// BackoffType selects how the delay before a retry grows.
type BackoffType string

// Backoff types. A worker may also compute delays with a function of its
// own; the store only keeps the settings below with the job.
const (
	BackoffNone        BackoffType = ""
	BackoffFixed       BackoffType = "fixed"
	BackoffExponential BackoffType = "exponential"
)

// Backoff is a job's retry delay policy, kept with the job so that any worker
// process applies the same one.
type Backoff struct {
	Type BackoffType
	// Delay is the fixed delay, or the first delay of an exponential one.
	Delay time.Duration
	// Jitter is the fraction (0 to 1) of each delay that is randomised.
	Jitter float64
}

// Retention says how many finished jobs of a state to keep. The zero value
// keeps all of them.
type Retention struct {
	// Remove drops the job as soon as it finishes.
	Remove bool
	// Count keeps at most this many jobs in the state, dropping the oldest
	// first. Zero means no count limit.
	Count int
	// Age drops jobs that finished longer ago than this. Zero means no age
	// limit.
	Age time.Duration
}

// FailurePolicy says what a child's failure does to its parent.
type FailurePolicy string

// Failure policies of a flow child. The zero value is PolicyFailParent.
const (
	// PolicyFailParent fails the parent at once, with a reason that names
	// the child. The parent's own parent then applies its policy.
	PolicyFailParent FailurePolicy = ""
	// PolicyIgnore counts the failed child as ended; the parent runs when
	// all children have ended and sees the failure in ChildOutcomes.
	PolicyIgnore FailurePolicy = "ignore"
	// PolicyRemove drops the dependency: the parent runs as if the child had
	// never been part of the flow.
	PolicyRemove FailurePolicy = "remove"
	// PolicyContinue makes the parent ready at once, even while other
	// children are still pending.
	PolicyContinue FailurePolicy = "continue"
)

// Valid reports whether p is a known policy.
func (p FailurePolicy) Valid() bool {
	switch p {
	case PolicyFailParent, PolicyIgnore, PolicyRemove, PolicyContinue:
		return true
	}
	return false
}

// JobRef names a job in a queue of the same store.
type JobRef struct {
	Queue string
	ID    string
}

// String returns "queue/id".
func (r JobRef) String() string { return r.Queue + "/" + r.ID }

// NewJob is a job to add. Children make it a flow: the job waits in
// StateWaitingChildren until every child has ended.
type NewJob struct {
	// Queue is the queue of a flow child. Empty means the queue of its
	// parent (or the queue of the Add call, at the top).
	Queue string
	// ID is a caller-chosen job ID. Empty lets the store assign the next
	// number of the queue. A caller-chosen ID must not be all digits.
	ID   string
	Name string
	Data []byte
	// Delay postpones the first run by this long (from the store's clock).
	Delay time.Duration
	// RunAt is the time of the first run, instead of a Delay; a time not
	// later than the store's now is now.
	RunAt time.Time
	// LIFO puts the job at the front of its priority's line, before the
	// waiting jobs added earlier.
	LIFO bool
	// Priority: smaller values run first; jobs of equal priority run in the
	// order they were added. 0 to MaxPriority.
	Priority int
	// Attempts is the maximum number of attempts; 0 means 1.
	Attempts int
	Backoff  Backoff
	// Timeout bounds one attempt; 0 means no limit.
	Timeout       time.Duration
	KeepCompleted Retention
	KeepFailed    Retention
	// FailurePolicy applies when this job is a flow child that fails.
	FailurePolicy FailurePolicy
	// Meta is the job's metadata: string pairs kept with the job and
	// never changed, for context that travels from the code that added
	// it to every attempt (trace context, a request ID). At most
	// MaxMetaEntries entries of MaxMetaSize bytes of keys and values in
	// all; keys are not empty and have no control characters. A
	// scheduler's template gives its Meta to every iteration.
	Meta map[string]string
	// Dedup makes no new job while another job holds Dedup.Key; see
	// Dedup. Only a top-level job without children can have one.
	Dedup Dedup
	// Group puts the job in a group of its queue, served in turn with the
	// other groups; see GroupStore. Empty means no group.
	Group    string
	Children []NewJob
}

// Job is a job as the store keeps it.
type Job struct {
	Queue string
	ID    string
	Name  string
	Data  []byte
	State JobState
	// Seq is a number the store uses to order the jobs of a state; it may
	// change as the job moves, and it is not comparable across stores.
	// Whatever it holds, jobs of equal priority run in the order they
	// became ready (added, promoted from delayed, due again after a
	// retry), and a job recovered from a stalled worker or released unrun
	// runs before them.
	Seq      uint64
	Priority int

	Attempts      int
	AttemptsMade  int
	StalledCount  int
	Backoff       Backoff
	Timeout       time.Duration
	KeepCompleted Retention
	KeepFailed    Retention

	Progress     []byte
	Result       []byte
	FailedReason string
	Stacktrace   []string
	LogCount     int

	CreatedAt   time.Time
	RunAt       time.Time // when a delayed job becomes ready
	ProcessedAt time.Time // start of the latest attempt
	FinishedAt  time.Time

	// Lease is set while the job is active.
	Lease          Lease
	LeaseExpiresAt time.Time
	// Worker names the worker that holds the lease while the job is
	// active, and after that the worker whose attempt ended it (completed,
	// failed or retried). It is empty when the lease ended without the
	// worker settling it: released, or recovered from a stalled worker.
	Worker string

	// SchedulerID is set on iteration jobs made by a job scheduler.
	SchedulerID string

	// Meta is the metadata the job was added with (NewJob.Meta); nil
	// when it has none.
	Meta map[string]string

	// DedupKey is the deduplication key the job was added with
	// (NewJob.Dedup.Key), whether or not it still holds it.
	DedupKey string
	// Group is the job's group (NewJob.Group), or "".
	Group string

	// CancelRequested is set on an active job that Cancel marked: its
	// worker is to stop it. CancelReason is the reason given.
	CancelRequested bool
	CancelReason    string

	// Parent is set on flow children.
	Parent        *JobRef
	FailurePolicy FailurePolicy
	// Children are the flow dependencies still attached to this job, in
	// the order they were added.
	Children []JobRef
	// ChildOutcomes holds, by JobRef.String(), the end of every child that
	// has ended. A child is pending while it has no outcome.
	ChildOutcomes map[string]ChildOutcome
}

// PendingChildren returns the number of children that have not ended.
func (j *Job) PendingChildren() int {
	n := 0
	for _, c := range j.Children {
		if _, ok := j.ChildOutcomes[c.String()]; !ok {
			n++
		}
	}
	return n
}

// ChildOutcome is how a flow child ended.
type ChildOutcome struct {
	// State is StateCompleted or StateFailed.
	State  JobState
	Result []byte
	Reason string
	// Ignored is set when the child failed under PolicyIgnore or
	// PolicyContinue and the parent went on.
	Ignored bool
}

// Record returns the record of nj as a store first keeps it: in queue under
// id, added at now, waiting or (with a Delay) delayed. Seq, flow links and
// children are the store's to fill in.
func (nj *NewJob) Record(queue, id string, now time.Time) Job {
	j := Job{
		Queue:         queue,
		ID:            id,
		Name:          nj.Name,
		Data:          nj.Data,
		State:         StateWaiting,
		Priority:      nj.Priority,
		Attempts:      max(nj.Attempts, 1),
		Backoff:       nj.Backoff,
		Timeout:       nj.Timeout,
		KeepCompleted: nj.KeepCompleted,
		KeepFailed:    nj.KeepFailed,
		Meta:          CloneMeta(nj.Meta),
		DedupKey:      nj.Dedup.Key,
		Group:         nj.Group,
		CreatedAt:     now,
	}
	if d := nj.DelayAt(now); d > 0 {
		j.RunAt = now.Add(d)
		j.State = StateDelayed
	}
	return j
}

// CloneMeta returns a copy of m, or nil when m is empty.
func CloneMeta(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// DelayAt returns how long after now a new job first runs: its Delay, or
// the time to its RunAt (0 for a time past).
func (nj *NewJob) DelayAt(now time.Time) time.Duration {
	if !nj.RunAt.IsZero() {
		return max(nj.RunAt.Sub(now), 0)
	}
	return nj.Delay
}
