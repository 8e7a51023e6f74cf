package tracing

import (
	"context"

	"github.com/droverhq/drover/queue"
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
	tracer := c.tracer()
	return func(next queue.Handler) queue.Handler {
		return func(ctx context.Context, job *queue.Job) (result []byte, err error) {
			ctx = c.prop.Extract(ctx, propagation.MapCarrier(job.Meta))
			start := []trace.SpanStartOption{
				trace.WithNewRoot(),
				trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithAttributes(common(job.Queue, "process", "process")...),
				trace.WithAttributes(MessageID.String(job.ID), JobName.String(job.Name), JobAttempt.Int(job.AttemptsMade+1)),
			}
			if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
				start = append(start, trace.WithLinks(trace.Link{SpanContext: sc}))
			}
			ctx, span := tracer.Start(ctx, "process "+job.Queue, start...)
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
