package metrics

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// The outcomes of an attempt, as the run time histogram labels them.
const (
	// OutcomeOK: the handler returned no error.
	OutcomeOK = "ok"
	// OutcomeError: the handler returned an error (the job is retried
	// while it has attempts left, unless the error is unrecoverable).
	OutcomeError = "error"
	// OutcomeTimeout: the handler returned after the attempt's time limit
	// cancelled its context, or with an error wrapping queue.ErrTimeout.
	OutcomeTimeout = "timeout"
	// OutcomeSnooze: the handler asked to run again later (queue.Snooze).
	OutcomeSnooze = "snooze"
	// OutcomePanic: the handler panicked.
	OutcomePanic = "panic"
)

// DefaultRunBuckets are the default buckets, in seconds, of the run time
// histogram: from 5 ms to 5 minutes.
var DefaultRunBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}

// DefaultWaitBuckets are the default buckets, in seconds, of the wait time
// histogram: from 1 ms to an hour.
var DefaultWaitBuckets = []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 1800, 3600}

// HandlerOptions configure HandlerMetrics. The zero value is ready to use.
type HandlerOptions struct {
	// Clock tells the time at the start and end of each attempt; it
	// should be the clock of the store and worker. Defaults to the system
	// clock.
	Clock backend.Clock
	// Namespace starts every metric name. Defaults to "drover".
	Namespace string
	// RunBuckets are the buckets of the run time histogram, in seconds.
	// Defaults to DefaultRunBuckets.
	RunBuckets []float64
	// WaitBuckets are the buckets of the wait time histogram, in seconds.
	// Defaults to DefaultWaitBuckets.
	WaitBuckets []float64
}

// HandlerMetrics observes the attempts that workers run, in the process
// that runs them. Put its Middleware in WorkerOptions.Middleware and
// register it (it is a prometheus.Collector). One HandlerMetrics may serve
// many workers. It makes:
//
//   - drover_job_wait_seconds{queue, name}: a histogram of how long jobs
//     waited to start, from the time they were due to the start of their
//     first attempt. A job is due when it is added, or at its RunAt when it
//     had a delay, a RunAt or a job scheduler's time, or was promoted. The
//     first attempt only: a job's record does not say when a retry
//     without backoff became ready. Flow parents are left out too (their
//     record does not say when their last child ended). A job retried by
//     Queue.Retry starts again at attempt one and counts its wait from when
//     it was added, and a job released by a worker that stopped counts its
//     wait again, from the same time. The due time is the store's
//     clock, the start this one's.
//   - drover_job_run_seconds{queue, name, outcome}: a histogram of how long
//     each attempt ran, with the outcome of the handler: ok, error,
//     timeout, snooze or panic. Its _count by outcome counts the attempts
//     this process ran.
//   - drover_jobs_running{queue}: the handlers running now in this process.
//
// The times are the handler's as the middleware sees it: put the
// middleware first to include the time of the middleware after it.
type HandlerMetrics struct {
	clock   backend.Clock
	wait    *prometheus.HistogramVec
	run     *prometheus.HistogramVec
	running *prometheus.GaugeVec

	mu     sync.RWMutex
	series map[seriesKey]*series
	// last is the series of the latest lookup, checked before the map:
	// the jobs a worker runs are mostly of one queue and name, whose
	// series it then finds by comparing two strings.
	last atomic.Pointer[series]
}

type seriesKey struct{ queue, name string }

// series holds the observers of one queue and job name, so that an
// attempt looks its labels up once.
type series struct {
	key     seriesKey
	wait    prometheus.Observer
	run     [5]prometheus.Observer // by outcome, in the order of outcomes
	running prometheus.Gauge
}

var outcomes = [5]string{OutcomeOK, OutcomeError, OutcomeTimeout, OutcomeSnooze, OutcomePanic}

// NewHandlerMetrics returns the metrics of handlers; opts may be nil.
func NewHandlerMetrics(opts *HandlerOptions) *HandlerMetrics {
	var o HandlerOptions
	if opts != nil {
		o = *opts
	}
	if o.Clock == nil {
		o.Clock = backend.SystemClock()
	}
	ns := cmp.Or(o.Namespace, "drover")
	if len(o.RunBuckets) == 0 {
		o.RunBuckets = DefaultRunBuckets
	}
	if len(o.WaitBuckets) == 0 {
		o.WaitBuckets = DefaultWaitBuckets
	}
	return &HandlerMetrics{
		clock: o.Clock,
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "job_wait_seconds",
			Help:    "Time from when a job was due to the start of its first attempt, by queue and job name.",
			Buckets: slices.Clone(o.WaitBuckets),
		}, []string{"queue", "name"}),
		run: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "job_run_seconds",
			Help:    "Time each attempt's handler ran in this process, by queue, job name and outcome (ok, error, timeout, snooze, panic).",
			Buckets: slices.Clone(o.RunBuckets),
		}, []string{"queue", "name", "outcome"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "jobs_running",
			Help: "Handlers running now in this process, by queue.",
		}, []string{"queue"}),
		series: make(map[seriesKey]*series),
	}
}

// Describe sends the descriptors of the handler metrics.
func (m *HandlerMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.wait.Describe(ch)
	m.run.Describe(ch)
	m.running.Describe(ch)
}

// Collect sends the handler metrics.
func (m *HandlerMetrics) Collect(ch chan<- prometheus.Metric) {
	m.wait.Collect(ch)
	m.run.Collect(ch)
	m.running.Collect(ch)
}

// Middleware is a queue.Middleware that observes each attempt of the jobs
// it wraps: pass m.Middleware in WorkerOptions.Middleware. A panic goes on
// up, observed with outcome panic.
func (m *HandlerMetrics) Middleware(next queue.Handler) queue.Handler {
	return func(ctx context.Context, job *queue.Job) (result []byte, err error) {
		s := m.seriesOf(job.Queue, job.Name)
		start := m.clock.Now()
		if due, ok := dueTime(job); ok {
			s.wait.Observe(seconds(start.Sub(due)))
		}
		s.running.Inc()
		outcome := 4 // panic, unless next returns
		defer func() {
			s.running.Dec()
			s.run[outcome].Observe(seconds(m.clock.Now().Sub(start)))
		}()
		result, err = next(ctx, job)
		outcome = outcomeOf(ctx, err)
		return result, err
	}
}

func (m *HandlerMetrics) seriesOf(q, name string) *series {
	if s := m.last.Load(); s != nil && s.key.queue == q && s.key.name == name {
		return s
	}
	k := seriesKey{q, name}
	m.mu.RLock()
	s := m.series[k]
	m.mu.RUnlock()
	if s == nil {
		s = m.newSeries(k)
	}
	m.last.Store(s)
	return s
}

// newSeries returns the series of k, made if it is not yet.
func (m *HandlerMetrics) newSeries(k seriesKey) *series {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.series[k]; s != nil {
		return s
	}
	s := &series{key: k, wait: m.wait.WithLabelValues(k.queue, k.name), running: m.running.WithLabelValues(k.queue)}
	for i, o := range outcomes {
		s.run[i] = m.run.WithLabelValues(k.queue, k.name, o)
	}
	m.series[k] = s
	return s
}

// outcomeOf returns the index in outcomes of the outcome of a handler that
// returned err.
func outcomeOf(ctx context.Context, err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, queue.ErrTimeout) || errors.Is(context.Cause(ctx), queue.ErrTimeout):
		return 2
	}
	if _, ok := queue.SnoozeDelay(err); ok {
		return 3
	}
	if _, ok := errors.AsType[*queue.PanicError](err); ok {
		return 4 // a Recover middleware after this one made the panic an error
	}
	return 1
}

// dueTime returns when job was due, for the first attempt of a job that is
// not a flow parent.
func dueTime(job *queue.Job) (time.Time, bool) {
	if job.AttemptsMade > 0 || job.StalledCount > 0 || len(job.Children) > 0 || len(job.ChildOutcomes) > 0 || job.CreatedAt.IsZero() {
		return time.Time{}, false
	}
	return later(job.CreatedAt, job.RunAt), true
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func seconds(d time.Duration) float64 { return max(d, 0).Seconds() }
