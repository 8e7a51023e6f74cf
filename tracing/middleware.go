package tracing

import (
	"context"
	"sync"

	"github.com/droverhq/drover/queue"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Middleware returns worker middleware (queue.WorkerOptions.Middleware,
// first, to time the whole attempt) that traces each attempt of a job: a
// span of kind Consumer named "process <queue>", with the job's ID, name,
// queue and attempt number as attributes, and once the handler returns,
// the attempt's outcome (queue.AttemptOutcome). An attempt that does not
// complete records the handler's error (a panic too) and has status
// Error, but a snoozed or released one, which are not failures.
//
// The attempt's span starts a trace of its own, with a link to the span
// of the add that made the job, read from the job's Meta with the
// propagator. A job runs long after it was added (delays, backoffs, a
// backlog) and maybe many times, and one add may make many jobs: as a
// child of the add's span, each attempt would stretch that trace over
// hours or days and fan it out over every job of a bulk, which is why
// OpenTelemetry's messaging conventions link a consumer's span to the
// producer's instead. The handler's context carries the new span, and the
// baggage the propagator read from the job, if any.
func Middleware(opts ...Option) queue.Middleware {
	c := newConfig(opts)
	t := &attemptTracer{
		tracer:   c.tracer(),
		prop:     c.prop,
		newRoot:  trace.WithNewRoot(),
		consumer: trace.WithSpanKind(trace.SpanKindConsumer),
	}
	return func(next queue.Handler) queue.Handler {
		return func(ctx context.Context, job *queue.Job) (result []byte, err error) {
			ctx, span := t.start(ctx, job)
			if !span.IsRecording() { // not sampled: nothing to record
				defer span.End()
				return next(ctx, job)
			}
			defer func() {
				if v := recover(); v != nil {
					end(span, queue.AttemptOutcome(ctx, job, &queue.PanicError{Value: v}), &queue.PanicError{Value: v})
					panic(v)
				}
				end(span, queue.AttemptOutcome(ctx, job, err), err)
			}()
			return next(ctx, job)
		}
	}
}

// attemptTracer starts the spans of attempts. An attempt runs for every
// job, so it builds no more than the attributes of its own job, and only
// for a span that records: what the spans of one queue share, their name
// and the option of their first attributes, it makes once a queue; and
// the buffer it hands the tracer its options in it takes from a pool,
// since the tracer has copied them (trace.SpanConfig and the SDK's spans
// hold copies) by the time Start and SetAttributes return.
type attemptTracer struct {
	tracer            trace.Tracer
	prop              propagation.TextMapPropagator
	newRoot, consumer trace.SpanStartOption
	queues            sync.Map  // queue name -> *queueSpans
	bufs              sync.Pool // *startBuf
}

// startBuf holds the options of the start of a span, and its job's
// attributes.
type startBuf struct {
	attrs [3]attribute.KeyValue
	links [1]trace.Link
	opts  [4]trace.SpanStartOption
}

// queueSpans is what the spans of the attempts of one queue share.
type queueSpans struct {
	name  string                // "process <queue>"
	attrs trace.SpanStartOption // common(queue, "process", "process")
}

// start starts the span of an attempt of job, linked to the span whose
// context the job carries. The attributes OpenTelemetry's messaging
// conventions name as those samplers may use (system, queue, operation)
// and the link are given to Start; the job's own attributes are set once
// the span has started, on a span that records only, so that an attempt
// whose trace is not sampled does not build them.
func (t *attemptTracer) start(ctx context.Context, job *queue.Job) (context.Context, trace.Span) {
	qs := t.of(job.Queue)
	ctx = t.prop.Extract(ctx, propagation.MapCarrier(job.Meta))
	b, _ := t.bufs.Get().(*startBuf)
	if b == nil {
		b = new(startBuf)
	}
	opts := append(b.opts[:0], t.newRoot, t.consumer, qs.attrs)
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		b.links[0] = trace.Link{SpanContext: sc}
		opts = append(opts, trace.WithLinks(b.links[:]...))
	}
	ctx, span := t.tracer.Start(ctx, qs.name, opts...)
	if span.IsRecording() {
		b.attrs = [3]attribute.KeyValue{MessageID.String(job.ID), JobName.String(job.Name), JobAttempt.Int(job.AttemptsMade + 1)}
		span.SetAttributes(b.attrs[:]...)
	}
	*b = startBuf{} // keeps no job's strings alive
	t.bufs.Put(b)
	return ctx, span
}

// of returns what the spans of queue q share.
func (t *attemptTracer) of(q string) *queueSpans {
	if qs, ok := t.queues.Load(q); ok {
		return qs.(*queueSpans)
	}
	qs, _ := t.queues.LoadOrStore(q, &queueSpans{
		name:  "process " + q,
		attrs: trace.WithAttributes(common(q, "process", "process")...),
	})
	return qs.(*queueSpans)
}

// end sets the outcome of an attempt on its span, and ends the span.
func end(span trace.Span, o queue.Outcome, err error) {
	span.SetAttributes(JobOutcome.String(string(o)))
	switch o {
	case queue.OutcomeCompleted, queue.OutcomeSnoozed, queue.OutcomeReleased, queue.OutcomeRateLimited:
	default:
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		} else {
			span.SetStatus(codes.Error, string(o))
		}
	}
	span.End()
}
