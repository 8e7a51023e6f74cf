package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// TestRedisCancelReachesAHandlerInAnotherProcess cancels a job whose
// handler runs in a worker process: the handler's context ends with a
// cancelled cause at the worker's next renewal, and the job fails as
// cancelled, not retried, though it had attempts left.
func TestRedisCancelReachesAHandlerInAnotherProcess(t *testing.T) {
	testCancelReachesAHandlerInAnotherProcess(t, startRedis)
}

// testCancelReachesAHandlerInAnotherProcess runs
// TestRedisCancelReachesAHandlerInAnotherProcess on the Redis deployment
// that on starts.
func testCancelReachesAHandlerInAnotherProcess(t *testing.T, on deployment) {
	const q = "cancel"
	addr, prefix, store, cluster := on(t)
	ctx := context.Background()
	qu, err := queue.New(store, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	j, err := qu.Add(ctx, "long", nil, &queue.AddOptions{Attempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan line, 64)
	// A short lease renews every third of it: the cancel arrives within a
	// second.
	ps := startWorkers(t, lines, 1, procArgs{Addr: addr, Cluster: cluster, Prefix: prefix, Queue: q, LeaseTTL: 3 * time.Second, LeaseWait: time.Second, Block: "*"})
	if l := next(t, lines, "the handler to start"); !strings.HasPrefix(l.Text, "start "+j.ID+" ") {
		t.Fatalf("worker printed %q", l.Text)
	}
	if err := qu.Cancel(ctx, j.ID, "from the test"); err != nil {
		t.Fatal(err)
	}
	var got *queue.Job
	waitFor(t, "the job to fail as cancelled", func() bool {
		got, err = qu.Job(ctx, j.ID)
		return err == nil && got.State == queue.StateFailed
	})
	if got.FailedReason != backend.CancelFailure("from the test") || got.AttemptsMade != 1 {
		t.Errorf("cancelled job: reason %q, %d attempts; want %q after 1, not retried", got.FailedReason, got.AttemptsMade, backend.CancelFailure("from the test"))
	}
	for _, p := range ps {
		p.stop()
	}
}

// TestRetryOfAHundredThousandFailedJobs fails 100,000 jobs and retries
// them all with RetryJobs, on each store, and reports the rate.
func TestRetryAndPromoteOfAHundredThousandJobs(t *testing.T) {
	const n = 100_000
	_, _, redisStore, _ := startRedis(t)
	for name, store := range map[string]backend.Full{
		"bolt":  openBolt(t, filepath.Join(t.TempDir(), "drover.db")),
		"redis": redisStore,
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			qu, err := queue.New(store, "retry", nil)
			if err != nil {
				t.Fatal(err)
			}
			bulk := make([]queue.BulkJob, 1000)
			for i := range bulk {
				bulk[i] = queue.BulkJob{Name: "doomed"}
			}
			for range n / len(bulk) {
				if _, err := qu.AddBulk(ctx, bulk); err != nil {
					t.Fatal(err)
				}
			}
			failed := 0
			for failed < n {
				res, err := store.Lease(ctx, "retry", &backend.LeaseRequest{Worker: "w", Max: backend.MaxLease, TTL: time.Minute})
				if err != nil || len(res.Jobs) == 0 {
					t.Fatalf("lease after %d failed: %d jobs, %v", failed, len(res.Jobs), err)
				}
				ss := make([]backend.Settlement, len(res.Jobs))
				for i, j := range res.Jobs {
					ss[i] = backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeFail, Reason: "no"}
				}
				if _, err := store.Settle(ctx, "retry", &backend.SettleRequest{Settlements: ss}); err != nil {
					t.Fatal(err)
				}
				failed += len(res.Jobs)
			}
			start := time.Now()
			retried, err := qu.RetryJobs(ctx, queue.StateFailed, 0)
			took := time.Since(start)
			if err != nil || retried != n {
				t.Fatalf("RetryJobs = %d, %v; want %d", retried, err, n)
			}
			c, err := qu.Counts(ctx)
			if err != nil || c.Waiting != n || c.Failed != 0 {
				t.Fatalf("counts after retry %+v, %v", c, err)
			}
			t.Logf("%s: retried %d failed jobs in %v: %s jobs/s", name, n, took, fmt.Sprintf("%.0f", n/took.Seconds()))

			// And a promotion of as many delayed jobs.
			later, err := queue.New(store, "promote", nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range bulk {
				bulk[i].Options = &queue.AddOptions{Delay: time.Hour}
			}
			for range n / len(bulk) {
				if _, err := later.AddBulk(ctx, bulk); err != nil {
					t.Fatal(err)
				}
			}
			start = time.Now()
			promoted, err := later.PromoteJobs(ctx, 0)
			took = time.Since(start)
			if err != nil || promoted != n {
				t.Fatalf("PromoteJobs = %d, %v; want %d", promoted, err, n)
			}
			if c, err := later.Counts(ctx); err != nil || c.Waiting != n || c.Delayed != 0 {
				t.Fatalf("counts after promote %+v, %v", c, err)
			}
			t.Logf("%s: promoted %d delayed jobs in %v: %s jobs/s", name, n, took, fmt.Sprintf("%.0f", n/took.Seconds()))
		})
	}
}
