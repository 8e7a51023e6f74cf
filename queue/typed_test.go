package queue_test

import (
	"context"
	"encoding/base64"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/droverhq/drover/queue"
)

type welcome struct {
	To string `json:"to"`
}

func (welcome) Kind() string { return "welcome" }

// invoice has add options of its own.
type invoice struct {
	Cents int `json:"cents"`
}

func (invoice) Kind() string { return "invoice" }

func (invoice) AddOptions() queue.AddOptions {
	return queue.AddOptions{Attempts: 4, Priority: 7, Timeout: time.Minute}
}

// secret has a codec of its own: base64 of its text.
type secret struct{ Text string }

func (secret) Kind() string       { return "secret" }
func (secret) Codec() queue.Codec { return b64Codec{} }

type b64Codec struct{}

func (b64Codec) Marshal(v any) ([]byte, error) {
	switch v := v.(type) {
	case secret:
		return []byte(base64.StdEncoding.EncodeToString([]byte(v.Text))), nil
	case string:
		return []byte(base64.StdEncoding.EncodeToString([]byte(v))), nil
	}
	return nil, errors.New("b64: unsupported type")
}

func (b64Codec) Unmarshal(data []byte, v any) error {
	s, ok := v.(*secret)
	if !ok {
		return errors.New("b64: unsupported type")
	}
	b, err := base64.StdEncoding.DecodeString(string(data))
	s.Text = string(b)
	return err
}

// unencodable cannot be encoded as JSON.
type unencodable struct{ X float64 }

func (unencodable) Kind() string { return "unencodable" }

func TestAddArgsNamesTheJobAfterItsKindAndEncodesItsArgs(t *testing.T) {
	e := newWenv(t)
	j, err := queue.AddArgs(e.ctx, e.q, welcome{To: "ada@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if j.Name != "welcome" || string(j.Data) != `{"to":"ada@example.com"}` {
		t.Errorf("job %q with data %s; want welcome with the JSON of the args", j.Name, j.Data)
	}
	got, err := queue.ArgsOf[welcome](j)
	if err != nil || got.To != "ada@example.com" {
		t.Errorf("ArgsOf = %+v, %v", got, err)
	}
}

func TestAddArgsTakesTheTypesOptionsUnderTheCallers(t *testing.T) {
	e := newWenv(t)
	def, err := queue.AddArgs(e.ctx, e.q, invoice{Cents: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if def.Attempts != 4 || def.Priority != 7 || def.Timeout != time.Minute {
		t.Errorf("attempts %d priority %d timeout %v; want the type's 4, 7 and 1m", def.Attempts, def.Priority, def.Timeout)
	}
	own, err := queue.AddArgs(e.ctx, e.q, invoice{Cents: 100}, &queue.AddOptions{ID: "inv-1", Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	if own.ID != "inv-1" || own.Attempts != 2 || own.Priority != 7 || own.Timeout != time.Minute {
		t.Errorf("id %s attempts %d priority %d timeout %v; want the caller's ID and attempts, the type's priority and timeout", own.ID, own.Attempts, own.Priority, own.Timeout)
	}
}

func TestArgsWithACodecOfTheirOwn(t *testing.T) {
	e := newWenv(t)
	j, err := queue.AddArgs(e.ctx, e.q, secret{Text: "open sesame"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(j.Data) != base64.StdEncoding.EncodeToString([]byte("open sesame")) {
		t.Errorf("data %q; want the codec's encoding", j.Data)
	}
	router, err := queue.NewRouter(queue.HandleResult(func(ctx context.Context, j *queue.JobOf[secret]) (string, error) {
		return strings.ToUpper(j.Args.Text), nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	e.start(router.Handler(), nil)
	done := e.waitState(j.ID, queue.StateCompleted)
	if string(done.Result) != base64.StdEncoding.EncodeToString([]byte("OPEN SESAME")) {
		t.Errorf("result %q; want the codec's encoding of the handler's result", done.Result)
	}
}

func TestArgsThatDoNotEncodeAreInvalidInput(t *testing.T) {
	e := newWenv(t)
	_, err := queue.AddArgs(e.ctx, e.q, unencodable{X: math.Inf(1)}, nil)
	var v *queue.ValidationError
	if !errors.Is(err, queue.ErrInvalid) || !errors.As(err, &v) || v.Field != "Data" || !strings.Contains(err.Error(), "unencodable") {
		t.Errorf("AddArgs = %v; want a ValidationError on Data that names the kind", err)
	}
	if c, _ := e.q.Counts(e.ctx); c.Waiting != 0 {
		t.Errorf("%d jobs added", c.Waiting)
	}
	for _, err := range []error{
		func() error { _, err := queue.BulkJobOf(unencodable{X: math.NaN()}, nil); return err }(),
		func() error { _, err := queue.FlowOf(unencodable{X: math.NaN()}, nil); return err }(),
		func() error { _, err := queue.JobTemplateOf(unencodable{X: math.NaN()}, nil); return err }(),
	} {
		if !errors.Is(err, queue.ErrInvalid) {
			t.Errorf("got %v, want ErrInvalid", err)
		}
	}
}

func TestTypedHandlersGetTheirArgsAndResults(t *testing.T) {
	e := newWenv(t)
	var got sync.Map
	router, err := queue.NewRouter(
		queue.Handle(func(ctx context.Context, j *queue.JobOf[welcome]) error {
			got.Store(j.ID, j.Args.To)
			return nil
		}),
		queue.HandleResult(func(ctx context.Context, j *queue.JobOf[invoice]) (map[string]int, error) {
			return map[string]int{"charged": j.Args.Cents}, nil
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	w, err := queue.BulkJobOf(welcome{To: "grace@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := queue.BulkJobOf(invoice{Cents: 1200}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := e.q.AddBulk(e.ctx, []queue.BulkJob{w, inv})
	if err != nil {
		t.Fatal(err)
	}
	e.start(router.Handler(), nil)
	e.waitState(jobs[0].ID, queue.StateCompleted)
	if to, _ := got.Load(jobs[0].ID); to != "grace@example.com" {
		t.Errorf("welcome handler got %v", to)
	}
	if j := e.waitState(jobs[1].ID, queue.StateCompleted); string(j.Result) != `{"charged":1200}` {
		t.Errorf("invoice result %s", j.Result)
	}
}

func TestDataThatDoesNotDecodeFailsTheJobAtOnce(t *testing.T) {
	e := newWenv(t)
	bad, err := e.q.Add(e.ctx, "welcome", []byte(`{"to":42}`), &queue.AddOptions{Attempts: 5})
	if err != nil {
		t.Fatal(err)
	}
	empty := e.add("welcome", nil) // no data: the zero args
	var called atomic.Int32
	seen := make(chan error, 2)
	router, err := queue.NewRouter(queue.Handle(func(ctx context.Context, j *queue.JobOf[welcome]) error {
		called.Add(1)
		if j.Args != (welcome{}) {
			t.Errorf("empty data decoded as %+v", j.Args)
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	e.start(router.Handler(), &queue.WorkerOptions{Middleware: []queue.Middleware{observe(seen)}})
	j := e.waitState(bad.ID, queue.StateFailed)
	if j.AttemptsMade != 1 || !strings.Contains(j.FailedReason, "does not decode as welcome arguments") {
		t.Errorf("attempts %d reason %q; want one attempt failed for good, saying the data does not decode", j.AttemptsMade, j.FailedReason)
	}
	e.waitState(empty.ID, queue.StateCompleted)
	if called.Load() != 1 {
		t.Errorf("handler called %d times, want once (for the empty data only)", called.Load())
	}
	err = firstError(t, seen, 2)
	var d *queue.DecodeError
	if !errors.Is(err, queue.ErrDecode) || !errors.Is(err, queue.ErrUnrecoverable) || !errors.As(err, &d) || d.Kind != "welcome" || d.JobID != bad.ID {
		t.Errorf("middleware saw %v; want a *DecodeError for the bad job, unrecoverable", err)
	}
}
