package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/internal/exampletb"
	"github.com/droverhq/drover/metrics"
	"github.com/droverhq/drover/queue"
)

// A collector of a queue's counts and totals, and worker middleware that
// times each attempt, registered on one registry. A program serves the
// registry with promhttp.HandlerFor(reg, promhttp.HandlerOpts{}); here it
// is gathered once, after a worker ran three jobs, one of them twice.
func ExampleNewCollector() {
	t := exampletb.New()
	defer t.Finish()
	env := drovertest.New(t, nil) // a bbolt store and a fake clock
	ctx := t.Context()

	collector, err := metrics.NewCollector(ctx, env.Store, &metrics.CollectorOptions{Queues: []string{"emails"}})
	if err != nil {
		t.Fatalf("NewCollector: %v", err)
	}
	handlers := metrics.NewHandlerMetrics(&metrics.HandlerOptions{Clock: env.Clock})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector, handlers)

	q := env.Queue("emails")
	for _, to := range []string{"ada", "grace", "edsger"} {
		if _, err := q.Add(ctx, "welcome", []byte(to), &queue.AddOptions{Attempts: 3}); err != nil {
			t.Fatalf("Add: %v", err)
		}
	}
	send := func(ctx context.Context, job *queue.Job) ([]byte, error) {
		env.Clock.Advance(300 * time.Millisecond) // the time it takes
		if string(job.Data) == "grace" && job.AttemptsMade == 0 {
			return nil, errors.New("mailbox busy")
		}
		return nil, nil
	}
	w := env.Worker("emails", send, &queue.WorkerOptions{Middleware: []queue.Middleware{handlers.Middleware}})
	env.RunFor(w, time.Minute)

	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "drover_jobs_") && f.GetName() != "drover_job_run_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			switch {
			case m.GetCounter() != nil:
				fmt.Println(f.GetName(), labels, m.GetCounter().GetValue())
			case m.GetHistogram().GetSampleCount() > 0:
				fmt.Printf("%s %v %d attempts, %.1fs\n", f.GetName(), labels, m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum())
			}
		}
	}
	// Output:
	// drover_job_run_seconds [name=welcome outcome=error queue=emails] 1 attempts, 0.3s
	// drover_job_run_seconds [name=welcome outcome=ok queue=emails] 3 attempts, 0.9s
	// drover_jobs_added_total [queue=emails] 3
	// drover_jobs_cancelled_total [queue=emails] 0
	// drover_jobs_completed_total [queue=emails] 3
	// drover_jobs_failed_total [queue=emails] 0
	// drover_jobs_retried_total [queue=emails] 1
	// drover_jobs_stalled_total [queue=emails] 0
}

// TrackCursor reports how far a subscriber of a queue's events is behind.
func ExampleCollector_TrackCursor() {
	t := exampletb.New()
	defer t.Finish()
	env := drovertest.New(t, nil)
	ctx := t.Context()
	q := env.Queue("emails")
	collector, err := metrics.NewCollector(ctx, env.Store, &metrics.CollectorOptions{Queues: []string{"emails"}})
	if err != nil {
		t.Fatalf("NewCollector: %v", err)
	}

	sub, err := q.Subscribe(ctx, queue.FromNow(), nil)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer sub.Close()
	untrack := collector.TrackCursor("emails", "audit", sub.Cursor)
	defer untrack()

	if _, err := q.Add(ctx, "welcome", nil, nil); err != nil { // an added and a waiting event
		t.Fatalf("Add: %v", err)
	}
	lag := func() float64 {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collector)
		families, err := reg.Gather()
		if err != nil {
			t.Fatalf("Gather: %v", err)
		}
		for _, f := range families {
			if f.GetName() == "drover_subscriber_lag_events" {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	fmt.Println("lag before reading:", lag())
	if _, err := sub.Next(ctx); err != nil {
		t.Fatalf("Next: %v", err)
	}
	fmt.Println("lag after one event:", lag())
	// Output:
	// lag before reading: 2
	// lag after one event: 1
}
