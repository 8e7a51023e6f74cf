package e2e

import (
	"context"
	"fmt"
	"testing"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// TestRedisSchedulerUpsertFromProcesses has 8 processes upsert one job
// scheduler at once, each with data of its own, round after round. After
// each round there is one scheduler record and one pending iteration job,
// and both carry the data of the upsert that wrote the highest revision:
// the last one in linearisation order (G1).
func TestRedisSchedulerUpsertFromProcesses(t *testing.T) {
	testSchedulerUpsertFromProcesses(t, startRedis)
}

// testSchedulerUpsertFromProcesses runs
// TestRedisSchedulerUpsertFromProcesses on the Redis deployment that on
// starts.
func testSchedulerUpsertFromProcesses(t *testing.T, on deployment) {
	const procs, rounds, q = 8, 20, "sched"
	addr, prefix, store, cluster := on(t)
	ctx := context.Background()
	lines := make(chan line, 1024)
	var ps []*proc
	for i := range procs {
		ps = append(ps, startProc(t, lines, "upsert", procArgs{Index: i, Addr: addr, Cluster: cluster, Prefix: prefix, Queue: q}))
	}
	for range procs {
		expect(t, lines, "ready")
	}
	qu, err := queue.New(store, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	for round := range rounds {
		// Every process waits on its standard input: these lines start
		// them together.
		for _, p := range ps {
			p.send(fmt.Sprintf("go %d", round))
		}
		revs := map[uint64]string{}
		var last uint64
		for range procs {
			from, f := expect(t, lines, "done")
			if len(f) != 3 || f[0] != fmt.Sprint(round) {
				t.Fatalf("round %d: process %d printed %v", round, from, f)
			}
			rev := uint64(atoi64(t, f[1]))
			if other, dup := revs[rev]; dup {
				t.Fatalf("round %d: upserts of %s and %s both wrote revision %d", round, other, f[2], rev)
			}
			revs[rev] = f[2]
			last = max(last, rev)
		}

		all, err := qu.JobSchedulers(ctx, queue.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 1 || all[0].ID != schedulerID {
			t.Fatalf("round %d: %d scheduler records; want one, %s", round, len(all), schedulerID)
		}
		rec := all[0]
		if rec.Revision != last || string(rec.Template.Data) != revs[last] {
			t.Fatalf("round %d: record at revision %d with data %q; want revision %d with %q", round, rec.Revision, rec.Template.Data, last, revs[last])
		}
		var pending []*queue.Job
		for _, st := range []queue.JobState{queue.StateDelayed, queue.StateWaiting} {
			jobs, err := qu.Jobs(ctx, st, queue.Page{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			pending = append(pending, jobs...)
		}
		if len(pending) != 1 {
			t.Fatalf("round %d: %d pending jobs; want one iteration", round, len(pending))
		}
		j := pending[0]
		if j.SchedulerID() != schedulerID || j.ID != backend.IterationID(schedulerID, rec.Next) || string(j.Data) != revs[last] {
			t.Fatalf("round %d: pending job %s of scheduler %q with data %q; want %s with %q",
				round, j.ID, j.SchedulerID(), j.Data, backend.IterationID(schedulerID, rec.Next), revs[last])
		}
		c, err := qu.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.Total() != 1 {
			t.Fatalf("round %d: counts %+v; want the one pending iteration only", round, c)
		}
	}
	for _, p := range ps {
		p.stop()
	}
}
