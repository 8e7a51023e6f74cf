// Package tracing traces drover jobs with OpenTelemetry: a span for each
// add, and a span for each attempt of a job, linked to the span of the add
// that made the job, in whichever process it runs.
//
// The trace context crosses from the adding process to the worker in the
// job's metadata (Job.Meta), which AddMiddleware writes with the
// configured propagator and Middleware reads back:
//
//	q, err := queue.New(store, "emails", &queue.Options{
//		AddMiddleware: []queue.AddMiddleware{tracing.AddMiddleware()},
//	})
//	w, err := queue.NewWorker(store, "emails", handler, &queue.WorkerOptions{
//		Middleware: []queue.Middleware{tracing.Middleware()},
//	})
//
// Both use the global tracer provider and propagator unless given others
// (WithTracerProvider, WithPropagator). OpenTelemetry's global propagator
// propagates nothing until one is set, so set it where the program sets up
// its tracer provider:
//
//	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
//		propagation.TraceContext{}, propagation.Baggage{}))
//
// With propagation.TraceContext a job's Meta holds "traceparent" (55
// bytes) and, when the trace has one, "tracestate"; propagation.Baggage
// adds "baggage". The propagator's keys share Meta with the
// application's own entries, and count against its limits
// (backend.MaxMetaEntries, backend.MaxMetaSize).
//
// This package is the only one of drover that imports OpenTelemetry: a
// program that does not import it does not link OpenTelemetry.
package tracing

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracer the spans come
// from.
const ScopeName = "github.com/droverhq/drover/tracing"

// Attribute keys of the spans. The messaging.* keys are those of
// OpenTelemetry's messaging semantic conventions; the drover.* keys are
// drover's own.
const (
	// MessagingSystem is "drover".
	MessagingSystem = attribute.Key("messaging.system")
	// DestinationName is the job's queue.
	DestinationName = attribute.Key("messaging.destination.name")
	// OperationName is the queue.AddOp of an add ("add", "add_bulk",
	// "add_flow", "upsert_scheduler"), or "process" for an attempt.
	OperationName = attribute.Key("messaging.operation.name")
	// OperationType is "send" for an add and "process" for an attempt.
	OperationType = attribute.Key("messaging.operation.type")
	// MessageID is the job's ID: on an attempt, and on an add of one job
	// once the store has given it (for an upsert of a job scheduler, its
	// pending iteration).
	MessageID = attribute.Key("messaging.message.id")
	// BatchMessageCount is the number of jobs of an add of more than one
	// (a bulk, or a flow with its children).
	BatchMessageCount = attribute.Key("messaging.batch.message_count")
	// JobName is the job's name: on an attempt, and on an add of one job.
	JobName = attribute.Key("drover.job.name")
	// JobAttempt is the number of the attempt, from 1; a snoozed or
	// released attempt is not counted, so the next has the same number.
	JobAttempt = attribute.Key("drover.job.attempt")
	// JobOutcome is how the attempt ended: a queue.Outcome ("completed",
	// "retrying", "failed", "snoozed", "cancelled", "released",
	// "lease-lost").
	JobOutcome = attribute.Key("drover.job.outcome")
	// Tx is set on an add made in an application's transaction.
	Tx = attribute.Key("drover.tx")
	// SchedulerID is the ID of the job scheduler of an upsert.
	SchedulerID = attribute.Key("drover.scheduler.id")
)

// common returns the attributes every span has: the system, the queue
// and the operation's name and type.
func common(queue, op, typ string) []attribute.KeyValue {
	return []attribute.KeyValue{
		MessagingSystem.String("drover"),
		DestinationName.String(queue),
		OperationName.String(op),
		OperationType.String(typ),
	}
}

// Option configures Middleware and AddMiddleware.
type Option func(*config)

type config struct {
	tp   trace.TracerProvider
	prop propagation.TextMapPropagator
}

// WithTracerProvider makes spans with tp instead of the global tracer
// provider (otel.GetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// WithPropagator carries trace context in jobs' metadata with p instead
// of the global propagator (otel.GetTextMapPropagator). The adding and
// the working side must use the same one.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.prop = p }
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.prop == nil {
		c.prop = otel.GetTextMapPropagator()
	}
	return c
}

func (c *config) tracer() trace.Tracer { return c.tp.Tracer(ScopeName) }
