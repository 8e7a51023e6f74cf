package bench

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// BenchmarkProcess runs no-op jobs that are already waiting: one worker of
// concurrency 50, and two. One op is one job, from the workers' start to
// the last handler's return. jobs/lease and jobs/settle tell how well the
// worker batches its store calls.
func BenchmarkProcess(b *testing.B) {
	forStores(b, func(b *testing.B, open func(testing.TB, *storeOptions) *env) {
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("workers=%dx50", workers), func(b *testing.B) { process(b, open(b, nil), workers) })
		}
	})
}

// process runs b.N waiting no-op jobs on workers workers of concurrency 50.
func process(b *testing.B, e *env, workers int) {
	q := e.queue(b, "process")
	fill(b, q, b.N)
	c := newCounter(b.N)
	cs := &countingStore{Backend: e.store}
	b.ReportAllocs()
	meter := e.meterServer(b)
	b.ResetTimer()
	stop := startWorkersOn(b, cs, q, workers, 50, c.handle)
	c.wait(b, 10*time.Minute)
	b.StopTimer()
	stop()
	reportRate(b, b.N, "jobs/s")
	meter(b.N, "job")
	cs.report(b)
}

// BenchmarkBacklog runs no-op jobs (one worker of concurrency 50) from the
// head of a queue that holds a backlog of waiting jobs behind them, to show
// how the cost of a job grows with the backlog. The backlog is filled once
// per size and topped up before each round. 1,000,000 runs only with
// DROVER_BENCH_LARGE=1.
func BenchmarkBacklog(b *testing.B) {
	forStores(b, func(sb *testing.B, open func(testing.TB, *storeOptions) *env) {
		for _, backlog := range []int{10_000, 1_000_000} {
			var e *env // lives as long as the store's benchmark, across rounds
			sb.Run(fmt.Sprintf("waiting=%d", backlog), func(b *testing.B) {
				if backlog > 100_000 && os.Getenv("DROVER_BENCH_LARGE") != "1" {
					b.Skip("set DROVER_BENCH_LARGE=1 to fill a backlog of", backlog)
				}
				if e == nil {
					e = open(sb, nil)
					fill(b, e.queue(b, "backlog"), backlog)
				}
				q := e.queue(b, "backlog")
				fill(b, q, b.N) // top up: the round takes b.N from the head
				c := newCounter(b.N)
				b.ReportAllocs()
				meter := e.meterServer(b)
				b.ResetTimer()
				stop := startWorkers(b, e, q, 1, 50, c.handle)
				c.wait(b, 10*time.Minute)
				b.StopTimer()
				stop()
				reportRate(b, b.N, "jobs/s")
				meter(b.N, "job")
			})
		}
	})
}
