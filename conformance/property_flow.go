package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/fakeclock"
	"github.com/droverhq/drover/queue"
)

// checkN checks prop with rapid, letting only the first n runs do their
// work: rapid makes -rapid.checks runs (100 by default), and each run of
// these properties costs a store and a set of workers. Once a run fails,
// every later run does its work too, so that rapid can shrink the failure.
func checkN(t *testing.T, n int, prop func(*rapid.T)) {
	t.Helper()
	passed, failing := 0, false
	rapid.Check(t, func(rt *rapid.T) {
		if passed >= n && !failing {
			return
		}
		done := false
		defer func() {
			if done && !rt.Failed() {
				passed++
			} else {
				failing = true
			}
		}()
		prop(rt)
		done = true
	})
}

// workerSet is a group of workers on one queue, started outside a
// testBundle (in property runs).
type workerSet struct {
	clock   *fakeclock.Clock
	workers []*queue.Worker
}

// startWorkers starts one worker per entry of concurrency on queue q of
// store, each running h with the given concurrency. The fake clock drives
// their timers.
func startWorkers(t rapid.TB, store backend.Backend, clock *fakeclock.Clock, q string, concurrency []int, h queue.Handler, o queue.WorkerOptions) *workerSet {
	t.Helper()
	s := &workerSet{clock: clock}
	o.Clock = clock
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	for i, c := range concurrency {
		wo := o
		wo.Concurrency = c
		wo.Name = fmt.Sprint("worker-", i)
		w, err := queue.NewWorker(store, q, h, &wo)
		if err != nil {
			t.Fatalf("NewWorker: %v", err)
		}
		if err := w.Start(context.Background()); err != nil {
			t.Fatalf("Start: %v", err)
		}
		s.workers = append(s.workers, w)
	}
	return s
}

// stop stops every worker, moving the clock along so that shutdown
// timeouts can pass; it reports whether they all stopped in time.
func (s *workerSet) stop() bool {
	for _, w := range s.workers {
		go func() { _ = w.Stop(context.Background()) }()
	}
	return poll(deadline, func() bool {
		for _, w := range s.workers {
			select {
			case <-w.Stopped():
			default:
				s.clock.Advance(100 * time.Millisecond)
				return false
			}
		}
		return true
	})
}

// driveUntil moves the clock by step until cond holds, and reports whether
// it did within the real-time deadline.
func driveUntil(clock *fakeclock.Clock, step time.Duration, cond func() bool) bool {
	return poll(deadline, func() bool {
		if cond() {
			return true
		}
		clock.Advance(step)
		return false
	})
}

// Behaviours of a job in the flow property, kept in its data.
const (
	behaveSucceed = "succeed"
	behaveFail    = "fail"
	// behaveFlaky fails the first attempt and succeeds on the second.
	behaveFlaky = "flaky"
)

// flowNode is one job of a random flow tree and what the test knows of it.
type flowNode struct {
	behave   string
	policy   backend.FailurePolicy
	children []*flowNode
	id       string
}

// expect returns the final state the node must reach. A child that ends
// failed fails its parent under PolicyFailParent; under the other policies
// the parent runs, and ends by its own behaviour.
func (n *flowNode) expect() backend.JobState {
	for _, c := range n.children {
		if c.policy == backend.PolicyFailParent && c.expect() == backend.StateFailed {
			return backend.StateFailed
		}
	}
	if n.behave == behaveFail {
		return backend.StateFailed
	}
	return backend.StateCompleted
}

func (n *flowNode) newJob() backend.NewJob {
	j := backend.NewJob{Name: "node", Data: []byte(n.behave), FailurePolicy: n.policy, Attempts: 1}
	if n.behave == behaveFlaky {
		j.Attempts = 2
	}
	for _, c := range n.children {
		j.Children = append(j.Children, c.newJob())
	}
	return j
}

// setIDs copies the IDs the store gave to the tree.
func (n *flowNode) setIDs(t *rapid.T, a backend.Added) {
	n.id = a.ID
	if len(a.Children) != len(n.children) {
		t.Fatalf("job %s: Add reported %d children, want %d", a.ID, len(a.Children), len(n.children))
	}
	for i, c := range n.children {
		c.setIDs(t, a.Children[i])
	}
}

func (n *flowNode) walk(f func(*flowNode)) {
	f(n)
	for _, c := range n.children {
		c.walk(f)
	}
}

// drawFlow draws a tree of at most levels levels and width children per
// parent.
func drawFlow(t *rapid.T, levels int, label string) *flowNode {
	n := &flowNode{
		behave: rapid.SampledFrom([]string{behaveSucceed, behaveSucceed, behaveFail, behaveFlaky}).Draw(t, label+" behaviour"),
		policy: rapid.SampledFrom([]backend.FailurePolicy{
			backend.PolicyFailParent, backend.PolicyIgnore, backend.PolicyRemove, backend.PolicyContinue,
		}).Draw(t, label+" policy"),
	}
	if levels > 1 {
		width := rapid.IntRange(0, 5).Draw(t, label+" width")
		for i := range width {
			n.children = append(n.children, drawFlow(t, levels-1, fmt.Sprintf("%s.%d", label, i)))
		}
	}
	// A failed child under PolicyContinue lets the parent run at once,
	// perhaps before a sibling fails; whether that sibling's failure could
	// still fail the parent would depend on the order. Such trees have no
	// single expected outcome, so a sibling that fails next to a
	// continuing one ignores its failure.
	continues := false
	for _, c := range n.children {
		if c.policy == backend.PolicyContinue && c.expect() == backend.StateFailed {
			continues = true
		}
	}
	if continues {
		for _, c := range n.children {
			if c.policy == backend.PolicyFailParent && c.expect() == backend.StateFailed {
				c.policy = backend.PolicyIgnore
			}
		}
	}
	return n
}

// flowHandler runs a job by the behaviour in its data.
func flowHandler(ctx context.Context, j *queue.Job) ([]byte, error) {
	switch string(j.Data) {
	case behaveFail:
		return nil, errors.New("fails by design")
	case behaveFlaky:
		if j.AttemptsMade == 0 {
			return nil, errors.New("fails on the first attempt")
		}
	}
	return []byte("done " + j.ID), nil
}

func testPropertyFlow(t *testing.T, f Factory, cfg Config) {
	t.Run("random flows run by several workers end as their children's outcomes and policies say", func(t *testing.T) {
		t.Parallel()
		heavy(t)
		run := 0
		checkN(t, cfg.size(10), func(rt *rapid.T) {
			store, clock := propertyStore(t, rt, f, &run)
			var roots []*flowNode
			jobs := make([]backend.NewJob, rapid.IntRange(1, 3).Draw(rt, "trees"))
			for i := range jobs {
				roots = append(roots, drawFlow(rt, 3, fmt.Sprint("tree-", i)))
				jobs[i] = roots[i].newJob()
			}
			concurrency := rapid.SliceOfN(rapid.IntRange(1, 3), 1, 3).Draw(rt, "workers")
			res, err := store.Add(rt.Context(), propQueue, &backend.AddRequest{Jobs: jobs})
			if err != nil || len(res.Jobs) != len(jobs) {
				rt.Fatalf("Add: %v (%d jobs reported)", err, len(res.Jobs))
			}
			var all []*flowNode
			for i, r := range roots {
				r.setIDs(rt, res.Jobs[i])
				r.walk(func(n *flowNode) { all = append(all, n) })
			}
			ws := startWorkers(rt, store, clock, propQueue, concurrency, flowHandler, queue.WorkerOptions{
				LeaseTTL: time.Hour, LeaseWait: time.Second, SettleTimeout: time.Hour,
			})
			final := func() bool {
				for _, n := range all {
					j, err := store.Job(context.Background(), propQueue, n.id)
					if err != nil || !j.State.Final() {
						return false
					}
				}
				return true
			}
			ended := driveUntil(clock, 100*time.Millisecond, final)
			if !ws.stop() {
				rt.Fatalf("workers did not stop")
			}
			if !ended {
				var left []string
				for _, n := range all {
					if j, err := store.Job(context.Background(), propQueue, n.id); err != nil || !j.State.Final() {
						left = append(left, fmt.Sprintf("%s (%v %v)", n.id, stateOf(j), err))
					}
				}
				rt.Fatalf("jobs not final after %v: %v", deadline, left)
			}
			for _, n := range all {
				j, err := store.Job(rt.Context(), propQueue, n.id)
				if err != nil {
					rt.Fatalf("Job(%s): %v", n.id, err)
				}
				if want := n.expect(); j.State != want {
					rt.Fatalf("job %s (%s, %d children) is %s, want %s; reason %q, outcomes %+v",
						n.id, n.behave, len(n.children), j.State, want, j.FailedReason, j.ChildOutcomes)
				}
			}
			c, err := store.Counts(rt.Context(), propQueue)
			if err != nil {
				rt.Fatalf("Counts: %v", err)
			}
			if c.Active+c.WaitingChildren+c.Waiting+c.Delayed != 0 || c.Completed+c.Failed != len(all) {
				rt.Fatalf("Counts = %+v with %d jobs, want every job completed or failed", c, len(all))
			}
			for _, err := range invariantErrors(rt.Context(), store, propQueue) {
				rt.Fatalf("invariant: %v", err)
			}
		})
	})
}

func stateOf(j *backend.Job) backend.JobState {
	if j == nil {
		return ""
	}
	return j.State
}
