package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/deadline"
	"github.com/droverhq/drover/internal/renewer"
)

// Handler runs one attempt of a job. The result it returns is stored as the
// job's result. An error fails the attempt: the job is retried with backoff
// while attempts remain, unless the error wraps ErrUnrecoverable. A panic is
// recovered and counts as an error, with its stack kept on the job.
//
// ctx is cancelled when the job's Timeout passes (context.Cause is
// ErrTimeout), when the worker loses the job's lease (ErrLeaseLost), or when
// a stopping worker runs out of shutdown time (ErrWorkerStopped). After any
// of these the handler's result is not stored, except after a timeout
// within the worker's TimeoutGrace. ctx carries the values of the context
// given to Run or Start.
type Handler func(ctx context.Context, job *Job) ([]byte, error)

var (
	// ErrTimeout is the cause of a handler context cancelled because the
	// job's Timeout passed, and is wrapped in the failure of such an
	// attempt.
	ErrTimeout = errors.New("drover: job timed out")

	// ErrWorkerStopped is the cause of a handler context cancelled because
	// the worker was stopping and its ShutdownTimeout passed. The job was
	// released: it is waiting again and the attempt does not count.
	ErrWorkerStopped = errors.New("drover: worker stopped")

	// ErrAlreadyStarted: Start or Run was called on a worker that was
	// started before. A worker starts once; make a new one to start again.
	ErrAlreadyStarted = errors.New("drover: worker already started")
)

// Worker runs the jobs of one queue with a Handler, or of several queues
// (NewMultiWorker).
//
// A worker leases as many ready jobs as it has free slots, in one store call,
// and starts each at once. While a handler runs, the worker renews the job's
// lease (one Renew call for all of them every RenewEvery); renewal stops the
// moment the handler returns, and never extends a lease past the job's
// Timeout. Attempts are settled in batches.
//
// Handlers run on goroutines the worker keeps between attempts; each
// attempt starts with the profiler labels of the context given to Run or
// Start (pprof.WithLabels), whatever the attempt before it left.
//
// A handler that ignores its context cannot be stopped: once abandoned (see
// WorkerOptions.TimeoutGrace) or released at shutdown, its goroutine runs on
// until it returns, outside the worker's Concurrency, and its result is
// discarded.
type Worker struct {
	b     backend.Backend
	lanes []*lane // the queues served, in the order given
	h     Handler
	o     WorkerOptions
	log   *slog.Logger

	slots []atomic.Pointer[run]
	free  chan int // indexes of free slots

	timers   *deadline.Scheduler
	handlers *handlerPool
	replan   chan schedulerRef
	order    []*lane // the dispatcher's, for the order of lanes

	mu       sync.Mutex
	started  bool
	stepping bool               // RunNext is running a job
	step     sync.Mutex         // taken by RunNext, so that its calls do not overlap
	cancel   context.CancelFunc // stops leasing
	stopped  chan struct{}
	err      error
}

// NewWorker returns a worker that runs the jobs of queue in store b with h.
// opts may be nil. Start it with Run, or Start and Stop.
func NewWorker(b backend.Backend, queue string, h Handler, opts *WorkerOptions) (*Worker, error) {
	return NewMultiWorker(b, []WorkerQueue{{Name: queue}}, h, opts)
}

// Name returns the worker's name, as the store records it on leased jobs.
func (w *Worker) Name() string { return w.o.Name }

// Run runs the worker until ctx is cancelled or a fatal error (such as a
// closed store) occurs, then shuts down gracefully: it stops leasing, lets
// running handlers finish for up to ShutdownTimeout, then cancels the
// contexts of those still running and releases their jobs, so another
// worker can take them. Run returns once every goroutine it owns has exited
// (abandoned handlers aside); the error is nil after a graceful stop.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.Start(ctx); err != nil {
		return err
	}
	<-w.stopped
	return w.err
}

// Start starts the worker in the background and returns at once. The worker
// runs until ctx is cancelled or Stop is called, then shuts down as Run
// describes. A worker starts once.
func (w *Worker) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started || w.stepping {
		return fmt.Errorf("%w: %s", ErrAlreadyStarted, w.o.Name)
	}
	w.started = true
	leaseCtx, cancel := context.WithCancel(ctx)
	w.cancel = cancel
	base := context.WithoutCancel(ctx)
	w.timers.Start(base)
	for _, l := range w.lanes {
		l.renewer.Start(base)
		l.settler.Start(base)
	}
	go w.run(base, leaseCtx)
	return nil
}

// Stop shuts the worker down gracefully, as Run describes, and waits until
// it has stopped or ctx is done; ctx bounds only the wait, the shutdown goes
// on. It returns the error that stopped the worker, if any, or ctx's error.
// Stop may be called more than once; on a worker never started it returns
// nil at once.
func (w *Worker) Stop(ctx context.Context) error {
	w.mu.Lock()
	started, cancel := w.started, w.cancel
	w.mu.Unlock()
	if !started {
		return nil
	}
	cancel()
	select {
	case <-w.stopped:
		return w.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stopped returns a channel that is closed once a started worker has
// stopped completely.
func (w *Worker) Stopped() <-chan struct{} { return w.stopped }

func (w *Worker) run(base, leaseCtx context.Context) {
	defer close(w.stopped)
	mctx, stopMaint := context.WithCancel(base)
	maintDone := make(chan struct{})
	go func() {
		defer close(maintDone)
		w.maintain(mctx)
	}()

	err := w.dispatch(leaseCtx, base)
	w.cancel()
	if err != nil {
		w.log.Error("drover: worker stopping", "err", err)
	}
	w.drain()
	// Every slot is free: no handler the worker still owns is running, and
	// every settlement has been queued.
	w.handlers.stop()
	for _, l := range w.lanes {
		l.renewer.Stop()
	}
	w.timers.Stop()
	for _, l := range w.lanes {
		l.settler.Close()
	}
	stopMaint()
	<-maintDone
	w.err = err
}

// dispatch leases jobs into free slots until ctx is done or the store fails
// for good.
func (w *Worker) dispatch(ctx, base context.Context) error {
	idle := make([]int, 0, w.o.Concurrency)
	defer func() {
		for _, i := range idle {
			w.free <- i
		}
	}()
	req := &backend.LeaseRequest{
		Worker:     w.o.Name,
		TTL:        w.o.LeaseTTL,
		Wait:       w.o.LeaseWait,
		MaxStalled: w.o.MaxStalled,
	}
	var batches []leased
	failures := 0
	for {
		if len(idle) == 0 {
			select {
			case i := <-w.free:
				idle = append(idle, i)
			case <-ctx.Done():
				return nil
			}
		}
	fill:
		for {
			select {
			case i := <-w.free:
				idle = append(idle, i)
			default:
				break fill
			}
		}
		req.Max = min(len(idle), backend.MaxLease)
		var err error
		batches, err = w.lease(ctx, req, batches[:0])
		n := 0
		for _, bt := range batches {
			for k, rec := range bt.jobs {
				if len(idle) == 0 {
					// The store broke its contract and gave more than
					// Max; hand the extra jobs back.
					w.log.Error("drover: store leased more jobs than asked for; releasing the extra ones", "asked", req.Max, "got", len(bt.jobs))
					bt.lane.release(bt.jobs[k:])
					break
				}
				slot := idle[len(idle)-1]
				idle = idle[:len(idle)-1]
				w.start(base, slot, bt.lane, rec, nil)
				n++
			}
		}
		clear(batches)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, ErrClosed) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnsupported) {
				return fmt.Errorf("drover: worker %s: %w", w.o.Name, err)
			}
			failures++
			wait := w.o.ErrorBackoff(failures)
			w.log.Warn("drover: lease failed; retrying", "retry_in", wait, "failures", failures, "err", err)
			if !w.sleep(ctx, wait) {
				return nil
			}
			continue
		}
		failures = 0
		if n > 0 {
			// Let the handlers just started run before counting free
			// slots: short jobs then hand theirs back, and the next lease
			// fills more slots in one call.
			runtime.Gosched()
		}
	}
}

// sleep waits d on the worker's clock; it reports false if ctx ended first.
func (w *Worker) sleep(ctx context.Context, d time.Duration) bool {
	t := w.o.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}

// start runs one job leased from l in slot. finish closes step, if set,
// once the attempt is over.
func (w *Worker) start(base context.Context, slot int, l *lane, rec *backend.Job, step chan struct{}) *run {
	r := &run{w: w, lane: l, slot: slot, job: newJob(l.q, rec), lease: rec.Lease, step: step, pooled: step == nil}
	r.job.run = r
	exp := rec.LeaseExpiresAt
	if exp.IsZero() {
		exp = w.o.Clock.Now().Add(w.o.LeaseTTL)
	}
	r.expires.Store(exp.UnixNano())
	r.ctx, r.cancel = context.WithCancelCause(base)
	if rec.Timeout > 0 {
		// The attempt began when the store leased the job, not when this
		// goroutine got to it: a busy process does not stretch a timeout.
		start := w.o.Clock.Now()
		if p := rec.ProcessedAt; !p.IsZero() && p.Before(start) {
			start = p
		}
		r.limitFrom(start, rec.Timeout)
	}
	w.slots[slot].Store(r)
	if rec.SchedulerID != "" {
		select {
		case w.replan <- schedulerRef{l, rec.SchedulerID}:
		default:
			// Full: a later lease of the scheduler's next iteration asks
			// again.
		}
	}
	if r.pooled {
		w.handlers.run(r)
	} else {
		// RunNext: no goroutine outlives the call.
		go r.execute()
	}
	return r
}

// finish ends r's hold on its slot, after queueing r.item.Settlement unless
// the lease was lost. Exactly one of the handler's return, the grace timer
// and the shutdown calls it, whichever moved r out of stateRunning.
func (w *Worker) finish(r *run) {
	if r.lost.Load() {
		w.logLost(r)
	} else {
		r.item.Expires = time.Unix(0, r.expires.Load())
		r.item.Name = r.job.Name
		r.lane.settler.Enqueue(&r.item)
	}
	w.slots[r.slot].Store(nil)
	w.free <- r.slot
	if r.step != nil {
		close(r.step)
	}
}

//go:noinline
func (w *Worker) logLost(r *run) {
	w.log.Warn("drover: lease was lost; the attempt is not settled", "job", r.lease.JobID, "name", r.job.Name, "outcome", r.item.Settlement.Outcome)
}

// drain waits for every slot to be free, up to ShutdownTimeout; then it
// releases the jobs still running and waits for the rest, which are all
// about to free their slots.
func (w *Worker) drain() {
	n := 0
	t := w.o.Clock.NewTimer(w.o.ShutdownTimeout)
	defer t.Stop()
	for n < w.o.Concurrency {
		select {
		case <-w.free:
			n++
		case <-t.C():
			w.releaseAll()
			for ; n < w.o.Concurrency; n++ {
				<-w.free
			}
		}
	}
}

func (w *Worker) releaseAll() {
	for i := range w.slots {
		r := w.slots[i].Load()
		if r == nil || !r.state.CompareAndSwap(stateRunning, stateReleased) {
			continue
		}
		w.handlers.disown(r)
		r.stopTimer()
		r.cancel(ErrWorkerStopped)
		w.log.Warn("drover: shutdown timeout passed; releasing running job", "job", r.lease.JobID, "name", r.job.Name)
		r.item.Settlement = backend.Settlement{Lease: r.lease, Outcome: backend.OutcomeRelease}
		w.finish(r)
	}
}

// collect reports the leases in l to renew at now: those of handlers
// still running, whose lease holds and whose timeout has not passed.
func (w *Worker) collect(l *lane, now time.Time, buf []renewer.Held) []renewer.Held {
	for i := range w.slots {
		r := w.slots[i].Load()
		if r == nil || r.lane != l || r.state.Load() != stateRunning || r.lost.Load() {
			continue
		}
		if at := r.deadline(); !at.IsZero() && !now.Before(at) {
			continue
		}
		buf = append(buf, r)
	}
	return buf
}

// maintain does work that must stay off the dispatch path: topping up the
// plans of job schedulers whose iterations were leased.
func (w *Worker) maintain(ctx context.Context) {
	pending := make(map[schedulerRef]struct{})
	for {
		select {
		case <-ctx.Done():
			return
		case ref := <-w.replan:
			pending[ref] = struct{}{}
		}
	more:
		for {
			select {
			case ref := <-w.replan:
				pending[ref] = struct{}{}
			default:
				break more
			}
		}
		for ref := range pending {
			delete(pending, ref)
			cctx, cancel := context.WithTimeout(ctx, w.o.SettleTimeout)
			err := ref.lane.q.replanScheduler(cctx, ref.id)
			cancel()
			if err != nil && ctx.Err() == nil {
				w.log.Warn("drover: plan job scheduler", "queue", ref.lane.q.name, "scheduler", ref.id, "err", err)
			}
		}
	}
}
