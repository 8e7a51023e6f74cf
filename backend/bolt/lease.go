package bolt

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/droverhq/drover/backend"
)

// maxPromote bounds the delayed jobs promoted and the expired leases
// recovered by one Lease call, so that one call never holds the committer
// for long; the rest follow on the next call.
const maxPromote = 5000

// Lease promotes due delayed jobs, recovers expired leases and takes up to
// req.Max ready jobs, blocking up to req.Wait when none is ready. While it
// blocks, a transaction that makes jobs ready may lease them to it (see
// wake.go); those are returned even if ctx ends meanwhile, because they
// are leased to the caller already.
func (b *Backend) Lease(ctx context.Context, queue string, req *backend.LeaseRequest) (backend.LeaseResult, error) {
	if err := backend.ValidateQueueName(queue); err != nil {
		return backend.LeaseResult{}, err
	}
	if err := req.Validate(); err != nil {
		return backend.LeaseResult{}, err
	}
	if req.Wait == 0 {
		res, _, err := b.leaseOnce(ctx, queue, req, nil)
		if err != nil {
			return res, err
		}
		return res, nil
	}
	clock := b.opts.Clock
	w := newWaiter(queue, req)
	deadline := clock.Now().Add(req.Wait)
	for {
		// A signal from before this look is about a commit the look
		// sees; drop it, and be found by the commits after it.
		select {
		case <-w.ch:
		default:
		}
		if b.register(w) {
			if jobs := b.receive(w); len(jobs) > 0 {
				return backend.LeaseResult{Jobs: jobs}, nil
			}
			continue // the hand-off failed: look again
		}
		res, next, err := b.leaseOnce(ctx, queue, req, w)
		if err != nil || len(res.Jobs) > 0 {
			// A waiter whose look found jobs or failed is never claimed;
			// should it be, its jobs are still the caller's.
			if jobs := b.leave(w); len(jobs) > 0 {
				return backend.LeaseResult{Jobs: append(res.Jobs, jobs...)}, nil
			}
			if err != nil {
				return res, fmt.Errorf("drover: lease %s: %w", queue, err)
			}
			return res, nil
		}
		now := clock.Now()
		d := deadline.Sub(now)
		if d <= 0 {
			return backend.LeaseResult{Jobs: b.leave(w)}, nil
		}
		if !next.IsZero() {
			d = min(d, max(next.Sub(now), 0))
		}
		b.arm(w, now.Add(d))
		timer := backend.NewTimerAt(clock, now.Add(d))
		select {
		case jobs := <-w.handed:
			timer.Stop()
			if jobs := b.unclaim(w, jobs); len(jobs) > 0 {
				return backend.LeaseResult{Jobs: jobs}, nil
			}
		case <-w.ch:
			timer.Stop()
		case <-timer.C():
		case <-ctx.Done():
			timer.Stop()
			if jobs := b.leave(w); len(jobs) > 0 {
				return backend.LeaseResult{Jobs: jobs}, nil
			}
			return res, ctx.Err()
		case <-b.done:
			timer.Stop()
			if jobs := b.leave(w); len(jobs) > 0 {
				return backend.LeaseResult{Jobs: jobs}, nil
			}
			return res, errClosed
		}
	}
}

// leaseOnce runs one lease transaction. next is the earliest time a
// delayed job falls due or a lease expires (zero when neither). When the
// look finds nothing, w (if any) becomes claimable by a hand-off later in
// the same transaction, and idle once it ends.
func (b *Backend) leaseOnce(ctx context.Context, queue string, req *backend.LeaseRequest, w *waiter) (res backend.LeaseResult, next time.Time, err error) {
	err = b.update(ctx, func(t *txn) error {
		res.Jobs, next = nil, time.Time{}
		if err := t.lease(queue, req, &res, &next); err != nil {
			return err
		}
		if len(res.Jobs) == 0 && w != nil {
			w.lookedTx = t.id
			t.looked = append(t.looked, w)
		}
		return nil
	})
	return res, next, err
}

// lease is the transaction of one look of a Lease call: promote, recover,
// then take up to req.Max jobs into res. It sets next as leaseOnce says.
func (t *txn) lease(queue string, req *backend.LeaseRequest, res *backend.LeaseResult, next *time.Time) error {
	q, err := t.queue(queue, false)
	if q == nil || err != nil {
		return err
	}
	made, err := t.promote(q)
	if err != nil {
		return err
	}
	n, err := t.recoverStalled(q, req.MaxStalled)
	if err != nil {
		return err
	}
	made += n
	if res.Jobs, err = t.take(q, req, res.Jobs); err != nil {
		return err
	}
	// Wake others only for the net number of jobs this call made ready.
	if k := min(len(res.Jobs), made); k > 0 {
		t.wake[queue] -= k
	}
	if tm, ok := q.firstIndexTime(stDelayed); ok {
		*next = tm
	}
	if tm, ok := q.firstIndexTime(stActive); ok && (next.IsZero() || tm.Before(*next)) {
		*next = tm
	}
	if len(res.Jobs) == 0 && q.m.counts[stWaiting] > 0 && !q.m.paused {
		// Jobs wait that the limits keep back: look again when they
		// allow a start.
		_, tm, err := q.allowance(req.Max, t.now)
		if err != nil {
			return err
		}
		if !tm.IsZero() && (next.IsZero() || tm.Before(*next)) {
			*next = tm
		}
		if q.gs != nil {
			if tm := q.nextWake(); !tm.IsZero() && (next.IsZero() || tm.Before(*next)) {
				*next = tm
			}
		}
	}
	return nil
}

// take leases waiting jobs of q under req, in the order of the waiting
// index (priority, then age), appending them to jobs until it holds
// req.Max. A paused queue gives nothing. Taking the last waiting job
// appends a drained event: the queue had waiting jobs and has none now.
func (t *txn) take(q *qtx, req *backend.LeaseRequest, jobs []*backend.Job) ([]*backend.Job, error) {
	if q.m.paused {
		return jobs, nil
	}
	took := len(jobs)
	allow, _, err := q.allowance(req.Max-took, t.now)
	if err != nil {
		return jobs, err
	}
	gs, err := q.groups(false)
	if err != nil {
		return jobs, err
	}
	if gs != nil {
		if err := q.wakeGroups(); err != nil {
			return jobs, err
		}
	}
	for len(jobs) < took+allow {
		var (
			j     *backend.Job
			group string
		)
		if gs != nil {
			// Grouped: the next group's next job, round robin.
			if j, group, err = q.nextGrouped(); j == nil || err != nil {
				if err != nil {
					return jobs, err
				}
				break
			}
		} else {
			k, v := q.first(stWaiting)
			if k == nil {
				break
			}
			if j, err = q.indexed(stWaiting, v); err != nil {
				return jobs, err
			}
		}
		q.leasing = gs != nil
		err := t.activate(q, j, req)
		q.leasing = false
		if err != nil {
			return jobs, err
		}
		if gs != nil {
			if err := q.groupStarted(group); err != nil {
				return jobs, err
			}
		}
		if err := q.fill(j); err != nil {
			return jobs, err
		}
		jobs = append(jobs, j)
	}
	if err := q.started(len(jobs)-took, t.now); err != nil {
		return jobs, err
	}
	if len(jobs) > took && q.m.counts[stWaiting] == 0 {
		return jobs, q.event(backend.Event{Type: backend.EventDrained})
	}
	return jobs, nil
}

// promote moves delayed jobs that are due to waiting.
func (t *txn) promote(q *qtx) (int, error) {
	n := 0
	for ; n < maxPromote; n++ {
		k, v := q.first(stDelayed)
		if k == nil || timeFromKey(beUint64(k)).After(t.now) {
			break
		}
		j, err := q.indexed(stDelayed, v)
		if err != nil {
			return n, err
		}
		if err := q.move(j, func() {
			j.State = backend.StateWaiting
			q.readyAt(j, false)
		}); err != nil {
			return n, err
		}
		if err := q.madeWaiting(j); err != nil {
			return n, err
		}
	}
	return n, nil
}

// recoverStalled recovers jobs whose lease expired: back to waiting, or
// failed once they stalled more than maxStalled times. It returns the
// number made waiting.
func (t *txn) recoverStalled(q *qtx, maxStalled int) (int, error) {
	made := 0
	for range maxPromote {
		k, v := q.first(stActive)
		if k == nil || timeFromKey(beUint64(k)).After(t.now) {
			break
		}
		j, err := q.indexed(stActive, v)
		if err != nil {
			return made, err
		}
		j.StalledCount++
		j.Worker = ""
		if err := q.jobEvent(backend.Event{Type: backend.EventStalled}, j); err != nil {
			return made, err
		}
		if j.CancelRequested {
			if err := t.failCancelled(q, j); err != nil {
				return made, err
			}
			continue
		}
		if j.StalledCount > maxStalled {
			// The attempt that started and was lost counts.
			j.AttemptsMade++
			if err := t.finish(q, j, backend.StateFailed, nil, backend.StalledReason, nil); err != nil {
				return made, err
			}
			continue
		}
		if err := q.move(j, func() {
			j.State = backend.StateWaiting
			j.Lease = backend.Lease{}
			j.LeaseExpiresAt = time.Time{}
			q.readyAt(j, true)
		}); err != nil {
			return made, err
		}
		if err := q.madeWaiting(j); err != nil {
			return made, err
		}
		made++
	}
	return made, nil
}

// activate moves a waiting job to active under a fresh lease, and creates
// the next iteration when the job is its scheduler's current one.
func (t *txn) activate(q *qtx, j *backend.Job, req *backend.LeaseRequest) error {
	err := q.move(j, func() {
		j.State = backend.StateActive
		j.Lease = backend.Lease{JobID: j.ID, Token: t.b.newToken()}
		j.LeaseExpiresAt = t.now.Add(req.TTL)
		j.Worker = req.Worker
		j.ProcessedAt = t.now
	})
	// Only this job's entries stay behind, stale (see take): not those
	// of jobs the rest of the step removes.
	q.leasing = false
	if err != nil {
		return err
	}
	if err := q.jobEvent(backend.Event{Type: backend.EventActive}, j); err != nil {
		return err
	}
	if j.SchedulerID != "" {
		return t.nextIteration(q, j)
	}
	return nil
}

// madeWaiting appends the waiting event of a job that became ready and
// counts it for the wake-up of blocked Lease calls.
func (q *qtx) madeWaiting(j *backend.Job) error {
	q.t.addWake(q.name, 1)
	return q.jobEvent(backend.Event{Type: backend.EventWaiting}, j)
}

// newToken returns a lease token unique to one attempt.
func (b *Backend) newToken() string {
	return b.tokenPrefix + strconv.FormatUint(b.tokenSeq.Add(1), 36)
}

// Renew extends the leases that still hold.
func (b *Backend) Renew(ctx context.Context, queue string, req *backend.RenewRequest) (backend.RenewResult, error) {
	var res backend.RenewResult
	if err := backend.ValidateQueueName(queue); err != nil {
		return res, err
	}
	if err := req.Validate(); err != nil {
		return res, err
	}
	err := b.update(ctx, func(t *txn) error {
		res = backend.RenewResult{ExpiresAt: req.From(t.now).Add(req.TTL)}
		q, err := t.queue(queue, false)
		if err != nil {
			return err
		}
		for _, l := range req.Leases {
			j, err := q.held(l)
			if err != nil {
				return err
			}
			if j == nil {
				res.Lost = append(res.Lost, l)
				continue
			}
			if err := q.move(j, func() { j.LeaseExpiresAt = res.ExpiresAt }); err != nil {
				return err
			}
			if j.CancelRequested {
				res.Cancelled = append(res.Cancelled, backend.Cancellation{Lease: l, Reason: j.CancelReason})
			}
		}
		return nil
	})
	if err != nil {
		return backend.RenewResult{}, err
	}
	return res, nil
}

// held returns the job of lease l if l still holds, else nil. q may be nil.
func (q *qtx) held(l backend.Lease) (*backend.Job, error) {
	if q == nil || l.JobID == "" || l.Token == "" {
		return nil, nil
	}
	j, err := q.job(l.JobID)
	if err != nil || j == nil {
		return nil, err
	}
	if j.State != backend.StateActive || j.Lease.Token != l.Token {
		return nil, nil
	}
	return j, nil
}
