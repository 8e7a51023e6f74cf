package renewer

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/fakeclock"
)

var epoch = time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)

// store records Renew calls; every other method is missing.
type store struct {
	backend.Backend
	clock backend.Clock
	lose  map[string]bool
	calls chan renewCall
}

type renewCall struct {
	at     time.Time
	tokens []string
}

func (s *store) Renew(ctx context.Context, q string, req *backend.RenewRequest) (backend.RenewResult, error) {
	c := renewCall{at: s.clock.Now()}
	var res backend.RenewResult
	for _, l := range req.Leases {
		c.tokens = append(c.tokens, l.Token)
		if s.lose[l.Token] {
			res.Lost = append(res.Lost, l)
		}
	}
	res.ExpiresAt = c.at.Add(req.TTL)
	s.calls <- c
	return res, nil
}

type held struct {
	lease backend.Lease
	mu    sync.Mutex
	exp   time.Time
	lost  bool
}

func (h *held) Lease() backend.Lease { return h.lease }
func (h *held) Renewed(t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.exp = t
}
func (h *held) Cancel(string) {}

func (h *held) Lost() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lost = true
	return true
}

// gatedClock holds the first NewTimer call until the gate opens, to play a
// goroutine that is slow to arm its timer.
type gatedClock struct {
	*fakeclock.Clock
	gate    chan struct{}
	waiting chan struct{}
	once    sync.Once
}

func (c *gatedClock) NewTimer(d time.Duration) backend.Timer {
	c.once.Do(func() {
		close(c.waiting)
		<-c.gate
	})
	return c.Clock.NewTimer(d)
}

func newRenewer(clock backend.Clock, s *store, hs ...*held) *Renewer {
	return New(Config{
		Backend: s,
		Queue:   "q",
		TTL:     30 * time.Second,
		Every:   10 * time.Second,
		Timeout: 5 * time.Second,
		Clock:   clock,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Collect: func(now time.Time, buf []Held) []Held {
			for _, h := range hs {
				buf = append(buf, h)
			}
			return buf
		},
	})
}

func recv(t *testing.T, ch <-chan renewCall) renewCall {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no Renew call")
		panic("unreachable")
	}
}

func TestRenewalsArePlannedFromStartNotFromWhenTheTimerIsArmed(t *testing.T) {
	fc := fakeclock.New(epoch)
	clock := &gatedClock{Clock: fc, gate: make(chan struct{}), waiting: make(chan struct{})}
	s := &store{clock: fc, calls: make(chan renewCall, 8)}
	h := &held{lease: backend.Lease{JobID: "1", Token: "a"}}
	r := newRenewer(clock, s, h)
	r.Start(context.Background())
	defer r.Stop()

	// The renewer's goroutine is about to arm its first timer when the
	// clock reaches the first tick.
	<-clock.waiting
	fc.Advance(10 * time.Second)
	close(clock.gate)
	c := recv(t, s.calls)
	if !c.at.Equal(epoch.Add(10 * time.Second)) {
		t.Errorf("first renewal at +%s, want +10s", c.at.Sub(epoch))
	}
	// The next tick is planned from the first one.
	if err := fc.AwaitTimer(t.Context(), epoch.Add(20*time.Second), 1); err != nil {
		t.Fatal(err)
	}
	fc.Advance(10 * time.Second)
	if c := recv(t, s.calls); !c.at.Equal(epoch.Add(20 * time.Second)) {
		t.Errorf("second renewal at +%s, want +20s", c.at.Sub(epoch))
	}
}

func TestRunOnceReportsRenewedAndLostLeases(t *testing.T) {
	clock := fakeclock.New(epoch)
	s := &store{clock: clock, calls: make(chan renewCall, 8), lose: map[string]bool{"b": true}}
	a := &held{lease: backend.Lease{JobID: "1", Token: "a"}}
	b := &held{lease: backend.Lease{JobID: "2", Token: "b"}}
	r := newRenewer(clock, s, a, b)
	if err := r.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := recv(t, s.calls); len(c.tokens) != 2 {
		t.Errorf("one call renewed %v, want both leases", c.tokens)
	}
	if !a.exp.Equal(epoch.Add(30*time.Second)) || a.lost {
		t.Errorf("held lease: expires %v lost %v; want +30s and not lost", a.exp, a.lost)
	}
	if !b.lost || !b.exp.IsZero() {
		t.Errorf("lost lease: expires %v lost %v; want lost", b.exp, b.lost)
	}
}

func TestNextTick(t *testing.T) {
	every := 10 * time.Second
	for _, c := range []struct {
		name      string
		prev, now time.Duration
		want      time.Duration
	}{
		{"on time", 10 * time.Second, 10 * time.Second, 20 * time.Second},
		{"a slow call keeps the schedule", 10 * time.Second, 19 * time.Second, 20 * time.Second},
		{"the next tick has come already", 10 * time.Second, 20 * time.Second, 20 * time.Second},
		{"missed ticks make one renewal now", 10 * time.Second, 35 * time.Second, 35 * time.Second},
	} {
		got := nextTick(epoch.Add(c.prev), every, epoch.Add(c.now))
		if !got.Equal(epoch.Add(c.want)) {
			t.Errorf("%s: next tick +%s, want +%s", c.name, got.Sub(epoch), c.want)
		}
	}
}
