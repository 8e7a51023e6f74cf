package bolt

import (
	"fmt"
	"slices"

	"github.com/droverhq/drover/backend"
)

// Hand-off of ready jobs to blocked Lease calls.
//
// Without it, a job added for an idle worker costs two commits before its
// handler starts: the add's, then the lease's that the add's wake-up
// causes. With it, the transaction that makes jobs ready also leases them
// to the idle waiters of their queue, and the waiters receive the jobs once
// that one commit is durable.
//
// When its requests have run, a transaction takes each queue in which they
// made jobs ready and, unless the queue is paused, hands jobs to its idle
// waiters in the order they registered: for each waiter, it does what that
// waiter's own Lease call would do right after the commit (promote due
// delayed jobs, recover expired leases with the waiter's MaxStalled, then
// lease up to its Max waiting jobs in priority order under its TTL and
// worker name, with the active events and any next scheduler iteration),
// until no waiting job or no idle waiter is left.
//
// A waiter is claimed under Backend.wmu before its jobs are leased, and a
// claimed waiter always receives: it waits for the transaction's outcome
// even if its context has ended, its wait has timed out or the store is
// closing, and returns the jobs. A waiter that leaves first is never
// claimed. Every claim is answered when the transaction ends: with its
// jobs after the commit, or with nil if the transaction rolled back, and
// the waiter then looks again on its own. If the hand-off itself fails, the
// transaction is rolled back and its requests run again without one (see
// runWith), so a hand-off never fails a writer.

// claim is a waiter claimed by a transaction, with the jobs leased to it.
type claim struct {
	w    *waiter
	jobs []*backend.Job
}

// handOff leases the jobs the transaction made ready to the idle waiters
// of their queues, and lowers the transaction's wake-up counts to the jobs
// still ready.
func (t *txn) handOff() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("drover: bolt: panic in hand-off: %v", p)
		}
	}()
	var names []string
	for name, n := range t.wake {
		if n > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names) // a deterministic order when several queues hand off
	for _, name := range names {
		q := t.queues[name]
		if q == nil || q.m.paused {
			continue
		}
		if err := t.handOffQueue(q); err != nil {
			return err
		}
		t.wake[name] = min(t.wake[name], int(q.m.counts[stWaiting]))
	}
	if t.b.testHookHandedOff != nil {
		t.b.testHookHandedOff()
	}
	return nil
}

// handOffQueue hands q's waiting jobs to its idle waiters, first come
// first served, each as its own Lease call would take them.
func (t *txn) handOffQueue(q *qtx) error {
	for {
		w := t.b.nextIdle(q.name, t.id)
		if w == nil {
			return nil
		}
		t.now = t.b.opts.Clock.Now()
		if _, err := t.promote(q); err != nil {
			return err
		}
		if _, err := t.recoverStalled(q, w.req.MaxStalled); err != nil {
			return err
		}
		if q.m.counts[stWaiting] == 0 {
			return nil
		}
		if n, _, err := q.allowance(w.req.Max, t.now); n == 0 || err != nil {
			return err // the queue's limits let no job start now
		}
		if ok, err := q.groupReady(); !ok || err != nil {
			return err // no group may start a job now
		}
		if !t.b.claim(w) {
			continue // it left or was woken since nextIdle
		}
		c := &claim{w: w}
		t.claims = append(t.claims, c)
		jobs, err := t.take(q, &w.req, nil)
		if err != nil {
			return err
		}
		c.jobs = jobs
	}
}

// deliver answers the transaction's claims: each waiter gets its jobs if
// the transaction committed, nil otherwise.
func (t *txn) deliver(committed bool) {
	for _, c := range t.claims {
		if committed {
			c.w.handed <- c.jobs
		} else {
			c.w.handed <- nil
		}
	}
	clear(t.claims)
	t.claims = t.claims[:0]
}
