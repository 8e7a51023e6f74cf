package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/deadline"
	"github.com/droverhq/drover/internal/renewer"
	"github.com/droverhq/drover/internal/settler"
)

// WorkerQueue is one of the queues a worker made by NewMultiWorker serves.
type WorkerQueue struct {
	// Name is the queue's name.
	Name string
	// Weight is the queue's share of the worker's leases while every queue
	// has jobs ready: a queue of weight 3 gets three turns to each turn of
	// a queue of weight 1. It is ignored under
	// WorkerOptions.StrictPriority. Defaults to 1.
	Weight int
}

// NewMultiWorker returns a worker that runs the jobs of several queues of
// store b with h, within one Concurrency. Whenever it has free slots it
// leases jobs from the queues in turn, by weight (see WorkerQueue.Weight);
// under WorkerOptions.StrictPriority it takes them from the first queue in
// queues that has jobs ready, so a later queue gets a slot only while the
// ones before it have none. When no queue has a job ready it waits on all
// of them at once, and starts a job the moment one is added to any.
//
// Each queue keeps its own semantics (priorities, pause, events); opts
// apply to all of them. opts may be nil.
func NewMultiWorker(b backend.Backend, queues []WorkerQueue, h Handler, opts *WorkerOptions) (*Worker, error) {
	if h == nil {
		return nil, backend.Invalid("Handler", "handler is nil")
	}
	if len(queues) == 0 {
		return nil, backend.Invalid("Queues", "no queue to serve")
	}
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	names := make([]string, len(queues))
	seen := make(map[string]bool, len(queues))
	for i, wq := range queues {
		switch {
		case wq.Weight < 0:
			return nil, backend.Invalid("Weight", fmt.Sprintf("weight %d of queue %s is negative", wq.Weight, wq.Name))
		case seen[wq.Name]:
			return nil, backend.Invalid("Queues", fmt.Sprintf("queue %s is listed twice", wq.Name))
		}
		seen[wq.Name] = true
		names[i] = wq.Name
	}
	w := &Worker{
		b:        b,
		h:        recoverPanics(Chain(h, o.Middleware...)),
		o:        o,
		log:      o.Logger.With("queue", strings.Join(names, ","), "worker", o.Name),
		slots:    make([]atomic.Pointer[run], o.Concurrency),
		free:     make(chan int, o.Concurrency),
		timers:   deadline.New(o.Clock),
		handlers: newHandlerPool(),
		replan:   make(chan schedulerRef, 64),
		stopped:  make(chan struct{}),
	}
	for i := range o.Concurrency {
		w.free <- i
	}
	for _, wq := range queues {
		l, err := w.newLane(wq)
		if err != nil {
			return nil, err
		}
		w.lanes = append(w.lanes, l)
	}
	return w, nil
}

// lane is one queue a worker serves, with the renewer and settler of its
// leases.
type lane struct {
	q       *Queue
	weight  int
	credit  int // for taking turns by weight; the dispatcher's own
	renewer *renewer.Renewer
	settler *settler.Settler
}

func (w *Worker) newLane(wq WorkerQueue) (*lane, error) {
	o := w.o
	q, err := New(w.b, wq.Name, &Options{Clock: o.Clock, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	l := &lane{q: q, weight: cmp.Or(wq.Weight, 1)}
	log := o.Logger.With("queue", wq.Name, "worker", o.Name)
	l.renewer = renewer.New(renewer.Config{
		Backend: w.b,
		Queue:   wq.Name,
		TTL:     o.LeaseTTL,
		Every:   o.RenewEvery,
		Timeout: min(o.RenewEvery, o.SettleTimeout),
		Clock:   o.Clock,
		Logger:  log,
		Collect: func(now time.Time, buf []renewer.Held) []renewer.Held { return w.collect(l, now, buf) },
	})
	l.settler = settler.New(settler.Config{
		Backend:  w.b,
		Queue:    wq.Name,
		Timeout:  o.SettleTimeout,
		Backoff:  o.ErrorBackoff,
		Capacity: 2 * o.Concurrency,
		Clock:    o.Clock,
		Logger:   log,
	})
	return l, nil
}

// release hands leased jobs back unrun.
func (l *lane) release(jobs []*backend.Job) {
	for _, rec := range jobs {
		l.settler.Enqueue(&settler.Item{Settlement: backend.Settlement{Lease: rec.Lease, Outcome: backend.OutcomeRelease}, Name: rec.Name})
	}
}

// leased is the jobs one Lease call took from a lane.
type leased struct {
	lane *lane
	jobs []*backend.Job
}

// schedulerRef names a job scheduler of a lane.
type schedulerRef struct {
	lane *lane
	id   string
}

// lease leases up to req.Max jobs from the worker's queues, blocking up to
// req.Wait when none has one ready, and appends them to out. It returns the
// jobs it leased even with an error, which names the queue whose Lease
// failed; it leases no more than req.Max jobs in all. Only the dispatcher
// calls it.
func (w *Worker) lease(ctx context.Context, req *backend.LeaseRequest, out []leased) ([]leased, error) {
	if len(w.lanes) == 1 {
		l := w.lanes[0]
		res, err := w.b.Lease(ctx, l.q.name, req)
		if err != nil {
			return out, fmt.Errorf("lease from %s: %w", l.q.name, err)
		}
		return append(out, leased{l, res.Jobs}), nil
	}
	// First ask each queue in turn, without waiting.
	want := req.Max
	look := *req
	look.Wait = 0
	for _, l := range w.turns() {
		if want == 0 {
			break
		}
		look.Max = want
		res, err := w.b.Lease(ctx, l.q.name, &look)
		if err != nil {
			return out, fmt.Errorf("lease from %s: %w", l.q.name, err)
		}
		if len(res.Jobs) > 0 {
			out = append(out, leased{l, res.Jobs})
			want -= len(res.Jobs)
		}
	}
	if want < req.Max || req.Wait <= 0 {
		return out, nil
	}
	return w.await(ctx, req, out)
}

// turns returns the lanes in the order to ask them for jobs: as given under
// strict priority; otherwise first the lane whose turn it is by weight
// (smooth weighted round robin: each lane earns its weight in credit, and
// the richest pays the total), then the others as given.
func (w *Worker) turns() []*lane {
	if w.o.StrictPriority {
		return w.lanes
	}
	total := 0
	var next *lane
	for _, l := range w.lanes {
		l.credit += l.weight
		total += l.weight
		if next == nil || l.credit > next.credit {
			next = l
		}
	}
	next.credit -= total
	w.order = append(w.order[:0], next)
	for _, l := range w.lanes {
		if l != next {
			w.order = append(w.order, l)
		}
	}
	return w.order
}

// await waits on every lane at once, each Lease taking one job, until one
// of them answers; then it ends the others' waits. The lanes answer in any
// order, so it may get more than req.Max jobs (one a lane at most): it
// keeps those of the lanes first in the worker's list, and hands the rest
// back.
func (w *Worker) await(ctx context.Context, req *backend.LeaseRequest, out []leased) ([]leased, error) {
	type answer struct {
		i    int
		jobs []*backend.Job
		err  error
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	answers := make(chan answer, len(w.lanes))
	one := *req
	one.Max = 1
	for i, l := range w.lanes {
		go func() {
			res, err := w.b.Lease(wctx, l.q.name, &one)
			answers <- answer{i, res.Jobs, err}
		}()
	}
	got := make([][]*backend.Job, len(w.lanes))
	var errs error
	for range w.lanes {
		a := <-answers
		cancel()
		switch {
		case a.err == nil:
			got[a.i] = a.jobs
		case ctx.Err() == nil && errors.Is(a.err, context.Canceled):
			// This wait was ended because another lane answered.
		case errs == nil:
			errs = fmt.Errorf("lease from %s: %w", w.lanes[a.i].q.name, a.err)
		}
	}
	room := req.Max
	for i, jobs := range got {
		keep := min(len(jobs), room)
		if keep > 0 {
			out = append(out, leased{w.lanes[i], jobs[:keep]})
			room -= keep
		}
		if keep < len(jobs) {
			w.lanes[i].release(jobs[keep:])
		}
	}
	return out, errs
}

// Queues returns the names of the queues the worker serves, in the order
// they were given.
func (w *Worker) Queues() []string {
	names := make([]string, len(w.lanes))
	for i, l := range w.lanes {
		names[i] = l.q.name
	}
	return names
}
