package metrics_test

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/metrics"
	"github.com/droverhq/drover/queue"
)

// The cost of processing with metrics (and tracing) is measured end to
// end by bench's BenchmarkProcessObserved; these measure its parts.

// BenchmarkMiddleware calls a no-op handler, bare and wrapped in the
// middleware, on the system clock: the middleware's cost per attempt.
func BenchmarkMiddleware(b *testing.B) {
	job := &queue.Job{}
	job.Queue, job.Name, job.CreatedAt = "bench", "noop", time.Now()
	noop := func(context.Context, *queue.Job) ([]byte, error) { return nil, nil }
	for _, mode := range []string{"bare", "metrics"} {
		b.Run(mode, func(b *testing.B) {
			h := queue.Handler(noop)
			if mode == "metrics" {
				h = metrics.NewHandlerMetrics(nil).Middleware(h)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, _ = h(ctx, job)
				}
			})
		})
	}
}

// BenchmarkCollectorScrape scrapes a queue whose log holds b.N*1,000 new
// events (jobs added beforehand), reading 1,000 of them a scrape: the
// collector's cost per event.
func BenchmarkCollectorScrape(b *testing.B) {
	store := drovertest.NewStore(b, nil)
	q, err := queue.New(store, "bench", &queue.Options{Logger: discard()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	c, err := metrics.NewCollector(ctx, store, &metrics.CollectorOptions{Queues: []string{"bench"}, Logger: discard(), MaxEvents: 1000})
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	jobs := make([]queue.BulkJob, 500) // an added and a waiting event each
	for i := range jobs {
		jobs[i] = queue.BulkJob{Name: "noop"}
	}
	for range b.N {
		if _, err := q.AddBulk(ctx, jobs); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for range b.N {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cpuTime(b) - cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/event")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*1000), "cpu-ns/event")
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
