package metrics_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/metrics"
	"github.com/droverhq/drover/queue"
)

// BenchmarkProcessingWithMetrics runs b.N no-op jobs, added beforehand,
// through a worker of concurrency 50 on a bbolt store without fsync: plain,
// with the handler middleware, with a collector, and with both; the
// metrics are gathered every 10ms meanwhile (a thousand times as often as
// a usual scrape interval of 10s). One op is one job; compare the jobs/s.
func BenchmarkProcessingWithMetrics(b *testing.B) {
	for _, mode := range []string{"plain", "middleware", "collector", "both"} {
		b.Run(mode, func(b *testing.B) {
			store := drovertest.NewStore(b, nil)
			q, err := queue.New(store, "bench", &queue.Options{Logger: discard()})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			for left := b.N; left > 0; left -= 1000 {
				jobs := make([]queue.BulkJob, min(left, 1000))
				for i := range jobs {
					jobs[i] = queue.BulkJob{Name: "noop"}
				}
				if _, err := q.AddBulk(ctx, jobs); err != nil {
					b.Fatal(err)
				}
			}

			var done atomic.Int64
			fin := make(chan struct{})
			h := func(context.Context, *queue.Job) ([]byte, error) {
				if done.Add(1) == int64(b.N) {
					close(fin)
				}
				return nil, nil
			}
			opts := &queue.WorkerOptions{Concurrency: 50, Logger: discard()}
			stopScrapes := func() {}
			reg := prometheus.NewRegistry()
			if mode == "middleware" || mode == "both" {
				hm := metrics.NewHandlerMetrics(nil)
				reg.MustRegister(hm)
				opts.Middleware = []queue.Middleware{hm.Middleware}
			}
			if mode == "collector" || mode == "both" {
				c, err := metrics.NewCollector(ctx, store, &metrics.CollectorOptions{Queues: []string{"bench"}, Logger: discard()})
				if err != nil {
					b.Fatal(err)
				}
				reg.MustRegister(c)
			}
			if mode != "plain" {
				stopScrapes = scrapeEvery(b, reg, 100*time.Millisecond)
			}
			w, err := queue.NewWorker(store, "bench", h, opts)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime(b)
			if err := w.Start(ctx); err != nil {
				b.Fatal(err)
			}
			<-fin
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
			// The process's CPU time per job moves less than jobs/s when
			// other programs share the machine.
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/job")
			stopScrapes()
			if err := w.Stop(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// scrapeEvery gathers reg every d until the returned func is called.
func scrapeEvery(b *testing.B, reg *prometheus.Registry, d time.Duration) (stop func()) {
	quit, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				if _, err := reg.Gather(); err != nil {
					b.Error(err)
					return
				}
			}
		}
	}()
	return func() { close(quit); <-stopped }
}

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
