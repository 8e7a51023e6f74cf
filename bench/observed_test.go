package bench

import (
	"context"
	"crypto/sha256"
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

// BenchmarkProcessObserved runs jobs that are already waiting (one worker
// of concurrency 50) plain; with metrics (metrics' handler middleware,
// and a metrics.Collector of the queue gathered every second and once
// more at the end, so that it reads every event of the run within it);
// with tracing (jobs added under a span that tracing.AddMiddleware
// carries to them, a worker with tracing.Middleware, every span sampled
// and exported in batches to a discarding exporter); with both; and with
// both where one trace in ten is sampled (both-sampled, the sampler
// ParentBased(TraceIDRatioBased(0.1)) that busy services use).
//
// The jobs do one of four kinds of work: none (noop); about 100 µs or
// 1 ms of computing (cpu=100µs, cpu=1ms; run the latter with fewer jobs,
// -benchtime 4000x); or a wait of 1 ms, as for a call to another service
// (wait=1ms). One op is one job; compare jobs/s and cpu-ns/job (the
// process's CPU time, which a shared machine moves less than a rate) with
// plain of the same store and work.
func BenchmarkProcessObserved(b *testing.B) {
	works := []struct {
		name string
		do   func()
	}{
		{"noop", func() {}},
		{"cpu=100µs", calibrateSpin(b, 100*time.Microsecond)},
		{"cpu=1ms", calibrateSpin(b, time.Millisecond)},
		{"wait=1ms", func() { time.Sleep(time.Millisecond) }},
	}
	forStores(b, func(b *testing.B, open func(testing.TB, *storeOptions) *env) {
		for _, work := range works {
			b.Run(work.name, func(b *testing.B) {
				for _, mode := range []string{"plain", "metrics", "tracing", "both", "both-sampled"} {
					b.Run(mode, func(b *testing.B) { processObserved(b, open(b, nil), mode, work.do) })
				}
			})
		}
	})
}

// processObserved is one round of BenchmarkProcessObserved.
func processObserved(b *testing.B, e *env, mode string, work func()) {
	opts := &queue.Options{Logger: quiet}
	var mw []queue.Middleware
	if mode == "tracing" || mode == "both" || mode == "both-sampled" {
		sampler := sdktrace.AlwaysSample()
		if mode == "both-sampled" {
			sampler = sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.1))
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()), sdktrace.WithSampler(sampler))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		trace := []tracing.Option{tracing.WithTracerProvider(tp), tracing.WithPropagator(propagation.TraceContext{})}
		opts.AddMiddleware = []queue.AddMiddleware{tracing.AddMiddleware(trace...)}
		mw = append(mw, tracing.Middleware(trace...))
	}
	var gather func()
	if mode == "metrics" || mode == "both" || mode == "both-sampled" {
		hm := metrics.NewHandlerMetrics(nil)
		mw = append(mw, hm.Middleware)
		c, err := metrics.NewCollector(context.Background(), e.store, &metrics.CollectorOptions{Queues: []string{"observed"}, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(hm, c)
		gather = func() {
			if _, err := reg.Gather(); err != nil {
				b.Error(err)
			}
		}
	}
	q, err := queue.New(e.store, "observed", opts)
	if err != nil {
		b.Fatal(err)
	}
	fill(b, q, b.N)
	c := newCounter(b.N)
	h := func(ctx context.Context, job *queue.Job) ([]byte, error) {
		work()
		return c.handle(ctx, job)
	}
	if gather != nil {
		gather() // the events of the fill, before the timer starts
		gatherEvery(b, gather, time.Second)
	}
	b.ReportAllocs()
	meter := e.meterServer(b)
	cpu := cpuMeter(b)
	b.ResetTimer()
	stop := startWorkersOn(b, e.store, q, 1, 50, h, mw...)
	c.wait(b, 10*time.Minute)
	if gather != nil {
		gather() // the events of the run
	}
	b.StopTimer()
	stop()
	reportRate(b, b.N, "jobs/s")
	meter(b.N, "job")
	cpu(b.N)
}

// gatherEvery calls gather every d until the benchmark ends.
func gatherEvery(b *testing.B, gather func(), d time.Duration) {
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
				gather()
			}
		}
	}()
	b.Cleanup(func() { close(quit); <-stopped })
}

// calibrateSpin returns a func that computes for about d on this machine
// (hashing a hash a number of times measured now), a job's work
// that uses the CPU.
func calibrateSpin(b *testing.B, d time.Duration) func() {
	hash := func(n int) {
		var buf [sha256.Size]byte
		for range n {
			buf = sha256.Sum256(buf[:])
		}
	}
	const probe = 20_000
	best := time.Duration(1<<63 - 1)
	for range 3 { // the fastest of three, the one least disturbed
		start := time.Now()
		hash(probe)
		best = min(best, time.Since(start))
	}
	n := max(1, int(float64(probe)*float64(d)/float64(best)))
	b.Logf("%d hashes take about %v", n, d)
	return func() { hash(n) }
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
