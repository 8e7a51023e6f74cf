package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/metrics"
	"github.com/droverhq/drover/queue"
)

// flakyHandler completes jobs named ok and stall, fails flaky's first
// attempt, and fails every attempt of bad.
func flakyHandler(_ context.Context, job *queue.Job) ([]byte, error) {
	switch {
	case job.Name == "bad", job.Name == "flaky" && job.AttemptsMade == 0:
		return nil, errors.New("boom")
	}
	return nil, nil
}

func TestCollectorCountsWhatHappensToJobsFromItsStart(t *testing.T) {
	eachStore(t, backend.EventRetention{}, func(t *testing.T, env *drovertest.Env) {
		ctx := t.Context()
		q := env.Queue("mail")
		// Before the collector: not in its totals, but in its gauges.
		add(t, q, "ok", &queue.AddOptions{Delay: 48 * time.Hour})
		c := newCollector(t, env.Store, &metrics.CollectorOptions{Queues: []string{"mail"}})

		retry := &queue.AddOptions{Attempts: 2, Backoff: queue.FixedBackoff(time.Minute)}
		add(t, q, "stall", nil)
		add(t, q, "ok", nil)
		add(t, q, "flaky", retry)
		add(t, q, "bad", retry)
		// A worker that dies holding the first job: its lease expires.
		leased, err := env.Store.Lease(ctx, "mail", &backend.LeaseRequest{Max: 1, TTL: time.Minute, MaxStalled: 1})
		if err != nil || len(leased.Jobs) != 1 || leased.Jobs[0].Name != "stall" {
			t.Fatalf("lease: %v, %v", leased, err)
		}
		env.Clock.Advance(2 * time.Minute)
		ran := env.RunFor(env.Worker("mail", flakyHandler, nil), time.Hour)
		if len(ran) != 6 {
			t.Fatalf("ran %d attempts; want 6", len(ran))
		}
		add(t, q, "idle", nil)
		if err := q.Pause(ctx); err != nil {
			t.Fatal(err)
		}

		last, err := env.Store.LastEventID(ctx, "mail")
		if err != nil {
			t.Fatal(err)
		}
		check(t, scrape(t, c), map[string]float64{
			`drover_jobs_added_total{queue="mail"}`:                     5,
			`drover_jobs_completed_total{queue="mail"}`:                 3,
			`drover_jobs_failed_total{queue="mail"}`:                    1,
			`drover_jobs_retried_total{queue="mail"}`:                   2,
			`drover_jobs_stalled_total{queue="mail"}`:                   1,
			`drover_events_missed_total{queue="mail"}`:                  0,
			`drover_jobs{queue="mail",state="waiting"}`:                 1,
			`drover_jobs{queue="mail",state="delayed"}`:                 1,
			`drover_jobs{queue="mail",state="active"}`:                  0,
			`drover_jobs{queue="mail",state="waiting-children"}`:        0,
			`drover_jobs{queue="mail",state="completed"}`:               3,
			`drover_jobs{queue="mail",state="failed"}`:                  1,
			`drover_queue_paused{queue="mail"}`:                         1,
			`drover_event_log_last_id{queue="mail"}`:                    float64(last),
			`drover_event_log_events{queue="mail"}`:                     float64(last),
			`drover_collector_unread_events{queue="mail"}`:              0,
			`drover_collector_errors_total`:                             0,
			`drover_subscriber_lag_events{queue="mail",subscriber="x"}`: -1,
		})

		// A second scrape reads nothing new and counts nothing twice.
		add(t, q, "ok", nil)
		check(t, scrape(t, c), map[string]float64{
			`drover_jobs_added_total{queue="mail"}`:     6,
			`drover_jobs_completed_total{queue="mail"}`: 3,
			`drover_jobs{queue="mail",state="waiting"}`: 2,
		})
	})
}

func TestCollectorCountsEventsTrimmedBeforeItReadThemAsMissed(t *testing.T) {
	eachStore(t, backend.EventRetention{Count: 10}, func(t *testing.T, env *drovertest.Env) {
		ctx := t.Context()
		q := env.Queue("mail")
		c := newCollector(t, env.Store, &metrics.CollectorOptions{Queues: []string{"mail"}})
		for range 3 {
			add(t, q, "a", nil)
		}
		check(t, scrape(t, c), map[string]float64{
			`drover_jobs_added_total{queue="mail"}`:    3,
			`drover_events_missed_total{queue="mail"}`: 0,
		})
		cursor, err := env.Store.LastEventID(ctx, "mail")
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			add(t, q, "a", nil)
		}
		// What the log kept, as the store tells it.
		_, err = env.Store.Events(ctx, "mail", &backend.EventsRequest{After: cursor})
		te, ok := errors.AsType[*backend.EventsTrimmedError](err)
		if !ok {
			t.Fatalf("read after %d: %v; want the log trimmed past it", cursor, err)
		}
		kept, err := env.Store.Events(ctx, "mail", &backend.EventsRequest{After: te.FirstAvailable - 1})
		if err != nil {
			t.Fatal(err)
		}
		added := 0
		for _, e := range kept.Events {
			if e.Type == backend.EventAdded {
				added++
			}
		}
		last := kept.Events[len(kept.Events)-1].ID
		check(t, scrape(t, c), map[string]float64{
			`drover_jobs_added_total{queue="mail"}`:    float64(3 + added),
			`drover_events_missed_total{queue="mail"}`: float64(te.FirstAvailable - 1 - cursor),
			`drover_event_log_last_id{queue="mail"}`:   float64(last),
			`drover_event_log_events{queue="mail"}`:    float64(len(kept.Events)),
			`drover_collector_errors_total`:            0,
		})
		if added == 0 || te.FirstAvailable-1 <= cursor {
			t.Errorf("kept %d added events, trimmed to %d after %d: the test trims nothing", added, te.FirstAvailable, cursor)
		}
	})
}

func TestCollectorReadsAtMostMaxEventsAQueueAScrape(t *testing.T) {
	env := drovertest.New(t, nil)
	q := env.Queue("mail")
	c := newCollector(t, env.Store, &metrics.CollectorOptions{Queues: []string{"mail"}, MaxEvents: 5})
	for range 10 { // an added and a waiting event each
		add(t, q, "a", nil)
	}
	for i, want := range []float64{3, 5, 8, 10, 10} {
		got := scrape(t, c)
		check(t, got, map[string]float64{
			`drover_jobs_added_total{queue="mail"}`:        want,
			`drover_collector_unread_events{queue="mail"}`: float64(max(20-5*(i+1), 0)),
		})
	}
}

func TestCollectorFindsTheStoresQueuesAndCountsNewOnesFromTheirStart(t *testing.T) {
	eachStore(t, backend.EventRetention{}, func(t *testing.T, env *drovertest.Env) {
		add(t, env.Queue("a"), "x", nil)
		store := &listing{Full: env.Store, names: []string{"a"}}
		c := newCollector(t, store, &metrics.CollectorOptions{Clock: env.Clock, Rediscover: time.Minute})
		add(t, env.Queue("a"), "x", nil)
		add(t, env.Queue("b"), "x", nil)
		store.names = []string{"a", "b"}
		check(t, scrape(t, c), map[string]float64{
			`drover_jobs_added_total{queue="a"}`:     1,
			`drover_jobs{queue="a",state="waiting"}`: 2,
			`drover_jobs_added_total{queue="b"}`:     -1,
			`drover_jobs{queue="b",state="waiting"}`: -1,
		})

		env.Clock.Advance(time.Minute)
		add(t, env.Queue("b"), "x", nil)
		check(t, scrape(t, c), map[string]float64{
			`drover_jobs_added_total{queue="a"}`:     1,
			`drover_jobs_added_total{queue="b"}`:     2,
			`drover_jobs{queue="b",state="waiting"}`: 2,
		})

		// A failed listing keeps the queues it had; one that names fewer
		// queues drops the others.
		store.err = errors.New("down")
		env.Clock.Advance(time.Minute)
		check(t, scrape(t, c), map[string]float64{
			`drover_jobs_added_total{queue="b"}`: 2,
			`drover_collector_errors_total`:      1,
		})
		store.names, store.err = []string{"b"}, nil
		check(t, scrape(t, c), map[string]float64{
			`drover_jobs_added_total{queue="a"}`: -1,
			`drover_jobs_added_total{queue="b"}`: 2,
		})
	})
}

func TestCollectorOfAStoreThatCannotListItsQueues(t *testing.T) {
	env := drovertest.New(t, nil)
	store := hidden{Backend: env.Store, EventLog: env.Store}
	if _, err := metrics.NewCollector(t.Context(), store, nil); !errors.Is(err, backend.ErrUnsupported) {
		t.Errorf("no queues given: %v; want ErrUnsupported", err)
	}
	c := newCollector(t, store, &metrics.CollectorOptions{Queues: []string{"b", "a", "b"}})
	add(t, env.Queue("a"), "x", nil)
	if n := testutil.CollectAndCount(c, "drover_jobs_added_total"); n != 2 {
		t.Errorf("%d added totals; want one each for a and b", n)
	}
	check(t, scrape(t, c), map[string]float64{
		`drover_jobs_added_total{queue="a"}`:     1,
		`drover_jobs_added_total{queue="b"}`:     0,
		`drover_jobs{queue="a",state="waiting"}`: 1,
	})

	// A store without an event log has the gauges of Counts alone.
	core := newCollector(t, struct{ backend.Backend }{env.Store}, &metrics.CollectorOptions{Queues: []string{"a"}})
	check(t, scrape(t, core), map[string]float64{
		`drover_jobs{queue="a",state="waiting"}`: 1,
		`drover_jobs_added_total{queue="a"}`:     -1,
		`drover_event_log_last_id{queue="a"}`:    -1,
	})
}

func TestCollectorLeavesOutWhatAFailedCallWasToGive(t *testing.T) {
	env := drovertest.New(t, nil)
	c := newCollector(t, failing{env.Store}, &metrics.CollectorOptions{Queues: []string{"a"}})
	add(t, env.Queue("a"), "x", nil)
	check(t, scrape(t, c), map[string]float64{
		`drover_jobs{queue="a",state="waiting"}`: -1,
		`drover_queue_paused{queue="a"}`:         -1,
		`drover_jobs_added_total{queue="a"}`:     1,
		`drover_collector_errors_total`:          1,
	})
}

func TestCollectorReportsTheLagOfSubscribers(t *testing.T) {
	eachStore(t, backend.EventRetention{}, func(t *testing.T, env *drovertest.Env) {
		ctx := t.Context()
		mail, other := env.Queue("mail"), env.Queue("other")
		c := newCollector(t, env.Store, &metrics.CollectorOptions{Queues: []string{"mail"}})
		sub, err := mail.Subscribe(ctx, queue.FromNow(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		untrack := c.TrackCursor("mail", "mailer", sub.Cursor)
		// A queue the collector does not report, and a cursor from the
		// start.
		c.TrackCursor("other", "audit", func() uint64 { return 0 })
		for range 3 {
			add(t, mail, "x", nil) // added and waiting
		}
		add(t, other, "x", nil)
		check(t, scrape(t, c), map[string]float64{
			`drover_subscriber_lag_events{queue="mail",subscriber="mailer"}`: 6,
			`drover_subscriber_lag_events{queue="other",subscriber="audit"}`: 2,
		})
		for range 2 {
			if _, err := sub.Next(ctx); err != nil {
				t.Fatal(err)
			}
		}
		check(t, scrape(t, c), map[string]float64{
			`drover_subscriber_lag_events{queue="mail",subscriber="mailer"}`: 4,
		})
		untrack()
		untrack()
		check(t, scrape(t, c), map[string]float64{
			`drover_subscriber_lag_events{queue="mail",subscriber="mailer"}`: -1,
			`drover_subscriber_lag_events{queue="other",subscriber="audit"}`: 2,
		})
	})
}

func TestCollectorTrackingAgainReplacesTheCursor(t *testing.T) {
	env := drovertest.New(t, nil)
	c := newCollector(t, env.Store, &metrics.CollectorOptions{Queues: []string{"mail"}})
	add(t, env.Queue("mail"), "x", nil)
	untrackFirst := c.TrackCursor("mail", "m", func() uint64 { return 0 })
	c.TrackCursor("mail", "m", func() uint64 { return 1 })
	untrackFirst() // the first is replaced already: this leaves the second
	check(t, scrape(t, c), map[string]float64{
		`drover_subscriber_lag_events{queue="mail",subscriber="m"}`: 1,
	})
}

func TestNewCollectorRejectsBadOptions(t *testing.T) {
	env := drovertest.New(t, nil)
	for _, o := range []metrics.CollectorOptions{
		{Queues: []string{"a"}, MaxEvents: -1},
		{Queues: []string{"a"}, Timeout: -time.Second},
		{Queues: []string{"a"}, Rediscover: -time.Second},
		{Queues: []string{"a", ""}},
	} {
		if _, err := metrics.NewCollector(t.Context(), env.Store, &o); !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("%+v: %v; want ErrInvalid", o, err)
		}
	}
}

func TestCollectorUsesItsNamespace(t *testing.T) {
	env := drovertest.New(t, nil)
	c := newCollector(t, env.Store, &metrics.CollectorOptions{Queues: []string{"a"}, Namespace: "jobs"})
	got := scrape(t, c)
	for k := range got {
		if len(k) < 5 || k[:5] != "jobs_" {
			t.Errorf("%s is outside the namespace", k)
		}
	}
	if _, ok := got[`jobs_jobs_added_total{queue="a"}`]; !ok {
		t.Errorf("no jobs_jobs_added_total in %v", fmt.Sprint(got))
	}
}

func TestMetricsFollowPrometheusNamingConventions(t *testing.T) {
	env := drovertest.New(t, nil)
	c := newCollector(t, env.Store, &metrics.CollectorOptions{Queues: []string{"a"}})
	c.TrackCursor("a", "s", func() uint64 { return 0 })
	m := metrics.NewHandlerMetrics(&metrics.HandlerOptions{Clock: env.Clock})
	add(t, env.Queue("a"), "x", nil)
	env.RunReady(env.Worker("a", m.Middleware(flakyHandler), nil))
	for _, col := range []prometheus.Collector{c, m} {
		problems, err := testutil.CollectAndLint(col)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

func TestCollectorMissesNothingOfAQueueItFindsWithATrimmedLog(t *testing.T) {
	eachStore(t, backend.EventRetention{Count: 4}, func(t *testing.T, env *drovertest.Env) {
		store := &listing{Full: env.Store}
		c := newCollector(t, store, &metrics.CollectorOptions{Clock: env.Clock})
		for range 5 {
			add(t, env.Queue("b"), "x", nil) // an added and a waiting event each
		}
		store.names = []string{"b"}
		env.Clock.Advance(time.Minute)
		// The log kept the newest 4 events, 2 adds: those trimmed before
		// the queue was found may predate the collector, and are not
		// missed.
		check(t, scrape(t, c), map[string]float64{
			`drover_jobs_added_total{queue="b"}`:    2,
			`drover_events_missed_total{queue="b"}`: 0,
			`drover_event_log_events{queue="b"}`:    4,
			`drover_event_log_last_id{queue="b"}`:   10,
		})
	})
}

// A job cancelled before it ran fails at once with a cancelled event and
// no failed event: drover_jobs_cancelled_total counts it, and
// drover_jobs_failed_total does not. A job cancelled while it runs counts
// in both once it fails.
func TestCollectorCountsCancelledJobs(t *testing.T) {
	eachStore(t, backend.EventRetention{}, func(t *testing.T, env *drovertest.Env) {
		ctx := t.Context()
		q := env.Queue("mail")
		c := newCollector(t, env.Store, &metrics.CollectorOptions{Queues: []string{"mail"}})
		running := add(t, q, "running", nil)
		waiting := add(t, q, "waiting", nil)
		leased, err := env.Store.Lease(ctx, "mail", &backend.LeaseRequest{Max: 1, TTL: time.Minute})
		if err != nil || len(leased.Jobs) != 1 || leased.Jobs[0].ID != running.ID {
			t.Fatalf("lease: %v, %v", leased, err)
		}
		for _, id := range []string{waiting.ID, running.ID} {
			if err := q.Cancel(ctx, id, "not wanted"); err != nil {
				t.Fatal(err)
			}
		}
		check(t, scrape(t, c), map[string]float64{
			`drover_jobs_cancelled_total{queue="mail"}`: 2,
			`drover_jobs_failed_total{queue="mail"}`:    0,
			`drover_jobs{queue="mail",state="failed"}`:  1,
			`drover_jobs{queue="mail",state="active"}`:  1,
		})
		// The running job's handler stops, and its worker fails it.
		res, err := env.Store.Settle(ctx, "mail", &backend.SettleRequest{Settlements: []backend.Settlement{
			{Lease: leased.Jobs[0].Lease, Outcome: backend.OutcomeFail, Reason: "cancelled"},
		}})
		if err != nil || res.Errs[0] != nil {
			t.Fatalf("settle: %v %v", err, res.Errs)
		}
		check(t, scrape(t, c), map[string]float64{
			`drover_jobs_cancelled_total{queue="mail"}`: 2,
			`drover_jobs_failed_total{queue="mail"}`:    1,
			`drover_jobs{queue="mail",state="failed"}`:  2,
		})
	})
}
