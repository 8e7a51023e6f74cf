package tracing_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/queue"
	"github.com/droverhq/drover/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// recorder is a tracer provider that keeps every ended span.
type recorder struct {
	tp  *sdktrace.TracerProvider
	exp *tracetest.InMemoryExporter
}

func newRecorder(t testing.TB) *recorder {
	r := makeRecorder()
	t.Cleanup(func() { _ = r.tp.Shutdown(context.Background()) })
	return r
}

func makeRecorder() *recorder {
	exp := tracetest.NewInMemoryExporter()
	return &recorder{tp: sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)), exp: exp}
}

// options are the tracing options of the tests: the recorder, and W3C
// trace context.
func (r *recorder) options() []tracing.Option {
	return []tracing.Option{tracing.WithTracerProvider(r.tp), tracing.WithPropagator(propagation.TraceContext{})}
}

// spans returns the ended spans named name, in the order they ended.
func (r *recorder) spans(name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range r.exp.GetSpans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// attrs returns a span's attributes as a map, for comparison.
func attrs(kvs []attribute.KeyValue) map[attribute.Key]string {
	m := make(map[attribute.Key]string, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value.Emit()
	}
	return m
}

func wantAttrs(t *testing.T, s tracetest.SpanStub, want map[attribute.Key]string) {
	t.Helper()
	if got := attrs(s.Attributes); !maps.Equal(got, want) {
		t.Errorf("span %q attributes:\n got %v\nwant %v", s.Name, got, want)
	}
}

// traceparent is the W3C header of a sampled span.
func traceparent(sc trace.SpanContext) string {
	return fmt.Sprintf("00-%s-%s-01", sc.TraceID(), sc.SpanID())
}

func hasException(s tracetest.SpanStub) bool {
	return slices.ContainsFunc(s.Events, func(e sdktrace.Event) bool { return e.Name == "exception" })
}

func tracedQueue(t *testing.T, env *drovertest.Env, name string, opts ...tracing.Option) *queue.Queue {
	t.Helper()
	q, err := queue.New(env.Store, name, &queue.Options{Clock: env.Clock, AddMiddleware: []queue.AddMiddleware{tracing.AddMiddleware(opts...)}})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestAddSpans(t *testing.T) {
	rec := newRecorder(t)
	env := drovertest.New(t, nil)
	q := tracedQueue(t, env, "emails", rec.options()...)
	ctx, request := rec.tp.Tracer("test").Start(t.Context(), "request")

	one, err := q.Add(ctx, "welcome", nil, &queue.AddOptions{Meta: map[string]string{"tenant": "7"}})
	if err != nil {
		t.Fatal(err)
	}
	bulk, err := q.AddBulk(ctx, []queue.BulkJob{{Name: "a"}, {Name: "b"}, {Name: "c"}})
	if err != nil {
		t.Fatal(err)
	}
	flow, err := q.AddFlow(ctx, queue.Flow{Name: "parent", Children: []queue.Flow{{Name: "child", Queue: "thumbs"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Add(ctx, "", nil, nil); !errors.Is(err, queue.ErrInvalid) {
		t.Fatalf("Add of no name = %v, want ErrInvalid", err)
	}
	request.End()

	adds, bulks, flows := rec.spans("add emails"), rec.spans("add_bulk emails"), rec.spans("add_flow emails")
	if len(adds) != 2 || len(bulks) != 1 || len(flows) != 1 {
		t.Fatalf("%d add, %d add_bulk, %d add_flow spans; want 2, 1, 1", len(adds), len(bulks), len(flows))
	}
	for _, s := range append(append(slices.Clone(adds), bulks...), flows...) {
		if s.SpanKind != trace.SpanKindProducer {
			t.Errorf("span %q is of kind %v, want producer", s.Name, s.SpanKind)
		}
		if s.Parent.TraceID() != request.SpanContext().TraceID() || s.Parent.SpanID() != request.SpanContext().SpanID() {
			t.Errorf("span %q has parent %v, want the request's span", s.Name, s.Parent)
		}
	}
	common := func(op string, extra map[attribute.Key]string) map[attribute.Key]string {
		m := map[attribute.Key]string{
			"messaging.system": "drover", "messaging.destination.name": "emails",
			"messaging.operation.name": op, "messaging.operation.type": "send",
		}
		maps.Copy(m, extra)
		return m
	}
	wantAttrs(t, adds[0], common("add", map[attribute.Key]string{"messaging.message.id": one.ID, "drover.job.name": "welcome"}))
	wantAttrs(t, bulks[0], common("add_bulk", map[attribute.Key]string{"messaging.batch.message_count": "3"}))
	wantAttrs(t, flows[0], common("add_flow", map[attribute.Key]string{"messaging.batch.message_count": "2"}))
	for _, s := range []tracetest.SpanStub{adds[0], bulks[0], flows[0]} {
		if s.Status.Code != codes.Unset {
			t.Errorf("span %q has status %v, want unset", s.Name, s.Status)
		}
	}
	bad := adds[1]
	wantAttrs(t, bad, common("add", map[attribute.Key]string{"drover.job.name": ""}))
	if bad.Status.Code != codes.Error || !hasException(bad) {
		t.Errorf("span of a refused add has status %v and events %v; want an error, recorded", bad.Status, bad.Events)
	}

	// Each job carries the context of its add's span, as stored.
	check := func(j *queue.Job, s tracetest.SpanStub, own map[string]string) {
		t.Helper()
		want := map[string]string{"traceparent": traceparent(s.SpanContext)}
		maps.Copy(want, own)
		stored, err := env.Store.Job(t.Context(), j.Queue, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(j.Meta, want) || !maps.Equal(stored.Meta, want) {
			t.Errorf("job %s/%s has Meta %v, stored %v; want %v", j.Queue, j.ID, j.Meta, stored.Meta, want)
		}
	}
	check(one, adds[0], map[string]string{"tenant": "7"})
	for _, j := range bulk {
		check(j, bulks[0], nil)
	}
	check(flow.Job, flows[0], nil)
	check(flow.Children[0].Job, flows[0], nil)
}

func TestAttemptSpans(t *testing.T) {
	rec := newRecorder(t)
	env := drovertest.New(t, nil)
	q := tracedQueue(t, env, "emails", rec.options()...)
	errFail := errors.New("smtp: 451 try again")
	h := func(ctx context.Context, job *queue.Job) ([]byte, error) {
		if !trace.SpanFromContext(ctx).SpanContext().IsValid() {
			return nil, errors.New("the handler's context has no span")
		}
		switch {
		case job.Name == "flaky" && job.AttemptsMade == 0, job.Name == "doomed":
			return nil, errFail
		case job.Name == "panicky":
			panic("out of ink")
		}
		return nil, nil
	}
	w := env.Worker("emails", h, &queue.WorkerOptions{Middleware: []queue.Middleware{tracing.Middleware(rec.options()...)}})
	ids := map[string]string{} // job name -> ID
	for _, c := range []struct {
		name     string
		attempts int
	}{{"ok", 1}, {"flaky", 3}, {"doomed", 2}, {"panicky", 1}} {
		j, err := q.Add(t.Context(), c.name, nil, &queue.AddOptions{Attempts: c.attempts})
		if err != nil {
			t.Fatal(err)
		}
		ids[c.name] = j.ID
	}
	env.RunReady(w)

	adds := rec.spans("add emails")
	addOf := map[string]tracetest.SpanStub{}
	for _, s := range adds {
		addOf[attrs(s.Attributes)["messaging.message.id"]] = s
	}
	attempts := map[string][]tracetest.SpanStub{}
	for _, s := range rec.spans("process emails") {
		id := attrs(s.Attributes)["messaging.message.id"]
		attempts[id] = append(attempts[id], s)
	}
	for _, c := range []struct {
		name     string
		outcomes []string
		err      string
	}{
		{"ok", []string{"completed"}, ""},
		{"flaky", []string{"retrying", "completed"}, errFail.Error()},
		{"doomed", []string{"retrying", "failed"}, errFail.Error()},
		{"panicky", []string{"failed"}, "panic: out of ink"},
	} {
		id := ids[c.name]
		add, ok := addOf[id]
		if !ok {
			t.Fatalf("no add span for job %s", id)
		}
		spans := attempts[id]
		if len(spans) != len(c.outcomes) {
			t.Fatalf("job %s: %d attempt spans, want %d", c.name, len(spans), len(c.outcomes))
		}
		for i, s := range spans {
			wantAttrs(t, s, map[attribute.Key]string{
				"messaging.system": "drover", "messaging.destination.name": "emails",
				"messaging.operation.name": "process", "messaging.operation.type": "process",
				"messaging.message.id": id, "drover.job.name": c.name,
				"drover.job.attempt": fmt.Sprint(i + 1), "drover.job.outcome": c.outcomes[i],
			})
			if s.SpanKind != trace.SpanKindConsumer {
				t.Errorf("job %s attempt %d: kind %v, want consumer", c.name, i+1, s.SpanKind)
			}
			// A trace of its own, linked to the add's span.
			if s.Parent.IsValid() || s.SpanContext.TraceID() == add.SpanContext.TraceID() {
				t.Errorf("job %s attempt %d: parent %v, trace %v; want a new trace", c.name, i+1, s.Parent, s.SpanContext.TraceID())
			}
			if len(s.Links) != 1 || !s.Links[0].SpanContext.Equal(add.SpanContext.WithRemote(true)) {
				t.Errorf("job %s attempt %d: links %+v, want one to the add's span %v", c.name, i+1, s.Links, add.SpanContext)
			}
			if c.outcomes[i] == "completed" {
				if s.Status.Code != codes.Unset || hasException(s) {
					t.Errorf("job %s attempt %d completed with status %v, events %v", c.name, i+1, s.Status, s.Events)
				}
				continue
			}
			if s.Status.Code != codes.Error || s.Status.Description != c.err || !hasException(s) {
				t.Errorf("job %s attempt %d: status %v, events %v; want the error %q recorded", c.name, i+1, s.Status, s.Events, c.err)
			}
		}
	}
}

// A snoozed attempt is no failure; its span says so.
func TestSnoozedAttemptSpan(t *testing.T) {
	rec := newRecorder(t)
	env := drovertest.New(t, nil)
	q := tracedQueue(t, env, "emails", rec.options()...)
	snoozed := false
	h := func(ctx context.Context, job *queue.Job) ([]byte, error) {
		if !snoozed {
			snoozed = true
			return nil, queue.Snooze(1)
		}
		return nil, nil
	}
	w := env.Worker("emails", h, &queue.WorkerOptions{Middleware: []queue.Middleware{tracing.Middleware(rec.options()...)}})
	if _, err := q.Add(t.Context(), "later", nil, nil); err != nil {
		t.Fatal(err)
	}
	env.RunFor(w, 1)
	env.RunReady(w)
	spans := rec.spans("process emails")
	if len(spans) != 2 {
		t.Fatalf("%d attempt spans, want 2", len(spans))
	}
	for i, want := range []string{"snoozed", "completed"} {
		a := attrs(spans[i].Attributes)
		if a["drover.job.outcome"] != want || a["drover.job.attempt"] != "1" || spans[i].Status.Code != codes.Unset {
			t.Errorf("attempt span %d: outcome %s, attempt %s, status %v; want %s, 1, unset", i, a["drover.job.outcome"], a["drover.job.attempt"], spans[i].Status, want)
		}
	}
}

// With OpenTelemetry's default global propagator, which propagates
// nothing, jobs get no Meta and attempts no link.
func TestNothingPropagatesWithoutAPropagator(t *testing.T) {
	rec := newRecorder(t)
	env := drovertest.New(t, nil)
	q := tracedQueue(t, env, "emails", tracing.WithTracerProvider(rec.tp))
	j, err := q.Add(t.Context(), "welcome", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if j.Meta != nil {
		t.Errorf("job Meta = %v, want none", j.Meta)
	}
	w := env.Worker("emails", func(context.Context, *queue.Job) ([]byte, error) { return nil, nil },
		&queue.WorkerOptions{Middleware: []queue.Middleware{tracing.Middleware(tracing.WithTracerProvider(rec.tp))}})
	env.RunReady(w)
	spans := rec.spans("process emails")
	if len(spans) != 1 || len(spans[0].Links) != 0 || len(rec.spans("add emails")) != 1 {
		t.Fatalf("spans %+v; want one add span, and one attempt span without links", rec.exp.GetSpans())
	}
}

// An upsert of a job scheduler has a span, and every iteration the
// scheduler makes from that template, not just the first, links to it.
func TestSchedulerUpsertSpans(t *testing.T) {
	rec := newRecorder(t)
	env := drovertest.New(t, nil)
	q := tracedQueue(t, env, "reports", rec.options()...)
	ctx, request := rec.tp.Tracer("test").Start(t.Context(), "request")
	s, err := q.UpsertJobScheduler(ctx, "nightly", queue.Repeat{Every: time.Hour}, queue.JobTemplate{Name: "report"})
	request.End()
	if err != nil {
		t.Fatal(err)
	}
	upserts := rec.spans("upsert_scheduler reports")
	if len(upserts) != 1 {
		t.Fatalf("%d upsert spans, want 1", len(upserts))
	}
	up := upserts[0]
	wantAttrs(t, up, map[attribute.Key]string{
		"messaging.system": "drover", "messaging.destination.name": "reports",
		"messaging.operation.name": "upsert_scheduler", "messaging.operation.type": "send",
		"drover.scheduler.id": "nightly", "drover.job.name": "report",
		"messaging.message.id": backend.IterationID("nightly", s.Next),
	})
	if up.SpanKind != trace.SpanKindProducer || up.Parent.SpanID() != request.SpanContext().SpanID() {
		t.Errorf("upsert span: kind %v, parent %v; want a producer under the request", up.SpanKind, up.Parent)
	}
	if got := s.Template.Options.Meta["traceparent"]; got != traceparent(up.SpanContext) {
		t.Errorf("the template carries traceparent %q, want the upsert's %q", got, traceparent(up.SpanContext))
	}

	w := env.Worker("reports", func(context.Context, *queue.Job) ([]byte, error) { return nil, nil },
		&queue.WorkerOptions{Middleware: []queue.Middleware{tracing.Middleware(rec.options()...)}})
	for range 2 {
		env.Clock.Advance(time.Hour)
		if ran := env.RunReady(w); len(ran) != 1 {
			t.Fatalf("ran %d iterations, want 1", len(ran))
		}
	}
	attempts := rec.spans("process reports")
	if len(attempts) != 2 {
		t.Fatalf("%d attempt spans, want 2", len(attempts))
	}
	for i, a := range attempts {
		if len(a.Links) != 1 || !a.Links[0].SpanContext.Equal(up.SpanContext.WithRemote(true)) {
			t.Errorf("iteration %d links to %+v, want the upsert's span %v", i+1, a.Links, up.SpanContext)
		}
	}
}

// queueSampler samples the attempts of one queue only, and keeps what
// Start gave it for each attempt.
type queueSampler struct {
	queue string
	mu    sync.Mutex
	seen  []sdktrace.SamplingParameters
}

func (s *queueSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	a := attrs(p.Attributes)
	if a["messaging.operation.type"] != "process" {
		return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample}
	}
	s.mu.Lock()
	s.seen = append(s.seen, p)
	s.mu.Unlock()
	if a["messaging.destination.name"] == s.queue {
		return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample}
	}
	return sdktrace.SamplingResult{Decision: sdktrace.Drop}
}

func (s *queueSampler) Description() string { return "queueSampler" }

// A sampler sees the attributes the messaging conventions name for
// sampling, and the link to the add, when an attempt's span starts; an
// attempt it drops still runs, with the span context in its context, and
// is not exported.
func TestSamplersSeeAnAttemptsMessagingAttributes(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	sampler := &queueSampler{queue: "emails"}
	rec := &recorder{tp: sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sampler)), exp: exp}
	t.Cleanup(func() { _ = rec.tp.Shutdown(context.Background()) })
	env := drovertest.New(t, nil)
	ran := map[string]bool{}
	h := func(ctx context.Context, job *queue.Job) ([]byte, error) {
		if !trace.SpanFromContext(ctx).SpanContext().IsValid() {
			return nil, errors.New("the handler's context has no span")
		}
		ran[job.Queue] = true
		return nil, nil
	}
	for _, name := range []string{"emails", "thumbs"} {
		q := tracedQueue(t, env, name, rec.options()...)
		if _, err := q.Add(t.Context(), "job", nil, nil); err != nil {
			t.Fatal(err)
		}
		env.RunReady(env.Worker(name, h, &queue.WorkerOptions{Middleware: []queue.Middleware{tracing.Middleware(rec.options()...)}}))
	}
	if !ran["emails"] || !ran["thumbs"] {
		t.Fatalf("jobs ran in %v, want both queues", ran)
	}
	if len(sampler.seen) != 2 {
		t.Fatalf("the sampler saw %d attempts, want 2", len(sampler.seen))
	}
	for i, name := range []string{"emails", "thumbs"} {
		p := sampler.seen[i]
		want := map[attribute.Key]string{
			"messaging.system": "drover", "messaging.destination.name": name,
			"messaging.operation.name": "process", "messaging.operation.type": "process",
		}
		if got := attrs(p.Attributes); !maps.Equal(got, want) || p.Name != "process "+name || len(p.Links) != 1 {
			t.Errorf("the sampler saw %q with %v and %d links; want %v and the add's link", p.Name, got, len(p.Links), want)
		}
		adds := rec.spans("add " + name)
		if len(adds) != 1 || !p.Links[0].SpanContext.Equal(adds[0].SpanContext.WithRemote(true)) {
			t.Errorf("the sampler saw links %+v, want one to the add's span", p.Links)
		}
	}
	if n := len(rec.spans("process thumbs")); n != 0 {
		t.Errorf("%d spans of dropped attempts exported", n)
	}
	spans := rec.spans("process emails")
	if len(spans) != 1 {
		t.Fatalf("%d spans of the sampled attempt, want 1", len(spans))
	}
	if a := attrs(spans[0].Attributes); a["drover.job.name"] != "job" || a["drover.job.attempt"] != "1" || a["drover.job.outcome"] != "completed" || a["messaging.message.id"] == "" {
		t.Errorf("sampled attempt's attributes %v, want the job's too", a)
	}
}
