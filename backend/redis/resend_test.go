package redis

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/faultproxy"
	"github.com/droverhq/drover/internal/redistest"
)

// resendBundle is a store whose client, with go-redis's default retry
// settings, reaches the server through a proxy that can lose replies.
type resendBundle struct {
	*bundle
	store *Backend
	proxy *faultproxy.Proxy

	mu    sync.Mutex
	calls map[string]int // script calls that reached the proxy, by script
}

// resendSetup makes a store on a server of kind ("redis" or "miniredis")
// behind a fault proxy; opts, if not nil, are the client's options.
func resendSetup(t *testing.T, kind string, opts *goredis.Options) *resendBundle {
	var addr string
	if kind == "miniredis" {
		srv, _ := redistest.Mini(t)
		addr = srv.Addr()
	} else {
		addr = redistest.Start(t, nil).Addr
	}
	p := faultproxy.Start(t, addr)
	var o goredis.Options
	if opts != nil {
		o = *opts
	}
	o.Addr = p.Addr()
	client := goredis.NewClient(&o)
	t.Cleanup(func() { _ = client.Close() })
	x := &resendBundle{bundle: setup(t, factory(client, nil), storeOptions{}), proxy: p, calls: map[string]int{}}
	x.store = x.b.(*Backend)
	// One call first, so that the function library is loaded (or the
	// store has found it cannot be), and every script loaded for EVALSHA:
	// the calls under test then run at once, not after a refusal
	// (NOSCRIPT) whose lost reply would prove nothing.
	x.add(t, "warm-up", backend.NewJob{Name: "n"})
	for _, s := range x.store.scripts.eval {
		if err := s.Load(x.ctx, client).Err(); err != nil {
			t.Fatal(err)
		}
	}
	p.Watch(func(args []string) {
		if name := x.script(args); name != "" {
			x.mu.Lock()
			x.calls[name]++
			x.mu.Unlock()
		}
	})
	return x
}

// script names the drover script that a command runs, or returns "".
func (x *resendBundle) script(args []string) string {
	if len(args) < 2 {
		return ""
	}
	switch strings.ToUpper(args[0]) {
	case "FCALL":
		for name, fn := range x.store.scripts.fn {
			if fn == args[1] {
				return name
			}
		}
	case "EVALSHA", "EVAL":
		sha := args[1]
		if strings.EqualFold(args[0], "EVAL") {
			sha = goredis.NewScript(sha).Hash()
		}
		for name, s := range x.store.scripts.eval {
			if s.Hash() == sha {
				return name
			}
		}
	}
	return ""
}

// dropNext makes the proxy lose the reply to the next call of script.
func (x *resendBundle) dropNext(script string) {
	x.proxy.DropReply(1, func(args []string) bool { return x.script(args) == script })
}

// resent checks that every reply the test meant to lose was lost, and
// that script reached the server want times.
func (x *resendBundle) resent(t *testing.T, script string, want int) {
	t.Helper()
	if x.proxy.Pending() != 0 {
		t.Fatalf("%d replies meant to be lost were not", x.proxy.Pending())
	}
	x.mu.Lock()
	got := x.calls[script]
	x.mu.Unlock()
	if got != want {
		t.Fatalf("%s ran %d times, want %d (the first run and a resend)", script, got, want)
	}
}

// waitingLease starts a Lease of q that waits for jobs. The function it
// returns gives the jobs leased, or fails the test if none came within
// 10 s.
func (x *resendBundle) waitingLease(t *testing.T, q string) func() []*backend.Job {
	ctx, cancel := context.WithCancel(x.ctx)
	got := make(chan []*backend.Job, 1)
	go func() {
		r, err := x.b.Lease(ctx, q, &backend.LeaseRequest{Worker: "w", Max: 5, TTL: time.Minute, Wait: time.Hour})
		if err != nil && ctx.Err() == nil {
			t.Errorf("Lease: %v", err)
		}
		got <- r.Jobs
	}()
	return func() []*backend.Job {
		t.Helper()
		defer cancel()
		timer := time.NewTimer(10 * time.Second)
		defer timer.Stop()
		select {
		case jobs := <-got:
			return jobs
		case <-timer.C:
			cancel()
			<-got
			t.Fatal("the waiting lease took no job within 10 s")
			return nil
		}
	}
}

// countEvents counts the events of each type in a queue.
func (x *resendBundle) countEvents(t *testing.T, q string) map[backend.EventType]int {
	t.Helper()
	n := map[backend.EventType]int{}
	for _, e := range x.events(t, q, 0) {
		n[e.Type]++
	}
	return n
}

// TestResend checks that a write call whose reply is lost, and which
// go-redis therefore sends again, is applied once and returns what the
// first run did: on a real server and on miniredis (no functions).
func TestResend(t *testing.T) {
	for _, kind := range []string{"redis", "miniredis"} {
		t.Run(kind, func(t *testing.T) {
			for _, c := range resendCases {
				t.Run(c.name, func(t *testing.T) { c.run(t, resendSetup(t, kind, nil)) })
			}
		})
	}
}

var resendCases = []struct {
	name string
	run  func(t *testing.T, x *resendBundle)
}{
	{"an add of jobs with store-assigned IDs makes them once", func(t *testing.T, x *resendBundle) {
		x.dropNext("add")
		r := x.add(t, "q", backend.NewJob{Name: "a"}, backend.NewJob{Name: "b"}, backend.NewJob{Name: "c"})
		x.resent(t, "add", 2)
		if c := x.counts(t, "q"); c.Waiting != 3 {
			t.Fatalf("counts %+v after one add of 3 jobs, want 3 waiting", c)
		}
		for i, name := range []string{"a", "b", "c"} {
			if a := r.Jobs[i]; a.Duplicate || x.job(t, "q", a.ID).Name != name {
				t.Fatalf("added %+v, want job %s", a, name)
			}
		}
		if n := x.countEvents(t, "q")[backend.EventAdded]; n != 3 {
			t.Fatalf("%d added events, want 3", n)
		}
	}},
	{"an add with caller-chosen IDs is no duplicate of itself", func(t *testing.T, x *resendBundle) {
		x.add(t, "q", backend.NewJob{ID: "old", Name: "n"})
		x.dropNext("add")
		r := x.add(t, "q", backend.NewJob{ID: "old", Name: "n"}, backend.NewJob{ID: "new", Name: "n"},
			backend.NewJob{Name: "later", Delay: time.Minute}, backend.NewJob{Name: "plain"})
		x.resent(t, "add", 3) // the add of old, then this one and its resend
		got := []string{}
		for _, a := range r.Jobs {
			got = append(got, a.ID+map[bool]string{true: " duplicate", false: ""}[a.Duplicate])
		}
		if want := "old duplicate,new,3,4"; strings.Join(got, ",") != want {
			t.Fatalf("added %s, want %s", strings.Join(got, ","), want)
		}
		if c := x.counts(t, "q"); c.Waiting != 3 || c.Delayed != 1 {
			t.Fatalf("counts %+v, want 3 waiting and 1 delayed", c)
		}
	}},
	{"an add of a flow across queues makes it once", func(t *testing.T, x *resendBundle) {
		x.dropNext("add")
		r := x.add(t, "q", backend.NewJob{Name: "parent", Children: []backend.NewJob{
			{Name: "here"}, {Name: "there", Queue: "q2"}, {ID: "mine", Name: "mine", Queue: "q2"},
		}})
		x.resent(t, "add", 2)
		p := r.Jobs[0]
		if p.Duplicate || len(p.Children) != 3 || p.Children[2].ID != "mine" || p.Children[1].Queue != "q2" {
			t.Fatalf("added %+v", p)
		}
		if c := x.counts(t, "q"); c.WaitingChildren != 1 || c.Waiting != 1 {
			t.Fatalf("counts of q %+v, want 1 parent and 1 child", c)
		}
		if c := x.counts(t, "q2"); c.Waiting != 2 {
			t.Fatalf("counts of q2 %+v, want 2 children", c)
		}
	}},
	{"a lease leases one batch and returns it", func(t *testing.T, x *resendBundle) {
		x.add(t, "q", make5()...)
		x.dropNext("lease")
		jobs := x.lease(t, "q", 3)
		x.resent(t, "lease", 2)
		if len(jobs) != 3 {
			t.Fatalf("leased %d jobs, want 3", len(jobs))
		}
		if c := x.counts(t, "q"); c.Active != 3 || c.Waiting != 2 {
			t.Fatalf("counts %+v after leasing 3 of 5, want 3 active", c)
		}
		// The leases returned are the ones held: they settle, and no job is
		// left active for nobody to be recovered as stalled later.
		for _, j := range jobs {
			if errs := x.settle(t, "q", complete(j, "")); errs[0] != nil {
				t.Fatalf("settle %s: %v", j.ID, errs[0])
			}
		}
		x.clock.Advance(time.Hour)
		if rest := x.lease(t, "q", 10); len(rest) != 2 {
			t.Fatalf("then leased %d, want the other 2", len(rest))
		}
		if n := x.countEvents(t, "q")[backend.EventStalled]; n != 0 {
			t.Fatalf("%d stalled events, want none", n)
		}
	}},
	{"a waiting lease whose wake-up is lost takes the job", func(t *testing.T, x *resendBundle) {
		x.proxy.DropReply(1, faultproxy.Command("blpop"))
		leased := x.waitingLease(t, "q")
		waitFor(t, "the wait", func() bool { return x.proxy.Pending() == 0 })
		x.add(t, "q", backend.NewJob{Name: "n"})
		if jobs := leased(); len(jobs) != 1 {
			t.Fatalf("leased %v, want the job", jobs)
		}
	}},
	{"a waiting lease whose reply is lost after the wake-up returns the job", func(t *testing.T, x *resendBundle) {
		var waits atomic.Int32
		x.proxy.Watch(func(args []string) {
			if strings.EqualFold(args[0], "blpop") {
				waits.Add(1)
			}
		})
		// The first lease finds nothing and waits; the second, after the
		// add, leases the job, and its reply is lost.
		x.proxy.DropReply(2, func(args []string) bool { return x.script(args) == "lease" })
		leased := x.waitingLease(t, "q")
		waitFor(t, "the wait", func() bool { return waits.Load() > 0 })
		x.add(t, "q", backend.NewJob{Name: "n"})
		if jobs := leased(); len(jobs) != 1 {
			t.Fatalf("leased %v, want the job", jobs)
		}
		x.resent(t, "lease", 3)
		if c := x.counts(t, "q"); c.Active != 1 {
			t.Fatalf("counts %+v", c)
		}
	}},
	{"a settle is not lost to itself", func(t *testing.T, x *resendBundle) {
		x.add(t, "q", make5()...)
		jobs := x.lease(t, "q", 5)
		x.dropNext("settle")
		ss := []backend.Settlement{complete(jobs[0], "r"), complete(jobs[1], "r"),
			{Lease: jobs[2].Lease, Outcome: backend.OutcomeRetry, Reason: "again", RetryDelay: time.Minute},
			{Lease: jobs[3].Lease, Outcome: backend.OutcomeFail, Reason: "no"},
			{Lease: backend.Lease{JobID: jobs[4].ID, Token: "stale"}, Outcome: backend.OutcomeComplete}}
		errs := x.settle(t, "q", ss...)
		x.resent(t, "settle", 2)
		for i, err := range errs[:4] {
			if err != nil {
				t.Fatalf("settlement %d: %v", i, err)
			}
		}
		if !errors.Is(errs[4], backend.ErrLeaseLost) {
			t.Fatalf("settle with a stale token: %v, want ErrLeaseLost", errs[4])
		}
		if c := x.counts(t, "q"); c.Completed != 2 || c.Delayed != 1 || c.Failed != 1 || c.Active != 1 {
			t.Fatalf("counts %+v", c)
		}
		if j := x.job(t, "q", jobs[2].ID); j.AttemptsMade != 1 {
			t.Fatalf("the retried job made %d attempts, want 1", j.AttemptsMade)
		}
	}},
	{"a renewal keeps its leases", func(t *testing.T, x *resendBundle) {
		x.add(t, "q", make5()...)
		jobs := x.lease(t, "q", 2)
		x.dropNext("renew")
		r, err := x.b.Renew(x.ctx, "q", &backend.RenewRequest{TTL: time.Hour,
			Leases: []backend.Lease{jobs[0].Lease, {JobID: jobs[1].ID, Token: "stale"}}})
		if err != nil {
			t.Fatal(err)
		}
		x.resent(t, "renew", 2)
		if len(r.Lost) != 1 || r.Lost[0].Token != "stale" {
			t.Fatalf("lost %v, want only the stale lease", r.Lost)
		}
	}},
	{"a scheduler upsert is no revision mismatch for itself", func(t *testing.T, x *resendBundle) {
		s := backend.Scheduler{ID: "s", Repeat: []byte("every 1m"), Template: backend.NewJob{Name: "tick"},
			Next: t0.Add(time.Minute), Upcoming: []time.Time{t0.Add(2 * time.Minute)}}
		for rev := uint64(0); rev < 2; rev++ {
			x.dropNext("upsert_sched")
			r, err := x.b.CompareAndUpsert(x.ctx, "q", &backend.CompareAndUpsertRequest{Scheduler: s, ExpectRevision: rev})
			if err != nil {
				t.Fatalf("upsert expecting revision %d: %v", rev, err)
			}
			if r.Scheduler.Revision != rev+1 || r.Created != (rev == 0) {
				t.Fatalf("upsert expecting revision %d gave revision %d, created %v", rev, r.Scheduler.Revision, r.Created)
			}
		}
		x.resent(t, "upsert_sched", 4)
		if c := x.counts(t, "q"); c.Delayed != 1 {
			t.Fatalf("counts %+v, want one pending iteration", c)
		}
		x.dropNext("remove_sched")
		if err := x.b.RemoveScheduler(x.ctx, "q", "s"); err != nil {
			t.Fatalf("RemoveScheduler: %v", err)
		}
		x.resent(t, "remove_sched", 2)
		ev := x.countEvents(t, "q")
		if ev[backend.EventSchedulerUpserted] != 2 || ev[backend.EventSchedulerRemoved] != 1 {
			t.Fatalf("events %v", ev)
		}
	}},
	{"a job removal applies once", func(t *testing.T, x *resendBundle) {
		ids := x.add(t, "q", make5()...).Jobs
		x.dropNext("remove")
		if err := x.b.RemoveJob(x.ctx, "q", ids[0].ID); err != nil {
			t.Fatalf("RemoveJob: %v", err)
		}
		x.resent(t, "remove", 2)
		if n := x.countEvents(t, "q")[backend.EventRemoved]; n != 1 {
			t.Fatalf("%d removed events, want 1", n)
		}
	}},
	{"progress and log lines are written once", func(t *testing.T, x *resendBundle) {
		id := x.add(t, "q", backend.NewJob{Name: "n"}).Jobs[0].ID
		x.dropNext("progress")
		if err := x.b.UpdateProgress(x.ctx, "q", id, []byte("50")); err != nil {
			t.Fatalf("UpdateProgress: %v", err)
		}
		x.dropNext("addlog")
		if n, err := x.b.AddLog(x.ctx, "q", id, "line"); err != nil || n != 1 {
			t.Fatalf("AddLog = %d, %v; want 1", n, err)
		}
		x.resent(t, "progress", 2)
		x.resent(t, "addlog", 2)
		if n := x.countEvents(t, "q")[backend.EventProgress]; n != 1 {
			t.Fatalf("%d progress events, want 1", n)
		}
		if r, err := x.b.Logs(x.ctx, "q", id, nil); err != nil || r.Total != 1 {
			t.Fatalf("Logs = %+v, %v; want one line", r, err)
		}
	}},
	{"a clean and a drain report what they removed", func(t *testing.T, x *resendBundle) {
		x.add(t, "q", make5()...)
		x.clock.Advance(time.Hour)
		x.dropNext("clean")
		r, err := x.b.Clean(x.ctx, "q", &backend.CleanRequest{State: backend.StateWaiting, Limit: 2})
		if err != nil || len(r.IDs) != 2 || r.IDs[0] != "1" || r.IDs[1] != "2" {
			t.Fatalf("Clean = %v, %v; want jobs 1 and 2", r.IDs, err)
		}
		x.dropNext("drain")
		if r, err := x.b.Drain(x.ctx, "q", nil); err != nil || r.Removed != 3 {
			t.Fatalf("Drain = %+v, %v; want 3 removed", r, err)
		}
		x.resent(t, "clean", 2)
		x.resent(t, "drain", 2)
		ev := x.countEvents(t, "q")
		if ev[backend.EventCleaned] != 1 || ev[backend.EventDrained] != 1 {
			t.Fatalf("events %v, want one cleaned and one drained", ev)
		}
	}},
	{"an add with deduplication keys gets its outcomes again", func(t *testing.T, x *resendBundle) {
		deb := func(key string) backend.Dedup {
			return backend.Dedup{Key: key, Mode: backend.DedupDebounce, KeepLastIfActive: true}
		}
		running := x.add(t, "q", backend.NewJob{Name: "n", Dedup: deb("run")}).Jobs[0].ID
		x.lease(t, "q", 1)
		waiting := x.add(t, "q", backend.NewJob{Name: "n", Data: []byte("w1"), Dedup: deb("wait")}).Jobs[0].ID
		x.dropNext("add")
		r := x.add(t, "q",
			backend.NewJob{Name: "n", Data: []byte("later"), Dedup: deb("run")},
			backend.NewJob{Name: "n", Data: []byte("w2"), Dedup: deb("wait")},
			backend.NewJob{Name: "n", Dedup: backend.Dedup{Key: "new"}},
			backend.NewJob{Name: "n", Dedup: backend.Dedup{Key: "new"}},
			backend.NewJob{Name: "plain"})
		x.resent(t, "add", 4) // two adds before, then this one and its resend
		got := []string{}
		for _, a := range r.Jobs {
			got = append(got, a.ID+" "+string(a.Dedup))
		}
		want := []string{running + " deferred", waiting + " replaced", "3 ", "3 ignored", "4 "}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("added %q, want %q", got, want)
		}
		if j := x.job(t, "q", waiting); string(j.Data) != "w2" {
			t.Fatalf("replaced data %q, want w2", j.Data)
		}
		if c := x.counts(t, "q"); c.Waiting != 3 || c.Active != 1 {
			t.Fatalf("counts %+v, want 3 waiting and 1 active", c)
		}
		ev := x.countEvents(t, "q")
		if ev[backend.EventDeduplicated] != 3 || ev[backend.EventChanged] != 1 || ev[backend.EventAdded] != 4 {
			t.Fatalf("events %v, want 3 deduplicated, 1 changed and 4 added", ev)
		}
		if h, err := x.store.DedupHolder(x.ctx, "q", "run"); err != nil || h.JobID != running || !h.Deferred {
			t.Fatalf("holder of run = %+v, %v; want %s with an add kept", h, err, running)
		}
		x.dropNext("dedup_release")
		if held, err := x.store.ReleaseDedup(x.ctx, "q", "run"); err != nil || !held {
			t.Fatalf("ReleaseDedup = %v, %v; want true", held, err)
		}
		x.resent(t, "dedup_release", 2)
	}},
	{"a change of limits and a hold apply once", func(t *testing.T, x *resendBundle) {
		x.dropNext("set_limits")
		if err := x.b.SetLimits(x.ctx, "q", backend.Limits{Concurrency: 2}); err != nil {
			t.Fatal(err)
		}
		x.dropNext("hold")
		if err := x.b.Hold(x.ctx, "q", time.Minute); err != nil {
			t.Fatal(err)
		}
		x.resent(t, "set_limits", 2)
		x.resent(t, "hold", 2)
		ev := x.countEvents(t, "q")
		if ev[backend.EventLimitsChanged] != 1 || ev[backend.EventRateLimited] != 1 {
			t.Fatalf("events %v, want one limits-changed and one rate-limited", ev)
		}
	}},
	{"grouped adds and leases, group limits and group pauses apply once", func(t *testing.T, x *resendBundle) {
		b := x.store
		x.dropNext("set_group_limits")
		if err := b.SetGroupLimits(x.ctx, "q", backend.Limits{Concurrency: 1}); err != nil {
			t.Fatal(err)
		}
		x.resent(t, "set_group_limits", 2)
		x.dropNext("add")
		r := x.add(t, "q", backend.NewJob{Name: "a-0", Group: "a"}, backend.NewJob{Name: "b-0", Group: "b"}, backend.NewJob{Name: "a-1", Group: "a"})
		x.resent(t, "add", 2)
		if got := r.Jobs[0].ID + "," + r.Jobs[1].ID + "," + r.Jobs[2].ID; got != "1,2,3" {
			t.Fatalf("added %s, want 1,2,3", got)
		}
		groupsAre := func(after string, want ...backend.GroupInfo) {
			t.Helper()
			res, err := b.Groups(x.ctx, "q", nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Groups, want) {
				t.Fatalf("groups after %s: %+v, want %+v", after, res.Groups, want)
			}
		}
		groupsAre("a resent add", backend.GroupInfo{Name: "a", Waiting: 2}, backend.GroupInfo{Name: "b", Waiting: 1})
		x.dropNext("lease")
		if jobs := x.lease(t, "q", 3); len(jobs) != 2 {
			t.Fatalf("leased %d jobs, want one of each group", len(jobs))
		}
		x.resent(t, "lease", 2)
		groupsAre("a resent lease", backend.GroupInfo{Name: "a", Waiting: 1, Active: 1}, backend.GroupInfo{Name: "b", Active: 1})
		x.dropNext("pause_group")
		if err := b.PauseGroup(x.ctx, "q", "a", true); err != nil {
			t.Fatal(err)
		}
		x.resent(t, "pause_group", 2)
		ev := x.countEvents(t, "q")
		if ev[backend.EventGroupLimitsChanged] != 1 || ev[backend.EventGroupPaused] != 1 || ev[backend.EventActive] != 2 {
			t.Fatalf("events %v, want one group-limits-changed, one group-paused and two active", ev)
		}
		groupsAre("a resent pause", backend.GroupInfo{Name: "a", Waiting: 1, Active: 1, Paused: true}, backend.GroupInfo{Name: "b", Active: 1})
	}},
	{"a pause and an obliteration apply once", func(t *testing.T, x *resendBundle) {
		x.add(t, "q", make5()...)
		x.dropNext("pause")
		if err := x.b.SetPaused(x.ctx, "q", true); err != nil {
			t.Fatal(err)
		}
		x.resent(t, "pause", 2)
		if n := x.countEvents(t, "q")[backend.EventPaused]; n != 1 {
			t.Fatalf("%d paused events, want 1", n)
		}
		x.dropNext("obliterate")
		if err := x.b.Obliterate(x.ctx, "q", nil); err != nil {
			t.Fatalf("Obliterate: %v", err)
		}
		x.resent(t, "obliterate", 2)
		if c := x.counts(t, "q"); c.Waiting != 0 {
			t.Fatalf("counts %+v after Obliterate", c)
		}
	}},
}

func make5() []backend.NewJob {
	jobs := make([]backend.NewJob, 5)
	for i := range jobs {
		jobs[i] = backend.NewJob{Name: "n"}
	}
	return jobs
}

// TestResendBounds checks the resend window and reply TTL that a
// client's options give.
func TestResendBounds(t *testing.T) {
	for _, c := range []struct {
		name        string
		client      goredis.UniversalClient
		window, ttl time.Duration
	}{
		{"defaults", goredis.NewClient(&goredis.Options{}), 10 * time.Second, 20 * time.Second},
		{"no retries", goredis.NewClient(&goredis.Options{MaxRetries: -1}), 10 * time.Second, 0},
		{"long reads", goredis.NewClient(&goredis.Options{ReadTimeout: time.Minute, WriteTimeout: time.Second}), 65 * time.Second, 126 * time.Second},
		{"no timeouts", goredis.NewClient(&goredis.Options{ReadTimeout: -1}), 10 * time.Second, 20 * time.Second},
		{"cluster", goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}}), 10 * time.Second, 20 * time.Second},
		{"cluster without redirects", goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}, MaxRedirects: -1}), 10 * time.Second, 0},
	} {
		window, ttl := resendBounds(c.client)
		if window != c.window || ttl != c.ttl {
			t.Errorf("%s: window %v, TTL %v; want %v, %v", c.name, window, ttl, c.window, c.ttl)
		}
		_ = c.client.Close()
	}
}

// TestResendWindow checks that go-redis starts no resend of a write call
// after the resend window: the call then fails with ErrUnavailable.
func TestResendWindow(t *testing.T) {
	// Every retry would wait 5 s, longer than the window.
	x := resendSetup(t, "redis", &goredis.Options{MinRetryBackoff: 5 * time.Second, MaxRetryBackoff: 5 * time.Second})
	x.store.window = time.Second
	x.dropNext("add")
	_, err := x.b.Add(context.Background(), "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n"}}})
	if !errors.Is(err, backend.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Add whose reply was lost, without time for a resend: %v, want ErrUnavailable", err)
	}
	x.resent(t, "add", 1)
	if c := x.counts(t, "q"); c.Waiting != 1 {
		t.Fatalf("counts %+v, want the job of the first run", c)
	}
}
