package dashboard_test

import (
	"context"
	"testing"
	"time"

	"github.com/droverhq/drover/backend/redis"
	"github.com/droverhq/drover/internal/redistest"
	"github.com/droverhq/drover/queue"
)

// TestOnRedis serves the dashboard of a Redis store: its pages, an
// action, and live counts, which follow Redis's event log.
func TestOnRedis(t *testing.T) {
	srv := redistest.Start(t, nil)
	store, err := redis.New(srv.Client(t, nil), &redis.Options{Prefix: "dash"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	f := stockIn(t, store)
	s := serve(t, store, nil)

	contains(t, "the overview", s.page("/"), "mail", "other", `data-state="failed">2<`)
	contains(t, "the failed job", s.page("/queues/mail/jobs/"+f.failed), "card declined", "calling the bank")
	contains(t, "the schedulers", s.page("/queues/mail/schedulers"), "hourly", "every 1h0m0s")
	contains(t, "the events", s.page("/queues/mail/events"), "scheduler-upserted")
	s.act("/queues/mail/jobs/"+f.failed+"/retry", nil)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st := openStream(t, ctx, s, "?queue=mail")
	st.next("counts")
	q, err := queue.New(store, "mail", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Add(ctx, "late", nil, nil); err != nil {
		t.Fatal(err)
	}
	// The retried job and the new one wait with the fixture's two.
	st.waitCount("mail", "waiting", 4)

	// The Redis store serves groups: the Limits page lists them and a
	// group's waiting jobs.
	tq, err := queue.New(store, "tenants", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tq.SetGroupLimits(ctx, queue.Limits{Concurrency: 1}); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"acme", "acme", "zeta"} {
		if _, err := tq.Add(ctx, "export-"+g, nil, &queue.AddOptions{Group: g}); err != nil {
			t.Fatal(err)
		}
	}
	contains(t, "the limits page", s.page("/queues/tenants/limits"), "1 at once", `href="queues/tenants/limits?group=acme"`, "zeta")
	contains(t, "a group's waiting jobs", s.page("/queues/tenants/limits?group=acme"), "Waiting jobs of group acme", "export-acme")
}
