package deadline

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/internal/fakeclock"
)

func TestRunsDueEntriesInOrderAndSkipsRemovedOnes(t *testing.T) {
	clock := fakeclock.New(time.Unix(0, 0))
	s := New(clock)
	var mu sync.Mutex
	var ran []string
	rec := func(name string) func(time.Time) {
		return func(time.Time) { mu.Lock(); ran = append(ran, name); mu.Unlock() }
	}
	start := clock.Now()
	s.Add(start.Add(3*time.Second), rec("c"))
	s.Add(start.Add(time.Second), rec("a"))
	gone := s.Add(start.Add(2*time.Second), rec("removed"))
	moved := s.Add(start.Add(time.Hour), rec("b"))
	if !s.Remove(gone) || s.Remove(gone) {
		t.Fatal("Remove reports wrongly")
	}
	s.Reset(moved, start.Add(2*time.Second))
	clock.Advance(5 * time.Second)
	if next, ok := s.RunDue(); ok {
		t.Fatalf("entry left at %v", next)
	}
	if got := len(ran); got != 3 || ran[0] != "a" || ran[1] != "b" || ran[2] != "c" {
		t.Fatalf("ran %v, want a b c", ran)
	}
}

func TestLoopFiresOnTheClock(t *testing.T) {
	clock := fakeclock.New(time.Unix(0, 0))
	s := New(clock)
	s.Start(context.Background())
	defer s.Stop()
	fired := make(chan time.Time, 1)
	s.Add(clock.Now().Add(time.Minute), func(now time.Time) { fired <- now })
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-fired:
			if s.Len() != 0 {
				t.Errorf("%d entries left", s.Len())
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("entry never fired")
		}
		clock.Advance(10 * time.Second)
		time.Sleep(time.Millisecond)
	}
}

// TestResetWhileRunDueLooks moves an entry while RunDue reads the next
// time: under -race, a read of the time outside the lock is reported.
func TestResetWhileRunDueLooks(t *testing.T) {
	clock := fakeclock.New(time.Unix(0, 0))
	s := New(clock)
	e := s.Add(time.Unix(100, 0), func(time.Time) {})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1000 {
			s.Reset(e, time.Unix(int64(100+i), 0))
		}
	}()
	for range 1000 {
		if next, ok := s.RunDue(); !ok || !next.After(clock.Now()) {
			t.Fatalf("next %v, %v", next, ok)
		}
	}
	<-done
}
