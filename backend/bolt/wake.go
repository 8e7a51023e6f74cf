package bolt

import (
	"time"

	"github.com/droverhq/drover/backend"
)

// Wake-ups of blocked Lease calls.
//
// A blocked Lease call registers a waiter on its queue before it looks for
// jobs, so a commit that makes jobs ready after the look finds the waiter.
// Once a look has found nothing (and its transaction has ended), the
// waiter is idle: it sleeps until the jobs come to it.
//
// Jobs come to idle waiters by hand-off (handoff.go): a transaction that
// makes jobs ready leases them, before it commits, to the idle waiters of
// their queue, in the order the waiters registered, and the waiters
// receive their jobs once the commit is durable. They do not commit again.
//
// Waiters that cannot be handed jobs (one whose look is still in flight, or
// any waiter of a paused queue) are woken instead: a commit that made n
// jobs ready that are still ready after the hand-off pops waiters from the
// front of the queue's list until their Max values cover n, and signals
// each one's channel (buffered, so a signal is never lost). A popped waiter
// that leaves without leasing the jobs it was woken for (its context
// ended, Close) passes the wake-up on, so no waiter sleeps while a job it
// could take is ready. A pass-on may be spurious; the waiter it wakes
// looks, finds nothing, and waits again.
//
// A waiter also sleeps on a timer until the earliest time a delayed job of
// its queue falls due or a lease expires, as it saw them. A commit that
// brings in an earlier such time (a delayed job, a retry with a delay, a
// new lease) wakes the waiters armed for later, and those not armed yet,
// so that they look again and re-arm.

// waiter is one blocked Lease call.
type waiter struct {
	queue string
	req   backend.LeaseRequest // the call's request, as it was when the call began
	ch    chan struct{}        // wake-up signal; capacity 1
	// handed receives the jobs of a claim once its transaction has ended:
	// the leased jobs after the commit, nil if it failed. Capacity 1; a
	// claimed waiter always receives, and is not claimed again before.
	handed chan []*backend.Job
	// lookedTx is the transaction whose look found nothing for this
	// waiter; only the committer reads and writes it.
	lookedTx uint64

	// Guarded by Backend.wmu:
	queued  bool      // in the list
	idle    bool      // its last look found nothing and is over; it may be claimed
	claimed bool      // a transaction took it out of the list to hand it jobs
	until   time.Time // when its timer fires; zero while not armed
}

func newWaiter(queue string, req *backend.LeaseRequest) *waiter {
	return &waiter{queue: queue, req: *req, ch: make(chan struct{}, 1), handed: make(chan []*backend.Job, 1)}
}

// register puts w at the back of its queue's list, unless it is there, for
// a new look. It reports true, and changes nothing, when w was claimed: the
// caller must then receive the jobs handed (see receive).
func (b *Backend) register(w *waiter) (claimed bool) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if w.claimed {
		return true
	}
	w.until = time.Time{}
	w.idle = false
	if !w.queued {
		w.queued = true
		b.waiters[w.queue] = append(b.waiters[w.queue], w)
	}
	return false
}

// receive waits for the jobs handed to the claimed waiter w and ends the
// claim. It returns nil when the claim's transaction failed.
func (b *Backend) receive(w *waiter) []*backend.Job {
	return b.unclaim(w, <-w.handed)
}

// unclaim ends the claim of w, whose handed jobs the caller has received,
// and returns them.
func (b *Backend) unclaim(w *waiter, jobs []*backend.Job) []*backend.Job {
	b.wmu.Lock()
	w.claimed = false
	b.wmu.Unlock()
	return jobs
}

// arm records when w's timer fires.
func (b *Backend) arm(w *waiter, until time.Time) {
	b.wmu.Lock()
	w.until = until
	b.wmu.Unlock()
}

// markIdle makes the waiters whose look found nothing in a transaction
// that has ended claimable by the transactions after it.
func (b *Backend) markIdle(looked []*waiter) {
	if len(looked) == 0 {
		return
	}
	b.wmu.Lock()
	defer b.wmu.Unlock()
	for _, w := range looked {
		if w.queued && !w.claimed {
			w.idle = true
		}
	}
}

// nextIdle returns the first waiter of the queue that transaction tx may
// claim: idle, or whose look found nothing earlier in tx. It returns nil
// when there is none.
func (b *Backend) nextIdle(queue string, tx uint64) *waiter {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	for _, w := range b.waiters[queue] {
		if w.idle || w.lookedTx == tx {
			return w
		}
	}
	return nil
}

// claim takes w out of its queue's list for a hand-off. It reports false
// when w has left (or was woken) since nextIdle returned it.
func (b *Backend) claim(w *waiter) bool {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if !w.queued || w.claimed {
		return false
	}
	b.remove(w)
	w.claimed = true
	w.idle = false
	return true
}

// remove takes w out of its queue's list; wmu is held and w is queued.
func (b *Backend) remove(w *waiter) {
	w.queued = false
	list := b.waiters[w.queue]
	for i, x := range list {
		if x == w {
			copy(list[i:], list[i+1:])
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(b.waiters, w.queue)
	} else {
		b.waiters[w.queue] = list
	}
}

// rearm wakes the waiters of the queue that would sleep past due.
func (b *Backend) rearm(queue string, due time.Time) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	list := b.waiters[queue]
	keep := list[:0]
	for _, w := range list {
		if !w.until.IsZero() && !w.until.After(due) {
			keep = append(keep, w)
			continue
		}
		w.queued = false
		w.idle = false
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
	clear(list[len(keep):])
	if len(keep) == 0 {
		delete(b.waiters, queue)
	} else {
		b.waiters[queue] = keep
	}
}

// leave ends w's wait for good: it takes w out of its queue's list, and if
// w was woken and the wake-up is still unconsumed, passes the wake-up on
// to the next waiters. If a transaction claimed w first, leave instead
// waits for the jobs handed to it and returns them: they are leased to the
// caller, who must take them.
func (b *Backend) leave(w *waiter) []*backend.Job {
	b.wmu.Lock()
	if w.claimed {
		b.wmu.Unlock()
		return b.receive(w)
	}
	if w.queued {
		b.remove(w)
	}
	w.idle = false
	b.wmu.Unlock()
	select {
	case <-w.ch:
		b.wake(w.queue, w.req.Max)
	default:
	}
	return nil
}

// wake signals waiters of the queue whose Max values together cover n
// ready jobs.
func (b *Backend) wake(queue string, n int) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	list := b.waiters[queue]
	i := 0
	for ; i < len(list) && n > 0; i++ {
		w := list[i]
		w.queued = false
		w.idle = false
		select {
		case w.ch <- struct{}{}:
		default:
		}
		n -= w.req.Max
	}
	if i == 0 {
		return
	}
	rest := copy(list, list[i:])
	clear(list[rest:])
	if rest == 0 {
		delete(b.waiters, queue)
	} else {
		b.waiters[queue] = list[:rest]
	}
}

// notifyEvents wakes the Events calls blocked on the queue.
func (b *Backend) notifyEvents(queue string) {
	b.emu.Lock()
	defer b.emu.Unlock()
	if ch, ok := b.evNotify[queue]; ok {
		close(ch)
		delete(b.evNotify, queue)
	}
}

// eventsChanged returns a channel closed at the next commit that appends
// an event to the queue.
func (b *Backend) eventsChanged(queue string) <-chan struct{} {
	b.emu.Lock()
	defer b.emu.Unlock()
	ch, ok := b.evNotify[queue]
	if !ok {
		ch = make(chan struct{})
		b.evNotify[queue] = ch
	}
	return ch
}
