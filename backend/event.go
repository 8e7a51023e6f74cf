package backend

import (
	"context"
	"time"
)

// EventType names a kind of event.
type EventType string

// Event types.
const (
	EventAdded              EventType = "added"
	EventWaiting            EventType = "waiting"
	EventDelayed            EventType = "delayed"
	EventPrioritized        EventType = "prioritized"
	EventActive             EventType = "active"
	EventProgress           EventType = "progress"
	EventCompleted          EventType = "completed"
	EventFailed             EventType = "failed"
	EventRetrying           EventType = "retrying"
	EventStalled            EventType = "stalled"
	EventRemoved            EventType = "removed"
	EventDuplicated         EventType = "duplicated"
	EventWaitingChildren    EventType = "waiting-children"
	EventPaused             EventType = "paused"
	EventResumed            EventType = "resumed"
	EventDrained            EventType = "drained"
	EventCleaned            EventType = "cleaned"
	EventSchedulerUpserted  EventType = "scheduler-upserted"
	EventSchedulerRemoved   EventType = "scheduler-removed"
	EventRetried            EventType = "retried"
	EventPromoted           EventType = "promoted"
	EventChanged            EventType = "changed"
	EventCancelled          EventType = "cancelled"
	EventSnoozed            EventType = "snoozed"
	EventPublished          EventType = "published"
	EventDeduplicated       EventType = "deduplicated"
	EventLimitsChanged      EventType = "limits-changed"
	EventRateLimited        EventType = "rate-limited"
	EventGroupLimitsChanged EventType = "group-limits-changed"
	EventGroupPaused        EventType = "group-paused"
	EventGroupResumed       EventType = "group-resumed"
)

// Event is one entry of a queue's event log.
//
// Which events a change appends:
//   - Add: added, then waiting, prioritized (waiting with priority > 0),
//     delayed or waiting-children for each new job; duplicated for a
//     caller-chosen ID that existed; deduplicated for an add whose
//     deduplication key held (JobID the holder, Key the key, Reason the
//     DedupOutcome), followed by changed when it replaced the holder's
//     data (debounce).
//   - Lease: delayed jobs that became due: waiting; recovered leases:
//     stalled, then waiting (or failed); each leased job: active.
//   - Settle: completed, failed, retrying (then waiting or delayed), or
//     waiting for a release; a flow parent that became ready: waiting.
//   - progress, removed (one per job), paused, resumed, drained and cleaned
//     (Count set), scheduler-upserted, scheduler-removed.
//   - Lease that takes the last waiting job of a queue that had some:
//     drained (Count 0), once per idle period.
//   - JobController: retried (the job is waiting, or waiting-children
//     while it has children pending), promoted, changed (RunAt set when
//     the job is delayed after the change), cancelled (a job failed at
//     once, or an active one marked; Reason is the failure reason,
//     CancelFailure), published (Name and Data set). A marked job that
//     then ends appends the event of its end (failed, as cancelled, or
//     completed).
//   - Settle of a snooze: snoozed (RunAt set when the job is delayed).
//   - Limiter: limits-changed (Data the new Limits, see LimitsOf),
//     rate-limited (RunAt the end of the hold; JobID set when a
//     settlement's HoldQueue made it).
//   - GroupStore: group-limits-changed (Data the Limits of each group),
//     group-paused and group-resumed (Group the group).
type Event struct {
	// ID orders the event within its queue; the first event has ID 1 and
	// every later one a greater ID.
	ID    uint64
	Type  EventType
	Time  time.Time
	JobID string
	Name  string
	// AttemptsMade is the job's attempt count after the change.
	AttemptsMade int
	Result       []byte
	Reason       string
	Progress     []byte
	// RunAt is the due time of a delayed job.
	RunAt       time.Time
	SchedulerID string
	// Count is the number of jobs of a drained or cleaned event.
	Count int
	// Data is the payload of a published event.
	Data []byte
	// Key is the deduplication key of a deduplicated event.
	Key string
	// Group is the group of a group-paused or group-resumed event.
	Group string
}

// EventsRequest reads the event log.
type EventsRequest struct {
	// After is the ID of the last event already seen; 0 reads from the
	// start. If events after it were trimmed away, the read fails with an
	// *EventsTrimmedError; if it is past the newest event, with an
	// *EventsAheadError.
	After uint64
	// Max caps the number of events returned; 0 means 1000.
	Max int
	// Wait is how long to block when there is no event after After yet.
	Wait time.Duration
}

// EventsResult holds events in ID order.
type EventsResult struct {
	Events []Event
}

// EventRetention bounds a queue's event log. Trimming happens as events are
// appended.
type EventRetention struct {
	// Count keeps at most this many events; 0 means no count limit.
	Count int
	// Age drops events older than this; 0 means no age limit.
	Age time.Duration
}

// DefaultEventCount is the number of events a store keeps per queue when
// its options give no event retention.
const DefaultEventCount = 100_000

// OrDefault returns r, or when r is the zero value the retention every
// store defaults to: the newest DefaultEventCount events.
func (r EventRetention) OrDefault() EventRetention {
	if r == (EventRetention{}) {
		return EventRetention{Count: DefaultEventCount}
	}
	return r
}

// Validate checks a retention: neither its count nor its age may be
// negative.
func (r EventRetention) Validate() error {
	if r.Count < 0 || r.Age < 0 {
		return Invalid("EventRetention", "event retention count or age is negative")
	}
	return nil
}

// EventCounter is the optional capability of an EventLog to count a
// queue's events by type without handing them out. A reader that keeps
// totals, such as a metrics collector, reads every event appended but
// needs only the type of each; counting spares the store building, and
// the reader collecting, a record for each.
type EventCounter interface {
	// CountEvents calls count with the type of each event that Events
	// would return for req, in order, and returns the ID of the last one
	// counted, or req.After when there was none. It never waits: a
	// request with a Wait is invalid. It fails as Events does, with an
	// *EventsTrimmedError or *EventsAheadError, having counted nothing.
	CountEvents(ctx context.Context, queue string, req *EventsRequest, count func(EventType)) (uint64, error)
}

// EventLog is the optional capability to read a queue's event log.
type EventLog interface {
	Events(ctx context.Context, queue string, req *EventsRequest) (EventsResult, error)
	// LastEventID returns the ID of the newest event, or the ID the newest
	// had before it was trimmed; 0 if the queue never had an event. Reading
	// after it yields exactly the events appended later.
	LastEventID(ctx context.Context, queue string) (uint64, error)
}
