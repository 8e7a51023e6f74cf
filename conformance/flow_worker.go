package conformance

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// queueHandle returns a queue.Queue on the case's store and clock.
func (b *testBundle) queueHandle(q string) *queue.Queue {
	b.t.Helper()
	b.use(q)
	h, err := queue.New(b.store, q, &queue.Options{Clock: b.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.t.Fatalf("queue.New: %v", err)
	}
	return h
}

// stuckFlow is the flow of the motivating case: a parent whose third child
// never returns from its handler.
type stuckFlow struct {
	b   *testBundle
	rec *renewLog

	parentID, stuckID string
	doneIDs           []string

	parentRan atomic.Bool
	failed    atomic.Value // map[string]string the parent saw
	values    atomic.Value // map[string][]byte the parent saw

	mu       sync.Mutex
	attempts map[string]time.Time // stuck child's lease token → ProcessedAt
}

// The timing of the motivating case. As in the worker's timeout case, the
// timeout falls between two renewal ticks, and a renewal stamped more than
// one second of clock after the timeout is one for a handler past it.
const (
	stuckTimeout = 9 * time.Second
	stuckGrace   = 3 * time.Second
	stuckRenew   = 2 * time.Second
)

func runStuckFlow(t *testing.T, f Factory, policy backend.FailurePolicy, attempts int) *stuckFlow {
	b := setup(t, f)
	s := &stuckFlow{b: b, rec: &renewLog{Full: b.store, clock: b.clock}, attempts: make(map[string]time.Time)}
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	node, err := b.queueHandle(b.q).AddFlow(b.ctx, queue.Flow{Name: "parent", Children: []queue.Flow{
		{Name: "child"},
		{Name: "child"},
		{Name: "stuck", FailurePolicy: policy, Options: &queue.AddOptions{Timeout: stuckTimeout, Attempts: attempts}},
	}})
	if err != nil {
		t.Fatalf("AddFlow: %v", err)
	}
	s.parentID = node.Job.ID
	s.doneIDs = []string{node.Children[0].Job.ID, node.Children[1].Job.ID}
	s.stuckID = node.Children[2].Job.ID
	h := func(ctx context.Context, j *queue.Job) ([]byte, error) {
		switch j.Name {
		case "parent":
			s.parentRan.Store(true)
			s.failed.Store(j.FailedChildren())
			s.values.Store(j.ChildrenValues())
			return []byte("parent done"), nil
		case "stuck":
			s.mu.Lock()
			s.attempts[j.Lease.Token] = j.ProcessedAt
			s.mu.Unlock()
			<-release // ignores ctx
			return []byte("too late"), nil
		}
		return []byte("result " + j.ID), nil
	}
	for range 2 {
		b.startWorker(s.rec, h, queue.WorkerOptions{LeaseTTL: 30 * time.Second, RenewEvery: stuckRenew, TimeoutGrace: stuckGrace, LeaseWait: time.Second})
	}
	b.drive(100*time.Millisecond, func() bool { return b.isState(s.stuckID, backend.StateFailed) })
	return s
}

// check asserts what holds of the stuck child under any policy: it failed
// after its attempts within timeout + grace + one check each, and no lease
// of it was renewed after its timeout.
func (s *stuckFlow) check(attempts int) *backend.Job {
	t, b := s.b.t, s.b
	j := b.job(s.stuckID)
	if j.AttemptsMade != attempts {
		t.Errorf("stuck child: AttemptsMade %d, want %d", j.AttemptsMade, attempts)
	}
	if limit := j.ProcessedAt.Add(stuckTimeout + stuckGrace + stuckRenew); j.FinishedAt.After(limit) {
		t.Errorf("stuck child failed at %v, later than timeout + grace + one check after its last attempt began (%v)", j.FinishedAt, limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.attempts) != attempts {
		t.Errorf("stuck handler ran %d times, want %d", len(s.attempts), attempts)
	}
	renewed := 0
	for token, start := range s.attempts {
		renewed += len(s.rec.renewsOfLease(token))
		for _, at := range s.rec.renewsOfLease(token) {
			if !at.Before(start.Add(stuckTimeout + time.Second)) {
				t.Errorf("lease %s of the stuck child renewed at %v, after its timeout at %v", token, at, start.Add(stuckTimeout))
			}
		}
	}
	if renewed == 0 {
		t.Error("no renewal of the stuck child recorded while its handler ran within its timeout")
	}
	return j
}

func testFlowWorker(t *testing.T, f Factory) {
	t.Run("workers run a flow of five children, then its parent, which sees every result", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		node, err := b.queueHandle(b.q).AddFlow(b.ctx, queue.Flow{Name: "parent", Children: []queue.Flow{
			{Name: "child", Data: []byte("0")}, {Name: "child", Data: []byte("1")}, {Name: "child", Data: []byte("2")},
			{Name: "child", Data: []byte("3")}, {Name: "child", Data: []byte("4")},
		}})
		if err != nil {
			t.Fatalf("AddFlow: %v", err)
		}
		var (
			mu       sync.Mutex
			order    []string // "end <id>" of children, "start parent"
			values   map[string][]byte
			notEnded []string
		)
		h := func(ctx context.Context, j *queue.Job) ([]byte, error) {
			if j.Name == "parent" {
				mu.Lock()
				order = append(order, "start parent")
				values = j.ChildrenValues()
				mu.Unlock()
				// Every child must have ended in the store before the parent
				// runs, not only returned from its handler.
				for _, c := range node.Children {
					if cj, err := b.store.Job(ctx, b.q, c.Job.ID); err != nil || cj.State != backend.StateCompleted {
						mu.Lock()
						notEnded = append(notEnded, fmt.Sprintf("%s (%s, %v)", c.Job.ID, stateOf(cj), err))
						mu.Unlock()
					}
				}
				return []byte("parent"), nil
			}
			mu.Lock()
			order = append(order, "end "+j.ID)
			mu.Unlock()
			return []byte("result-" + string(j.Data)), nil
		}
		for range 3 {
			b.startWorker(b.store, h, queue.WorkerOptions{Concurrency: 2, LeaseTTL: time.Hour, LeaseWait: time.Second})
		}
		b.drive(100*time.Millisecond, func() bool { return b.isState(node.Job.ID, backend.StateCompleted) })
		mu.Lock()
		defer mu.Unlock()
		if len(order) != 6 || order[5] != "start parent" {
			t.Errorf("handler order %v; want the five children, then the parent", order)
		}
		if len(notEnded) > 0 {
			t.Errorf("the parent started while children had not completed: %v", notEnded)
		}
		if len(values) != 5 {
			t.Errorf("the parent saw %d results, want 5: %q", len(values), values)
		}
		for i, c := range node.Children {
			key := backend.JobRef{Queue: b.q, ID: c.Job.ID}.String()
			if got, want := string(values[key]), fmt.Sprint("result-", i); got != want {
				t.Errorf("the parent saw %q for child %s, want %q", got, key, want)
			}
		}
		// The event log orders the changes of a queue as they were applied
		// (timestamps come from the callers' clocks, which may be read some
		// time before a call is applied): every child's completion comes
		// before the parent's activation.
		completed := map[string]uint64{}
		var parentActive uint64
		for _, e := range b.events(b.q, 0) {
			switch {
			case e.Type == backend.EventCompleted:
				completed[e.JobID] = e.ID
			case e.Type == backend.EventActive && e.JobID == node.Job.ID && parentActive == 0:
				parentActive = e.ID
			}
		}
		if parentActive == 0 {
			t.Errorf("no active event of the parent %s", node.Job.ID)
		}
		for _, c := range node.Children {
			b.wantState(b.q, c.Job.ID, backend.StateCompleted)
			if id, ok := completed[c.Job.ID]; !ok || id > parentActive {
				t.Errorf("child %s: completed event %d (found %v), after the parent's active event %d", c.Job.ID, id, ok, parentActive)
			}
		}
	})

	t.Run("a child whose handler hangs past its timeout is failed without renewals after the timeout, and fails its parent", func(t *testing.T) {
		t.Parallel()
		s := runStuckFlow(t, f, backend.PolicyFailParent, 1)
		b := s.b
		child := s.check(1)
		p := b.waitState(b.q, s.parentID, backend.StateFailed)
		if !strings.Contains(p.FailedReason, s.stuckID) {
			t.Errorf("parent failed with reason %q, which does not name the child %s", p.FailedReason, s.stuckID)
		}
		if p.FinishedAt.Before(child.FinishedAt) {
			t.Errorf("parent failed at %v, before its child at %v", p.FinishedAt, child.FinishedAt)
		}
		if s.parentRan.Load() {
			t.Error("the parent's handler ran although a child failed it")
		}
		for _, id := range s.doneIDs {
			b.wantState(b.q, id, backend.StateCompleted)
		}
		// Time goes on; still no renewal after the timeout.
		for range 20 {
			b.clock.Advance(time.Second)
		}
		s.check(1)
	})

	t.Run("a child whose handler hangs past its timeout on every attempt is retried, then failed, and an ignoring parent runs and sees it", func(t *testing.T) {
		t.Parallel()
		s := runStuckFlow(t, f, backend.PolicyIgnore, 2)
		b := s.b
		s.check(2)
		b.drive(100*time.Millisecond, func() bool { return b.isState(s.parentID, backend.StateCompleted) })
		if !s.parentRan.Load() {
			t.Fatal("the parent completed but its handler never ran")
		}
		key := backend.JobRef{Queue: b.q, ID: s.stuckID}.String()
		failed, _ := s.failed.Load().(map[string]string)
		if reason, ok := failed[key]; !ok || reason == "" || len(failed) != 1 {
			t.Errorf("the parent saw failed children %q; want %s with a reason", failed, key)
		}
		values, _ := s.values.Load().(map[string][]byte)
		if len(values) != 2 {
			t.Errorf("the parent saw results %q; want the 2 completed children", values)
		}
		for range 20 {
			b.clock.Advance(time.Second)
		}
		s.check(2)
	})
}

// waitState drives the clock until job id of queue q is in state s, and
// returns it.
func (b *testBundle) waitState(q, id string, s backend.JobState) *backend.Job {
	b.t.Helper()
	b.drive(100*time.Millisecond, func() bool {
		j, err := b.store.Job(context.Background(), q, id)
		return err == nil && j.State == s
	})
	return b.jobIn(q, id)
}
