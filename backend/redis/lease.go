package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/redis/internal/layout"
)

// maxBlock bounds one blocking Redis command; a longer wait is several.
// It also bounds how long Close waits for a wait given up early.
const maxBlock = time.Second

// Lease takes up to req.Max waiting jobs. With req.Wait it blocks on the
// queue's wake list until an add, promotion or release lets it through, the
// earliest delayed job or lease expiry falls due, or the wait ends.
func (b *Backend) Lease(ctx context.Context, queue string, req *backend.LeaseRequest) (backend.LeaseResult, error) {
	if err := b.check(queue); err != nil {
		return backend.LeaseResult{}, err
	}
	if err := req.Validate(); err != nil {
		return backend.LeaseResult{}, err
	}
	clock := b.opts.Clock
	deadline := clock.Now().Add(req.Wait)
	for {
		jobs, next, err := b.leaseOnce(ctx, queue, req)
		if err != nil || len(jobs) > 0 || req.Wait <= 0 {
			return backend.LeaseResult{Jobs: jobs}, err
		}
		now := clock.Now()
		wait := deadline.Sub(now)
		if wait <= 0 {
			return backend.LeaseResult{}, nil
		}
		if !next.IsZero() {
			wait = min(wait, next.Sub(now))
		}
		if wait <= 0 {
			continue
		}
		if err := b.waitWake(ctx, queue, now.Add(wait)); err != nil {
			return backend.LeaseResult{}, err
		}
	}
}

func (b *Backend) leaseOnce(ctx context.Context, queue string, req *backend.LeaseRequest) ([]*backend.Job, time.Time, error) {
	// The request ID names the call's lease tokens too: the token of the
	// k-th job is id-k.
	id := b.reqs.next()
	argv := append(b.header(b.now(), b.replyTTL, 6), queue, req.Max, durMs(req.TTL), req.MaxStalled, req.Worker, id+"-")
	res, err := b.write(ctx, "lease", queue, id, b.queueKeys(queue), argv)
	if err != nil {
		return nil, time.Time{}, err
	}
	a, _ := res.([]any)
	if len(a) < 2 {
		return nil, time.Time{}, fmt.Errorf("drover: lease %s: short reply", queue)
	}
	next, _ := a[0].(int64)
	if outbox, _ := a[1].(int64); outbox > 0 {
		b.drainOutbox(ctx, queue)
	}
	var jobs []*backend.Job
	for i := 2; i+3 < len(a); i += 4 {
		id, _ := a[i].(string)
		rec, _ := a[i+1].(string)
		hot, _ := a[i+2].(string)
		kids, _ := a[i+3].(string)
		j, err := decodeJob(queue, id, rec, hot, kids)
		if err != nil {
			return jobs, time.Time{}, err
		}
		jobs = append(jobs, j)
	}
	var nt time.Time
	if next > 0 {
		nt = time.UnixMilli(next)
	}
	return jobs, nt, nil
}

// waitWake blocks until a wake token of the queue is taken, the clock reads
// until, ctx ends or the store closes. The blocking command runs
// on its own goroutine so that a fake clock, ctx or Close can end the wait;
// a token that arrives after the wait was given up is pushed back for the
// next waiter.
func (b *Backend) waitWake(ctx context.Context, queue string, until time.Time) error {
	key := b.key(queue, layout.KeyWake)
	timer := backend.NewTimerAt(b.opts.Clock, until)
	wait := max(until.Sub(b.opts.Clock.Now()), time.Millisecond)
	defer timer.Stop()

	var mu sync.Mutex
	abandoned := false
	done := make(chan error, 1)
	started := b.spawn(func() {
		err := b.blpop(key, min(wait, maxBlock))
		mu.Lock()
		defer mu.Unlock()
		if abandoned {
			if err == nil {
				b.pushBack(key)
			}
			return
		}
		done <- err
	})
	if !started {
		return backend.ErrClosed
	}
	giveUp := func() {
		mu.Lock()
		abandoned = true
		mu.Unlock()
		select {
		case err := <-done:
			if err == nil {
				b.pushBack(key)
			}
		default:
		}
	}
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, goredis.Nil) {
			b.opts.Logger.Warn("drover: waiting for jobs failed", "queue", queue, "err", err)
			return b.backoff(ctx, err)
		}
		return nil
	case <-timer.C():
		giveUp()
		// The caller leases again, so a token taken meanwhile is used.
		return nil
	case <-ctx.Done():
		giveUp()
		return ctx.Err()
	case <-b.closing:
		giveUp()
		return backend.ErrClosed
	}
}

// blpop takes one wake token, waiting up to d. Waits under a second use a
// fractional timeout (Redis 6 and later) under the client's read timeout.
func (b *Backend) blpop(key string, d time.Duration) error {
	ctx := context.Background()
	if d < time.Second {
		secs := strconv.FormatFloat(max(d.Seconds(), 0.001), 'f', 3, 64)
		return b.client.Do(ctx, "blpop", key, secs).Err()
	}
	return b.client.BLPop(ctx, d, key).Err()
}

func (b *Backend) pushBack(key string) {
	if err := b.client.LPush(context.Background(), key, "1").Err(); err != nil {
		b.opts.Logger.Warn("drover: returning a wake token failed", "key", key, "err", err)
	}
}

// backoff pauses after a failed blocking wait so that a leaser whose
// server is away does not spin; the caller then tries again.
func (b *Backend) backoff(ctx context.Context, cause error) error {
	_ = b.failed(cause)
	t := b.opts.Clock.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-b.closing:
		return backend.ErrClosed
	}
}

// Renew extends the leases whose tokens still hold.
func (b *Backend) Renew(ctx context.Context, queue string, req *backend.RenewRequest) (backend.RenewResult, error) {
	if err := b.check(queue); err != nil {
		return backend.RenewResult{}, err
	}
	if err := req.Validate(); err != nil {
		return backend.RenewResult{}, err
	}
	if len(req.Leases) == 0 {
		return backend.RenewResult{}, nil
	}
	now := req.From(b.opts.Clock.Now())
	argv := append(b.header(now.UnixMilli(), b.replyTTL, 2+2*len(req.Leases)), queue, durMs(req.TTL))
	for _, l := range req.Leases {
		argv = append(argv, l.JobID, l.Token)
	}
	res, err := b.write(ctx, "renew", queue, b.reqs.next(), b.queueKeys(queue), argv)
	if err != nil {
		return backend.RenewResult{}, err
	}
	out := backend.RenewResult{ExpiresAt: time.UnixMilli(now.UnixMilli()).Add(req.TTL)}
	a, _ := res.([]any)
	if len(a) != 2 {
		return backend.RenewResult{}, fmt.Errorf("drover: renew in %s: reply of %d values", queue, len(a))
	}
	lost, _ := a[0].([]any)
	for _, x := range lost {
		if i, ok := x.(int64); ok && i >= 1 && int(i) <= len(req.Leases) {
			out.Lost = append(out.Lost, req.Leases[i-1])
		}
	}
	marked, _ := a[1].([]any)
	for k := 0; k+1 < len(marked); k += 2 {
		i, _ := marked[k].(int64)
		reason, _ := marked[k+1].(string)
		if i >= 1 && int(i) <= len(req.Leases) {
			out.Cancelled = append(out.Cancelled, backend.Cancellation{Lease: req.Leases[i-1], Reason: reason})
		}
	}
	return out, nil
}

// drainOutbox delivers the queue's pending notices to flow parents in
// other queues. Each notice is applied by an idempotent script on the
// parent's queue, then removed; after a crash in between it is applied
// again, harmlessly. Errors are logged: the next Lease tries again.
func (b *Backend) drainOutbox(ctx context.Context, queue string) {
	seen := map[string]bool{}
	todo := []string{queue}
	for len(todo) > 0 {
		q := todo[0]
		todo = todo[1:]
		if seen[q] {
			continue
		}
		seen[q] = true
		more, err := b.drainOne(ctx, q)
		if err != nil {
			b.opts.Logger.Warn("drover: delivering flow notices failed", "queue", q, "err", err)
		}
		todo = append(todo, more...)
	}
}

func (b *Backend) drainOne(ctx context.Context, queue string) ([]string, error) {
	key := b.key(queue, layout.KeyOutbox)
	var next []string
	for range 100 {
		entries, err := b.client.LRange(ctx, key, 0, 99).Result()
		if err != nil || len(entries) == 0 {
			return next, b.failed(err)
		}
		for _, e := range entries {
			f, err := decodeN(e, 7)
			if err != nil {
				b.opts.Logger.Error("drover: dropping a corrupt flow notice", "queue", queue)
			} else {
				res, err := b.runRepeatable(ctx, "notify", f[0], f[1], f[2], f[3], f[4], f[5], f[6])
				if err != nil {
					return next, err
				}
				if n, _ := res.(int64); n > 0 {
					next = append(next, f[0])
				}
			}
			if err := b.client.LRem(ctx, key, 1, e).Err(); err != nil {
				return next, b.failed(err)
			}
		}
	}
	return next, nil
}
