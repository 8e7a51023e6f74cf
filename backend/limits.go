package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Limits bound how many jobs of a queue run at once and how fast they
// start, across every worker of every process. The store enforces them in
// the same atomic step that leases jobs. The zero value limits nothing.
type Limits struct {
	// Concurrency is the most jobs of the queue active at once; 0 means
	// no limit. It is a ceiling for leases: jobs already active when it
	// is lowered run on.
	Concurrency int `json:"concurrency,omitempty"`
	// Rate is the most jobs that start in any span of RatePer: a lease
	// takes a job only when fewer than Rate started in the RatePer before
	// it. 0 means no limit.
	// A store may round RatePer up to its time resolution (the Redis
	// store's is a millisecond), and reports it rounded.
	Rate    int           `json:"rate,omitempty"`
	RatePer time.Duration `json:"rate_per,omitempty"`
}

// MaxRate is the largest Limits.Rate: a store keeps the start time of
// each of the last Rate starts.
const MaxRate = 100_000

// Validate checks l.
func (l *Limits) Validate() error {
	switch {
	case l.Concurrency < 0:
		return Invalid("Concurrency", "concurrency limit is negative")
	case l.Rate < 0 || l.Rate > MaxRate:
		return Invalid("Rate", fmt.Sprintf("rate %d is outside 0..%d", l.Rate, MaxRate))
	case l.RatePer < 0 || l.RatePer > MaxDelay:
		return Invalid("RatePer", "rate period is negative or longer than 100 years")
	case l.Rate > 0 && l.RatePer == 0:
		return Invalid("RatePer", "a rate needs a period")
	case l.Rate == 0 && l.RatePer != 0:
		return Invalid("Rate", "a rate period needs a rate")
	}
	return nil
}

// EventData encodes l as the Data of a limits-changed event.
func (l Limits) EventData() []byte {
	b, _ := json.Marshal(l) // plain ints: cannot fail
	return b
}

// LimitsOf decodes the Data of a limits-changed event.
func LimitsOf(ev *Event) (Limits, error) {
	var l Limits
	if ev.Type != EventLimitsChanged {
		return l, Invalid("Event", fmt.Sprintf("a %s event carries no limits", ev.Type))
	}
	if len(ev.Data) == 0 {
		return l, nil
	}
	if err := json.Unmarshal(ev.Data, &l); err != nil {
		return l, fmt.Errorf("%w: limits-changed event data: %w", ErrCorrupt, err)
	}
	return l, nil
}

// QueueLimits is what a store reports of a queue's limits.
type QueueLimits struct {
	Limits
	// HeldUntil is when a hold of the queue ends (Limiter.Hold, or a
	// settlement's HoldQueue); zero when there is none now.
	HeldUntil time.Time
	// NextStart is, when the rate limit allows no start now, when it
	// allows the next; zero otherwise.
	NextStart time.Time
}

// Limiter is the store's side of queue limits.
type Limiter interface {
	// SetLimits replaces the queue's limits, with a limits-changed event.
	SetLimits(ctx context.Context, queue string, l Limits) error
	// Limits reports the queue's limits, and when a hold or the rate
	// limit keeps jobs from starting. A queue never limited has the zero
	// value.
	Limits(ctx context.Context, queue string) (QueueLimits, error)
	// Hold keeps every job of the queue from starting for d from now
	// (the store's clock), with a rate-limited event whose RunAt is the
	// end. A hold that ends earlier than the current one changes nothing.
	// Blocked Lease calls wake when it ends.
	Hold(ctx context.Context, queue string, d time.Duration) error
}

// ValidateHold checks the duration of a hold.
func ValidateHold(d time.Duration) error {
	if d <= 0 || d > MaxDelay {
		return Invalid("Hold", "hold is not positive or longer than 100 years")
	}
	return nil
}
