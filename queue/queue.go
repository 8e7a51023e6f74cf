package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/droverhq/drover/backend"
)

// Queue is a handle on one named queue in a store. It is safe for
// concurrent use. Closing it does not close the store, which the caller
// owns.
type Queue struct {
	b     backend.Backend
	name  string
	clock backend.Clock
	log   *slog.Logger
	// defaults are Options.Defaults, copied.
	defaults *AddOptions
	addMW    []AddMiddleware
	closed   atomic.Bool
}

// New returns a handle on the queue called name in store b.
func New(b backend.Backend, name string, opts *Options) (*Queue, error) {
	if b == nil {
		return nil, backend.Invalid("Backend", "store is nil")
	}
	if err := backend.ValidateQueueName(name); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	q := &Queue{b: b, name: name, clock: o.Clock, log: o.Logger.With("queue", name), addMW: slices.Clone(o.AddMiddleware)}
	if o.Defaults != nil {
		d := *o.Defaults
		q.defaults = &d
	}
	return q, nil
}

// Name returns the queue's name.
func (q *Queue) Name() string { return q.name }

// Backend returns the store the queue lives in.
func (q *Queue) Backend() backend.Backend { return q.b }

// Close makes every later call on q fail with ErrClosed. It does not close
// the store.
func (q *Queue) Close() error {
	q.closed.Store(true)
	return nil
}

func (q *Queue) check() error {
	if q.closed.Load() {
		return fmt.Errorf("drover: queue %s: %w", q.name, ErrClosed)
	}
	return nil
}

// Add adds one job and returns it. If opts.ID names a job that exists, that
// job is returned and nothing is added.
func (q *Queue) Add(ctx context.Context, name string, data []byte, opts *AddOptions) (*Job, error) {
	jobs, err := q.addBulk(ctx, AddOpAdd, []BulkJob{{Name: name, Data: data, Options: opts}})
	if err != nil {
		return nil, err
	}
	return jobs[0], nil
}

// AddJSON adds one job whose data is v encoded as JSON.
func AddJSON[T any](ctx context.Context, q *Queue, name string, v T, opts *AddOptions) (*Job, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, &ValidationError{Index: -1, Field: "Data", Reason: "cannot encode as JSON: " + err.Error(), Err: err}
	}
	return q.Add(ctx, name, data, opts)
}

// BulkJob is one entry of AddBulk.
type BulkJob struct {
	Name    string
	Data    []byte
	Options *AddOptions
}

// AddBulk adds jobs in one atomic step: all or none. The returned jobs are in
// input order; an entry whose ID existed already is the existing job, with
// Duplicate set. A bad entry fails the whole call with a *ValidationError
// whose Index names it.
func (q *Queue) AddBulk(ctx context.Context, jobs []BulkJob) ([]*Job, error) {
	return q.addBulk(ctx, AddOpBulk, jobs)
}

func (q *Queue) addBulk(ctx context.Context, op AddOp, jobs []BulkJob) ([]*Job, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	call := &AddCall{Queue: q.name, Op: op, Jobs: make([]backend.NewJob, len(jobs))}
	for i, bj := range jobs {
		call.Jobs[i] = bj.Options.with(q.defaults).newJob(bj.Name, bj.Data)
	}
	if err := q.runAdd(ctx, call, q.storeAdd); err != nil {
		return nil, fmt.Errorf("drover: add to %s: %w", q.name, err)
	}
	now := q.clock.Now()
	out := make([]*Job, len(jobs))
	for i, a := range call.Added {
		n, err := q.flowNode(ctx, q.b, q.name, nil, &call.Jobs[i], a, now)
		if err != nil {
			return nil, err
		}
		out[i] = n.Job
	}
	return out, nil
}

// storeAdd is the AddFunc that adds to the queue's store.
func (q *Queue) storeAdd(ctx context.Context, call *AddCall) error {
	res, err := q.b.Add(ctx, q.name, &backend.AddRequest{Jobs: call.Jobs})
	if err != nil {
		return err
	}
	if len(res.Jobs) != len(call.Jobs) {
		return fmt.Errorf("store reported %d jobs for %d", len(res.Jobs), len(call.Jobs))
	}
	call.Added = res.Jobs
	return nil
}

// Job returns the job with the given ID, or an error wrapping ErrNotFound.
func (q *Queue) Job(ctx context.Context, id string) (*Job, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	rec, err := q.b.Job(ctx, q.name, id)
	if err != nil {
		return nil, fmt.Errorf("drover: job %s/%s: %w", q.name, id, err)
	}
	return newJob(q, rec), nil
}

// Page selects a slice of a listing. The zero value is the first 100.
type Page struct {
	Offset int
	// Limit defaults to 100.
	Limit int
}

// Jobs returns one page of the jobs in state, in the state's natural order
// (see backend.JobsRequest).
func (q *Queue) Jobs(ctx context.Context, state JobState, page Page) ([]*Job, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	if !state.Valid() {
		return nil, backend.Invalid("State", fmt.Sprintf("unknown job state %q", state))
	}
	res, err := q.b.Jobs(ctx, q.name, &backend.JobsRequest{State: state, Offset: page.Offset, Limit: page.Limit})
	if err != nil {
		return nil, fmt.Errorf("drover: list %s jobs of %s: %w", state, q.name, err)
	}
	out := make([]*Job, len(res.Jobs))
	for i, r := range res.Jobs {
		out[i] = newJob(q, r)
	}
	return out, nil
}

// Counts returns the number of jobs in each state, and whether the queue is
// paused.
func (q *Queue) Counts(ctx context.Context) (Counts, error) {
	if err := q.check(); err != nil {
		return Counts{}, err
	}
	c, err := q.b.Counts(ctx, q.name)
	if err != nil {
		return Counts{}, fmt.Errorf("drover: counts of %s: %w", q.name, err)
	}
	return c, nil
}

// Counts is the number of jobs in each state; see backend.Counts.
type Counts = backend.Counts

// JobState is where a job is in its life; see backend.JobState.
type JobState = backend.JobState

// Job states.
const (
	StateWaiting         = backend.StateWaiting
	StateDelayed         = backend.StateDelayed
	StateActive          = backend.StateActive
	StateWaitingChildren = backend.StateWaitingChildren
	StateCompleted       = backend.StateCompleted
	StateFailed          = backend.StateFailed
)

// capability returns the queue's store as the optional interface T, or
// an error wrapping ErrUnsupported that names what needs it.
func capability[T any](q *Queue, what string) (T, error) {
	var c T
	if err := q.check(); err != nil {
		return c, err
	}
	c, ok := q.b.(T)
	if !ok {
		return c, fmt.Errorf("drover: %s: %w", what, ErrUnsupported)
	}
	return c, nil
}

func (q *Queue) admin() (backend.Admin, error) {
	return capability[backend.Admin](q, "queue administration")
}

// Pause stops workers from taking jobs of the queue; adds go on.
func (q *Queue) Pause(ctx context.Context) error { return q.setPaused(ctx, true) }

// Resume lets workers take jobs again after Pause.
func (q *Queue) Resume(ctx context.Context) error { return q.setPaused(ctx, false) }

func (q *Queue) setPaused(ctx context.Context, paused bool) error {
	a, err := q.admin()
	if err != nil {
		return err
	}
	if err := a.SetPaused(ctx, q.name, paused); err != nil {
		return fmt.Errorf("drover: pause %s: %w", q.name, err)
	}
	return nil
}

// Drain removes the waiting jobs, and the delayed ones too if delayed is
// set. It returns how many it removed.
func (q *Queue) Drain(ctx context.Context, delayed bool) (int, error) {
	a, err := q.admin()
	if err != nil {
		return 0, err
	}
	res, err := a.Drain(ctx, q.name, &backend.DrainRequest{Delayed: delayed})
	if err != nil {
		return 0, fmt.Errorf("drover: drain %s: %w", q.name, err)
	}
	return res.Removed, nil
}

// Clean removes up to limit jobs (0: all) in state that entered it longer
// than grace ago, and returns their IDs.
func (q *Queue) Clean(ctx context.Context, state JobState, grace time.Duration, limit int) ([]string, error) {
	a, err := q.admin()
	if err != nil {
		return nil, err
	}
	res, err := a.Clean(ctx, q.name, &backend.CleanRequest{State: state, Grace: grace, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("drover: clean %s: %w", q.name, err)
	}
	return res.IDs, nil
}

// Obliterate removes the queue and everything in it. With active jobs it
// fails with ErrJobActive unless force is set.
func (q *Queue) Obliterate(ctx context.Context, force bool) error {
	a, err := q.admin()
	if err != nil {
		return err
	}
	if err := a.Obliterate(ctx, q.name, &backend.ObliterateRequest{Force: force}); err != nil {
		return fmt.Errorf("drover: obliterate %s: %w", q.name, err)
	}
	return nil
}

// RemoveJob removes one job that is not active; see backend.Admin for flows.
func (q *Queue) RemoveJob(ctx context.Context, id string) error {
	a, err := q.admin()
	if err != nil {
		return err
	}
	if err := a.RemoveJob(ctx, q.name, id); err != nil {
		return fmt.Errorf("drover: remove %s/%s: %w", q.name, id, err)
	}
	return nil
}
