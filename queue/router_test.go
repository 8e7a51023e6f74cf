package queue_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/droverhq/drover/queue"
)

func noop(ctx context.Context, j *queue.Job) ([]byte, error) { return nil, nil }

func TestNewRouterRejectsBadRoutes(t *testing.T) {
	for _, c := range []struct {
		name   string
		routes []queue.Route
		want   string
	}{
		{"no name", []queue.Route{{Handler: noop}}, "empty"},
		{"a name too long", []queue.Route{{Name: strings.Repeat("x", 1000), Handler: noop}}, "longer"},
		{"no handler", []queue.Route{{Name: "a"}}, "nil"},
		{"a typed route without a function", []queue.Route{queue.Handle[welcome](nil)}, "nil"},
		{"a name twice", []queue.Route{{Name: "a", Handler: noop}, {Name: "a", Handler: noop}}, "route 1"},
		{"a kind twice", []queue.Route{queue.Handle(func(context.Context, *queue.JobOf[welcome]) error { return nil }), {Name: "welcome", Handler: noop}}, "serves the name already"},
	} {
		r, err := queue.NewRouter(c.routes...)
		if r != nil || !errors.Is(err, queue.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: NewRouter = %v, %v; want ErrInvalid saying %q", c.name, r, err, c.want)
		}
	}
	r, err := queue.NewRouter(queue.Route{Name: "b", Handler: noop}, queue.Handle(func(context.Context, *queue.JobOf[welcome]) error { return nil }), queue.Route{Name: "a", Handler: noop})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Names(), []string{"a", "b", "welcome"}; !slices.Equal(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
}

func TestRouterFailsAJobWithAnUnknownNameAndRetriesIt(t *testing.T) {
	e := newWenv(t)
	unknown := e.add("resize", &queue.AddOptions{Attempts: 2})
	known := e.add("known", nil)
	router, err := queue.NewRouter(queue.Route{Name: "known", Handler: noop})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan error, 3)
	e.start(router.Handler(), &queue.WorkerOptions{Middleware: []queue.Middleware{observe(seen)}})
	e.waitState(known.ID, queue.StateCompleted)
	j := e.waitState(unknown.ID, queue.StateFailed)
	if j.AttemptsMade != 2 || j.FailedReason != `drover: no handler for job name "resize"` {
		t.Errorf("attempts %d reason %q; want two attempts, failed for want of a handler", j.AttemptsMade, j.FailedReason)
	}
	err = firstError(t, seen, 3)
	var nh *queue.NoHandlerError
	if !errors.Is(err, queue.ErrNoHandler) || !errors.As(err, &nh) || nh.Name != "resize" {
		t.Errorf("middleware saw %v; want a *NoHandlerError naming resize", err)
	}
}

func TestRouteMiddlewareWrapsOnlyItsRouteInsideTheWorkers(t *testing.T) {
	e := newWenv(t)
	a := e.add("a", nil)
	b := e.add("b", nil)
	var mu sync.Mutex
	var log []string
	handler := func(name string) queue.Handler {
		return func(ctx context.Context, j *queue.Job) ([]byte, error) {
			mu.Lock()
			log = append(log, name)
			mu.Unlock()
			return nil, nil
		}
	}
	router, err := queue.NewRouter(
		queue.Route{Name: "a", Handler: queue.Chain(handler("handler a"), trace("route a", &mu, &log))},
		queue.Route{Name: "b", Handler: handler("handler b")},
	)
	if err != nil {
		t.Fatal(err)
	}
	e.start(router.Handler(), &queue.WorkerOptions{Middleware: []queue.Middleware{trace("worker", &mu, &log)}})
	e.waitState(a.ID, queue.StateCompleted)
	e.waitState(b.ID, queue.StateCompleted)
	mu.Lock()
	defer mu.Unlock()
	want := []string{"worker>", "route a>", "handler a", "<route a", "<worker", "worker>", "handler b", "<worker"}
	if !slices.Equal(log, want) {
		t.Errorf("order %v, want %v", log, want)
	}
}

func TestTypedRouteMiddlewareSeesTheDecodeError(t *testing.T) {
	e := newWenv(t)
	bad, err := e.q.Add(e.ctx, "welcome", []byte(`[]`), nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan error, 1)
	router, err := queue.NewRouter(queue.Handle(func(context.Context, *queue.JobOf[welcome]) error { return nil }, observe(seen)))
	if err != nil {
		t.Fatal(err)
	}
	e.start(router.Handler(), nil)
	if err := recv(t, "the error", seen); !errors.Is(err, queue.ErrDecode) {
		t.Errorf("route middleware saw %v, want ErrDecode", err)
	}
	e.waitState(bad.ID, queue.StateFailed)
}
