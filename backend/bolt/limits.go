package bolt

import (
	"context"
	"encoding/binary"
	"time"

	"go.etcd.io/bbolt"

	"github.com/droverhq/drover/backend"
)

// A queue's limits live in its meta bucket, beside the meta record: its
// Limits and hold under limitsKey, and under startsKey the start times of
// the jobs that started within the rate period, oldest first, which is
// what a sliding window needs (at most Limits.Rate of them).
var (
	limitsKey = []byte("limits")
	startsKey = []byte("starts")
)

// limitsRec is a queue's limits as the store keeps them.
type limitsRec struct {
	backend.Limits
	holdUntil time.Time
	// starts are the start times within the rate period, oldest first
	// (unix nanoseconds); loaded only when Rate is set.
	starts      []int64
	startsDirty bool
}

func appendLimits(buf []byte, l *limitsRec) []byte {
	e := enc{b: buf}
	e.b = append(e.b, codecVersion)
	e.n(l.Concurrency)
	e.n(l.Rate)
	e.d(l.RatePer)
	e.time(l.holdUntil)
	return e.b
}

func decodeLimits(v []byte) (*limitsRec, error) {
	d := dec{b: v}
	d.version()
	l := &limitsRec{}
	l.Concurrency, l.Rate, l.RatePer, l.holdUntil = d.n(), d.n(), d.dur(), d.time()
	if err := d.end(); err != nil {
		return nil, err
	}
	return l, nil
}

func decodeStarts(v []byte) ([]int64, error) {
	if len(v)%8 != 0 {
		return nil, errCorrupt
	}
	out := make([]int64, len(v)/8)
	for i := range out {
		out[i] = int64(binary.BigEndian.Uint64(v[8*i:]))
	}
	return out, nil
}

// limits returns the queue's limits, read once per transaction; nil when
// the queue has none (never set, or cleared with no hold left).
func (q *qtx) limits() (*limitsRec, error) {
	if q.limLoaded {
		return q.lim, nil
	}
	v := q.metaB.Get(limitsKey)
	if v == nil {
		q.limLoaded = true
		return nil, nil
	}
	l, err := decodeLimits(v)
	if err != nil {
		return nil, err
	}
	if l.Rate > 0 {
		if l.starts, err = decodeStarts(q.metaB.Get(startsKey)); err != nil {
			return nil, err
		}
	}
	q.lim, q.limLoaded = l, true
	return l, nil
}

// saveLimits writes l (and its start times, when they changed).
func (q *qtx) saveLimits(l *limitsRec) error {
	q.lim, q.limLoaded = l, true
	v := q.t.encode(func(buf []byte) []byte { return appendLimits(buf, l) })
	if err := q.put(q.metaB, limitsKey, v); err != nil {
		return err
	}
	return q.saveStarts(l)
}

func (q *qtx) saveStarts(l *limitsRec) error {
	if !l.startsDirty {
		return nil
	}
	l.startsDirty = false
	if len(l.starts) == 0 {
		return q.del(q.metaB, startsKey)
	}
	v := q.t.alloc(8 * len(l.starts))
	for i, s := range l.starts {
		binary.BigEndian.PutUint64(v[8*i:], uint64(s))
	}
	return q.put(q.metaB, startsKey, v)
}

// window drops the start times that left the rate period by now.
func (l *limitsRec) window(now time.Time) {
	if l.Rate == 0 {
		return
	}
	if kept := inWindow(l.starts, now, l.RatePer); len(kept) < len(l.starts) {
		l.starts = kept
		l.startsDirty = true
	}
}

// inWindow returns the start times (unix ns, oldest first) that fall in
// the rate period before now. A rate limit, of a queue or of a group, is
// a sliding window over them.
func inWindow(starts []int64, now time.Time, per time.Duration) []int64 {
	cut := now.Add(-per).UnixNano()
	i := 0
	for i < len(starts) && starts[i] <= cut {
		i++
	}
	return starts[i:]
}

// nextStart returns when a rate of rate starts per per allows the next
// start, given the start times in the window (at least rate of them).
func nextStart(starts []int64, rate int, per time.Duration) time.Time {
	return time.Unix(0, starts[len(starts)-rate]).UTC().Add(per)
}

// allowance returns how many jobs the limits let start at now, up to
// want, and when they are what keeps jobs back, the time a start is next
// allowed (zero when only a job's end can free a slot).
func (q *qtx) allowance(want int, now time.Time) (int, time.Time, error) {
	l, err := q.limits()
	if l == nil || err != nil {
		return want, time.Time{}, err
	}
	if now.Before(l.holdUntil) {
		return 0, l.holdUntil, nil
	}
	if l.Concurrency > 0 {
		want = min(want, max(l.Concurrency-int(q.m.counts[stActive]), 0))
	}
	var next time.Time
	if l.Rate > 0 {
		l.window(now)
		free := l.Rate - len(l.starts)
		want = min(want, max(free, 0))
		if free <= 0 {
			next = nextStart(l.starts, l.Rate, l.RatePer)
		}
	}
	return want, next, nil
}

// started records n starts at now against the rate limit.
func (q *qtx) started(n int, now time.Time) error {
	l, err := q.limits()
	if l == nil || err != nil || l.Rate == 0 || n == 0 {
		return err
	}
	for range n {
		l.starts = append(l.starts, now.UnixNano())
	}
	l.startsDirty = true
	return q.saveStarts(l)
}

// slotFreed wakes a blocked Lease when a job left active in a queue whose
// concurrency limit may have kept waiting jobs back.
func (q *qtx) slotFreed() error {
	l, err := q.limits()
	if l == nil || err != nil || l.Concurrency == 0 || q.m.counts[stWaiting] == 0 {
		return err
	}
	q.t.addWake(q.name, 1)
	return nil
}

// hold keeps the queue's jobs from starting until until, with a
// rate-limited event (about j when a settlement made it); a hold that
// ends earlier than the current one changes nothing.
func (q *qtx) hold(until time.Time, j *backend.Job) error {
	l, err := q.limits()
	if err != nil {
		return err
	}
	if l == nil {
		l = &limitsRec{}
	}
	if !until.After(l.holdUntil) {
		return nil
	}
	l.holdUntil = until
	if err := q.saveLimits(l); err != nil {
		return err
	}
	ev := backend.Event{Type: backend.EventRateLimited, RunAt: until}
	if j != nil {
		return q.jobEvent(ev, j)
	}
	return q.event(ev)
}

// SetLimits replaces a queue's limits.
func (b *Backend) SetLimits(ctx context.Context, queue string, lim backend.Limits) error {
	if err := backend.ValidateQueueName(queue); err != nil {
		return err
	}
	if err := lim.Validate(); err != nil {
		return err
	}
	return b.update(ctx, func(t *txn) error {
		q, err := t.queue(queue, true)
		if err != nil {
			return err
		}
		l, err := q.limits()
		if err != nil {
			return err
		}
		if l == nil {
			l = &limitsRec{}
		}
		raised := l.Concurrency > 0 && (lim.Concurrency == 0 || lim.Concurrency > l.Concurrency) ||
			l.Rate > 0 && (lim.Rate == 0 || lim.Rate > l.Rate || lim.RatePer < l.RatePer)
		l.Limits = lim
		if lim.Rate == 0 {
			l.starts = nil
		} else if over := len(l.starts) - lim.Rate; over > 0 {
			l.starts = l.starts[over:]
		}
		l.startsDirty = true
		if err := q.saveLimits(l); err != nil {
			return err
		}
		if raised && q.m.counts[stWaiting] > 0 {
			t.addWake(queue, int(q.m.counts[stWaiting]))
		}
		return q.event(backend.Event{Type: backend.EventLimitsChanged, Data: lim.EventData()})
	})
}

// Limits reports a queue's limits and what keeps its jobs back now.
func (b *Backend) Limits(ctx context.Context, queue string) (backend.QueueLimits, error) {
	var res backend.QueueLimits
	if err := backend.ValidateQueueName(queue); err != nil {
		return res, err
	}
	now := b.opts.Clock.Now()
	err := b.view(func(tx *bbolt.Tx) error {
		q := readQueue(tx, queue)
		if q == nil {
			return nil
		}
		l, err := q.limits()
		if l == nil || err != nil {
			return err
		}
		res.Limits = l.Limits
		if now.Before(l.holdUntil) {
			res.HeldUntil = l.holdUntil
		}
		if l.Rate > 0 {
			l.window(now)
			if len(l.starts) >= l.Rate {
				res.NextStart = nextStart(l.starts, l.Rate, l.RatePer)
			}
		}
		return nil
	})
	return res, err
}

// Hold keeps a queue's jobs from starting for d.
func (b *Backend) Hold(ctx context.Context, queue string, d time.Duration) error {
	if err := backend.ValidateQueueName(queue); err != nil {
		return err
	}
	if err := backend.ValidateHold(d); err != nil {
		return err
	}
	return b.update(ctx, func(t *txn) error {
		q, err := t.queue(queue, true)
		if err != nil {
			return err
		}
		return q.hold(t.now.Add(d), nil)
	})
}
