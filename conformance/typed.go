package conformance

import (
	"context"
	"errors"
	"fmt"
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

// signup is the arguments of the typed jobs of these cases.
type signup struct {
	Email string   `json:"email"`
	Seats int      `json:"seats"`
	Tags  []string `json:"tags,omitempty"`
}

func (signup) Kind() string { return "signup" }

// router returns a router of routes, failing the case on an error.
func (b *testBundle) router(routes ...queue.Route) queue.Handler {
	b.t.Helper()
	r, err := queue.NewRouter(routes...)
	if err != nil {
		b.t.Fatalf("NewRouter: %v", err)
	}
	return r.Handler()
}

// startMultiWorker runs a worker of queues on store until the case ends.
func (b *testBundle) startMultiWorker(store backend.Backend, queues []queue.WorkerQueue, h queue.Handler, o queue.WorkerOptions) *queue.Worker {
	b.t.Helper()
	for _, wq := range queues {
		b.use(wq.Name)
	}
	o.Clock = b.clock
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := queue.NewMultiWorker(store, queues, h, &o)
	if err != nil {
		b.t.Fatalf("NewMultiWorker: %v", err)
	}
	if err := w.Start(context.Background()); err != nil {
		b.t.Fatalf("Start: %v", err)
	}
	b.t.Cleanup(func() { b.stopWorker(w) })
	return w
}

// eventsOf counts the events of job id in queue q by type.
func (b *testBundle) eventsOf(q, id string) map[backend.EventType]int {
	n := make(map[backend.EventType]int)
	for _, e := range b.events(q, 0) {
		if e.JobID == id {
			n[e.Type]++
		}
	}
	return n
}

func testTyped(t *testing.T, f Factory) {
	t.Run("a typed job's arguments reach its handler through the store, and its result comes back", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		want := signup{Email: "ada@example.com", Seats: 3, Tags: []string{"trial", "eu"}}
		job, err := queue.AddArgs(b.ctx, b.queueHandle(b.q), want, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan signup, 1)
		b.startWorker(b.store, b.router(queue.HandleResult(func(ctx context.Context, j *queue.JobOf[signup]) (int, error) {
			got <- j.Args
			return j.Args.Seats * 10, nil
		})), queue.WorkerOptions{})
		if args := receive(t, got, deadline, "the handler's arguments"); !slices.Equal(args.Tags, want.Tags) || args.Email != want.Email || args.Seats != want.Seats {
			t.Errorf("handler got %+v, want %+v", args, want)
		}
		if j := b.waitState(b.q, job.ID, backend.StateCompleted); j.Name != "signup" || string(j.Result) != "30" {
			t.Errorf("job %q completed with result %q; want a signup job with result 30", j.Name, j.Result)
		}
	})

	t.Run("a typed job whose data does not decode fails at once, whatever attempts it has left", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "signup", Data: []byte(`{"seats":"three"}`), Attempts: 5})
		var called atomic.Bool
		b.startWorker(b.store, b.router(queue.Handle(func(ctx context.Context, j *queue.JobOf[signup]) error {
			called.Store(true)
			return nil
		})), queue.WorkerOptions{})
		j := b.waitState(b.q, id, backend.StateFailed)
		if j.AttemptsMade != 1 || !strings.Contains(j.FailedReason, "does not decode as signup arguments") {
			t.Errorf("failed after %d attempts with %q; want one attempt, failed because the data does not decode", j.AttemptsMade, j.FailedReason)
		}
		if called.Load() {
			t.Error("the handler ran on data that does not decode")
		}
		if n := b.eventsOf(b.q, id)[backend.EventRetrying]; n != 0 {
			t.Errorf("%d retrying events, want none", n)
		}
	})

	t.Run("a job whose name no route serves fails its attempt, and is retried while attempts remain", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "unheard-of", Attempts: 2, Backoff: backend.Backoff{Type: backend.BackoffFixed, Delay: time.Second}})
		known := b.addOne(backend.NewJob{Name: "signup"})
		b.startWorker(b.store, b.router(queue.Handle(func(context.Context, *queue.JobOf[signup]) error { return nil })), queue.WorkerOptions{})
		b.waitState(b.q, known, backend.StateCompleted)
		j := b.waitState(b.q, id, backend.StateFailed)
		if j.AttemptsMade != 2 || j.FailedReason != `drover: no handler for job name "unheard-of"` {
			t.Errorf("failed after %d attempts with %q; want two attempts, failed for want of a handler", j.AttemptsMade, j.FailedReason)
		}
		if n := b.eventsOf(b.q, id)[backend.EventRetrying]; n != 1 {
			t.Errorf("%d retrying events, want 1", n)
		}
	})

	t.Run("a route's Timeout abandons a handler that ignores it, and its lease is not renewed past it", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		rec := &renewLog{Full: b.store, clock: b.clock}
		// As in the worker's case: the timeout falls between two renewal
		// ticks (8s and 10s), and a renewal stamped a second or more after
		// it is one for a handler past its timeout.
		const timeout, grace, renewEvery = 9 * time.Second, 3 * time.Second, 2 * time.Second
		job, err := queue.AddArgs(b.ctx, b.queueHandle(b.q), signup{Email: "stuck@example.com"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		var started atomic.Bool
		b.startWorker(rec, b.router(queue.Handle(func(ctx context.Context, j *queue.JobOf[signup]) error {
			started.Store(true)
			<-release // ignores ctx
			return nil
		}, queue.Timeout(timeout))), queue.WorkerOptions{LeaseTTL: 30 * time.Second, RenewEvery: renewEvery, TimeoutGrace: grace})
		// The route's timeout runs from when its middleware starts: let it
		// start before the clock moves, so that it runs from ProcessedAt.
		waitFor(t, deadline, started.Load)
		b.drive(250*time.Millisecond, func() bool { return b.isState(job.ID, backend.StateFailed) })
		j := b.job(job.ID)
		if !strings.Contains(j.FailedReason, "abandoned") {
			t.Fatalf("reason %q; want the handler abandoned", j.FailedReason)
		}
		if limit := j.ProcessedAt.Add(timeout + grace + renewEvery); j.FinishedAt.After(limit) {
			t.Errorf("job failed at %v, later than timeout + grace + one check (%v)", j.FinishedAt, limit)
		}
		lastOK := j.ProcessedAt.Add(timeout + time.Second)
		if len(rec.renewsOf(job.ID)) == 0 {
			t.Error("no renewal recorded while the handler ran within its timeout")
		}
		for range 20 {
			b.clock.Advance(time.Second)
		}
		for _, at := range rec.renewsOf(job.ID) {
			if !at.Before(lastOK) {
				t.Errorf("lease renewed at %v, after the route's timeout at %v", at, j.ProcessedAt.Add(timeout))
			}
		}
	})

	t.Run("a worker of several queues waits on all of them, and starts a job added to any", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		var mu sync.Mutex
		var ran []string
		b.startMultiWorker(b.store, []queue.WorkerQueue{{Name: "first"}, {Name: "second"}}, func(ctx context.Context, j *queue.Job) ([]byte, error) {
			mu.Lock()
			ran = append(ran, j.Queue+"/"+j.Name)
			mu.Unlock()
			return nil, nil
		}, queue.WorkerOptions{Concurrency: 4, LeaseWait: longWait})
		// A renewal tick and a waiting Lease for each queue.
		b.awaitWaiters(4)
		start := b.clock.Now()
		// The clock stands still: only a wake-up can start these.
		second := b.addTo("second", backend.NewJob{Name: "s"})[0].ID
		waitFor(t, deadline, func() bool { return b.isStateIn("second", second, backend.StateCompleted) })
		first := b.addTo("first", backend.NewJob{Name: "f1"}, backend.NewJob{Name: "f2"}, backend.NewJob{Name: "f3"})
		for _, a := range first {
			waitFor(t, deadline, func() bool { return b.isStateIn("first", a.ID, backend.StateCompleted) })
		}
		mu.Lock()
		defer mu.Unlock()
		if len(ran) != 4 || ran[0] != "second/s" || !b.clock.Now().Equal(start) {
			t.Errorf("ran %v, the clock moved %v; want the second queue's job, then the first's three, with the clock still", ran, b.clock.Now().Sub(start))
		}
	})

	t.Run("a worker of several queues under strict priority takes the first queue's jobs first", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addTo("low", backend.NewJob{Name: "l1"}, backend.NewJob{Name: "l2"})
		b.addTo("high", backend.NewJob{Name: "h1"}, backend.NewJob{Name: "h2"})
		var mu sync.Mutex
		var ran []string
		b.startMultiWorker(b.store, []queue.WorkerQueue{{Name: "high"}, {Name: "low"}}, func(ctx context.Context, j *queue.Job) ([]byte, error) {
			mu.Lock()
			ran = append(ran, j.Name)
			mu.Unlock()
			return []byte(j.Queue), nil
		}, queue.WorkerOptions{StrictPriority: true})
		for _, id := range []string{"1", "2"} {
			for _, q := range []string{"high", "low"} {
				if j := b.waitState(q, id, backend.StateCompleted); string(j.Result) != q {
					t.Errorf("job %s/%s has result %q, want it settled in its queue", q, id, j.Result)
				}
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if want := []string{"h1", "h2", "l1", "l2"}; !slices.Equal(ran, want) {
			t.Errorf("ran %v, want %v", ran, want)
		}
	})

	t.Run("RunNext runs one ready job with the worker's middleware and returns it settled", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		ready := b.addOne(backend.NewJob{Name: "now", Attempts: 2, Backoff: backend.Backoff{Type: backend.BackoffFixed, Delay: time.Minute}})
		later := b.addOne(backend.NewJob{Name: "later", Delay: time.Hour})
		var wrapped atomic.Int32
		mw := func(next queue.Handler) queue.Handler {
			return func(ctx context.Context, j *queue.Job) ([]byte, error) {
				wrapped.Add(1)
				return next(ctx, j)
			}
		}
		w, err := queue.NewWorker(b.store, b.q, func(ctx context.Context, j *queue.Job) ([]byte, error) {
			if j.Name == "now" && j.AttemptsMade == 0 {
				return nil, errors.New("not yet")
			}
			return []byte(j.Name), nil
		}, &queue.WorkerOptions{Clock: b.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Middleware: []queue.Middleware{mw}})
		if err != nil {
			t.Fatal(err)
		}
		step := func(want string) {
			t.Helper()
			j, err := w.RunNext(b.ctx)
			got := "nothing"
			if j != nil {
				got = fmt.Sprintf("%s %s after %d attempts", j.ID, j.State, j.AttemptsMade)
			}
			if err != nil || got != want {
				t.Fatalf("RunNext at +%v: %s, %v; want %s", b.clock.Now().Sub(epoch), got, err, want)
			}
		}
		step(ready + " delayed after 1 attempts")
		step("nothing")
		b.clock.Advance(time.Minute)
		step(ready + " completed after 2 attempts")
		b.clock.Advance(time.Hour)
		step(later + " completed after 1 attempts")
		if wrapped.Load() != 3 {
			t.Errorf("middleware ran %d times, want 3", wrapped.Load())
		}
		var res []string
		for _, id := range []string{ready, later} {
			res = append(res, string(b.job(id).Result))
		}
		if want := []string{"now", "later"}; !slices.Equal(res, want) {
			t.Errorf("results %v, want %v", res, want)
		}
	})
}

// isStateIn reports whether job id of queue q is in state s now.
func (b *testBundle) isStateIn(q, id string, s backend.JobState) bool {
	j, err := b.store.Job(context.Background(), q, id)
	return err == nil && j.State == s
}
