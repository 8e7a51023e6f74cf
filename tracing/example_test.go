package tracing_test

import (
	"context"
	"fmt"
	"log"

	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/internal/exampletb"
	"github.com/droverhq/drover/queue"
	"github.com/droverhq/drover/tracing"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Tracing a queue: the add's span puts its context in the job's Meta, and
// the span of each attempt, in a trace of its own, links back to it.
//
// A program would rather set OpenTelemetry's globals once
// (otel.SetTracerProvider, otel.SetTextMapPropagator), which the tracing
// middleware uses by default; this example passes its own instead. Either
// way it needs a propagator: OpenTelemetry's default one propagates
// nothing.
func Example() {
	t := exampletb.New() // in a test, the test's *testing.T
	defer t.Finish()
	env := drovertest.New(t, nil)
	ctx := context.Background()

	// The spans go to memory, to be printed below.
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	defer tp.Shutdown(ctx)
	opts := []tracing.Option{tracing.WithTracerProvider(tp), tracing.WithPropagator(propagation.TraceContext{})}

	q, err := queue.New(env.Store, "emails", &queue.Options{
		Clock:         env.Clock,
		AddMiddleware: []queue.AddMiddleware{tracing.AddMiddleware(opts...)},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, signup := tp.Tracer("example").Start(ctx, "signup")
	job, err := q.Add(ctx, "welcome", nil, &queue.AddOptions{Attempts: 2})
	signup.End()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("job carries traceparent:", job.Meta["traceparent"] != "")

	failOnce := func(ctx context.Context, job *queue.Job) ([]byte, error) {
		if job.AttemptsMade == 0 {
			return nil, fmt.Errorf("mail server busy")
		}
		return nil, nil
	}
	w := env.Worker("emails", failOnce, &queue.WorkerOptions{
		Middleware: []queue.Middleware{tracing.Middleware(opts...)},
	})
	env.RunReady(w)

	spans := exporter.GetSpans()
	var add sdktrace.ReadOnlySpan
	for _, s := range spans.Snapshots() {
		if s.Name() == "add emails" {
			add = s
		}
	}
	for _, s := range spans.Snapshots() {
		var outcome, attempt string
		for _, kv := range s.Attributes() {
			switch kv.Key {
			case tracing.JobOutcome:
				outcome = kv.Value.AsString()
			case tracing.JobAttempt:
				attempt = kv.Value.Emit()
			}
		}
		linked := len(s.Links()) == 1 && s.Links()[0].SpanContext.SpanID() == add.SpanContext().SpanID()
		fmt.Printf("%-15s %-8s attempt=%s outcome=%s linked to add=%v\n", s.Name(), s.SpanKind(), attempt, outcome, linked)
	}
	// Output:
	// job carries traceparent: true
	// add emails      producer attempt= outcome= linked to add=false
	// signup          internal attempt= outcome= linked to add=false
	// process emails  consumer attempt=1 outcome=retrying linked to add=true
	// process emails  consumer attempt=2 outcome=completed linked to add=true
}
