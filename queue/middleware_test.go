package queue_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// trace is middleware that records its name on the way in and out.
func trace(name string, mu *sync.Mutex, log *[]string) queue.Middleware {
	return func(next queue.Handler) queue.Handler {
		return func(ctx context.Context, j *queue.Job) ([]byte, error) {
			mu.Lock()
			*log = append(*log, name+">")
			mu.Unlock()
			res, err := next(ctx, j)
			mu.Lock()
			*log = append(*log, "<"+name)
			mu.Unlock()
			return res, err
		}
	}
}

// observe is middleware that sends the error of every attempt, nil or not,
// on seen.
func observe(seen chan<- error) queue.Middleware {
	return func(next queue.Handler) queue.Handler {
		return func(ctx context.Context, j *queue.Job) ([]byte, error) {
			res, err := next(ctx, j)
			seen <- err
			return res, err
		}
	}
}

// firstError receives n errors from seen and returns the first that is not
// nil.
func firstError(t *testing.T, seen <-chan error, n int) error {
	t.Helper()
	var first error
	for range n {
		if err := recv(t, "an attempt's error", seen); first == nil {
			first = err
		}
	}
	return first
}

func TestChainRunsTheFirstMiddlewareOutermost(t *testing.T) {
	var mu sync.Mutex
	var log []string
	h := queue.Chain(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		log = append(log, "handler")
		return []byte("ok"), nil
	}, trace("a", &mu, &log), nil, trace("b", &mu, &log))
	if _, err := h(context.Background(), &queue.Job{}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a>", "b>", "handler", "<b", "<a"}; !slices.Equal(log, want) {
		t.Errorf("order %v, want %v", log, want)
	}
}

func TestWorkerMiddlewareWrapsEveryJob(t *testing.T) {
	e := newWenv(t)
	id := e.add("job", nil).ID
	var mu sync.Mutex
	var log []string
	e.start(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		mu.Lock()
		log = append(log, "handler")
		mu.Unlock()
		return []byte("ok"), nil
	}, &queue.WorkerOptions{Middleware: []queue.Middleware{trace("outer", &mu, &log), trace("inner", &mu, &log)}})
	e.waitState(id, queue.StateCompleted)
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"outer>", "inner>", "handler", "<inner", "<outer"}; !slices.Equal(log, want) {
		t.Errorf("order %v, want %v", log, want)
	}
}

func TestWorkerRecoversAPanicInMiddleware(t *testing.T) {
	e := newWenv(t)
	id := e.add("job", nil).ID
	crash := func(next queue.Handler) queue.Handler {
		return func(ctx context.Context, j *queue.Job) ([]byte, error) { panic("middleware bug") }
	}
	e.start(func(ctx context.Context, j *queue.Job) ([]byte, error) { return nil, nil },
		&queue.WorkerOptions{Middleware: []queue.Middleware{crash}})
	j := e.waitState(id, queue.StateFailed)
	if j.FailedReason != "panic: middleware bug" || len(j.Stacktrace) == 0 {
		t.Errorf("reason %q with %d stack lines; want the panic and its stack", j.FailedReason, len(j.Stacktrace))
	}
}

func TestRecoverLetsOuterMiddlewareSeeAPanicAsAnError(t *testing.T) {
	e := newWenv(t)
	id := e.add("job", nil).ID
	seen := make(chan error, 1)
	e.start(func(ctx context.Context, j *queue.Job) ([]byte, error) { panic(errBoom) },
		&queue.WorkerOptions{Middleware: []queue.Middleware{observe(seen), queue.Recover()}})
	err := recv(t, "the error the middleware saw", seen)
	var p *queue.PanicError
	if !errors.As(err, &p) || !errors.Is(err, errBoom) || !strings.Contains(strings.Join(p.Stack, "\n"), "middleware_test.go") {
		t.Errorf("middleware saw %v; want a *PanicError wrapping the panic value, with the handler in its stack", err)
	}
	j := e.waitState(id, queue.StateFailed)
	if j.FailedReason != "panic: boom" || !slices.Equal(j.Stacktrace, p.Stack) {
		t.Errorf("reason %q, stack of %d lines; want the panic with the stack Recover took", j.FailedReason, len(j.Stacktrace))
	}
}

// A Timeout middleware bounds an attempt exactly as the job's own Timeout
// does: the lease is not renewed past it, and a handler that ignores it is
// abandoned after the grace period.
func TestTimeoutMiddlewareAbandonsAHandlerThatIgnoresIt(t *testing.T) {
	e := newWenv(t)
	id := e.add("stuck", &queue.AddOptions{Attempts: 2}).ID
	started := make(chan struct{})
	block := make(chan struct{})
	returned := make(chan struct{})
	t.Cleanup(func() { close(block); <-returned })
	cause := make(chan error, 1)
	e.start(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		if j.AttemptsMade > 0 {
			return []byte("second"), nil
		}
		defer close(returned)
		close(started)
		<-ctx.Done()
		cause <- context.Cause(ctx)
		<-block // ignores the cancellation
		return []byte("late"), nil
	}, &queue.WorkerOptions{
		LeaseTTL: 30 * time.Second, RenewEvery: 10 * time.Second, TimeoutGrace: 5 * time.Second,
		Middleware: []queue.Middleware{queue.Timeout(25 * time.Second)},
	})
	recv(t, "handler start", started)
	t0 := e.clock.Now()
	timeoutAt := t0.Add(25 * time.Second)
	tok := e.rec.tokensOf(id)[0]

	e.clock.Advance(10 * time.Second)
	waitFor(t, "first renewal", func() bool { return len(e.rec.renewalsOf(tok)) >= 1 })
	e.clock.Advance(10 * time.Second)
	waitFor(t, "second renewal", func() bool { return len(e.rec.renewalsOf(tok)) >= 2 })
	e.clock.Advance(5 * time.Second) // the timeout
	if err := recv(t, "context cancelled", cause); !errors.Is(err, queue.ErrTimeout) {
		t.Errorf("context cause %v, want ErrTimeout", err)
	}
	e.advanceUntil("second attempt completed", time.Second, 2*time.Minute, func() bool {
		return e.job(id).State == queue.StateCompleted
	})
	for _, at := range e.rec.renewalsOf(tok) {
		if !at.Before(timeoutAt) {
			t.Errorf("lease renewed at +%s, after the timeout at +25s", at.Sub(t0))
		}
	}
	got := e.rec.settledWith(tok)
	if len(got) != 1 || got[0].Outcome != backend.OutcomeRetry || !strings.Contains(got[0].Reason, "timed out after 25s") || !strings.Contains(got[0].Reason, "abandoned") {
		t.Errorf("first attempt settled as %+v; want one retry that says it timed out after 25s and was abandoned", got)
	}
}

func TestTimeoutMiddlewareKeepsAShorterJobTimeout(t *testing.T) {
	e := newWenv(t)
	id := e.add("slow", &queue.AddOptions{Timeout: time.Minute}).ID
	started := make(chan struct{})
	e.start(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}, &queue.WorkerOptions{LeaseTTL: 10 * time.Minute, Middleware: []queue.Middleware{queue.Timeout(time.Hour)}})
	recv(t, "handler start", started)
	e.clock.Advance(time.Minute)
	j := e.waitState(id, queue.StateFailed)
	if !strings.Contains(j.FailedReason, "timed out after 1m0s") {
		t.Errorf("reason %q; want the job's own timeout of a minute", j.FailedReason)
	}
}

func TestTimeoutMiddlewareOutsideAWorkerCancelsTheContext(t *testing.T) {
	h := queue.Timeout(time.Millisecond)(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		<-ctx.Done()
		return nil, context.Cause(ctx)
	})
	if _, err := h(context.Background(), &queue.Job{}); !errors.Is(err, queue.ErrTimeout) {
		t.Errorf("handler returned %v, want ErrTimeout", err)
	}
	if got := queue.Timeout(0)(nil); got != nil {
		t.Error("Timeout(0) changed the handler")
	}
}
