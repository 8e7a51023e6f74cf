package tracing_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/queue"
	"github.com/droverhq/drover/tracing"
	"go.opentelemetry.io/otel/trace"
)

// The cross-process test runs this test binary again as the process that
// adds the job, chosen by an environment variable.
const helperEnv = "DROVER_TRACING_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "add":
		if err := helperAdd(os.Args[len(os.Args)-1]); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
	}
	os.Exit(0)
}

// helperAdd adds a job to the bbolt file at path, under a span of its
// own, and prints the trace and span IDs of the add's span and the job's
// ID.
func helperAdd(path string) (err error) {
	rec := makeRecorder()
	store, err := bolt.Open(path, nil)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := store.Close(); err == nil {
			err = cerr
		}
	}()
	q, err := queue.New(store, "emails", &queue.Options{AddMiddleware: []queue.AddMiddleware{tracing.AddMiddleware(rec.options()...)}})
	if err != nil {
		return err
	}
	ctx, request := rec.tp.Tracer("helper").Start(context.Background(), "signup")
	job, err := q.Add(ctx, "welcome", []byte(`{"to":"ada@example.com"}`), nil)
	request.End()
	if err != nil {
		return err
	}
	adds := rec.spans("add emails")
	if len(adds) != 1 {
		return fmt.Errorf("%d add spans", len(adds))
	}
	sc := adds[0].SpanContext
	fmt.Printf("%s %s %s\n", sc.TraceID(), sc.SpanID(), job.ID)
	return nil
}

// A job added under a span in one process runs in another, where the
// attempt's span links to the add's span.
func TestAttemptLinksToTheAddOfAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drover.db")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$", path)
	cmd.Env = append(os.Environ(), helperEnv+"=add")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("adding process: %v\n%s", err, stderr.String())
	}
	var traceHex, spanHex, id string
	if _, err := fmt.Sscan(string(out), &traceHex, &spanHex, &id); err != nil {
		t.Fatalf("adding process printed %q: %v", out, err)
	}
	traceID, err := trace.TraceIDFromHex(traceHex)
	if err != nil {
		t.Fatal(err)
	}
	spanID, err := trace.SpanIDFromHex(spanHex)
	if err != nil {
		t.Fatal(err)
	}

	// This process opens the file once the other has closed it, and runs
	// the job.
	rec := newRecorder(t)
	store, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var inHandler trace.SpanContext
	h := func(ctx context.Context, job *queue.Job) ([]byte, error) {
		inHandler = trace.SpanContextFromContext(ctx)
		return nil, nil
	}
	w, err := queue.NewWorker(store, "emails", h, &queue.WorkerOptions{Middleware: []queue.Middleware{tracing.Middleware(rec.options()...)}})
	if err != nil {
		t.Fatal(err)
	}
	job, err := w.RunNext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if job == nil || job.ID != id || job.State != queue.StateCompleted {
		t.Fatalf("ran %+v, want job %s completed", job, id)
	}
	spans := rec.spans("process emails")
	if len(spans) != 1 {
		t.Fatalf("%d attempt spans, want 1", len(spans))
	}
	s := spans[0]
	if len(s.Links) != 1 {
		t.Fatalf("attempt span has links %+v, want one", s.Links)
	}
	link := s.Links[0].SpanContext
	if link.TraceID() != traceID || link.SpanID() != spanID || !link.IsRemote() || !link.IsSampled() {
		t.Errorf("attempt span links to %v/%v (remote %v, sampled %v), want the add's span %v/%v",
			link.TraceID(), link.SpanID(), link.IsRemote(), link.IsSampled(), traceID, spanID)
	}
	if s.Parent.IsValid() || s.SpanContext.TraceID() == traceID {
		t.Errorf("attempt span has parent %v in trace %v; want the root of a trace of its own", s.Parent, s.SpanContext.TraceID())
	}
	if !inHandler.Equal(s.SpanContext) {
		t.Errorf("the handler's context holds span %v, want the attempt's %v", inHandler, s.SpanContext)
	}
}
