package metrics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/eventtally"
)

// CollectorOptions configure a Collector. The zero value is ready to use
// with a store that can list its queues.
type CollectorOptions struct {
	// Clock tells the time for Rediscover. Defaults to the system clock.
	Clock backend.Clock
	// Logger receives a warning for each store call of a scrape that
	// fails. Defaults to slog.Default().
	Logger *slog.Logger
	// MaxEvents is the most events one scrape reads from the log of one
	// queue; a scrape that leaves events unread counts them in the scrapes
	// after it. Defaults to 100,000, the number of events a store keeps
	// per queue by default.
	MaxEvents int
	// Namespace starts every metric name. Defaults to "drover".
	Namespace string
	// Queues names the queues to report. When it is empty the collector
	// reports every queue of the store, which must then be a
	// backend.QueueLister, and asks the store for its queues again at most
	// every Rediscover.
	Queues []string
	// Rediscover is the least time between two readings of the store's
	// list of queues. Defaults to one minute.
	Rediscover time.Duration
	// Timeout bounds the store calls of one scrape. What a scrape could
	// not read in time it leaves out, or counts in the next scrape.
	// Defaults to 5 seconds.
	Timeout time.Duration
}

// DefaultMaxEvents is the default of CollectorOptions.MaxEvents.
const DefaultMaxEvents = backend.DefaultEventCount

// eventPage is the most events one store call reads: pages smaller than
// the store's default of 1,000 cost less memory and CPU an event.
const eventPage = 256

func (o *CollectorOptions) withDefaults() CollectorOptions {
	var out CollectorOptions
	if o != nil {
		out = *o
	}
	if out.Clock == nil {
		out.Clock = backend.SystemClock()
	}
	out.Logger = cmp.Or(out.Logger, slog.Default())
	out.MaxEvents = cmp.Or(out.MaxEvents, DefaultMaxEvents)
	out.Namespace = cmp.Or(out.Namespace, "drover")
	out.Queues = slices.Clone(out.Queues)
	out.Rediscover = cmp.Or(out.Rediscover, time.Minute)
	out.Timeout = cmp.Or(out.Timeout, 5*time.Second)
	return out
}

func (o *CollectorOptions) validate() error {
	switch {
	case o.MaxEvents < 0:
		return backend.Invalid("MaxEvents", "max events is negative")
	case o.Rediscover < 0:
		return backend.Invalid("Rediscover", "rediscover interval is negative")
	case o.Timeout < 0:
		return backend.Invalid("Timeout", "timeout is negative")
	}
	for i, q := range o.Queues {
		if err := backend.ValidateQueueName(q); err != nil {
			return fmt.Errorf("drover: metrics: queue %d: %w", i, err)
		}
	}
	return nil
}

// Collector is a prometheus.Collector of what a store holds: the jobs of
// each queue by state, the queue's event log, the lag of subscribers to it,
// and totals of what happened to the queue's jobs, read from the log.
//
// The totals count the events appended to a queue's log after the
// collector started reading it: at NewCollector for the queues known then,
// and from the queue's first event for a queue discovered later. Like
// every Prometheus counter they start from zero in each process; rate()
// and increase() are what to query. They count what every process did to
// the queue, because the log does; each scrape reads only the events
// appended since the one before, at most MaxEvents of them a queue.
//
// One scrape runs at a time. A scrape reads the store: for each queue one
// Counts call, one LastEventID call, one read of the log's oldest event,
// and the new events in pages of 256, which a store that can count them
// (backend.EventCounter, as both of drover's stores) counts by type
// without handing them out; nothing it does grows with the number of
// jobs.
type Collector struct {
	store  backend.Backend
	events backend.EventLog    // nil when the store keeps no event log
	lister backend.QueueLister // nil when the queues are given
	o      CollectorOptions
	d      collectorDescs

	mu         sync.Mutex // held by a scrape; guards the fields below
	queues     []*queueState
	discovered time.Time
	errors     uint64

	subsMu sync.Mutex
	subs   map[subKey]*tracked
}

// queueState is what the collector keeps of one queue between scrapes:
// its totals, counted from its event log. A queue discovered after the
// collector started is Fresh: events trimmed from its log before the
// first read are not counted as missed, since they may predate the
// collector.
type queueState struct {
	name string
	eventtally.Tally
}

type subKey struct{ queue, name string }

type tracked struct {
	cursor func() uint64
}

type collectorDescs struct {
	jobs, paused                                        *prometheus.Desc
	added, completed, failed, retried, stalled, missed  *prometheus.Desc
	cancelled                                           *prometheus.Desc
	lastID, length, unread, subscriberLag, scrapeErrors *prometheus.Desc
}

func newCollectorDescs(ns string) collectorDescs {
	q := []string{"queue"}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, nil)
	}
	return collectorDescs{
		jobs:          desc("jobs", "Jobs in the queue, by state.", "queue", "state"),
		paused:        desc("queue_paused", "1 while the queue is paused, else 0.", q...),
		added:         desc("jobs_added_total", "Jobs added to the queue (added events; a duplicate of an existing ID is not added).", q...),
		completed:     desc("jobs_completed_total", "Jobs that completed (completed events).", q...),
		failed:        desc("jobs_failed_total", "Jobs that failed for good (failed events): their last attempt failed, an attempt failed unrecoverably, they stalled too often, a child failed them, or they were cancelled while running. Jobs cancelled before they ran are not counted here but in jobs_cancelled_total.", q...),
		cancelled:     desc("jobs_cancelled_total", "Jobs cancelled (cancelled events): one that had not started failed at once; a running one was asked to stop, and counts in jobs_failed_total too if it then fails.", q...),
		retried:       desc("jobs_retried_total", "Attempts that failed with attempts left, their jobs to run again after their backoff (retrying events).", q...),
		stalled:       desc("jobs_stalled_total", "Leases that expired while their job was active, the job recovered from a worker that stopped renewing it (stalled events).", q...),
		missed:        desc("events_missed_total", "Events trimmed from the queue's log before the collector read them; the totals do not count them.", q...),
		lastID:        desc("event_log_last_id", "ID of the newest event appended to the queue's log.", q...),
		length:        desc("event_log_events", "Events the queue's log keeps.", q...),
		unread:        desc("collector_unread_events", "Events of the queue's log that the totals do not count yet: the scrape read its MaxEvents, or ran out of time.", q...),
		subscriberLag: desc("subscriber_lag_events", "Events appended to the queue's log after the last one the subscriber read.", "queue", "subscriber"),
		scrapeErrors:  desc("collector_errors_total", "Store calls of the collector's scrapes that failed."),
	}
}

func (d *collectorDescs) all() []*prometheus.Desc {
	return []*prometheus.Desc{
		d.jobs, d.paused, d.added, d.completed, d.failed, d.cancelled, d.retried, d.stalled, d.missed,
		d.lastID, d.length, d.unread, d.subscriberLag, d.scrapeErrors,
	}
}

// NewCollector returns a collector of the queues of store; opts may be nil.
// It reads where each queue's event log ends, from which the totals count,
// and without CollectorOptions.Queues the list of queues, which store must
// then be able to give (backend.QueueLister). A store that keeps no event
// log (backend.EventLog) gets no totals nor event log metrics.
func NewCollector(ctx context.Context, store backend.Backend, opts *CollectorOptions) (*Collector, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	c := &Collector{store: store, o: o, d: newCollectorDescs(o.Namespace), subs: make(map[subKey]*tracked)}
	c.events, _ = store.(backend.EventLog)
	names := o.Queues
	if len(names) == 0 {
		lister, ok := store.(backend.QueueLister)
		if !ok {
			return nil, fmt.Errorf("drover: metrics: no queues given, and the store cannot list its own: %w", backend.ErrUnsupported)
		}
		c.lister = lister
		var err error
		if names, err = lister.Queues(ctx); err != nil {
			return nil, fmt.Errorf("drover: metrics: list queues: %w", err)
		}
		c.discovered = o.Clock.Now()
	}
	for _, name := range names {
		q := &queueState{name: name}
		if c.events != nil {
			last, err := c.events.LastEventID(ctx, name)
			if err != nil {
				return nil, fmt.Errorf("drover: metrics: events of %s: %w", name, err)
			}
			q.Cursor = last
		}
		c.queues = append(c.queues, q)
	}
	c.sortQueues()
	return c, nil
}

func (c *Collector) sortQueues() {
	slices.SortFunc(c.queues, func(a, b *queueState) int { return cmp.Compare(a.name, b.name) })
	c.queues = slices.CompactFunc(c.queues, func(a, b *queueState) bool { return a.name == b.name })
}

// TrackCursor reports the lag of a reader of queue's events as
// drover_subscriber_lag_events{queue, subscriber=name}: the ID of the
// queue's newest event less cursor(), which the collector calls on each
// scrape. For a queue.Subscription, pass its Cursor method. The queue need
// not be one the collector reports. Tracking the same queue and name again
// replaces the earlier cursor. Call untrack when the reader is gone.
func (c *Collector) TrackCursor(queue, name string, cursor func() uint64) (untrack func()) {
	k, t := subKey{queue, name}, &tracked{cursor: cursor}
	c.subsMu.Lock()
	c.subs[k] = t
	c.subsMu.Unlock()
	return func() {
		c.subsMu.Lock()
		defer c.subsMu.Unlock()
		if c.subs[k] == t {
			delete(c.subs, k)
		}
	}
}

// Describe sends the descriptors of every metric the collector makes.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.d.all() {
		ch <- d
	}
}

// Collect reads the store and sends the metrics. A store call that fails
// leaves out the metrics it was to give (the totals stay as they were),
// logs a warning and adds to drover_collector_errors_total.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.o.Timeout)
	defer cancel()
	c.rediscover(ctx)
	lasts := make(map[string]uint64, len(c.queues))
	for _, q := range c.queues {
		c.collectQueue(ctx, ch, q, lasts)
	}
	c.collectSubscribers(ctx, ch, lasts)
	ch <- metric(c.d.scrapeErrors, prometheus.CounterValue, float64(c.errors))
}

// rediscover reads the store's list of queues again when Rediscover has
// passed. A queue no longer listed is no longer reported; a new one is
// counted from its first event.
func (c *Collector) rediscover(ctx context.Context) {
	now := c.o.Clock.Now()
	if c.lister == nil || now.Before(c.discovered.Add(c.o.Rediscover)) {
		return
	}
	names, err := c.lister.Queues(ctx)
	if err != nil {
		c.fail("list queues", "", err)
		return
	}
	c.discovered = now
	old := c.queues
	c.queues = make([]*queueState, 0, len(names))
	for _, name := range names {
		i := slices.IndexFunc(old, func(q *queueState) bool { return q.name == name })
		if i >= 0 {
			c.queues = append(c.queues, old[i])
		} else {
			c.queues = append(c.queues, &queueState{name: name, Tally: eventtally.Tally{Fresh: true}})
		}
	}
	c.sortQueues()
}

func (c *Collector) collectQueue(ctx context.Context, ch chan<- prometheus.Metric, q *queueState, lasts map[string]uint64) {
	if counts, err := c.store.Counts(ctx, q.name); err != nil {
		c.fail("counts", q.name, err)
	} else {
		for _, s := range backend.States {
			ch <- metric(c.d.jobs, prometheus.GaugeValue, float64(counts.Of(s)), q.name, string(s))
		}
		ch <- metric(c.d.paused, prometheus.GaugeValue, boolValue(counts.Paused), q.name)
	}
	if c.events == nil {
		return
	}
	if last, ok := c.readEvents(ctx, q); ok {
		lasts[q.name] = last
		ch <- metric(c.d.lastID, prometheus.GaugeValue, float64(last), q.name)
		ch <- metric(c.d.unread, prometheus.GaugeValue, float64(last-min(q.Cursor, last)), q.name)
		if n, err := c.logLength(ctx, q.name, last); err != nil {
			c.fail("events", q.name, err)
		} else {
			ch <- metric(c.d.length, prometheus.GaugeValue, float64(n), q.name)
		}
	}
	for _, t := range []struct {
		d *prometheus.Desc
		n uint64
	}{
		{c.d.added, q.Added}, {c.d.completed, q.Completed}, {c.d.failed, q.Failed},
		{c.d.cancelled, q.Cancelled}, {c.d.retried, q.Retried}, {c.d.stalled, q.Stalled}, {c.d.missed, q.Missed},
	} {
		ch <- metric(t.d, prometheus.CounterValue, float64(t.n), q.name)
	}
}

// readEvents counts the events of q appended since the last scrape, up to
// MaxEvents of them, and returns the ID of the newest event of the log.
func (c *Collector) readEvents(ctx context.Context, q *queueState) (last uint64, ok bool) {
	last, err := c.events.LastEventID(ctx, q.name)
	if err != nil {
		c.fail("last event ID", q.name, err)
		return 0, false
	}
	if q.Cursor > last {
		// The log lost events it had: a store whose data was lost, such
		// as a Redis server restarted without persistence.
		c.o.Logger.Warn("drover: metrics: the event log is behind the events counted; counting from its end",
			"queue", q.name, "counted", q.Cursor, "last", last)
	}
	if err := q.Read(ctx, c.events, q.name, last, c.o.MaxEvents, eventPage); err != nil {
		c.fail("events", q.name, err)
	}
	return max(last, q.Cursor), true
}

// logLength returns the number of events the log of queue keeps, last
// being the ID of its newest: IDs have no gaps, and trimming takes the
// oldest, so it is last less the ID before the oldest kept.
func (c *Collector) logLength(ctx context.Context, queue string, last uint64) (uint64, error) {
	if last == 0 {
		return 0, nil
	}
	res, err := c.events.Events(ctx, queue, &backend.EventsRequest{After: 0, Max: 1})
	first := uint64(1)
	if te, ok := errors.AsType[*backend.EventsTrimmedError](err); ok {
		first = te.FirstAvailable
	} else if err != nil {
		return 0, err
	} else if len(res.Events) == 0 {
		first = last + 1
	} else {
		first = res.Events[0].ID
	}
	return last + 1 - min(first, last+1), nil
}

func (c *Collector) collectSubscribers(ctx context.Context, ch chan<- prometheus.Metric, lasts map[string]uint64) {
	c.subsMu.Lock()
	subs := make(map[subKey]*tracked, len(c.subs))
	for k, t := range c.subs {
		subs[k] = t
	}
	c.subsMu.Unlock()
	if len(subs) == 0 || c.events == nil {
		return
	}
	for k, t := range subs {
		last, ok := lasts[k.queue]
		if !ok {
			var err error
			if last, err = c.events.LastEventID(ctx, k.queue); err != nil {
				c.fail("last event ID", k.queue, err)
				continue
			}
			lasts[k.queue] = last
		}
		cursor := t.cursor()
		ch <- metric(c.d.subscriberLag, prometheus.GaugeValue, float64(last-min(cursor, last)), k.queue, k.name)
	}
}

func (c *Collector) fail(call, queue string, err error) {
	c.errors++
	c.o.Logger.Warn("drover: metrics: a store call failed; its metrics are left out of this scrape",
		"call", call, "queue", queue, "err", err)
}

// metric returns a constant metric, or an invalid one that the registry
// reports as an error (a label value that is not UTF-8).
func metric(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
