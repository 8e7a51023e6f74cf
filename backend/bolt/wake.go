package bolt

import "time"

// Wake-ups of blocked Lease calls.
//
// A blocked Lease call registers a waiter on its queue before it looks for
// jobs, so a commit that makes jobs ready after the look finds the waiter.
// A commit that made n jobs ready pops waiters from the front of the
// queue's list until their Max values cover n, and signals each one's
// channel (buffered, so a signal is never lost). A popped waiter that
// leaves without leasing the jobs it was woken for (its context ended,
// Close) passes the wake-up on, so no waiter sleeps while a job it could
// take is ready. A pass-on may be spurious; the waiter it wakes looks,
// finds nothing, and waits again.

//
// A waiter also sleeps on a timer until the earliest time a delayed job of
// its queue falls due or a lease expires, as it saw them. A commit that
// brings in an earlier such time (a delayed job, a retry with a delay, a
// new lease) wakes the waiters armed for later, and those not armed yet,
// so that they look again and re-arm.

// waiter is one blocked Lease call.
type waiter struct {
	max    int
	ch     chan struct{} // capacity 1
	queued bool          // in the list; guarded by Backend.wmu
	until  time.Time     // when its timer fires; zero while not armed; guarded by Backend.wmu
}

func newWaiter(max int) *waiter {
	return &waiter{max: max, ch: make(chan struct{}, 1)}
}

// register puts w at the back of the queue's list, unless it is there.
func (b *Backend) register(queue string, w *waiter) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	w.until = time.Time{}
	if !w.queued {
		w.queued = true
		b.waiters[queue] = append(b.waiters[queue], w)
	}
}

// arm records when w's timer fires.
func (b *Backend) arm(w *waiter, until time.Time) {
	b.wmu.Lock()
	w.until = until
	b.wmu.Unlock()
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

// leave takes w out of the queue's list. If w was woken and the wake-up is
// still unconsumed, it is passed on to the next waiters.
func (b *Backend) leave(queue string, w *waiter) {
	b.wmu.Lock()
	if w.queued {
		w.queued = false
		list := b.waiters[queue]
		for i, x := range list {
			if x == w {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(b.waiters, queue)
		} else {
			b.waiters[queue] = list
		}
	}
	b.wmu.Unlock()
	select {
	case <-w.ch:
		b.wake(queue, w.max)
	default:
	}
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
		select {
		case w.ch <- struct{}{}:
		default:
		}
		n -= w.max
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
