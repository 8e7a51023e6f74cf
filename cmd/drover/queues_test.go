package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/backend/redis"
	"github.com/droverhq/drover/internal/redistest"
	"github.com/droverhq/drover/queue"
)

// fillDoomed adds to store a queue "doomed" of two waiting jobs and one
// that a worker runs, and a queue "keep" of one waiting job.
func fillDoomed(t *testing.T, store backend.Full) {
	t.Helper()
	ctx := t.Context()
	for _, c := range []struct {
		queue string
		jobs  int
	}{{"doomed", 3}, {"keep", 1}} {
		q, err := queue.New(store, c.queue, nil)
		if err != nil {
			t.Fatal(err)
		}
		for range c.jobs {
			if _, err := q.Add(ctx, "send", []byte(`{}`), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	res, err := store.Lease(ctx, "doomed", &backend.LeaseRequest{Worker: "w1", Max: 1, TTL: time.Hour})
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("Lease: %v %v", err, res.Jobs)
	}
}

// Obliterate removes a queue with its jobs, refuses while jobs run unless
// forced, and leaves the other queues be.
func TestObliterate(t *testing.T) {
	t.Run("bolt", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "jobs.db")
		store, err := bolt.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		fillDoomed(t, store)
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
		testObliterate(t, []string{"--bolt", path})
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t, nil)
		store, err := redis.New(srv.Client(t, nil), &redis.Options{Prefix: "obl"})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		fillDoomed(t, store)
		testObliterate(t, []string{"--redis", "redis://" + srv.Addr + "/0", "--prefix", "obl"})
	})
}

func testObliterate(t *testing.T, flags []string) {
	run := func(args ...string) result {
		t.Helper()
		return drover(t, nil, append(append([]string{}, flags...), args...)...)
	}
	stats := func(name string) counts {
		t.Helper()
		c := jsonOf[[]counts](t, run("--json", "stats", name))
		if len(c) != 1 {
			t.Fatalf("stats %s: %+v", name, c)
		}
		return c[0]
	}

	// A job runs: refused, and nothing removed.
	run("obliterate", "doomed").want(t, exitRefused, nil, "active", "--force")
	if c := stats("doomed"); c.Waiting != 2 || c.Active != 1 {
		t.Fatalf("doomed after a refused obliterate: %+v", c)
	}

	// Forced: gone, the running job too.
	done := jsonOf[map[string]any](t, run("--json", "obliterate", "doomed", "--force"))
	if done["queue"] != "doomed" || done["obliterated"] != true || done["jobs"] != 3.0 {
		t.Errorf("obliterate --force --json = %v", done)
	}
	if c := stats("doomed"); c.Waiting != 0 || c.Active != 0 {
		t.Errorf("doomed after obliterate: %+v", c)
	}
	if c := stats("keep"); c.Waiting != 1 {
		t.Errorf("keep after obliterating doomed: %+v", c)
	}

	// No job runs: no --force needed.
	run("obliterate", "keep").want(t, exitOK, []string{"obliterated keep (1 jobs)"})
	if c := stats("keep"); c.Waiting != 0 {
		t.Errorf("keep after obliterate: %+v", c)
	}

	// Wrong calls.
	run("obliterate", "nosuch").want(t, exitNotFound, nil, "no queue nosuch")
	run("obliterate").want(t, exitUsage, nil, "accepts 1 arg", "obliterate --help")
	run("obliterate", "bad{name}").want(t, exitUsage, nil, "brace")
	run("obliterate", "doomed", "--forse").want(t, exitUsage, nil, "unknown flag")
}

// stats --watch prints, from its second round on, the jobs added,
// completed and failed since the round before: the test adds and runs
// jobs while it watches, through the endpoint, and sums the rounds.
func TestStatsWatchRates(t *testing.T) {
	store, _, _, _, url := servedStore(t, "w.sock")
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	cmd, out, stderr := start(t, ctx, "--admin", url, "--json", "stats", "mail", "--watch", "--interval", "20ms")
	lines := bufio.NewScanner(out)
	type round struct {
		Queues []counts `json:"queues"`
	}
	next := func() counts {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("stats --watch ended: %v; stderr: %s", lines.Err(), stderr.String())
		}
		var r round
		if err := json.Unmarshal(lines.Bytes(), &r); err != nil || len(r.Queues) != 1 {
			t.Fatalf("a round of stats --watch: %q, %v", lines.Text(), err)
		}
		return r.Queues[0]
	}
	if first := next(); first.Rates != nil {
		t.Fatalf("the first round has rates %+v; want none, there is no round before", first.Rates)
	}

	// Five jobs added, two of them completed and one failed.
	q, err := queue.New(store, "mail", nil)
	if err != nil {
		t.Fatal(err)
	}
	jobs := make([]queue.BulkJob, 5)
	for i := range jobs {
		jobs[i] = queue.BulkJob{Name: "rated"}
	}
	if _, err := q.AddBulk(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	res, err := store.Lease(ctx, "mail", &backend.LeaseRequest{Worker: "w", Max: 3, TTL: time.Minute})
	if err != nil || len(res.Jobs) != 3 {
		t.Fatalf("Lease: %v %v", err, res.Jobs)
	}
	var settle backend.SettleRequest
	for i, j := range res.Jobs {
		s := backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeComplete}
		if i == 2 {
			s = backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeFail, Reason: "no"}
		}
		settle.Settlements = append(settle.Settlements, s)
	}
	if r, err := store.Settle(ctx, "mail", &settle); err != nil || r.Errs[0] != nil || r.Errs[1] != nil || r.Errs[2] != nil {
		t.Fatalf("Settle: %v %v", err, r.Errs)
	}

	// The rounds count each event once, whichever round reads it.
	var sum rates
	for sum.Added < 5 || sum.Completed < 2 || sum.Failed < 1 {
		r := next().Rates
		if r == nil {
			t.Fatal("a round after the first has no rates")
		}
		if r.Seconds <= 0 || r.AddedPerSecond != float64(r.Added)/r.Seconds || r.CompletedPerSecond != float64(r.Completed)/r.Seconds {
			t.Errorf("rates %+v: not the counts of their period a second", r)
		}
		sum.Added += r.Added
		sum.Completed += r.Completed
		sum.Failed += r.Failed
		if sum.Added > 5 || sum.Completed > 2 || sum.Failed > 1 {
			t.Fatalf("the rounds counted %+v; want 5 added, 2 completed, 1 failed", sum)
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() { // the rounds printed before the interrupt
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("stats --watch after an interrupt: %v; stderr: %s", err, stderr.String())
	}
}
