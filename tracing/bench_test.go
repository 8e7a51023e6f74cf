package tracing_test

import (
	"context"
	"testing"
	"time"

	"github.com/droverhq/drover/queue"
	"github.com/droverhq/drover/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// The cost of processing with tracing (and metrics) is measured end to
// end by bench's BenchmarkProcessObserved; this measures its part in the
// worker.

// BenchmarkMiddleware calls a no-op handler, bare and wrapped in the
// middleware, for a job that carries the trace context of its add: the
// middleware's cost per attempt, every span sampled and exported in
// batches to a discarding exporter as in production ("tracing"), or one
// trace in ten sampled ("tracing-sampled", the sampler
// ParentBased(TraceIDRatioBased(0.1)) that busy services use). "sdk"
// makes the same span with the SDK alone in the plainest way, every
// attribute given to Start, built beforehand with its link and name: what
// tracing an attempt costs without drover's care for allocations.
func BenchmarkMiddleware(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	job := &queue.Job{}
	job.ID, job.Queue, job.Name, job.CreatedAt = "42", "bench", "noop", time.Now()
	job.Meta = map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	noop := func(context.Context, *queue.Job) ([]byte, error) { return nil, nil }
	tenth := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.1))))
	b.Cleanup(func() { _ = tenth.Shutdown(context.Background()) })
	for _, mode := range []string{"bare", "sdk", "tracing", "tracing-sampled"} {
		b.Run(mode, func(b *testing.B) {
			h := queue.Handler(noop)
			switch mode {
			case "sdk":
				tracer := tp.Tracer("bench")
				link := trace.LinkFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier(job.Meta)))
				attrs := []attribute.KeyValue{
					tracing.MessagingSystem.String("drover"), tracing.DestinationName.String(job.Queue),
					tracing.OperationName.String("process"), tracing.OperationType.String("process"),
					tracing.MessageID.String(job.ID), tracing.JobName.String(job.Name), tracing.JobAttempt.Int(1),
				}
				outcome := tracing.JobOutcome.String("completed")
				h = func(ctx context.Context, job *queue.Job) ([]byte, error) {
					ctx, span := tracer.Start(ctx, "process bench", trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindConsumer),
						trace.WithAttributes(attrs...), trace.WithLinks(link))
					defer span.End()
					defer span.SetAttributes(outcome)
					return noop(ctx, job)
				}
			case "tracing":
				h = tracing.Middleware(tracing.WithTracerProvider(tp), tracing.WithPropagator(propagation.TraceContext{}))(h)
			case "tracing-sampled":
				h = tracing.Middleware(tracing.WithTracerProvider(tenth), tracing.WithPropagator(propagation.TraceContext{}))(h)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				_, _ = h(ctx, job)
			}
		})
	}
}
