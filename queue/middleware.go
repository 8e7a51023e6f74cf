package queue

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"
)

// Middleware wraps a Handler in behaviour that runs around each attempt:
// logging, metrics, tracing, limits, recovery. It returns the handler to
// call instead of next; that handler usually calls next once, and may look
// at or change the context, the job's result and the error on the way.
//
// A worker wraps its handler in WorkerOptions.Middleware, and a Route wraps
// its own handler in the middleware given to it, inside the worker's.
type Middleware func(next Handler) Handler

// Chain returns h wrapped in mw, the first outermost: Chain(h, a, b) runs
// a, which calls b, which calls h. Nil entries of mw are skipped.
func Chain(h Handler, mw ...Middleware) Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		if mw[i] != nil {
			h = mw[i](h)
		}
	}
	return h
}

// PanicError is the error of a handler that panicked. The worker records
// its Stack on the job along with the failure.
type PanicError struct {
	// Value is the value passed to panic.
	Value any
	// Stack is the goroutine's stack at the panic, one line an entry.
	Stack []string
}

// Error returns "panic: " and the panic value.
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Recover returns middleware that turns a panic in the handlers it wraps
// into an error, a *PanicError. A worker recovers panics this way around
// all of its middleware anyway, so that no handler can crash the process;
// put Recover inside middleware of your own (last in
// WorkerOptions.Middleware) when that middleware should see a panic as the
// error it becomes.
func Recover() Middleware { return recoverPanics }

func recoverPanics(next Handler) Handler {
	return func(ctx context.Context, job *Job) (result []byte, err error) {
		defer func() {
			if v := recover(); v != nil {
				stack := strings.Split(strings.TrimRight(string(debug.Stack()), "\n"), "\n")
				result, err = nil, &PanicError{Value: v, Stack: stack}
			}
		}()
		return next(ctx, job)
	}
}

// Timeout returns middleware that bounds each attempt of the jobs it wraps
// to d, or to the job's own Timeout when that ends first. d of zero or less
// sets no bound.
//
// In a worker the bound works as a job's Timeout does, with the same
// guarantee: once d has passed the handler's context is cancelled with
// cause ErrTimeout, the job's lease is renewed no more, and a handler that
// has not returned by the end of the worker's TimeoutGrace is abandoned and
// its attempt failed. A handler called outside a worker (as in a unit test
// that calls it directly) only has its context cancelled.
func Timeout(d time.Duration) Middleware {
	return func(next Handler) Handler {
		if d <= 0 {
			return next
		}
		return func(ctx context.Context, job *Job) ([]byte, error) {
			if job.run != nil {
				job.run.limit(d)
				return next(ctx, job)
			}
			ctx, cancel := context.WithTimeoutCause(ctx, d, ErrTimeout)
			defer cancel()
			return next(ctx, job)
		}
	}
}
