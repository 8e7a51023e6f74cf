package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// runWorkload adds n jobs in bulks, every third of which fails its first
// attempt and is retried, and runs them to completion with a worker in
// the test's process.
func runWorkload(t *testing.T, store backend.Backend, q string, first, n int) {
	t.Helper()
	ctx := context.Background()
	qu, err := queue.New(store, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	local := make(chan line, 4*n)
	w := runLocalWorker(t, store, procArgs{Queue: q, Concurrency: 4, LeaseTTL: 10 * time.Second, LeaseWait: time.Second, Flaky: "flaky"}, local)
	var bulk []queue.BulkJob
	for i := first; i < first+n; i++ {
		name := "plain"
		if i%3 == 0 {
			name = "flaky"
		}
		bulk = append(bulk, queue.BulkJob{Name: name, Options: &queue.AddOptions{ID: fmt.Sprintf("job-%d", i), Attempts: 2}})
		if len(bulk) == 25 || i == first+n-1 {
			if _, err := qu.AddBulk(ctx, bulk); err != nil {
				t.Fatal(err)
			}
			bulk = nil
		}
	}
	waitFor(t, "the workload to complete", func() bool {
		c, err := qu.Counts(ctx)
		return err == nil && c.Completed == first+n
	})
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// readEvents collects the "ev" lines of process from up to its "cursor"
// line, and returns them with the cursor.
func readEvents(t *testing.T, lines <-chan line, from int) ([]string, uint64) {
	t.Helper()
	var evs []string
	for {
		l := next(t, lines, fmt.Sprintf("events from process %d", from))
		if l.From != from {
			t.Fatalf("process %d printed %q", l.From, l.Text)
		}
		f := strings.Fields(l.Text)
		switch {
		case len(f) >= 3 && f[0] == "ev":
			evs = append(evs, strings.Join(f[1:], " "))
		case len(f) == 2 && f[0] == "cursor":
			return evs, uint64(atoi64(t, f[1]))
		case len(f) == 1 && f[0] == "ready":
		default:
			t.Fatalf("process %d printed %q", from, l.Text)
		}
	}
}

// TestRedisEventsResumeInNewProcess reads 500 events of a workload in one
// process, which prints its cursor and exits; a new process resumes from
// that cursor while the workload goes on, and reads the rest. Together
// they read exactly the whole log: no gap, no duplicate (G4).
func TestRedisEventsResumeInNewProcess(t *testing.T) { testEventsResumeInNewProcess(t, startRedis) }

// testEventsResumeInNewProcess runs TestRedisEventsResumeInNewProcess on
// the Redis deployment that on starts.
func testEventsResumeInNewProcess(t *testing.T, on deployment) {
	const q = "events"
	addr, prefix, store, cluster := on(t)
	runWorkload(t, store, q, 0, 150)

	lines := make(chan line, 4096)
	a := startProc(t, lines, "events", procArgs{Index: 1, Addr: addr, Cluster: cluster, Prefix: prefix, Queue: q, Count: 500})
	first, cursor := readEvents(t, lines, 1)
	a.wait()
	if len(first) != 500 {
		t.Fatalf("first process read %d events; want 500", len(first))
	}
	if !strings.HasPrefix(first[0], "1 ") || !strings.HasPrefix(first[499], fmt.Sprint(cursor)+" ") {
		t.Fatalf("first process read events %q to %q, cursor %d; want 1 to the cursor", first[0], first[499], cursor)
	}

	b := startProc(t, lines, "events", procArgs{Index: 2, Addr: addr, Cluster: cluster, Prefix: prefix, Queue: q, After: cursor})
	expect(t, lines, "ready")
	runWorkload(t, store, q, 150, 60)
	last, err := store.LastEventID(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	b.send(fmt.Sprintf("until %d", last))
	rest, end := readEvents(t, lines, 2)
	b.stop()
	if end != last {
		t.Fatalf("second process stopped at %d; want %d", end, last)
	}

	var want []string
	for _, e := range allEvents(t, store, q) {
		// As the reader prints it, in fields: a queue's event has no job.
		want = append(want, strings.Join(strings.Fields(fmt.Sprintf("%d %s %s", e.ID, e.Type, e.JobID)), " "))
	}
	got := append(first, rest...)
	if len(got) != len(want) {
		t.Errorf("read %d events (%d + %d); the log has %d", len(got), len(first), len(rest), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("event %d read as %q; the log has %q", i, got[i], want[i])
		}
	}
}
