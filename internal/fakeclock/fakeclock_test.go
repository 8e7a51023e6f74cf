package fakeclock

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

var epoch = time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)

func TestAdvanceFiresDueTimersOnly(t *testing.T) {
	c := New(epoch)
	early, late := c.NewTimer(time.Second), c.NewTimer(time.Minute)
	c.Advance(time.Second)
	select {
	case at := <-early.C():
		if !at.Equal(epoch.Add(time.Second)) {
			t.Errorf("fired with %v", at)
		}
	default:
		t.Fatal("the due timer did not fire")
	}
	select {
	case <-late.C():
		t.Fatal("a timer fired early")
	default:
	}
	if !late.Stop() || late.Stop() {
		t.Error("Stop: want true once, then false")
	}
	if c.Timers() != 0 {
		t.Errorf("%d timers left", c.Timers())
	}
}

func TestWaitersListsArmedTimersEarliestFirst(t *testing.T) {
	c := New(epoch)
	c.NewTimer(3 * time.Second)
	c.NewTimer(time.Second)
	c.NewTimer(0) // fires at once, never waits
	want := []time.Time{epoch.Add(time.Second), epoch.Add(3 * time.Second)}
	if got := c.Waiters(); !slices.Equal(got, want) {
		t.Errorf("Waiters %v, want %v", got, want)
	}
}

func TestAwaitTimerReturnsOnceTheTimerIsArmed(t *testing.T) {
	c := New(epoch)
	c.NewTimer(time.Hour) // not due by the time awaited
	done := make(chan error, 1)
	go func() { done <- c.AwaitTimer(context.Background(), epoch.Add(10*time.Second), 1) }()
	select {
	case err := <-done:
		t.Fatalf("returned %v before a timer due by +10s was armed", err)
	default:
	}
	c.NewTimer(10 * time.Second)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("AwaitTimer did not return after the timer was armed")
	}
}

func TestAwaitTimerEndsWithItsContext(t *testing.T) {
	c := New(epoch)
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("test over")
	cancel(stop)
	if err := c.AwaitTimer(ctx, epoch, 1); !errors.Is(err, stop) {
		t.Errorf("AwaitTimer = %v, want the context's cause", err)
	}
}
