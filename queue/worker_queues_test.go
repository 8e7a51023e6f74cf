package queue_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// multiEnv is a worker env whose worker serves several queues of the
// recorder's store.
type multiEnv struct {
	*wenv
	mu   sync.Mutex
	runs []string // "queue/name" of each job run, in order
}

func newMultiEnv(t *testing.T) *multiEnv {
	return &multiEnv{wenv: newWenv(t)}
}

func (m *multiEnv) queue(name string) *queue.Queue {
	m.t.Helper()
	q, err := queue.New(m.rec, name, &queue.Options{Clock: m.clock})
	if err != nil {
		m.t.Fatal(err)
	}
	return q
}

func (m *multiEnv) addTo(q *queue.Queue, names ...string) {
	m.t.Helper()
	for _, n := range names {
		if _, err := q.Add(m.ctx, n, nil, nil); err != nil {
			m.t.Fatal(err)
		}
	}
}

// record is a handler that records each job it runs.
func (m *multiEnv) record(ctx context.Context, j *queue.Job) ([]byte, error) {
	m.mu.Lock()
	m.runs = append(m.runs, j.Queue+"/"+j.Name)
	m.mu.Unlock()
	return []byte(j.Queue), nil
}

func (m *multiEnv) ran() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.runs)
}

func (m *multiEnv) startMulti(store backend.Backend, queues []queue.WorkerQueue, o queue.WorkerOptions) *queue.Worker {
	m.t.Helper()
	o.Clock = m.clock
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := queue.NewMultiWorker(store, queues, m.record, &o)
	if err != nil {
		m.t.Fatalf("NewMultiWorker: %v", err)
	}
	if err := w.Start(m.ctx); err != nil {
		m.t.Fatal(err)
	}
	m.t.Cleanup(func() { m.stop(w) })
	return w
}

// completed waits until job id of q has completed, and returns it.
func (m *multiEnv) completed(q *queue.Queue, id string) *queue.Job {
	m.t.Helper()
	var j *queue.Job
	waitFor(m.t, "job "+q.Name()+"/"+id+" to complete", func() bool {
		var err error
		j, err = q.Job(m.ctx, id)
		return err == nil && j.State == queue.StateCompleted
	})
	return j
}

func (m *multiEnv) waitRuns(n int) []string {
	m.t.Helper()
	waitFor(m.t, "jobs to run", func() bool { return len(m.ran()) >= n })
	return m.ran()
}

func TestMultiWorkerUnderStrictPriorityEmptiesTheFirstQueueFirst(t *testing.T) {
	m := newMultiEnv(t)
	low, high := m.queue("low"), m.queue("high")
	m.addTo(low, "l1", "l2", "l3")
	m.addTo(high, "h1", "h2", "h3")
	m.startMulti(m.rec, []queue.WorkerQueue{{Name: "high"}, {Name: "low"}}, queue.WorkerOptions{StrictPriority: true})
	got := m.waitRuns(6)
	want := []string{"high/h1", "high/h2", "high/h3", "low/l1", "low/l2", "low/l3"}
	if !slices.Equal(got, want) {
		t.Errorf("ran %v, want %v", got, want)
	}
	for _, id := range []string{"1", "2", "3"} {
		for _, q := range []*queue.Queue{low, high} {
			if j := m.completed(q, id); string(j.Result) != q.Name() {
				t.Errorf("job %s/%s has result %q; want its queue's name, settled in that queue", q.Name(), id, j.Result)
			}
		}
	}
}

func TestMultiWorkerTakesTurnsByWeight(t *testing.T) {
	m := newMultiEnv(t)
	a, b := m.queue("a"), m.queue("b")
	m.addTo(a, "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8")
	m.addTo(b, "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8")
	m.startMulti(m.rec, []queue.WorkerQueue{{Name: "a", Weight: 3}, {Name: "b"}}, queue.WorkerOptions{})
	got := m.waitRuns(8)[:8]
	// One slot, so one job a turn: a gets three turns to each of b's.
	want := []string{"a/a1", "a/a2", "b/b1", "a/a3", "a/a4", "a/a5", "b/b2", "a/a6"}
	if !slices.Equal(got, want) {
		t.Errorf("first eight runs %v, want %v", got, want)
	}
	m.waitRuns(16)
}

func TestMultiWorkerStartsAJobAddedToAnyQueueWhileItWaits(t *testing.T) {
	m := newMultiEnv(t)
	first, second := m.queue("first"), m.queue("second")
	var waits atomic.Int32
	m.rec.onLease = func(req *backend.LeaseRequest) {
		if req.Wait > 0 {
			waits.Add(1)
		}
	}
	m.startMulti(m.rec, []queue.WorkerQueue{{Name: "first"}, {Name: "second"}}, queue.WorkerOptions{Concurrency: 4, LeaseWait: time.Hour})
	waitFor(t, "the worker to wait on both queues", func() bool { return waits.Load() >= 2 })
	// The clock stands still: only a wake-up can start these.
	m.addTo(second, "s1")
	m.waitRuns(1)
	bulk := []queue.BulkJob{{Name: "f1"}, {Name: "f2"}, {Name: "f3"}, {Name: "f4"}}
	if _, err := first.AddBulk(m.ctx, bulk); err != nil {
		t.Fatal(err)
	}
	got := m.waitRuns(5)
	slices.Sort(got[1:])
	if want := []string{"second/s1", "first/f1", "first/f2", "first/f3", "first/f4"}; !slices.Equal(got, want) {
		t.Errorf("ran %v, want %v", got, want)
	}
}

// gatedStore holds the Lease calls that would wait until the test opens
// the gate, then leases without waiting and whatever the caller's context,
// as a store does that hands jobs to a waiting Lease in the commit that
// adds them. Once the gate is open, Lease calls pass through.
type gatedStore struct {
	backend.Backend
	gate  chan struct{}
	waits atomic.Int32 // calls held at the gate
}

func (g *gatedStore) Lease(ctx context.Context, q string, req *backend.LeaseRequest) (backend.LeaseResult, error) {
	select {
	case <-g.gate:
		return g.Backend.Lease(ctx, q, req)
	default:
	}
	if req.Wait == 0 {
		return g.Backend.Lease(ctx, q, req)
	}
	g.waits.Add(1)
	<-g.gate
	now := *req
	now.Wait = 0
	return g.Backend.Lease(context.WithoutCancel(ctx), q, &now)
}

func TestMultiWorkerHandsBackTheJobsItCannotRun(t *testing.T) {
	m := newMultiEnv(t)
	a, b := m.queue("a"), m.queue("b")
	store := &gatedStore{Backend: m.rec, gate: make(chan struct{})}
	m.startMulti(store, []queue.WorkerQueue{{Name: "a"}, {Name: "b"}}, queue.WorkerOptions{Concurrency: 1, LeaseWait: time.Hour})
	waitFor(t, "the worker to wait on both queues", func() bool { return store.waits.Load() == 2 })
	m.addTo(a, "a1")
	m.addTo(b, "b1")
	close(store.gate) // both waits lease a job; the worker has one slot
	got := m.waitRuns(2)
	if want := []string{"a/a1", "b/b1"}; !slices.Equal(got, want) {
		t.Errorf("ran %v, want %v (the first queue's job kept, the other's handed back, then run)", got, want)
	}
	if j := m.completed(b, "1"); j.AttemptsMade != 1 {
		t.Errorf("b's job made %d attempts; want one (the release does not count)", j.AttemptsMade)
	}
	// b's settler sends the release before the completion, and records
	// it first.
	var released []string
	m.rec.mu.Lock()
	for _, s := range m.rec.settled {
		if s.Outcome == backend.OutcomeRelease {
			released = append(released, s.Lease.JobID)
		}
	}
	m.rec.mu.Unlock()
	if len(released) != 1 {
		t.Errorf("released %v; want b's job handed back once", released)
	}
}

func TestNewMultiWorkerRejectsBadQueues(t *testing.T) {
	m := newMultiEnv(t)
	for _, c := range []struct {
		queues []queue.WorkerQueue
		want   string
	}{
		{nil, "no queue"},
		{[]queue.WorkerQueue{{Name: "a"}, {Name: "a"}}, "twice"},
		{[]queue.WorkerQueue{{Name: "a", Weight: -1}}, "negative"},
		{[]queue.WorkerQueue{{Name: ""}}, "queue"},
	} {
		w, err := queue.NewMultiWorker(m.rec, c.queues, m.record, nil)
		if w != nil || !errors.Is(err, queue.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewMultiWorker(%v) = %v, %v; want ErrInvalid saying %q", c.queues, w, err, c.want)
		}
	}
}
