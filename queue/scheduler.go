package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/droverhq/drover/backend"
)

// Planning of scheduler run times.
const (
	// planAhead is how many run times a scheduler record holds after Next.
	planAhead = 16
	// planLowWater is the number of planned times below which a worker
	// tops the plan up after leasing an iteration.
	planLowWater = 4
	// maxUpsertTries bounds the read-compare-write loop of an upsert under
	// contention. Each failed try means another write succeeded.
	maxUpsertTries = 1000
)

// JobTemplate describes the iteration jobs of a scheduler.
type JobTemplate struct {
	Name string
	Data []byte
	// Options apply to every iteration; their ID and Delay are ignored
	// (iterations get the scheduler's IDs and run times).
	Options *AddOptions
}

// JobScheduler is a job scheduler as stored.
type JobScheduler struct {
	ID       string
	Repeat   Repeat
	Template JobTemplate
	// Next is the run time of the pending iteration; zero when there is
	// none.
	Next time.Time
	// Upcoming are the run times planned after Next.
	Upcoming []time.Time
	// Iterations counts the iteration jobs created so far.
	Iterations int
	// Revision changes on every write of the record.
	Revision  uint64
	UpdatedAt time.Time
}

func (q *Queue) schedulers() (backend.SchedulerStore, error) {
	return capability[backend.SchedulerStore](q, "job schedulers")
}

func (t JobTemplate) newJob(defaults *AddOptions) (backend.NewJob, error) {
	var opts AddOptions
	if o := t.Options.with(defaults); o != nil {
		opts = *o
	}
	opts.ID, opts.Delay, opts.RunAt, opts.LIFO = "", 0, time.Time{}, false
	nj := opts.newJob(t.Name, t.Data)
	return nj, backend.ValidateTemplate(&nj, 0)
}

// UpsertJobScheduler creates the scheduler id, or replaces its repeat rule
// and template, and returns it with its next run time.
//
// The write is one atomic step in the store together with the replacement
// of the scheduler's single pending iteration, so any number of concurrent
// upserts and removals, from any number of processes, leave at most one
// record and one pending iteration, carrying the template of the last
// upsert. If the repeat rule keeps its cadence (same Every or Pattern, TZ and
// StartDate), the pending run keeps its time and only its template changes:
// calling this from an iteration's handler changes the data of the next
// iteration without moving it. A changed rule is planned afresh from now.
//
// Bad input is reported as a *ValidationError and changes nothing.
func (q *Queue) UpsertJobScheduler(ctx context.Context, id string, repeat Repeat, tmpl JobTemplate) (*JobScheduler, error) {
	s, err := q.schedulers()
	if err != nil {
		return nil, err
	}
	if err := backend.ValidateSchedulerID(id); err != nil {
		return nil, err
	}
	p, err := newPlanner(repeat)
	if err != nil {
		return nil, err
	}
	nj, err := tmpl.newJob(q.defaults)
	if err != nil {
		return nil, err
	}
	call := &AddCall{Queue: q.name, Op: AddOpScheduler, SchedulerID: id, Jobs: []backend.NewJob{nj}}
	var rec *backend.Scheduler
	err = q.runAdd(ctx, call, func(ctx context.Context, c *AddCall) error {
		r, err := q.upsertScheduler(ctx, s, p, id, c.Jobs[0])
		if err != nil {
			return err
		}
		rec = r
		pending := backend.Added{Queue: q.name}
		if !r.Next.IsZero() {
			pending.ID = backend.IterationID(id, r.Next)
		}
		c.Added = []backend.Added{pending}
		return nil
	})
	if err != nil {
		if _, ok := errors.AsType[*ValidationError](err); ok {
			return nil, err
		}
		return nil, fmt.Errorf("drover: upsert scheduler %s/%s: %w", q.name, id, err)
	}
	return q.jobScheduler(rec)
}

// upsertScheduler writes the scheduler id with the rule of p and the
// template nj, planned over the record it finds, again while another
// upsert changes that record first.
func (q *Queue) upsertScheduler(ctx context.Context, s backend.SchedulerStore, p *planner, id string, nj backend.NewJob) (*backend.Scheduler, error) {
	for range maxUpsertTries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cur, err := s.Scheduler(ctx, q.name, id)
		if errors.Is(err, ErrNotFound) {
			cur, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
		rec, err := q.planUpsert(p, cur)
		if err != nil {
			return nil, err
		}
		rec.ID, rec.Template = id, nj
		req := &backend.CompareAndUpsertRequest{Scheduler: *rec}
		if cur != nil {
			req.ExpectRevision = cur.Revision
		}
		res, err := s.CompareAndUpsert(ctx, q.name, req)
		if errors.Is(err, ErrRevisionMismatch) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &res.Scheduler, nil
	}
	return nil, fmt.Errorf("gave up after %d tries: %w", maxUpsertTries, ErrRevisionMismatch)
}

// planUpsert plans the record written by an upsert of p's rule over cur
// (nil if there is none).
//
// The queue package enforces Limit itself, by planning no more than Limit
// run times in all and marking the plan Final; the store counts the
// iterations made, and replacing the pending iteration does not count as
// one.
func (q *Queue) planUpsert(p *planner, cur *backend.Scheduler) (*backend.Scheduler, error) {
	now := q.clock.Now()
	used := 0 // run times of the plan used up already
	var times []time.Time
	var final bool
	if cur != nil {
		old, st, err := decodeRepeat(cur.Repeat)
		if err == nil {
			used = max(st.count-planLen(cur), 0)
		}
		if err == nil && sameCadence(old, p.r) {
			remaining := remainingOf(p.r, used)
			switch {
			case remaining == 0:
				final = true
			case !cur.Next.IsZero() && (p.r.EndDate.IsZero() || !cur.Next.After(p.r.EndDate)):
				more, f := p.plan(cur.Next, now, planAhead, remaining-1)
				times, final = append([]time.Time{cur.Next}, more...), f
			case !st.planned.IsZero():
				times, final = p.plan(st.planned, now, planAhead+1, remaining)
			default:
				times, final = p.plan(time.Time{}, now, planAhead+1, remaining)
			}
			return newRecord(p.r, times, final, used), nil
		}
	}
	times, final = p.plan(time.Time{}, now, planAhead+1, remainingOf(p.r, used))
	if len(times) == 0 {
		if p.r.Limit > 0 && used >= p.r.Limit {
			return nil, backend.Invalid("Repeat.Limit", "the scheduler has run its limit already")
		}
		if p.r.EndDate.IsZero() {
			return nil, backend.Invalid("Repeat.Pattern", fmt.Sprintf("cron pattern %q never fires", p.r.Pattern))
		}
		return nil, backend.Invalid("Repeat.EndDate", "no run time is left before the end date")
	}
	return newRecord(p.r, times, final, used), nil
}

// planLen is the number of run times s holds.
func planLen(s *backend.Scheduler) int {
	n := len(s.Upcoming)
	if !s.Next.IsZero() {
		n++
	}
	return n
}

// remainingOf is how many more run times r allows after used; -1 for no
// limit.
func remainingOf(r Repeat, used int) int {
	if r.Limit <= 0 {
		return -1
	}
	return max(r.Limit-used, 0)
}

func newRecord(r Repeat, times []time.Time, final bool, used int) *backend.Scheduler {
	rec := &backend.Scheduler{Final: final}
	var last time.Time
	if len(times) > 0 {
		rec.Next = times[0]
		rec.Upcoming = slices.Clone(times[1:])
		last = times[len(times)-1]
	}
	rec.Repeat = encodeRepeat(r, planState{planned: last, count: used + len(times)})
	return rec
}

// replanScheduler tops up the planned run times of scheduler id when it is
// running low. Workers call it after leasing an iteration job, off the hot
// path. The pending iteration is kept as it is; new times continue the
// cadence from the last planned one.
func (q *Queue) replanScheduler(ctx context.Context, id string) error {
	s, err := q.schedulers()
	if err != nil {
		return err
	}
	for range maxUpsertTries {
		if err := ctx.Err(); err != nil {
			return err
		}
		cur, err := s.Scheduler(ctx, q.name, id)
		if errors.Is(err, ErrNotFound) {
			return nil // removed, or done
		}
		if err != nil {
			return fmt.Errorf("drover: plan scheduler %s/%s: %w", q.name, id, err)
		}
		if !cur.NeedsPlan(planLowWater) {
			return nil
		}
		r, st, err := decodeRepeat(cur.Repeat)
		if err != nil {
			return fmt.Errorf("drover: plan scheduler %s/%s: %w", q.name, id, err)
		}
		p, err := newPlanner(r)
		if err != nil {
			return fmt.Errorf("drover: plan scheduler %s/%s: stored rule: %w", q.name, id, err)
		}
		rec := *cur
		rec.Upcoming = slices.Clone(cur.Upcoming)
		last := st.planned
		if n := len(rec.Upcoming); n > 0 {
			last = rec.Upcoming[n-1]
		} else if !rec.Next.IsZero() {
			last = rec.Next
		}
		keep := !rec.Next.IsZero()
		want := planAhead - len(rec.Upcoming)
		if !keep {
			want++ // one more for Next
		}
		more, final := p.plan(last, q.clock.Now(), want, remainingOf(r, st.count))
		rec.Final = final
		if !keep && len(more) > 0 {
			rec.Next, more = more[0], more[1:]
		}
		rec.Upcoming = append(rec.Upcoming, more...)
		st.count += len(more)
		if !keep && !rec.Next.IsZero() {
			st.count++
		}
		if n := len(rec.Upcoming); n > 0 {
			st.planned = rec.Upcoming[n-1]
		} else if !rec.Next.IsZero() {
			st.planned = rec.Next
		}
		rec.Repeat = encodeRepeat(r, st)
		_, err = s.CompareAndUpsert(ctx, q.name, &backend.CompareAndUpsertRequest{
			Scheduler:      rec,
			ExpectRevision: cur.Revision,
			KeepPending:    keep,
		})
		if errors.Is(err, ErrRevisionMismatch) {
			continue
		}
		if err != nil {
			return fmt.Errorf("drover: plan scheduler %s/%s: %w", q.name, id, err)
		}
		return nil
	}
	return fmt.Errorf("drover: plan scheduler %s/%s: gave up after %d tries: %w", q.name, id, maxUpsertTries, ErrRevisionMismatch)
}

// RemoveJobScheduler removes scheduler id and its pending iteration, in one
// step. Iterations that are running or finished stay. An unknown id is an
// error wrapping ErrNotFound.
func (q *Queue) RemoveJobScheduler(ctx context.Context, id string) error {
	s, err := q.schedulers()
	if err != nil {
		return err
	}
	if err := s.RemoveScheduler(ctx, q.name, id); err != nil {
		return fmt.Errorf("drover: remove scheduler %s/%s: %w", q.name, id, err)
	}
	return nil
}

// JobScheduler returns scheduler id, or an error wrapping ErrNotFound.
func (q *Queue) JobScheduler(ctx context.Context, id string) (*JobScheduler, error) {
	s, err := q.schedulers()
	if err != nil {
		return nil, err
	}
	rec, err := s.Scheduler(ctx, q.name, id)
	if err != nil {
		return nil, fmt.Errorf("drover: scheduler %s/%s: %w", q.name, id, err)
	}
	return q.jobScheduler(rec)
}

// JobSchedulers returns one page of the queue's schedulers, by ID.
func (q *Queue) JobSchedulers(ctx context.Context, page Page) ([]*JobScheduler, error) {
	s, err := q.schedulers()
	if err != nil {
		return nil, err
	}
	res, err := s.Schedulers(ctx, q.name, &backend.SchedulersRequest{Offset: page.Offset, Limit: page.Limit})
	if err != nil {
		return nil, fmt.Errorf("drover: schedulers of %s: %w", q.name, err)
	}
	out := make([]*JobScheduler, 0, len(res.Schedulers))
	for _, rec := range res.Schedulers {
		js, err := q.jobScheduler(rec)
		if err != nil {
			return nil, err
		}
		out = append(out, js)
	}
	return out, nil
}

func (q *Queue) jobScheduler(rec *backend.Scheduler) (*JobScheduler, error) {
	r, _, err := decodeRepeat(rec.Repeat)
	if err != nil {
		return nil, fmt.Errorf("drover: scheduler %s/%s: %w", q.name, rec.ID, err)
	}
	t := rec.Template
	return &JobScheduler{
		ID:     rec.ID,
		Repeat: r,
		Template: JobTemplate{Name: t.Name, Data: t.Data, Options: &AddOptions{
			Priority: t.Priority, Attempts: t.Attempts, Backoff: t.Backoff, Timeout: t.Timeout,
			KeepCompleted: t.KeepCompleted, KeepFailed: t.KeepFailed, Meta: backend.CloneMeta(t.Meta),
		}},
		Next:       rec.Next,
		Upcoming:   slices.Clone(rec.Upcoming),
		Iterations: rec.Iterations,
		Revision:   rec.Revision,
		UpdatedAt:  rec.UpdatedAt,
	}, nil
}
