package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// The flow of the tests below: a parent with three children, of which the
// second is the one whose worker process is killed.
const (
	flowQueue  = "flow"
	flowParent = "flow-parent"
	stuckChild = "child-2"
)

var flowChildren = []string{"child-1", stuckChild, "child-3"}

func addFlow(t *testing.T, store backend.Backend) {
	t.Helper()
	q, err := queue.New(store, flowQueue, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := queue.Flow{Name: "parent", Options: &queue.AddOptions{ID: flowParent}}
	for _, id := range flowChildren {
		name := "part"
		if id == stuckChild {
			name = "stuck"
		}
		f.Children = append(f.Children, queue.Flow{Name: name, Options: &queue.AddOptions{ID: id}})
	}
	if _, err := q.AddFlow(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}

// awaitStart reads lines until one reports the start of job id, and
// returns the process that printed it and the fields after the job ID.
func awaitStart(t *testing.T, lines <-chan line, id string) (int, []string) {
	t.Helper()
	for {
		l := next(t, lines, "the start of job "+id)
		f := strings.Fields(l.Text)
		if len(f) >= 2 && f[0] == "start" && f[1] == id {
			return l.From, f[2:]
		}
	}
}

// checkFlowDone checks that the stuck child was recovered as stalled and
// completed by worker by, that every child completed, and that the parent
// then ran once and completed with every child's result.
func checkFlowDone(t *testing.T, store backend.Backend, by int) {
	t.Helper()
	checkRecovered(t, store, flowQueue, stuckChild, by)
	evs := allEvents(t, store, flowQueue)
	var lastChildEnd uint64
	for _, id := range flowChildren {
		j := jobOf(t, store, flowQueue, id)
		if j.State != backend.StateCompleted || j.AttemptsMade != 1 {
			t.Errorf("child %s: state %s, attempts made %d; want completed, 1", id, j.State, j.AttemptsMade)
		}
		for _, e := range evs {
			if e.JobID == id && e.Type == backend.EventCompleted {
				lastChildEnd = max(lastChildEnd, e.ID)
			}
		}
	}
	p := jobOf(t, store, flowQueue, flowParent)
	if p.State != backend.StateCompleted || p.AttemptsMade != 1 || p.StalledCount != 0 {
		t.Errorf("parent: state %s, attempts made %d, stalled %d; want completed, 1, 0", p.State, p.AttemptsMade, p.StalledCount)
	}
	for _, id := range flowChildren {
		o, ok := p.ChildOutcomes[flowQueue+"/"+id]
		if !ok || o.State != backend.StateCompleted || !strings.HasPrefix(string(o.Result), "done by ") {
			t.Errorf("parent's outcome of %s: %+v (recorded %v)", id, o, ok)
		}
	}
	for _, e := range evs {
		if e.JobID == flowParent && e.Type == backend.EventActive && e.ID < lastChildEnd {
			t.Errorf("parent became active (event %d) before its last child completed (event %d)", e.ID, lastChildEnd)
		}
	}
	if types := eventTypes(evs, flowParent); count(types, backend.EventActive) != 1 || count(types, backend.EventCompleted) != 1 {
		t.Errorf("parent's events %v; want one active, one completed", types)
	}
}

// TestBoltFlowChildWorkerKilled kills the worker process of a flow child
// with SIGKILL; a worker that opens the file next recovers the child as
// stalled and completes it, and the parent then runs and completes.
func TestBoltFlowChildWorkerKilled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drover.db")
	b := openBolt(t, path)
	addFlow(t, b)
	b.Close()

	lines := make(chan line, 1024)
	p := startProc(t, lines, "worker", procArgs{Index: 1, Path: path, Queue: flowQueue, LeaseTTL: stallTTL, LeaseWait: time.Second, Block: "stuck"})
	if _, f := awaitStart(t, lines, stuckChild); f[1] != "0" {
		t.Fatalf("first start of %s: %v; want not stalled", stuckChild, f)
	}
	p.kill()

	b = openBolt(t, path)
	defer b.Close()
	local := make(chan line, 1024)
	w := runLocalWorker(t, b, procArgs{Index: 2, Queue: flowQueue, LeaseTTL: recoverTTL, LeaseWait: time.Second, Block: "stuck"}, local)
	if from, f := awaitStart(t, local, stuckChild); from != 2 || f[1] != "1" {
		t.Fatalf("second start of %s: %v by %d; want stalled once, by worker 2", stuckChild, f, from)
	}
	waitState(t, b, flowQueue, flowParent, backend.StateCompleted)
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkFlowDone(t, b, 2)
}

// TestRedisFlowChildWorkerKilled runs two worker processes on one
// redis-server and kills the one running a flow child with SIGKILL; the
// other recovers the child as stalled and completes it, and the parent
// then runs and completes.
func TestRedisFlowChildWorkerKilled(t *testing.T) { testFlowChildWorkerKilled(t, startRedis) }

// testFlowChildWorkerKilled runs TestRedisFlowChildWorkerKilled on the
// Redis deployment that on starts.
func testFlowChildWorkerKilled(t *testing.T, on deployment) {
	addr, prefix, store, cluster := on(t)
	lines := make(chan line, 1024)
	args := procArgs{Index: 1, Addr: addr, Cluster: cluster, Prefix: prefix, Queue: flowQueue, LeaseTTL: stallTTL, LeaseWait: time.Second, Block: "stuck"}
	victim := startProc(t, lines, "worker", args)
	expect(t, lines, "ready")
	addFlow(t, store)
	if from, f := awaitStart(t, lines, stuckChild); from != 1 || f[1] != "0" {
		t.Fatalf("first start of %s: %v by %d; want not stalled, by process 1", stuckChild, f, from)
	}
	// The survivor runs before the kill, so that it is a worker already
	// waiting that finds the expired lease.
	args.Index, args.LeaseTTL = 2, recoverTTL
	survivor := startProc(t, lines, "worker", args)
	expect(t, lines, "ready")
	victim.kill()
	if from, f := awaitStart(t, lines, stuckChild); from != 2 || f[1] != "1" {
		t.Fatalf("second start of %s: %v by %d; want stalled once, by process 2", stuckChild, f, from)
	}
	waitState(t, store, flowQueue, flowParent, backend.StateCompleted)
	survivor.stop()
	checkFlowDone(t, store, 2)
}
