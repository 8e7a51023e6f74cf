package e2e

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// blockedClients returns the number of clients blocked in a command such
// as BLPOP on the server at addr.
func blockedClients(t *testing.T, c *goredis.Client) int {
	t.Helper()
	info, err := c.Info(context.Background(), "clients").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "blocked_clients:"); ok {
			return atoi(t, v)
		}
	}
	t.Fatalf("no blocked_clients in %q", info)
	return 0
}

// TestRedisBulkStartsEveryIdleWorkerProcess is G5's motivating case with
// one process per worker: 4 worker processes of concurrency 1 wait on an
// empty queue; a bulk of 4 jobs wakes all 4 at once, 20 rounds out of 20,
// each worker taking exactly one job per round. The server shows it, not
// a clock: once the bulk's Add has returned, no worker is blocked any
// more, because the add served every blocked worker before it replied.
// The handlers then wait for each other (a barrier the test opens once
// all four have started), so no worker can take a second job of a round.
func TestRedisBulkStartsEveryIdleWorkerProcess(t *testing.T) {
	testBulkStartsEveryIdleWorkerProcess(t, startRedis)
}

// testBulkStartsEveryIdleWorkerProcess runs
// TestRedisBulkStartsEveryIdleWorkerProcess on the Redis deployment that
// on starts.
func testBulkStartsEveryIdleWorkerProcess(t *testing.T, on deployment) {
	const workers, rounds, q = 4, 20, "dispatch"
	addr, prefix, store, cluster := on(t)
	ctx := context.Background()
	client := serverOf(t, addr, cluster, store, q)
	qu, err := queue.New(store, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	barrier := t.TempDir()
	lines := make(chan line, 1024)
	ps := startWorkers(t, lines, workers, procArgs{Addr: addr, Cluster: cluster, Prefix: prefix, Queue: q, LeaseTTL: time.Minute, LeaseWait: 5 * time.Second, Barrier: barrier})
	for round := range rounds {
		// Idle: every worker is blocked in its Lease call.
		waitFor(t, fmt.Sprintf("round %d: %d idle workers", round, workers), func() bool {
			c, err := qu.Counts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return c.Completed == round*workers && blockedClients(t, client) == workers
		})
		var bulk []queue.BulkJob
		var ids []string
		for k := range workers {
			id := fmt.Sprintf("r%d-j%d", round, k)
			ids = append(ids, id)
			bulk = append(bulk, queue.BulkJob{Name: "sleep", Options: &queue.AddOptions{ID: id}})
		}
		if _, err := qu.AddBulk(ctx, bulk); err != nil {
			t.Fatal(err)
		}
		if n := blockedClients(t, client); n != 0 {
			t.Errorf("round %d: %d workers still blocked after the bulk's Add returned: the add did not wake them all", round, n)
		}
		var started, ended []string
		by := map[int]int{}
		for range workers {
			l := next(t, lines, fmt.Sprintf("round %d: the jobs to start", round))
			f := strings.Fields(l.Text)
			if len(f) != 5 || f[0] != "start" {
				t.Fatalf("round %d: process %d printed %q", round, l.From, l.Text)
			}
			started = append(started, f[1])
			by[l.From]++
		}
		if err := os.WriteFile(filepath.Join(barrier, fmt.Sprintf("r%d", round)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		for range workers {
			l := next(t, lines, fmt.Sprintf("round %d: the jobs to end", round))
			f := strings.Fields(l.Text)
			if len(f) != 4 || f[0] != "end" {
				t.Fatalf("round %d: process %d printed %q", round, l.From, l.Text)
			}
			ended = append(ended, f[1])
		}
		slices.Sort(started)
		slices.Sort(ended)
		if !slices.Equal(started, ids) || !slices.Equal(ended, ids) {
			t.Fatalf("round %d: started %v and ended %v; want %v", round, started, ended, ids)
		}
		if len(by) != workers {
			t.Errorf("round %d: jobs per worker %v; want one on each of %d", round, by, workers)
		}
	}
	for _, p := range ps {
		p.stop()
	}
}

// TestRedisRandomBulksAcrossWorkerProcesses runs random bulks, some jobs
// delayed and some failing their first attempt, on three worker processes.
// Every job completes, each attempt is settled once, and no job is held
// by two workers at once: its runs never overlap, and in the event log each
// activation of a job is settled before the next.
func TestRedisRandomBulksAcrossWorkerProcesses(t *testing.T) {
	testRandomBulksAcrossWorkerProcesses(t, startRedis)
}

// testRandomBulksAcrossWorkerProcesses runs
// TestRedisRandomBulksAcrossWorkerProcesses on the Redis deployment that
// on starts.
func testRandomBulksAcrossWorkerProcesses(t *testing.T, on deployment) {
	const workers, q = 3, "random"
	addr, prefix, store, cluster := on(t)
	ctx := context.Background()
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	qu, err := queue.New(store, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan line, 1<<14)
	var ps []*proc
	for i := range workers {
		ps = append(ps, startProc(t, lines, "worker", procArgs{Index: i, Addr: addr, Cluster: cluster, Prefix: prefix, Queue: q, Concurrency: 3,
			LeaseTTL: 10 * time.Second, LeaseWait: time.Second, SleepRandom: 3 * time.Millisecond, Flaky: "flaky"}))
	}
	flaky := map[string]bool{}
	var ids []string
	for b := range 25 {
		var bulk []queue.BulkJob
		for range 1 + rng.IntN(30) {
			id := fmt.Sprintf("b%d-j%d", b, len(bulk))
			o := &queue.AddOptions{ID: id, Attempts: 2}
			if rng.IntN(5) == 0 {
				o.Delay = time.Duration(rng.IntN(50)) * time.Millisecond
			}
			name := "plain"
			if rng.IntN(4) == 0 {
				name = "flaky"
				flaky[id] = true
			}
			bulk = append(bulk, queue.BulkJob{Name: name, Options: o})
			ids = append(ids, id)
		}
		if _, err := qu.AddBulk(ctx, bulk); err != nil {
			t.Fatal(err)
		}
		// Let the workers catch up with half of what was added, so that
		// adds and work interleave.
		waitFor(t, "the workers to catch up", func() bool {
			c, err := qu.Counts(ctx)
			return err == nil && 2*c.Completed >= len(ids)
		})
	}
	waitFor(t, "every job to complete", func() bool {
		c, err := qu.Counts(ctx)
		return err == nil && c.Completed == len(ids)
	})
	for _, p := range ps {
		p.stop()
	}
	if c, err := qu.Counts(ctx); err != nil || c.Total() != len(ids) {
		t.Fatalf("counts %+v, %v; want %d jobs, all completed", c, err, len(ids))
	}

	// The handlers' runs of each job, from the processes' output. Lines of
	// one process arrive in order, but lines of different processes
	// interleave in any order, so a start is paired with the next end of
	// the same job from the same process, and the runs of a job are then
	// ordered by their start times.
	type run struct{ start, end int64 }
	type holder struct {
		job  string
		proc int
	}
	runs := map[string][]run{}
	open := map[holder]int64{}
	for eofs := 0; eofs < workers; {
		var l line
		select {
		case l = <-lines:
		default:
			t.Fatalf("output of %d of %d processes is missing", workers-eofs, workers)
		}
		if l.EOF {
			eofs++
			continue
		}
		f := strings.Fields(l.Text)
		switch {
		case len(f) == 5 && f[0] == "start":
			h := holder{f[1], l.From}
			if _, ok := open[h]; ok {
				t.Fatalf("process %d started job %s twice without ending it", l.From, f[1])
			}
			open[h] = atoi64(t, f[4])
		case len(f) == 4 && f[0] == "end":
			h := holder{f[1], l.From}
			start, ok := open[h]
			if !ok {
				t.Fatalf("process %d ended job %s without starting it", l.From, f[1])
			}
			delete(open, h)
			runs[f[1]] = append(runs[f[1]], run{start: start, end: atoi64(t, f[3])})
		case len(f) == 1 && f[0] == "ready":
		default:
			t.Fatalf("process %d printed %q", l.From, l.Text)
		}
	}
	for h := range open {
		t.Errorf("process %d started job %s and never ended it", h.proc, h.job)
	}
	for _, rs := range runs {
		slices.SortFunc(rs, func(a, b run) int { return cmp.Compare(a.start, b.start) })
	}

	evs := allEvents(t, store, q)
	byJob := map[string][]backend.EventType{}
	for _, e := range evs {
		byJob[e.JobID] = append(byJob[e.JobID], e.Type)
	}
	for _, id := range ids {
		attempts := 1
		if flaky[id] {
			attempts = 2
		}
		j := jobOf(t, store, q, id)
		if j.State != backend.StateCompleted || j.AttemptsMade != attempts || j.StalledCount != 0 || !strings.HasPrefix(string(j.Result), "done by ") {
			t.Errorf("job %s: state %s, attempts made %d, stalled %d, result %q; want completed after %d attempts",
				id, j.State, j.AttemptsMade, j.StalledCount, j.Result, attempts)
		}
		types := byJob[id]
		if count(types, backend.EventActive) != attempts || count(types, backend.EventCompleted) != 1 ||
			count(types, backend.EventRetrying) != attempts-1 || count(types, backend.EventStalled) != 0 {
			t.Errorf("job %s: events %v; want %d attempts, each settled once", id, types, attempts)
		}
		held := false
		for _, ty := range types {
			switch ty {
			case backend.EventActive:
				if held {
					t.Errorf("job %s: activated again before its attempt was settled: %v", id, types)
				}
				held = true
			case backend.EventCompleted, backend.EventRetrying, backend.EventFailed:
				if !held {
					t.Errorf("job %s: settled while not active: %v", id, types)
				}
				held = false
			}
		}
		rs := runs[id]
		if len(rs) != attempts {
			t.Errorf("job %s: %d handler runs; want %d", id, len(rs), attempts)
		}
		for i := 1; i < len(rs); i++ {
			if rs[i].start < rs[i-1].end {
				t.Errorf("job %s: a run started before the previous one ended", id)
			}
		}
	}
}
