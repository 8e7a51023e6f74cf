package bench

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/droverhq/drover/metrics"
	"github.com/droverhq/drover/queue"
	"github.com/droverhq/drover/tracing"
)

// BenchmarkProcessObserved runs no-op jobs that are already waiting (one
// worker of concurrency 50): plain; with tracing (jobs added under a span
// that tracing.AddMiddleware carries to them, a worker with
// tracing.Middleware, every span sampled and exported in batches to a
// discarding exporter); with metrics (metrics' handler middleware and a
// metrics.Collector of the queue, gathered every second); and with both.
// One op is one job; compare jobs/s and cpu-ns/job with plain.
func BenchmarkProcessObserved(b *testing.B) {
	forStores(b, func(b *testing.B, open func(testing.TB, *storeOptions) *env) {
		for _, mode := range []string{"plain", "tracing", "metrics", "both"} {
			b.Run(mode, func(b *testing.B) {
				e := open(b, nil)
				opts := &queue.Options{Logger: quiet}
				var mw []queue.Middleware
				if mode == "tracing" || mode == "both" {
					tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
					b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
					trace := []tracing.Option{tracing.WithTracerProvider(tp), tracing.WithPropagator(propagation.TraceContext{})}
					opts.AddMiddleware = []queue.AddMiddleware{tracing.AddMiddleware(trace...)}
					mw = append(mw, tracing.Middleware(trace...))
				}
				if mode == "metrics" || mode == "both" {
					hm := metrics.NewHandlerMetrics(nil)
					mw = append(mw, hm.Middleware)
					reg := prometheus.NewRegistry()
					c, err := metrics.NewCollector(context.Background(), e.store, &metrics.CollectorOptions{Queues: []string{"observed"}, Logger: quiet})
					if err != nil {
						b.Fatal(err)
					}
					reg.MustRegister(hm, c)
					gatherEvery(b, reg, time.Second)
				}
				q, err := queue.New(e.store, "observed", opts)
				if err != nil {
					b.Fatal(err)
				}
				fill(b, q, b.N)
				c := newCounter(b.N)
				b.ReportAllocs()
				meter := e.meterServer(b)
				cpu := cpuMeter(b)
				b.ResetTimer()
				stop := startWorkersOn(b, e.store, q, 1, 50, c.handle, mw...)
				c.wait(b, 10*time.Minute)
				b.StopTimer()
				stop()
				reportRate(b, b.N, "jobs/s")
				meter(b.N, "job")
				cpu(b.N)
			})
		}
	})
}

// gatherEvery gathers reg every d until the benchmark ends.
func gatherEvery(b *testing.B, reg *prometheus.Registry, d time.Duration) {
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
	b.Cleanup(func() { close(quit); <-stopped })
}

// cpuMeter starts counting the process's CPU time (user and system); the
// func it returns reports it per op, as cpu-ns/<op> (it moves less than a
// rate when other programs share the machine).
func cpuMeter(b *testing.B) func(n int) {
	used := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := used()
	return func(n int) {
		b.ReportMetric(float64(used()-start)/float64(n), "cpu-ns/job")
	}
}
