// Package settler ends a worker's attempts in batches.
//
// One goroutine sends Settle calls, one at a time. Each call carries every
// settlement that queued up while the previous call was in flight, so under
// load the batches grow by themselves and no timer delays a lone
// settlement.
//
// A call that fails as a whole (the store is unreachable, the call timed
// out) is retried with backoff until it succeeds or the leases it carries
// can no longer hold: a settlement whose lease has expired is dropped, since
// the store recovers that job as stalled. Nothing here renews a lease, so a
// settle call that hangs keeps no job locked.
package settler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/droverhq/drover/backend"
)

// Item is one settlement to send.
type Item struct {
	Settlement backend.Settlement
	// Expires is when the lease runs out unless settled; the item is dropped
	// after that.
	Expires time.Time
	// Name is the job's name, for logs.
	Name string
}

// Config configures a Settler.
type Config struct {
	Backend backend.Backend
	Queue   string
	// Timeout bounds one Settle call.
	Timeout time.Duration
	// Backoff gives the wait before retry n (1, 2, …) of a failed call.
	Backoff func(n int) time.Duration
	// MaxBatch caps the settlements of one call.
	MaxBatch int
	// Capacity is the number of items that may queue before Enqueue blocks.
	Capacity int
	Clock    backend.Clock
	Logger   *slog.Logger
	// Settled, if set, is called after each item's fate is known: err is nil
	// when it was applied.
	Settled func(it *Item, err error)
}

// Settler batches settlements into Settle calls.
type Settler struct {
	cfg    Config
	in     chan *Item
	done   chan struct{}
	closed bool
}

// New returns a Settler; call Start to run it.
func New(cfg Config) *Settler {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1000
	}
	if cfg.Capacity <= 0 {
		cfg.Capacity = 1024
	}
	return &Settler{cfg: cfg, in: make(chan *Item, cfg.Capacity)}
}

// Enqueue queues one settlement; the settler owns it until Settled reports
// its fate. Enqueue blocks while the queue is full, which holds back the
// caller (and so the leasing of new jobs) while the store is slow. It must
// not be called after Close.
func (s *Settler) Enqueue(it *Item) { s.in <- it }

// Start runs the settler on its own goroutine. ctx gives the values of each
// call; cancelling it does not stop the settler: Close does. A settler may
// be started again after Close; Start and Close are its owner's to call,
// one at a time.
func (s *Settler) Start(ctx context.Context) {
	if s.closed {
		s.in = make(chan *Item, s.cfg.Capacity)
		s.closed = false
	}
	ctx = context.WithoutCancel(ctx)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		s.loop(ctx)
	}()
}

// Close stops taking items, sends what is queued, and waits until done.
// The wait is bounded: every queued item is applied or dropped once its
// lease has expired.
func (s *Settler) Close() {
	close(s.in)
	s.closed = true
	if s.done != nil {
		<-s.done
	}
}

func (s *Settler) loop(ctx context.Context) {
	batch := make([]*Item, 0, s.cfg.MaxBatch)
	for {
		it, ok := <-s.in
		if !ok {
			return
		}
		batch = append(batch[:0], it)
	fill:
		for len(batch) < s.cfg.MaxBatch {
			select {
			case it, ok := <-s.in:
				if !ok {
					break fill
				}
				batch = append(batch, it)
			default:
				break fill
			}
		}
		s.send(ctx, batch)
		clear(batch)
	}
}

// send settles batch, retrying the call until it lands or every lease in it
// has expired.
func (s *Settler) send(ctx context.Context, batch []*Item) {
	req := &backend.SettleRequest{Settlements: make([]backend.Settlement, 0, len(batch))}
	for n := 1; len(batch) > 0; n++ {
		req.Settlements = req.Settlements[:0]
		for _, it := range batch {
			req.Settlements = append(req.Settlements, it.Settlement)
		}
		cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		res, err := s.cfg.Backend.Settle(cctx, s.cfg.Queue, req)
		cancel()
		if err == nil {
			batch = s.results(batch, res)
			n = 0
			continue
		}
		if !retriable(err) {
			s.cfg.Logger.Error("drover: settle failed; the jobs will be recovered as stalled", "jobs", len(batch), "err", err)
			for _, it := range batch {
				s.settled(it, err)
			}
			return
		}
		wait := s.cfg.Backoff(n)
		s.cfg.Logger.Warn("drover: settle failed; retrying", "jobs", len(batch), "retry_in", wait, "err", err)
		t := s.cfg.Clock.NewTimer(wait)
		<-t.C()
		batch = s.dropExpired(batch)
	}
}

// results handles per-item errors and returns the items to send again.
func (s *Settler) results(batch []*Item, res backend.SettleResult) []*Item {
	again := batch[:0]
	for i, it := range batch {
		var err error
		if i < len(res.Errs) {
			err = res.Errs[i]
		}
		switch {
		case err == nil:
			s.settled(it, nil)
		case errors.Is(err, backend.ErrLeaseLost):
			s.cfg.Logger.Warn("drover: lease lost before the attempt was settled", "job", it.Settlement.Lease.JobID, "name", it.Name, "outcome", it.Settlement.Outcome)
			s.settled(it, err)
		case errors.Is(err, backend.ErrTooLarge) && it.Settlement.Outcome == backend.OutcomeComplete:
			// The result cannot be stored: record the attempt as failed
			// for good rather than leave the job to stall.
			s.cfg.Logger.Warn("drover: job result too large; failing the job", "job", it.Settlement.Lease.JobID, "name", it.Name, "err", err)
			it.Settlement = backend.Settlement{
				Lease:   it.Settlement.Lease,
				Outcome: backend.OutcomeFail,
				Reason:  fmt.Sprintf("result not stored: %v", err),
			}
			again = append(again, it)
		default:
			s.cfg.Logger.Error("drover: settle rejected", "job", it.Settlement.Lease.JobID, "name", it.Name, "outcome", it.Settlement.Outcome, "err", err)
			s.settled(it, err)
		}
	}
	clear(batch[len(again):])
	return again
}

func (s *Settler) dropExpired(batch []*Item) []*Item {
	now := s.cfg.Clock.Now()
	keep := batch[:0]
	for _, it := range batch {
		if !it.Expires.IsZero() && !now.Before(it.Expires) {
			s.cfg.Logger.Warn("drover: lease expired before the attempt could be settled; the job will be recovered as stalled", "job", it.Settlement.Lease.JobID, "name", it.Name)
			s.settled(it, backend.ErrLeaseLost)
			continue
		}
		keep = append(keep, it)
	}
	clear(batch[len(keep):])
	return keep
}

func (s *Settler) settled(it *Item, err error) {
	if s.cfg.Settled != nil {
		s.cfg.Settled(it, err)
	}
}

// retriable reports whether a failed Settle call may succeed if repeated.
// Repeating is safe: a settlement that landed the first time reports
// ErrLeaseLost the second.
func retriable(err error) bool {
	switch {
	case errors.Is(err, backend.ErrClosed), errors.Is(err, backend.ErrInvalid), errors.Is(err, backend.ErrUnsupported):
		return false
	}
	return true
}
