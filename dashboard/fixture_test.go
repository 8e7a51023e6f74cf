package dashboard_test

import (
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/queue"
)

// Hostile job contents: each must reach the page as text.
const (
	hostileName   = `<script>alert("name")</script>`
	hostileData   = `{"html":"<img src=x onerror=alert(1)>"}`
	hostileReason = `</pre><script>alert("reason")</script>`
	hostileLog    = `<b onmouseover=alert(1)>log</b>`
	hostileStack  = `main.<iframe src=javascript:alert(1)>`
)

// fixture names the jobs that stock put in queue "mail".
type fixture struct {
	failed, hostile, completed, active, waiting, delayed, parent, childDone, childWaiting string
}

// The counts of queue "mail" after stock.
var stockCounts = backend.Counts{Waiting: 2, Delayed: 2, Active: 1, WaitingChildren: 1, Completed: 2, Failed: 2}

// stock fills a new bbolt store with jobs of queue "mail" in every state,
// among them a flow, a job scheduler and a job whose name, data, logs,
// failure and stack are hostile HTML; and a paused, empty queue "other".
// Jobs go through their states by the store's own calls, as a worker
// would take them, so that no worker needs to run.
func stock(t *testing.T) (backend.Full, fixture) {
	t.Helper()
	store := drovertest.NewStore(t, nil)
	return store, stockIn(t, store)
}

// stockIn puts the jobs of stock in store, which must be empty.
func stockIn(t *testing.T, store backend.Full) fixture {
	t.Helper()
	ctx := t.Context()
	q, err := queue.New(store, "mail", nil)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	add := func(name, data string, opts *queue.AddOptions) string {
		t.Helper()
		j, err := q.Add(ctx, name, []byte(data), opts)
		must(err)
		return j.ID
	}
	// take leases the next job, which must be id.
	take := func(id string) backend.Lease {
		t.Helper()
		res, err := store.Lease(ctx, "mail", &backend.LeaseRequest{Worker: "fixture", Max: 1, TTL: time.Hour, MaxStalled: 1})
		must(err)
		if len(res.Jobs) != 1 || res.Jobs[0].ID != id {
			t.Fatalf("leased %v; want job %s", res.Jobs, id)
		}
		return res.Jobs[0].Lease
	}
	end := func(s backend.Settlement) {
		t.Helper()
		res, err := store.Settle(ctx, "mail", &backend.SettleRequest{Settlements: []backend.Settlement{s}})
		must(err)
		must(res.Errs[0])
	}

	var f fixture
	f.failed = add("charge", `{"card":"4242"}`, nil)
	l := take(f.failed)
	_, err = store.AddLog(ctx, "mail", f.failed, "calling the bank")
	must(err)
	must(store.UpdateProgress(ctx, "mail", f.failed, []byte(`50`)))
	end(backend.Settlement{Lease: l, Outcome: backend.OutcomeFail, Reason: "card declined", Stacktrace: []string{"main.charge", "main.run"}})

	f.hostile = add(hostileName, hostileData, nil)
	l = take(f.hostile)
	_, err = store.AddLog(ctx, "mail", f.hostile, hostileLog)
	must(err)
	end(backend.Settlement{Lease: l, Outcome: backend.OutcomeFail, Reason: hostileReason, Stacktrace: []string{hostileStack}})

	f.completed = add("send", `{"to":"ada"}`, nil)
	end(backend.Settlement{Lease: take(f.completed), Outcome: backend.OutcomeComplete, Result: []byte(`{"sent":true}`)})

	// Taken and never settled: active for the lease's hour.
	f.active = add("resize", `{}`, nil)
	take(f.active)

	flow, err := q.AddFlow(ctx, queue.Flow{Name: "report", Children: []queue.Flow{{Name: "part-a"}, {Name: "part-b"}}})
	must(err)
	f.parent, f.childDone, f.childWaiting = flow.Job.ID, flow.Children[0].Job.ID, flow.Children[1].Job.ID
	end(backend.Settlement{Lease: take(f.childDone), Outcome: backend.OutcomeComplete, Result: []byte(`"a done"`)})

	f.waiting = add("welcome", `{"to":"grace"}`, nil)
	f.delayed = add("remind", `{}`, &queue.AddOptions{Delay: time.Hour})
	_, err = q.UpsertJobScheduler(ctx, "hourly", queue.Repeat{Every: time.Hour}, queue.JobTemplate{Name: "tick"})
	must(err)
	must(store.SetPaused(ctx, "other", true))
	if c, err := store.Counts(ctx, "mail"); err != nil || c != stockCounts {
		t.Fatalf("counts of the fixture %+v, %v; want %+v", c, err, stockCounts)
	}
	return f
}
