package backend

import "time"

// Clock tells the time. Stores and workers take every time stamp and every
// timed wait from a Clock, so tests can move time instead of sleeping.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that fires once the clock has advanced by d.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer made by a Clock.
type Timer interface {
	// C delivers the time once the timer fires.
	C() <-chan time.Time
	// Stop prevents the timer from firing. It reports whether it stopped
	// the timer before it fired.
	Stop() bool
}

// SystemClock returns the Clock that reads the wall clock.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time { return t.t.C }
func (t systemTimer) Stop() bool          { return t.t.Stop() }

// NewTimerAt returns a timer of c that fires once c reads target or later.
// Reading the clock and making a timer are two steps; if the clock moves in
// between, a timer made from a duration would fire late by that much, so
// NewTimerAt makes it again until the clock stood (nearly) still.
func NewTimerAt(c Clock, target time.Time) Timer {
	for {
		t0 := c.Now()
		t := c.NewTimer(target.Sub(t0))
		if c.Now().Sub(t0) < time.Millisecond {
			return t
		}
		t.Stop()
	}
}
