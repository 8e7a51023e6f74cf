package tracing

import (
	"context"
	"maps"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// AddMiddleware returns add middleware (queue.Options.AddMiddleware) that
// traces every add through the queue: a span of kind Producer, named for
// the call and the queue ("add emails", "add_bulk emails", "add_flow
// emails", "upsert_scheduler emails"), a child of the span in the add's
// context. It puts the span's context into the Meta of every job of the
// call, flow children too, with the propagator, for the attempts' spans
// to link to. The job of an upsert of a job scheduler is its template:
// every iteration the scheduler makes from it links to the upsert's span.
// An add that fails records its error on the span and sets its status to
// Error.
func AddMiddleware(opts ...Option) queue.AddMiddleware {
	c := newConfig(opts)
	tracer := c.tracer()
	return func(next queue.AddFunc) queue.AddFunc {
		return func(ctx context.Context, call *queue.AddCall) error {
			attrs := common(call.Queue, string(call.Op), "send")
			if call.Tx {
				attrs = append(attrs, Tx.Bool(true))
			}
			if call.SchedulerID != "" {
				attrs = append(attrs, SchedulerID.String(call.SchedulerID))
			}
			n := countJobs(call.Jobs)
			if n == 1 {
				attrs = append(attrs, JobName.String(call.Jobs[0].Name))
			} else {
				attrs = append(attrs, BatchMessageCount.Int(n))
			}
			ctx, span := tracer.Start(ctx, string(call.Op)+" "+call.Queue,
				trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
			defer span.End()
			inject(ctx, c.prop, call.Jobs)
			err := next(ctx, call)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
				return err
			}
			if n == 1 && len(call.Added) == 1 && call.Added[0].ID != "" {
				span.SetAttributes(MessageID.String(call.Added[0].ID))
			}
			return nil
		}
	}
}

// inject writes the span context of ctx into the Meta of every job of
// the tree. The propagator runs once: every job carries the same entries.
func inject(ctx context.Context, p propagation.TextMapPropagator, jobs []backend.NewJob) {
	carrier := propagation.MapCarrier{}
	p.Inject(ctx, carrier)
	if len(carrier) > 0 {
		setMeta(jobs, carrier)
	}
}

// setMeta sets the entries of kv in the Meta of every job of the tree.
func setMeta(jobs []backend.NewJob, kv map[string]string) {
	for i := range jobs {
		j := &jobs[i]
		if j.Meta == nil {
			j.Meta = make(map[string]string, len(kv))
		}
		maps.Copy(j.Meta, kv)
		setMeta(j.Children, kv)
	}
}

// countJobs counts the jobs of a tree.
func countJobs(jobs []backend.NewJob) int {
	n := len(jobs)
	for i := range jobs {
		n += countJobs(jobs[i].Children)
	}
	return n
}
