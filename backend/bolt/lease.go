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

// stalledReason is the failure reason of a job that stalled too often.
const stalledReason = "job stalled more than MaxStalled times"

func validateLease(queue string, req *backend.LeaseRequest) error {
	if err := backend.ValidateQueueName(queue); err != nil {
		return err
	}
	switch {
	case req == nil:
		return backend.Invalid("LeaseRequest", "request is nil")
	case req.Max < 1:
		return backend.Invalid("Max", "max is less than 1")
	case req.TTL <= 0:
		return backend.Invalid("TTL", "lease TTL is not positive")
	case req.Wait < 0:
		return backend.Invalid("Wait", "wait is negative")
	case req.MaxStalled < 0:
		return backend.Invalid("MaxStalled", "max stalled is negative")
	}
	return nil
}

// Lease promotes due delayed jobs, recovers expired leases and takes up to
// req.Max ready jobs, blocking up to req.Wait when none is ready.
func (b *Backend) Lease(ctx context.Context, queue string, req *backend.LeaseRequest) (backend.LeaseResult, error) {
	if err := validateLease(queue, req); err != nil {
		return backend.LeaseResult{}, err
	}
	clock := b.opts.Clock
	var w *waiter
	var deadline time.Time
	if req.Wait > 0 {
		w = newWaiter(req.Max)
		deadline = clock.Now().Add(req.Wait)
	}
	for {
		if w != nil {
			// A signal from before this look is about a commit the look
			// sees; drop it, and be found by the commits after it.
			select {
			case <-w.ch:
			default:
			}
			b.register(queue, w)
		}
		res, next, err := b.leaseOnce(ctx, queue, req)
		if err != nil || len(res.Jobs) > 0 || w == nil {
			if w != nil {
				b.leave(queue, w)
			}
			if err != nil {
				return res, fmt.Errorf("drover: lease %s: %w", queue, err)
			}
			return res, nil
		}
		now := clock.Now()
		d := deadline.Sub(now)
		if d <= 0 {
			b.leave(queue, w)
			return res, nil
		}
		if !next.IsZero() {
			d = min(d, max(next.Sub(now), 0))
		}
		b.arm(w, now.Add(d))
		timer := backend.NewTimerAt(clock, now.Add(d))
		select {
		case <-w.ch:
			timer.Stop()
		case <-timer.C():
		case <-ctx.Done():
			timer.Stop()
			b.leave(queue, w)
			return res, ctx.Err()
		case <-b.done:
			timer.Stop()
			b.leave(queue, w)
			return res, errClosed
		}
	}
}

// leaseOnce runs one lease transaction. next is the earliest time a
// delayed job falls due or a lease expires (zero when neither).
func (b *Backend) leaseOnce(ctx context.Context, queue string, req *backend.LeaseRequest) (res backend.LeaseResult, next time.Time, err error) {
	err = b.update(ctx, func(t *txn) error {
		res.Jobs, next = nil, time.Time{}
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
		if !q.m.paused {
			for len(res.Jobs) < req.Max {
				k, v := q.first(stWaiting)
				if k == nil {
					break
				}
				j, err := q.job(string(v))
				if err != nil {
					return err
				}
				if j == nil {
					return fmt.Errorf("drover: bolt: waiting index of %s names missing job %s", queue, v)
				}
				if err := t.activate(q, j, req); err != nil {
					return err
				}
				res.Jobs = append(res.Jobs, j)
			}
		}
		// Wake others only for the net number of jobs this call made
		// ready.
		if k := min(len(res.Jobs), made); k > 0 {
			t.wake[queue] -= k
		}
		if tm, ok := q.firstIndexTime(stDelayed); ok {
			next = tm
		}
		if tm, ok := q.firstIndexTime(stActive); ok && (next.IsZero() || tm.Before(next)) {
			next = tm
		}
		return nil
	})
	return res, next, err
}

// promote moves delayed jobs that are due to waiting.
func (t *txn) promote(q *qtx) (int, error) {
	n := 0
	for ; n < maxPromote; n++ {
		k, v := q.first(stDelayed)
		if k == nil || timeFromKey(beUint64(k)).After(t.now) {
			break
		}
		j, err := q.job(string(v))
		if err != nil {
			return n, err
		}
		if j == nil {
			return n, fmt.Errorf("drover: bolt: delayed index of %s names missing job %s", q.name, v)
		}
		if err := q.move(j, func() { j.State = backend.StateWaiting }); err != nil {
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
		j, err := q.job(string(v))
		if err != nil {
			return made, err
		}
		if j == nil {
			return made, fmt.Errorf("drover: bolt: active index of %s names missing job %s", q.name, v)
		}
		j.StalledCount++
		if err := q.jobEvent(backend.EventStalled, j); err != nil {
			return made, err
		}
		if j.StalledCount > maxStalled {
			if err := t.finish(q, j, backend.StateFailed, nil, stalledReason, nil); err != nil {
				return made, err
			}
			continue
		}
		if err := q.move(j, func() {
			j.State = backend.StateWaiting
			j.Lease = backend.Lease{}
			j.LeaseExpiresAt = time.Time{}
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
	if err != nil {
		return err
	}
	if err := q.jobEvent(backend.EventActive, j); err != nil {
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
	return q.jobEvent(backend.EventWaiting, j)
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
	if req == nil || req.TTL <= 0 {
		return res, backend.Invalid("TTL", "lease TTL is not positive")
	}
	err := b.update(ctx, func(t *txn) error {
		res = backend.RenewResult{ExpiresAt: t.now.Add(req.TTL)}
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
		}
		return nil
	})
	if err != nil {
		return backend.RenewResult{}, fmt.Errorf("drover: renew in %s: %w", queue, err)
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
