package bolt

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

// waiter is one blocked Lease call.
type waiter struct {
	max    int
	ch     chan struct{} // capacity 1
	queued bool          // in the list; guarded by Backend.wmu
}

func newWaiter(max int) *waiter {
	return &waiter{max: max, ch: make(chan struct{}, 1)}
}

// register puts w at the back of the queue's list, unless it is there.
func (b *Backend) register(queue string, w *waiter) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if !w.queued {
		w.queued = true
		b.waiters[queue] = append(b.waiters[queue], w)
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
