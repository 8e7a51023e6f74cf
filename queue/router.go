package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/droverhq/drover/backend"
)

// Route is the handler of the jobs of one name. Handle and HandleResult
// make the route of a typed job kind; a Route literal serves a name with an
// untyped Handler.
type Route struct {
	// Name is the job name the route serves.
	Name string
	// Handler runs the jobs of Name.
	Handler Handler
}

// Router serves the jobs of many names with one Handler, for one worker:
// each job goes to the route of its name. A Router is not changed after
// NewRouter, and is safe for concurrent use.
//
// A job whose name no route serves fails its attempt with a
// *NoHandlerError. The attempt counts like any failure and is retried
// while attempts remain, so that the jobs of a kind that newer producers
// add outlive a rolling upgrade of the workers.
type Router struct {
	routes map[string]Handler
}

// ErrNoHandler: a Router got a job whose name none of its routes serves.
// The failure is a *NoHandlerError.
var ErrNoHandler = errors.New("drover: no handler for the job's name")

// NoHandlerError reports a job whose name no route serves. It matches
// ErrNoHandler.
type NoHandlerError struct {
	// Name is the job's name.
	Name string
}

// Error names the job name no route serves.
func (e *NoHandlerError) Error() string {
	return fmt.Sprintf("drover: no handler for job name %q", e.Name)
}

// Is reports whether target is ErrNoHandler.
func (e *NoHandlerError) Is(target error) bool { return target == ErrNoHandler }

// NewRouter returns a router of routes. A route without a name or a
// handler, or a name served twice, is an error matching ErrInvalid.
func NewRouter(routes ...Route) (*Router, error) {
	r := &Router{routes: make(map[string]Handler, len(routes))}
	for i, rt := range routes {
		bad := func(reason string) error {
			return backend.Invalid("Route", fmt.Sprintf("route %d (%q): %s", i, rt.Name, reason))
		}
		// The name must be one a job can have.
		if err := backend.ValidateJobFields(&backend.NewJob{Name: rt.Name}, 0); err != nil {
			return nil, bad(err.Reason)
		}
		if rt.Handler == nil {
			return nil, bad("the handler is nil")
		}
		if _, dup := r.routes[rt.Name]; dup {
			return nil, bad("another route serves the name already")
		}
		r.routes[rt.Name] = rt.Handler
	}
	return r, nil
}

// Handler returns the handler that runs each job with the route of its
// name, for NewWorker.
func (r *Router) Handler() Handler { return r.serve }

func (r *Router) serve(ctx context.Context, job *Job) ([]byte, error) {
	h, ok := r.routes[job.Name]
	if !ok {
		return nil, &NoHandlerError{Name: job.Name}
	}
	return h(ctx, job)
}

// Names returns the job names the router serves, sorted.
func (r *Router) Names() []string {
	names := make([]string, 0, len(r.routes))
	for name := range r.routes {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
