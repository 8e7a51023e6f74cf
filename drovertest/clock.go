package drovertest

import (
	"context"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/fakeclock"
)

// Clock is a backend.Clock that moves only when told to. Give one Clock to
// the store (bolt.Options.Clock, redis.Options.Clock), the queues
// (queue.Options.Clock) and the workers (queue.WorkerOptions.Clock) of a
// test, so that they share one time. It is safe for concurrent use.
//
// A test that moves the clock to fire a timer must know that the timer is
// armed: a goroutine that arms its timer after the clock moved arms it from
// the new time, and it fires late. Waiters and AwaitTimer tell what is
// armed.
type Clock struct {
	c *fakeclock.Clock
}

var _ backend.Clock = (*Clock)(nil)

// NewClock returns a clock that reads start.
func NewClock(start time.Time) *Clock { return &Clock{c: fakeclock.New(start)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return c.c.Now() }

// NewTimer returns a timer that fires once the clock has moved on by d.
func (c *Clock) NewTimer(d time.Duration) backend.Timer { return c.c.NewTimer(d) }

// Advance moves the clock on by d and fires the timers that fall due.
func (c *Clock) Advance(d time.Duration) { c.c.Advance(d) }

// Set moves the clock to t, if t is later than its time, and fires the
// timers that fall due.
func (c *Clock) Set(t time.Time) { c.c.Set(t) }

// Waiters returns the times at which the armed timers fire, earliest
// first.
func (c *Clock) Waiters() []time.Time { return c.c.Waiters() }

// AwaitTimer waits until n armed timers fire at or before at, so that
// moving the clock to at is sure to fire them. It returns the cause of
// ctx's end if ctx ends first.
func (c *Clock) AwaitTimer(ctx context.Context, at time.Time, n int) error {
	return c.c.AwaitTimer(ctx, at, n)
}
