// Package renewer keeps a worker's leases alive: one goroutine renews every
// lease the worker still holds in one Renew call per tick.
//
// The renewer keeps no set of its own. On each tick it asks its owner which
// leases to renew (Collect), so a lease leaves the renew set the moment the
// owner stops reporting it — when the handler returns, is abandoned, or has
// outlived its timeout. A Renew call already under way when that happens may
// still land; no later one includes the lease.
package renewer

import (
	"context"
	"log/slog"
	"time"

	"github.com/droverhq/drover/backend"
)

// Held is one lease the owner holds.
type Held interface {
	// Lease returns the lease to renew.
	Lease() backend.Lease
	// Renewed reports that the lease now expires at t.
	Renewed(t time.Time)
	// Lost reports that the store no longer holds the lease. It returns
	// whether the loss matters: false when the attempt has ended already
	// (its settlement landed before the renewal did), so there is nothing
	// to warn about.
	Lost() bool
	// Cancel reports that the job was cancelled (backend.Cancellation).
	Cancel(reason string)
}

// Config configures a Renewer.
type Config struct {
	Backend backend.Backend
	Queue   string
	// TTL is the time to live each renewal gives.
	TTL time.Duration
	// Every is the time between renewals.
	Every time.Duration
	// Timeout bounds one Renew call.
	Timeout time.Duration
	Clock   backend.Clock
	Logger  *slog.Logger
	// Collect appends to buf the leases to renew at now, and returns buf.
	Collect func(now time.Time, buf []Held) []Held
}

// Renewer renews leases on a tick.
type Renewer struct {
	cfg    Config
	held   []Held
	leases []backend.Lease

	stop context.CancelFunc
	done chan struct{}
}

// New returns a Renewer; call Start to run it.
func New(cfg Config) *Renewer {
	return &Renewer{cfg: cfg}
}

// Start runs the renewer on its own goroutine until Stop or ctx is done.
//
// Renewals are planned on a fixed schedule read from the clock here, when
// Start is called: Every after it, then every Every. A lease taken between
// two ticks is renewed at the next one, so it never runs with less than TTL
// minus Every left. The plan does not depend on when the goroutine gets to
// arm its timer, nor on how long a Renew call takes.
func (r *Renewer) Start(ctx context.Context) {
	ctx, r.stop = context.WithCancel(ctx)
	r.done = make(chan struct{})
	next := r.cfg.Clock.Now().Add(r.cfg.Every)
	go func() {
		defer close(r.done)
		for {
			t := backend.NewTimerAt(r.cfg.Clock, next)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
			r.RunOnce(ctx)
			next = nextTick(next, r.cfg.Every, r.cfg.Clock.Now())
		}
	}()
}

// nextTick returns the tick after prev on the schedule of period every. A
// tick the clock has passed already (a slow Renew call, a clock moved far)
// is due at once: the ticks missed collapse into one renewal now, and the
// schedule goes on from there.
func nextTick(prev time.Time, every time.Duration, now time.Time) time.Time {
	next := prev.Add(every)
	if next.Before(now) {
		next = now
	}
	return next
}

// Stop stops the renewer and waits for its goroutine to exit.
func (r *Renewer) Stop() {
	if r.stop == nil {
		return
	}
	r.stop()
	<-r.done
}

// RunOnce renews the leases Collect reports, in one call. It is not safe
// for concurrent use: the renewer's goroutine calls it, or a test does when
// the renewer is not started.
func (r *Renewer) RunOnce(ctx context.Context) error {
	now := r.cfg.Clock.Now()
	r.held = r.cfg.Collect(now, r.held[:0])
	defer clear(r.held)
	if len(r.held) == 0 {
		return nil
	}
	r.leases = r.leases[:0]
	for _, h := range r.held {
		r.leases = append(r.leases, h.Lease())
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Timeout)
	res, err := r.cfg.Backend.Renew(cctx, r.cfg.Queue, &backend.RenewRequest{Leases: r.leases, TTL: r.cfg.TTL, At: now})
	cancel()
	if err != nil {
		// The next tick tries again; with Every at a third of the TTL a
		// lease survives two failed renewals.
		r.cfg.Logger.Warn("drover: renew leases", "leases", len(r.leases), "err", err)
		return err
	}
	var lost map[string]bool
	if len(res.Lost) > 0 {
		lost = make(map[string]bool, len(res.Lost))
		for _, l := range res.Lost {
			lost[l.Token] = true
		}
	}
	var cancelled map[string]string
	if len(res.Cancelled) > 0 {
		cancelled = make(map[string]string, len(res.Cancelled))
		for _, c := range res.Cancelled {
			cancelled[c.Lease.Token] = c.Reason
		}
	}
	for i, h := range r.held {
		if lost[r.leases[i].Token] {
			if h.Lost() {
				r.cfg.Logger.Warn("drover: lease lost while its handler runs; cancelling the handler", "job", r.leases[i].JobID)
			}
		} else {
			h.Renewed(res.ExpiresAt)
			if reason, ok := cancelled[r.leases[i].Token]; ok {
				h.Cancel(reason)
			}
		}
	}
	return nil
}
