// Package fakeclock is a backend.Clock that moves only when told to, for
// deterministic tests.
//
// A test that advances the clock to fire a timer must first know that the
// timer is armed: a goroutine that has not yet called NewTimer when the
// clock moves arms its timer from the new time, and fires late. Waiters
// and AwaitTimer tell a test what is armed, so it need not hope.
package fakeclock

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/droverhq/drover/backend"
)

// Clock is a manually advanced backend.Clock. The zero value is not usable;
// call New.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
	armed  chan struct{} // closed and replaced whenever a timer is armed
}

var _ backend.Clock = (*Clock)(nil)

// New returns a clock that reads start.
func New(start time.Time) *Clock { return &Clock{now: start, armed: make(chan struct{})} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and fires the timers that fall due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	keep := c.timers[:0]
	var due []*timer
	for _, t := range c.timers {
		if !t.at.After(now) {
			due = append(due, t)
		} else {
			keep = append(keep, t)
		}
	}
	clear(c.timers[len(keep):])
	c.timers = keep
	c.mu.Unlock()
	for _, t := range due {
		t.fire(now)
	}
}

// Set moves the clock to t (forward only) and fires due timers.
func (c *Clock) Set(t time.Time) {
	if d := t.Sub(c.Now()); d > 0 {
		c.Advance(d)
	}
}

// Timers returns the number of timers waiting to fire.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Waiters returns the times at which the armed timers fire, earliest first.
func (c *Clock) Waiters() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Time, len(c.timers))
	for i, t := range c.timers {
		out[i] = t.at
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// AwaitTimer waits until n timers are armed that fire at or before at, so
// that advancing the clock to at is sure to fire them. It returns ctx's
// error if ctx ends first.
func (c *Clock) AwaitTimer(ctx context.Context, at time.Time, n int) error {
	for {
		c.mu.Lock()
		k := 0
		for _, t := range c.timers {
			if !t.at.After(at) {
				k++
			}
		}
		armed := c.armed
		c.mu.Unlock()
		if k >= n {
			return nil
		}
		select {
		case <-armed:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// NewTimer returns a timer that fires once the clock has advanced by d.
func (c *Clock) NewTimer(d time.Duration) backend.Timer {
	t := &timer{clock: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	t.at = c.now.Add(d)
	if d <= 0 {
		now := c.now
		c.mu.Unlock()
		t.fire(now)
		return t
	}
	c.timers = append(c.timers, t)
	close(c.armed)
	c.armed = make(chan struct{})
	c.mu.Unlock()
	return t
}

type timer struct {
	clock *Clock
	at    time.Time
	ch    chan time.Time
	once  sync.Once
}

func (t *timer) fire(now time.Time) {
	t.once.Do(func() { t.ch <- now })
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			return true
		}
	}
	return false
}
