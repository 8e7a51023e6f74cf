package queue_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/queue"
	"go.etcd.io/bbolt"
)

// stamp is add middleware that records each call and puts the call's
// kind in the Meta of every job and flow child, then reports the IDs the
// store gave.
type stamp struct {
	mu    sync.Mutex
	calls []string
}

func (s *stamp) middleware(next queue.AddFunc) queue.AddFunc {
	return func(ctx context.Context, call *queue.AddCall) error {
		var mark func(jobs []backend.NewJob)
		mark = func(jobs []backend.NewJob) {
			for i := range jobs {
				if jobs[i].Meta == nil {
					jobs[i].Meta = make(map[string]string)
				}
				jobs[i].Meta["op"] = string(call.Op)
				mark(jobs[i].Children)
			}
		}
		mark(call.Jobs)
		err := next(ctx, call)
		var ids []string
		for _, a := range call.Added {
			ids = append(ids, a.ID)
		}
		s.mu.Lock()
		s.calls = append(s.calls, fmt.Sprintf("%s tx=%v jobs=%d added=%v err=%v", call.Op, call.Tx, len(call.Jobs), ids, err))
		s.mu.Unlock()
		return err
	}
}

func TestAddMiddlewareWrapsEveryKindOfAdd(t *testing.T) {
	db, store := sharedDB(t)
	ctx := t.Context()
	s := &stamp{}
	q, err := queue.New(store, "mail", &queue.Options{AddMiddleware: []queue.AddMiddleware{nil, s.middleware}})
	if err != nil {
		t.Fatal(err)
	}
	own := map[string]string{"tenant": "7"}
	one, err := q.Add(ctx, "one", nil, &queue.AddOptions{Meta: own})
	if err != nil {
		t.Fatal(err)
	}
	if len(own) != 1 {
		t.Errorf("middleware changed the caller's map: %v", own)
	}
	bulk, err := q.AddBulk(ctx, []queue.BulkJob{{Name: "b0"}, {Name: "b1"}})
	if err != nil {
		t.Fatal(err)
	}
	typed, err := queue.AddArgs(ctx, q, welcome{To: "ada"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	flow, err := q.AddFlow(ctx, queue.Flow{Name: "parent", Children: []queue.Flow{{Name: "child", Queue: "other"}}})
	if err != nil {
		t.Fatal(err)
	}
	var inTx []*queue.TxJob
	err = db.Update(func(tx *bbolt.Tx) error {
		a, err := q.AddTx(ctx, store.InTx(tx), "tx-one", nil, nil)
		if err != nil {
			return err
		}
		b, err := q.AddBulkTx(ctx, store.InTx(tx), []queue.BulkJob{{Name: "tx-b0"}, {Name: "tx-b1"}})
		inTx = append([]*queue.TxJob{a}, b...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	sched, err := q.UpsertJobScheduler(ctx, "hourly", queue.Repeat{Every: time.Hour}, queue.JobTemplate{Name: "tick"})
	if err != nil {
		t.Fatal(err)
	}
	iteration, err := q.Job(ctx, backend.IterationID("hourly", sched.Next))
	if err != nil {
		t.Fatal(err)
	}

	want := []string{
		fmt.Sprintf("add tx=false jobs=1 added=[%s] err=<nil>", one.ID),
		fmt.Sprintf("add_bulk tx=false jobs=2 added=[%s %s] err=<nil>", bulk[0].ID, bulk[1].ID),
		fmt.Sprintf("add tx=false jobs=1 added=[%s] err=<nil>", typed.ID),
		fmt.Sprintf("add_flow tx=false jobs=1 added=[%s] err=<nil>", flow.Job.ID),
	}
	var txJobs []*queue.Job
	for _, a := range inTx {
		j, err := a.Job(ctx)
		if err != nil {
			t.Fatal(err)
		}
		txJobs = append(txJobs, j)
	}
	want = append(want,
		fmt.Sprintf("add tx=true jobs=1 added=[%s] err=<nil>", txJobs[0].ID),
		fmt.Sprintf("add_bulk tx=true jobs=2 added=[%s %s] err=<nil>", txJobs[1].ID, txJobs[2].ID),
		fmt.Sprintf("upsert_scheduler tx=false jobs=1 added=[%s] err=<nil>", iteration.ID))
	if !slices.Equal(s.calls, want) {
		t.Errorf("calls:\n%q\nwant\n%q", s.calls, want)
	}

	// The Meta that middleware set is what Add returns and what the store
	// keeps, next to the job's own.
	check := func(j *queue.Job, op string, extra map[string]string) {
		t.Helper()
		w := map[string]string{"op": op}
		maps.Copy(w, extra)
		if !maps.Equal(j.Meta, w) {
			t.Errorf("job %s/%s (%s) returned with Meta %v, want %v", j.Queue, j.ID, j.Name, j.Meta, w)
		}
		stored, err := store.Job(ctx, j.Queue, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(stored.Meta, w) {
			t.Errorf("job %s/%s (%s) stored with Meta %v, want %v", j.Queue, j.ID, j.Name, stored.Meta, w)
		}
	}
	check(one, "add", own)
	check(bulk[0], "add_bulk", nil)
	check(bulk[1], "add_bulk", nil)
	check(typed, "add", nil)
	check(flow.Job, "add_flow", nil)
	check(flow.Children[0].Job, "add_flow", nil)
	check(txJobs[0], "add", nil)
	check(txJobs[2], "add_bulk", nil)
	check(iteration, "upsert_scheduler", nil)
	if !maps.Equal(sched.Template.Options.Meta, map[string]string{"op": "upsert_scheduler"}) {
		t.Errorf("scheduler's template has Meta %v, want the middleware's", sched.Template.Options.Meta)
	}
}

func TestAddMiddlewareCanRefuseAnAdd(t *testing.T) {
	env := drovertest.New(t, nil)
	ctx := t.Context()
	refuse := errors.New("refused")
	for i, c := range []struct {
		name string
		mw   queue.AddMiddleware
		want error
	}{
		{"with an error", func(queue.AddFunc) queue.AddFunc {
			return func(context.Context, *queue.AddCall) error { return refuse }
		}, refuse},
		{"by not calling next", func(queue.AddFunc) queue.AddFunc {
			return func(context.Context, *queue.AddCall) error { return nil }
		}, nil},
		{"by dropping a job", func(next queue.AddFunc) queue.AddFunc {
			return func(ctx context.Context, call *queue.AddCall) error {
				call.Jobs = call.Jobs[:1]
				return next(ctx, call)
			}
		}, nil},
		{"by adding bad metadata", func(next queue.AddFunc) queue.AddFunc {
			return func(ctx context.Context, call *queue.AddCall) error {
				call.Jobs[0].Meta = map[string]string{"": "no key"}
				return next(ctx, call)
			}
		}, queue.ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			q, err := queue.New(env.Store, "refused-"+strconv.Itoa(i), &queue.Options{Clock: env.Clock, AddMiddleware: []queue.AddMiddleware{c.mw}})
			if err != nil {
				t.Fatal(err)
			}
			jobs, err := q.AddBulk(ctx, []queue.BulkJob{{Name: "a"}, {Name: "b"}})
			if err == nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("AddBulk = %v, %v; want an error matching %v", jobs, err, c.want)
			}
			if n, _ := q.Counts(ctx); n.Waiting != 0 {
				t.Errorf("refused add left %d waiting jobs", n.Waiting)
			}
		})
	}
}

func TestAttemptOutcome(t *testing.T) {
	env := drovertest.New(t, nil)
	ctx := t.Context()
	var (
		mu  sync.Mutex
		got []queue.Outcome
	)
	record := func(next queue.Handler) queue.Handler {
		return func(ctx context.Context, job *queue.Job) ([]byte, error) {
			res, err := next(ctx, job)
			mu.Lock()
			got = append(got, queue.AttemptOutcome(ctx, job, err))
			mu.Unlock()
			return res, err
		}
	}
	fail := errors.New("fail")
	h := func(_ context.Context, job *queue.Job) ([]byte, error) {
		switch job.Name {
		case "ok":
			return nil, nil
		case "flaky":
			if job.AttemptsMade == 0 {
				return nil, fail
			}
			return nil, nil
		case "doomed":
			return nil, fail
		case "hopeless":
			return nil, queue.Unrecoverable(fail)
		case "sleepy":
			mu.Lock()
			first := len(got) == 0
			mu.Unlock()
			if first {
				return nil, queue.Snooze(time.Minute)
			}
			return nil, nil
		}
		return nil, fmt.Errorf("unknown job %s", job.Name)
	}
	q := env.Queue("work")
	w := env.Worker("work", h, &queue.WorkerOptions{Middleware: []queue.Middleware{record}})
	for _, c := range []struct {
		name     string
		attempts int
		want     []queue.Outcome
	}{
		{"ok", 1, []queue.Outcome{queue.OutcomeCompleted}},
		{"flaky", 2, []queue.Outcome{queue.OutcomeRetrying, queue.OutcomeCompleted}},
		{"doomed", 2, []queue.Outcome{queue.OutcomeRetrying, queue.OutcomeFailed}},
		{"hopeless", 3, []queue.Outcome{queue.OutcomeFailed}},
		{"sleepy", 1, []queue.Outcome{queue.OutcomeSnoozed, queue.OutcomeCompleted}},
	} {
		got = nil
		if _, err := q.Add(ctx, c.name, nil, &queue.AddOptions{Attempts: c.attempts}); err != nil {
			t.Fatal(err)
		}
		env.RunFor(w, time.Hour)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: outcomes %v, want %v", c.name, got, c.want)
		}
	}

	// Outside a worker, a context cancelled by Cancel makes a failure a
	// cancellation, and a snooze is a snooze.
	job := &queue.Job{Job: backend.Job{Attempts: 3}}
	cctx, cancel := context.WithCancelCause(ctx)
	cancel(&queue.CancelledError{Reason: "stop"})
	for _, c := range []struct {
		ctx  context.Context
		err  error
		want queue.Outcome
	}{
		{ctx, nil, queue.OutcomeCompleted},
		{ctx, fail, queue.OutcomeRetrying},
		{ctx, queue.Snooze(0), queue.OutcomeSnoozed},
		{cctx, fail, queue.OutcomeCancelled},
		{cctx, nil, queue.OutcomeCompleted},
	} {
		if o := queue.AttemptOutcome(c.ctx, job, c.err); o != c.want {
			t.Errorf("AttemptOutcome(%v) = %s, want %s", c.err, o, c.want)
		}
	}
}
