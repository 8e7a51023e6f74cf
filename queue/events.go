package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/droverhq/drover/backend"
)

// Event is one entry of a queue's event log; see backend.Event.
type Event = backend.Event

// EventType names a kind of event; see backend.EventType.
type EventType = backend.EventType

// Event types.
const (
	EventAdded             = backend.EventAdded
	EventWaiting           = backend.EventWaiting
	EventDelayed           = backend.EventDelayed
	EventPrioritized       = backend.EventPrioritized
	EventActive            = backend.EventActive
	EventProgress          = backend.EventProgress
	EventCompleted         = backend.EventCompleted
	EventFailed            = backend.EventFailed
	EventRetrying          = backend.EventRetrying
	EventStalled           = backend.EventStalled
	EventRemoved           = backend.EventRemoved
	EventDuplicated        = backend.EventDuplicated
	EventWaitingChildren   = backend.EventWaitingChildren
	EventPaused            = backend.EventPaused
	EventResumed           = backend.EventResumed
	EventDrained           = backend.EventDrained
	EventCleaned           = backend.EventCleaned
	EventSchedulerUpserted = backend.EventSchedulerUpserted
	EventSchedulerRemoved  = backend.EventSchedulerRemoved
	EventRetried           = backend.EventRetried
	EventPromoted          = backend.EventPromoted
	EventChanged           = backend.EventChanged
	EventCancelled         = backend.EventCancelled
	EventSnoozed           = backend.EventSnoozed
	EventPublished         = backend.EventPublished
)

// ErrJobFailed: the job failed for good. WaitUntilFinished returns it inside
// a *JobFailedError that gives the reason.
var ErrJobFailed = errors.New("drover: job failed")

// JobFailedError reports a job that failed for good. It matches
// ErrJobFailed.
type JobFailedError struct {
	Queue  string
	ID     string
	Reason string
}

func (e *JobFailedError) Error() string {
	return fmt.Sprintf("drover: job %s/%s failed: %s", e.Queue, e.ID, e.Reason)
}

// Is reports whether target is ErrJobFailed.
func (e *JobFailedError) Is(target error) bool { return target == ErrJobFailed }

// From is where a subscription starts. Make one with FromNow, FromStart or
// FromID.
type From struct {
	kind  fromKind
	after uint64
}

type fromKind uint8

const (
	fromNow fromKind = iota
	fromStart
	fromID
)

// FromNow starts after the newest event at the time Subscribe is called:
// the subscription sees every event of every change that begins after
// Subscribe returns.
func FromNow() From { return From{kind: fromNow} }

// FromStart starts at the oldest event the log still keeps.
func FromStart() From { return From{kind: fromStart} }

// FromID resumes after the event with ID id, such as a saved Cursor. If
// events after id were trimmed away, reading fails with an error wrapping
// ErrEventsTrimmed; an id past the newest event of the queue is an error
// wrapping ErrEventsAhead, from Subscribe.
func FromID(id uint64) From { return From{kind: fromID, after: id} }

// SubscribeOptions configure a Subscription. The zero value is ready to
// use.
type SubscribeOptions struct {
	// Batch is the most events read from the store in one call. Defaults
	// to 256.
	Batch int
	// Wait is how long one read blocks in the store for new events before
	// it is renewed. Defaults to 30 seconds.
	Wait time.Duration
}

func (o *SubscribeOptions) withDefaults() SubscribeOptions {
	var out SubscribeOptions
	if o != nil {
		out = *o
	}
	out.Batch = cmp.Or(out.Batch, 256)
	out.Wait = cmp.Or(out.Wait, 30*time.Second)
	return out
}

func (o *SubscribeOptions) validate() error {
	switch {
	case o.Batch < 0:
		return backend.Invalid("Batch", fmt.Sprintf("batch %d is negative", o.Batch))
	case o.Wait < 0:
		return backend.Invalid("Wait", fmt.Sprintf("wait %v is negative", o.Wait))
	}
	return nil
}

// Subscription reads a queue's event log in order. The reader sets the
// pace: events are read from the store only when the reader asks for more,
// so a slow reader falls behind and catches up, and is never dropped. It
// starts no goroutine. Next and All are for one reader at a time; Cursor and
// Close may be called from any goroutine.
type Subscription struct {
	q    *Queue
	log  backend.EventLog
	opts SubscribeOptions
	// ctx ends with Subscribe's context or Close.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex // serialises readers
	buf     []Event
	fetched uint64 // ID of the last event read from the store
	start   bool   // the first read is FromStart
	err     error  // sticky error

	cursor atomic.Uint64
}

// Subscribe opens a subscription to the queue's events from the given
// position. With FromNow the position is fixed before Subscribe returns.
// The subscription ends when ctx is done or Close is called.
func (q *Queue) Subscribe(ctx context.Context, from From, opts *SubscribeOptions) (*Subscription, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	log, ok := q.b.(backend.EventLog)
	if !ok {
		return nil, fmt.Errorf("drover: events: %w", ErrUnsupported)
	}
	s := &Subscription{q: q, log: log, opts: opts.withDefaults()}
	if err := s.opts.validate(); err != nil {
		return nil, err
	}
	switch from.kind {
	case fromNow:
		id, err := log.LastEventID(ctx, q.name)
		if err != nil {
			return nil, fmt.Errorf("drover: events of %s: %w", q.name, err)
		}
		s.fetched = id
	case fromStart:
		s.start = true
	case fromID:
		last, err := log.LastEventID(ctx, q.name)
		if err != nil {
			return nil, fmt.Errorf("drover: events of %s: %w", q.name, err)
		}
		if from.after > last {
			return nil, fmt.Errorf("drover: events of %s: %w", q.name, &EventsAheadError{After: from.after, Last: last})
		}
		s.fetched = from.after
	}
	s.cursor.Store(s.fetched)
	s.ctx, s.cancel = context.WithCancel(ctx)
	return s, nil
}

// Next returns the next event, blocking until there is one, ctx is done or
// the subscription is closed. A position that was trimmed away is an error
// wrapping ErrEventsTrimmed (an *EventsTrimmedError); after an error, Next
// keeps returning it.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil && s.ctx.Err() != nil {
		s.err = fmt.Errorf("drover: events of %s: subscription ended: %w", s.q.name, ErrClosed)
	}
	if s.err != nil {
		return Event{}, s.err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	for len(s.buf) == 0 {
		if err := s.ctx.Err(); err != nil {
			s.err = fmt.Errorf("drover: events of %s: subscription ended: %w", s.q.name, ErrClosed)
			return Event{}, s.err
		}
		if err := ctx.Err(); err != nil {
			return Event{}, err
		}
		res, err := s.log.Events(ctx, s.q.name, &backend.EventsRequest{After: s.fetched, Max: s.opts.Batch, Wait: s.opts.Wait})
		var te *backend.EventsTrimmedError
		if s.start && errors.As(err, &te) && te.FirstAvailable > 0 {
			// From the start means from the oldest event kept.
			s.fetched = te.FirstAvailable - 1
			s.start = false
			continue
		}
		if err != nil {
			if s.ctx.Err() != nil {
				continue // closed: report that above
			}
			if ctx.Err() != nil {
				return Event{}, ctx.Err()
			}
			err = fmt.Errorf("drover: events of %s: %w", s.q.name, err)
			if errors.Is(err, ErrEventsTrimmed) || errors.Is(err, ErrEventsAhead) || errors.Is(err, ErrClosed) {
				s.err = err
			}
			return Event{}, err
		}
		s.start = false
		for _, e := range res.Events {
			if e.ID > s.fetched {
				s.buf = append(s.buf, e)
				s.fetched = e.ID
			}
		}
	}
	e := s.buf[0]
	s.buf[0] = Event{}
	s.buf = s.buf[1:]
	s.cursor.Store(e.ID)
	return e, nil
}

// All returns an iterator over the events, for use in a range loop. It
// stops after yielding an error, or when the loop breaks; the error is
// ErrClosed-wrapped once the subscription is closed or its context done.
func (s *Subscription) All() iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for {
			e, err := s.Next(s.ctx)
			if err != nil {
				yield(Event{}, err)
				return
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

// Cursor returns the ID of the last event handed to the reader (or the
// starting position, before the first). FromID(Cursor()) resumes right
// after it, in this process or another.
func (s *Subscription) Cursor() uint64 { return s.cursor.Load() }

// Close ends the subscription; a blocked Next returns. It is safe to call
// more than once.
func (s *Subscription) Close() error {
	s.cancel()
	return nil
}

// WaitUntilFinished blocks until the job completes, and returns its
// result; if the job fails for good, the error is a *JobFailedError
// (matching ErrJobFailed) with the reason. It is correct for a job that
// finished before the call. A job that is removed before it finishes is an
// error wrapping ErrNotFound.
func (j *Job) WaitUntilFinished(ctx context.Context) ([]byte, error) {
	q := j.q.in(j.Queue)
	for {
		// Subscribe first, then read the state: an end after the read is
		// then in the stream.
		sub, err := q.Subscribe(ctx, FromNow(), nil)
		if err != nil {
			return nil, err
		}
		res, err, retry := j.waitOnce(ctx, q, sub)
		sub.Close()
		if !retry {
			return res, err
		}
	}
}

func (j *Job) waitOnce(ctx context.Context, q *Queue, sub *Subscription) (res []byte, err error, retry bool) {
	rec, err := q.b.Job(ctx, q.name, j.ID)
	if err != nil {
		return nil, fmt.Errorf("drover: wait for job %s/%s: %w", q.name, j.ID, err), false
	}
	switch rec.State {
	case StateCompleted:
		return rec.Result, nil, false
	case StateFailed:
		return nil, &JobFailedError{Queue: q.name, ID: j.ID, Reason: rec.FailedReason}, false
	}
	for {
		e, err := sub.Next(ctx)
		if errors.Is(err, ErrEventsTrimmed) {
			return nil, nil, true // fell behind a trim: read the state again
		}
		if err != nil {
			return nil, fmt.Errorf("drover: wait for job %s/%s: %w", q.name, j.ID, err), false
		}
		if e.JobID != j.ID {
			continue
		}
		switch e.Type {
		case EventCompleted:
			return e.Result, nil, false
		case EventFailed:
			return nil, &JobFailedError{Queue: q.name, ID: j.ID, Reason: e.Reason}, false
		case EventRemoved:
			return nil, fmt.Errorf("drover: wait for job %s/%s: removed: %w", q.name, j.ID, ErrNotFound), false
		}
	}
}

// in returns a handle on queue name of the same store, sharing q's
// settings; q itself when name is q's.
func (q *Queue) in(name string) *Queue {
	if name == "" || name == q.name {
		return q
	}
	return &Queue{b: q.b, name: name, clock: q.clock, log: q.log.With("queue", name)}
}
