// Package deadline runs callbacks at points in time read from a
// backend.Clock, with one timer for all of them.
//
// A worker arms one entry per job that has a timeout, and moves it on to the
// end of the grace period when the timeout fires. Entries are kept in a heap
// ordered by due time; only the earliest has a clock timer, so the cost per
// job is one heap insert and one removal, and no goroutine.
package deadline

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/droverhq/drover/backend"
)

// Entry is one scheduled callback. Its zero value is not usable; get one
// from Scheduler.Add.
type Entry struct {
	at    time.Time
	index int // position in the heap, or -1 when not scheduled
	fn    func(now time.Time)
}

// Scheduler runs callbacks when the clock reaches their time. Callbacks run
// one at a time on the scheduler's goroutine; they must not block for long.
type Scheduler struct {
	clock backend.Clock

	mu    sync.Mutex
	queue entryHeap

	wake chan struct{}
	done chan struct{}
	stop context.CancelFunc
}

// New returns a Scheduler that reads time from clock. Call Start to run it.
func New(clock backend.Clock) *Scheduler {
	return &Scheduler{clock: clock, wake: make(chan struct{}, 1)}
}

// Add schedules fn to run once the clock reaches at.
func (s *Scheduler) Add(at time.Time, fn func(now time.Time)) *Entry {
	e := &Entry{at: at, index: -1, fn: fn}
	s.Reset(e, at)
	return e
}

// Reset schedules e again, at a new time. It works whether or not e is
// still scheduled.
func (s *Scheduler) Reset(e *Entry, at time.Time) {
	s.mu.Lock()
	e.at = at
	if e.index >= 0 {
		heap.Fix(&s.queue, e.index)
	} else {
		heap.Push(&s.queue, e)
	}
	first := e.index == 0
	s.mu.Unlock()
	if first {
		s.poke()
	}
}

// Remove unschedules e. It reports whether e was still scheduled; false
// means its callback has run, is running, or e was removed before.
func (s *Scheduler) Remove(e *Entry) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.index < 0 {
		return false
	}
	heap.Remove(&s.queue, e.index)
	return true
}

// Len returns the number of scheduled entries.
func (s *Scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Start runs the scheduler on its own goroutine until Stop is called or ctx
// is done.
func (s *Scheduler) Start(ctx context.Context) {
	ctx, s.stop = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		s.loop(ctx)
	}()
}

// Stop stops the scheduler and waits for its goroutine to exit. Entries
// still scheduled never run.
func (s *Scheduler) Stop() {
	if s.stop == nil {
		return
	}
	s.stop()
	<-s.done
}

func (s *Scheduler) loop(ctx context.Context) {
	for {
		next, ok := s.RunDue()
		var timer backend.Timer
		var fire <-chan time.Time
		if ok {
			timer = backend.NewTimerAt(s.clock, next)
			fire = timer.C()
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-s.wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// RunDue runs the callbacks that are due now, and returns the time of the
// next entry, if any.
func (s *Scheduler) RunDue() (next time.Time, ok bool) {
	for {
		now := s.clock.Now()
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			return time.Time{}, false
		}
		e := s.queue[0]
		if at := e.at; at.After(now) {
			s.mu.Unlock() // e.at may be Reset from here on
			return at, true
		}
		heap.Pop(&s.queue)
		s.mu.Unlock()
		e.fn(now)
	}
}

type entryHeap []*Entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *entryHeap) Push(x any) {
	e := x.(*Entry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *entryHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	e.index = -1
	*h = old[:n-1]
	return e
}
