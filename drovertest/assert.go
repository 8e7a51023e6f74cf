package drovertest

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// Added returns the jobs of kind T that q holds, in any state, in the
// order they were added, with their arguments decoded. A job of the kind
// whose data does not decode fails the test.
func Added[T queue.Args](t TB, q *queue.Queue) []*queue.JobOf[T] {
	t.Helper()
	var kind T
	var out []*queue.JobOf[T]
	for _, j := range allJobs(t, q) {
		if j.Name != kind.Kind() {
			continue
		}
		args, err := queue.ArgsOf[T](j)
		if err != nil {
			t.Fatalf("drovertest: %v", err)
		}
		out = append(out, &queue.JobOf[T]{Job: j, Args: args})
	}
	return out
}

// RequireAdded fails the test unless q holds a job of kind T whose
// arguments equal want, as reflect.DeepEqual has it, and returns the first
// such job. The failure lists the arguments of the jobs of the kind that q
// holds.
func RequireAdded[T queue.Args](t TB, q *queue.Queue, want T) *queue.JobOf[T] {
	t.Helper()
	jobs := Added[T](t, q)
	for _, j := range jobs {
		if reflect.DeepEqual(j.Args, want) {
			return j
		}
	}
	var have strings.Builder
	for _, j := range jobs {
		fmt.Fprintf(&have, "\n\tjob %s (%s): %+v", j.ID, j.State, j.Args)
	}
	if len(jobs) == 0 {
		have.WriteString(" none")
	}
	t.Fatalf("drovertest: queue %s holds no %s job with arguments %+v; it holds%s", q.Name(), want.Kind(), want, have.String())
	return nil
}

// RequireNotAdded fails the test if q holds a job of kind T.
func RequireNotAdded[T queue.Args](t TB, q *queue.Queue) {
	t.Helper()
	if jobs := Added[T](t, q); len(jobs) > 0 {
		var kind T
		t.Fatalf("drovertest: queue %s holds %d %s jobs, the first %s with arguments %+v; want none",
			q.Name(), len(jobs), kind.Kind(), jobs[0].ID, jobs[0].Args)
	}
}

// allJobs returns every job q holds, in the order they were added.
func allJobs(t TB, q *queue.Queue) []*queue.Job {
	t.Helper()
	const page = 1000
	var all []*queue.Job
	for _, state := range backend.States {
		for off := 0; ; off += page {
			jobs, err := q.Jobs(t.Context(), state, queue.Page{Offset: off, Limit: page})
			if err != nil {
				t.Fatalf("drovertest: list the jobs of %s: %v", q.Name(), err)
			}
			all = append(all, jobs...)
			if len(jobs) < page {
				break
			}
		}
	}
	slices.SortFunc(all, func(a, b *queue.Job) int { return cmp.Compare(a.Seq, b.Seq) })
	return all
}

// WaitEvent waits until q's event log holds an event that match accepts,
// reading from the oldest event the log keeps, and returns it. It fails
// the test if no such event comes within the real time given. Use it in
// tests of code that runs workers of its own.
func WaitEvent(t TB, q *queue.Queue, within time.Duration, match func(queue.Event) bool) queue.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	sub, err := q.Subscribe(ctx, queue.FromStart(), nil)
	if err != nil {
		t.Fatalf("drovertest: subscribe to the events of %s: %v", q.Name(), err)
	}
	defer sub.Close()
	for {
		e, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("drovertest: no matching event in %s within %v: %v", q.Name(), within, err)
		}
		if match(e) {
			return e
		}
	}
}
