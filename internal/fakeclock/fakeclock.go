// Package fakeclock is a backend.Clock that moves only when told to, for
// deterministic tests.
package fakeclock

import (
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
}

var _ backend.Clock = (*Clock)(nil)

// New returns a clock that reads start.
func New(start time.Time) *Clock { return &Clock{now: start} }

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
