package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/metrics"
	"github.com/droverhq/drover/queue"
)

func TestHandlerMetricsObserveWaitAndRunTimesOnTheClock(t *testing.T) {
	eachStore(t, backend.EventRetention{}, func(t *testing.T, env *drovertest.Env) {
		m := metrics.NewHandlerMetrics(&metrics.HandlerOptions{Clock: env.Clock, WaitBuckets: []float64{1, 5}, RunBuckets: []float64{0.3, 1}})
		q := env.Queue("img")
		add(t, q, "fast", nil)
		add(t, q, "flaky", &queue.AddOptions{Attempts: 2, Backoff: queue.FixedBackoff(time.Minute)})
		add(t, q, "fast", &queue.AddOptions{Delay: 10 * time.Second})
		env.Clock.Advance(2 * time.Second)

		h := func(ctx context.Context, job *queue.Job) ([]byte, error) {
			switch {
			case job.Name == "fast":
				env.Clock.Advance(250 * time.Millisecond)
			case job.AttemptsMade == 0:
				env.Clock.Advance(500 * time.Millisecond)
				return nil, errors.New("boom")
			}
			return nil, nil
		}
		w := env.Worker("img", h, &queue.WorkerOptions{Middleware: []queue.Middleware{m.Middleware}})
		// fast starts at 2s, waited 2s, runs 0.25s; flaky starts at
		// 2.25s, waited 2.25s, fails after 0.5s; the delayed fast starts
		// when due, at 10s, waited 0s; flaky's retry is no first attempt.
		if ran := env.RunFor(w, 5*time.Minute); len(ran) != 4 {
			t.Fatalf("ran %d attempts; want 4", len(ran))
		}
		want := `
# HELP drover_job_wait_seconds Time from when a job was due to the start of its first attempt, by queue and job name.
# TYPE drover_job_wait_seconds histogram
drover_job_wait_seconds_bucket{name="fast",queue="img",le="1"} 1
drover_job_wait_seconds_bucket{name="fast",queue="img",le="5"} 2
drover_job_wait_seconds_bucket{name="fast",queue="img",le="+Inf"} 2
drover_job_wait_seconds_sum{name="fast",queue="img"} 2
drover_job_wait_seconds_count{name="fast",queue="img"} 2
drover_job_wait_seconds_bucket{name="flaky",queue="img",le="1"} 0
drover_job_wait_seconds_bucket{name="flaky",queue="img",le="5"} 1
drover_job_wait_seconds_bucket{name="flaky",queue="img",le="+Inf"} 1
drover_job_wait_seconds_sum{name="flaky",queue="img"} 2.25
drover_job_wait_seconds_count{name="flaky",queue="img"} 1
`
		if err := testutil.CollectAndCompare(m, strings.NewReader(want), "drover_job_wait_seconds"); err != nil {
			t.Error(err)
		}
		check(t, scrape(t, m), map[string]float64{
			`drover_job_run_seconds_count{name="fast",outcome="ok",queue="img"}`:     2,
			`drover_job_run_seconds_sum{name="fast",outcome="ok",queue="img"}`:       0.5,
			`drover_job_run_seconds_count{name="flaky",outcome="error",queue="img"}`: 1,
			`drover_job_run_seconds_sum{name="flaky",outcome="error",queue="img"}`:   0.5,
			`drover_job_run_seconds_count{name="flaky",outcome="ok",queue="img"}`:    1,
			`drover_job_run_seconds_sum{name="flaky",outcome="ok",queue="img"}`:      0,
			`drover_job_run_seconds_count{name="fast",outcome="panic",queue="img"}`:  0,
			`drover_jobs_running{queue="img"}`:                                       0,
		})
	})
}

// call runs the middleware of m around h for job, as a worker would, and
// returns what the panic of h was, if any.
func call(m *metrics.HandlerMetrics, ctx context.Context, job *queue.Job, h queue.Handler) (p any) {
	defer func() { p = recover() }()
	_, _ = queue.Chain(h, m.Middleware)(ctx, job)
	return nil
}

func TestHandlerMetricsTellTheOutcomes(t *testing.T) {
	clock := drovertest.NewClock(t0)
	m := metrics.NewHandlerMetrics(&metrics.HandlerOptions{Clock: clock})
	job := &queue.Job{Job: backend.Job{Queue: "q", Name: "n", CreatedAt: t0}}
	returns := func(err error) queue.Handler {
		return func(context.Context, *queue.Job) ([]byte, error) { return nil, err }
	}
	timedOut, cancel := context.WithCancelCause(t.Context())
	cancel(queue.ErrTimeout)
	for _, c := range []struct {
		ctx context.Context
		h   queue.Handler
	}{
		{t.Context(), returns(nil)},
		{t.Context(), returns(errors.New("boom"))},
		{t.Context(), returns(queue.Unrecoverable(errors.New("bad")))},
		{t.Context(), returns(queue.Snooze(time.Minute))},
		{timedOut, returns(context.Canceled)},
		{t.Context(), returns(queue.ErrTimeout)},
		{t.Context(), queue.Chain(func(context.Context, *queue.Job) ([]byte, error) { panic("inner") }, queue.Recover())},
	} {
		if p := call(m, c.ctx, job, c.h); p != nil {
			t.Fatalf("panic %v", p)
		}
	}
	if p := call(m, t.Context(), job, func(context.Context, *queue.Job) ([]byte, error) { panic("boom") }); p != "boom" {
		t.Errorf("the handler's panic went on up as %v; want boom", p)
	}
	check(t, scrape(t, m), map[string]float64{
		`drover_job_run_seconds_count{name="n",outcome="ok",queue="q"}`:      1,
		`drover_job_run_seconds_count{name="n",outcome="error",queue="q"}`:   2,
		`drover_job_run_seconds_count{name="n",outcome="snooze",queue="q"}`:  1,
		`drover_job_run_seconds_count{name="n",outcome="timeout",queue="q"}`: 2,
		`drover_job_run_seconds_count{name="n",outcome="panic",queue="q"}`:   2,
		`drover_job_wait_seconds_count{name="n",queue="q"}`:                  8,
		`drover_jobs_running{queue="q"}`:                                     0,
	})
}

func TestHandlerMetricsCountRunningHandlers(t *testing.T) {
	clock := drovertest.NewClock(t0)
	m := metrics.NewHandlerMetrics(&metrics.HandlerOptions{Clock: clock})
	job := &queue.Job{Job: backend.Job{Queue: "q", Name: "n", CreatedAt: t0}}
	var inside map[string]float64
	call(m, t.Context(), job, func(context.Context, *queue.Job) ([]byte, error) {
		inside = scrape(t, m)
		return nil, nil
	})
	check(t, inside, map[string]float64{`drover_jobs_running{queue="q"}`: 1})
	check(t, scrape(t, m), map[string]float64{`drover_jobs_running{queue="q"}`: 0})
}

func TestHandlerMetricsObserveTheWaitOfFirstAttemptsAlone(t *testing.T) {
	clock := drovertest.NewClock(t0.Add(time.Minute))
	m := metrics.NewHandlerMetrics(&metrics.HandlerOptions{Clock: clock})
	ok := func(context.Context, *queue.Job) ([]byte, error) { return nil, nil }
	for _, j := range []backend.Job{
		{Name: "first", CreatedAt: t0},                                         // waited a minute
		{Name: "delayed", CreatedAt: t0, RunAt: t0.Add(50 * time.Second)},      // 10 seconds
		{Name: "early", CreatedAt: t0, RunAt: t0.Add(2 * time.Minute)},         // due later than now: 0
		{Name: "retry", CreatedAt: t0, AttemptsMade: 1},                        // not observed
		{Name: "stalled", CreatedAt: t0, StalledCount: 1},                      // not observed
		{Name: "parent", CreatedAt: t0, Children: []backend.JobRef{{ID: "c"}}}, // not observed
	} {
		j.Queue = "q"
		call(m, t.Context(), &queue.Job{Job: j}, ok)
	}
	// The series of a queue and name are made at its first attempt, all
	// at once: a wait not observed has a count of 0.
	check(t, scrape(t, m), map[string]float64{
		`drover_job_wait_seconds_sum{name="first",queue="q"}`:                60,
		`drover_job_wait_seconds_sum{name="delayed",queue="q"}`:              10,
		`drover_job_wait_seconds_sum{name="early",queue="q"}`:                0,
		`drover_job_wait_seconds_count{name="early",queue="q"}`:              1,
		`drover_job_wait_seconds_count{name="retry",queue="q"}`:              0,
		`drover_job_wait_seconds_count{name="stalled",queue="q"}`:            0,
		`drover_job_wait_seconds_count{name="parent",queue="q"}`:             0,
		`drover_job_run_seconds_count{name="parent",outcome="ok",queue="q"}`: 1,
	})
}
