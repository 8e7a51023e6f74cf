package queue_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/queue"
)

func (e *wenv) runNext(w *queue.Worker) *queue.Job {
	e.t.Helper()
	j, err := w.RunNext(e.ctx)
	if err != nil {
		e.t.Fatalf("RunNext: %v", err)
	}
	return j
}

func TestRunNextRunsOneJobWithTheMiddlewareAndSettlesIt(t *testing.T) {
	e := newWenv(t)
	var mu sync.Mutex
	var log []string
	w := e.worker(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		mu.Lock()
		log = append(log, "handler "+j.Name)
		mu.Unlock()
		return []byte("done " + j.Name), nil
	}, &queue.WorkerOptions{Middleware: []queue.Middleware{trace("mw", &mu, &log)}})
	if j := e.runNext(w); j != nil {
		t.Fatalf("RunNext on an empty queue ran %+v", j)
	}
	e.add("first", nil)
	e.add("second", nil)
	j := e.runNext(w)
	if j == nil || j.Name != "first" || j.State != queue.StateCompleted || string(j.Result) != "done first" {
		t.Fatalf("RunNext = %+v; want the first job, completed with its result", j)
	}
	if c, _ := e.q.Counts(e.ctx); c.Waiting != 1 || c.Completed != 1 {
		t.Errorf("counts %+v; want one job run and one waiting", c)
	}
	if want := "mw> handler first <mw"; strings.Join(log, " ") != want {
		t.Errorf("ran %q, want %q", strings.Join(log, " "), want)
	}
	if j := e.runNext(w); j == nil || j.Name != "second" {
		t.Errorf("second RunNext = %+v, want the second job", j)
	}
}

func TestRunNextLeavesARetryToItsTime(t *testing.T) {
	e := newWenv(t)
	id := e.add("flaky", &queue.AddOptions{Attempts: 2, Backoff: queue.FixedBackoff(time.Minute)}).ID
	w := e.worker(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		if j.AttemptsMade == 0 {
			return nil, errBoom
		}
		return []byte("ok"), nil
	}, nil)
	if j := e.runNext(w); j.State != queue.StateDelayed || j.AttemptsMade != 1 || !j.RunAt.Equal(e.clock.Now().Add(time.Minute)) {
		t.Fatalf("after the first attempt: %s, %d attempts, due %v; want delayed a minute", j.State, j.AttemptsMade, j.RunAt)
	}
	if j := e.runNext(w); j != nil {
		t.Fatalf("RunNext ran %s before its retry was due", j.ID)
	}
	e.clock.Advance(time.Minute)
	if j := e.runNext(w); j == nil || j.ID != id || j.State != queue.StateCompleted {
		t.Fatalf("after the backoff: %+v; want the job completed", j)
	}
}

func TestRunNextAndStartExcludeEachOther(t *testing.T) {
	e := newWenv(t)
	e.add("a", nil)
	entered := make(chan struct{})
	proceed := make(chan struct{})
	w := e.worker(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		close(entered)
		<-proceed
		return nil, nil
	}, nil)
	done := make(chan error, 1)
	go func() { _, err := w.RunNext(e.ctx); done <- err }()
	recv(t, "handler start", entered)
	if err := w.Start(e.ctx); !errors.Is(err, queue.ErrAlreadyStarted) {
		t.Errorf("Start during RunNext = %v, want ErrAlreadyStarted", err)
	}
	close(proceed)
	if err := recv(t, "RunNext", done); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(e.ctx); err != nil {
		t.Fatalf("Start after RunNext: %v", err)
	}
	t.Cleanup(func() { e.stop(w) })
	if _, err := w.RunNext(e.ctx); !errors.Is(err, queue.ErrAlreadyStarted) {
		t.Errorf("RunNext on a started worker = %v, want ErrAlreadyStarted", err)
	}
}

func TestRunNextReleasesTheJobWhenItsContextEnds(t *testing.T) {
	e := newWenv(t)
	id := e.add("long", nil).ID
	entered := make(chan struct{})
	cause := make(chan error, 1)
	w := e.worker(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		close(entered)
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return nil, ctx.Err()
	}, nil)
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	var j *queue.Job
	go func() {
		var err error
		j, err = w.RunNext(ctx)
		done <- err
	}()
	recv(t, "handler start", entered)
	cancel()
	if err := recv(t, "RunNext", done); !errors.Is(err, context.Canceled) {
		t.Errorf("RunNext = %v, want the context's error", err)
	}
	if err := recv(t, "handler cancelled", cause); !errors.Is(err, queue.ErrWorkerStopped) {
		t.Errorf("handler's context cause %v, want ErrWorkerStopped", err)
	}
	if j == nil || j.ID != id || j.State != queue.StateWaiting || j.AttemptsMade != 0 {
		t.Errorf("job %+v; want it released: waiting, no attempt counted", j)
	}
}

func TestRunNextAbandonsAHandlerThatIgnoresItsTimeout(t *testing.T) {
	e := newWenv(t)
	e.add("stuck", &queue.AddOptions{Timeout: 10 * time.Second})
	block := make(chan struct{})
	returned := make(chan struct{})
	t.Cleanup(func() { close(block); <-returned })
	w := e.worker(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		defer close(returned)
		<-block
		return nil, nil
	}, &queue.WorkerOptions{TimeoutGrace: 5 * time.Second})
	done := make(chan *queue.Job, 1)
	go func() { done <- e.runNext(w) }()
	start := e.clock.Now()
	// At 10s the timeout and the first lease renewal are due; at 15s the
	// end of the grace period.
	for _, step := range []struct {
		at     time.Duration
		timers int
	}{{10 * time.Second, 2}, {15 * time.Second, 1}} {
		if err := e.clock.AwaitTimer(e.ctx, start.Add(step.at), step.timers); err != nil {
			t.Fatal(err)
		}
		e.clock.Set(start.Add(step.at))
	}
	j := recv(t, "RunNext", done)
	if j.State != queue.StateFailed || !strings.Contains(j.FailedReason, "abandoned") {
		t.Errorf("job %s: %q; want failed, abandoned after its timeout", j.State, j.FailedReason)
	}
}

func TestRunNextReturnsAJobItsRetentionRemoved(t *testing.T) {
	e := newWenv(t)
	id := e.add("fleeting", &queue.AddOptions{KeepCompleted: queue.Retention{Remove: true}}).ID
	w := e.worker(func(ctx context.Context, j *queue.Job) ([]byte, error) { return []byte("done"), nil }, nil)
	j := e.runNext(w)
	if j == nil || j.ID != id || j.State != queue.StateCompleted || string(j.Result) != "done" || j.AttemptsMade != 1 {
		t.Fatalf("RunNext = %+v; want the job as its attempt left it", j)
	}
	if _, err := e.q.Job(e.ctx, id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("the store still has the job: %v", err)
	}
}
