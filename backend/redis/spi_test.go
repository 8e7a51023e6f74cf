package redis

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

// runSPI runs the store's own cases on the stores f makes.
// Cases named in skip are left out.
func runSPI(t *testing.T, f storeFactory, skip ...string) {
	cases := []struct {
		name string
		run  func(*testing.T, storeFactory)
	}{
		{"AddLeaseComplete", testAddLeaseComplete},
		{"PriorityAndFIFO", testPriorityFIFO},
		{"DuplicateID", testDuplicateID},
		{"InvalidWritesNothing", testInvalid},
		{"DelayedPromotion", testDelayed},
		{"RenewAndLeaseLost", testRenew},
		{"StalledRecovery", testStalled},
		{"RetryReleaseFail", testRetryRelease},
		{"Retention", testRetention},
		{"Admin", testAdmin},
		{"ProgressAndLogs", testProgressLogs},
		{"EventsTrimmed", testEventsTrimmed},
		{"BlockingLeaseWakesN", testWakeN},
		{"BlockingLeaseDelayedDue", testWakeDelayed},
		{"BlockingLeaseRateLimited", testWakeRateLimited},
		{"LimitsKeys", testLimitsKeys},
		{"GroupsEnter", testGroupsEnter},
		{"GroupsKeys", testGroupsKeys},
		{"BlockingLeaseGroupRateLimited", testWakeGroupRateLimited},
		{"EventsWait", testEventsWait},
		{"Flow", testFlow},
		{"FlowFailurePolicies", testFlowPolicies},
		{"FlowAcrossQueues", testFlowAcrossQueues},
		{"Scheduler", testScheduler},
		{"JobControl", testJobControl},
		{"Dedup", testDedup},
	}
	for _, c := range cases {
		if slices.Contains(skip, c.name) {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, f)
		})
	}
}

func testAddLeaseComplete(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	r := x.add(t, "q", backend.NewJob{Name: "a", Data: []byte(`{"n":1}`)}, backend.NewJob{Name: "b", ID: "my-id"})
	if len(r.Jobs) != 2 || r.Jobs[0].ID != "1" || r.Jobs[1].ID != "my-id" || r.Jobs[0].Queue != "q" {
		t.Fatalf("added %+v", r.Jobs)
	}
	if c := x.counts(t, "q"); c.Waiting != 2 || c.Total() != 2 {
		t.Fatalf("counts %+v", c)
	}
	jobs := x.lease(t, "q", 10)
	if len(jobs) != 2 || jobs[0].ID != "1" || jobs[0].State != backend.StateActive || jobs[0].Lease.Token == "" ||
		string(jobs[0].Data) != `{"n":1}` || !jobs[0].LeaseExpiresAt.Equal(t0.Add(30*time.Second)) || jobs[0].Worker != "w" {
		t.Fatalf("leased %+v", jobs[0])
	}
	if jobs[0].Lease.Token == jobs[1].Lease.Token {
		t.Fatal("two leases share a token")
	}
	errs := x.settle(t, "q", complete(jobs[0], "ok"), complete(jobs[1], "ok2"))
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("settle: %v", errs)
	}
	j := x.job(t, "q", "1")
	if j.State != backend.StateCompleted || string(j.Result) != "ok" || j.AttemptsMade != 1 || !j.FinishedAt.Equal(t0) {
		t.Fatalf("job %+v", j)
	}
	errs = x.settle(t, "q", complete(jobs[0], "again"))
	if !errors.Is(errs[0], backend.ErrLeaseLost) {
		t.Fatalf("second settle: %v", errs[0])
	}
	got := types(x.events(t, "q", 0))
	// The lease took the last waiting jobs: the queue is drained.
	want := []string{"added:1", "waiting:1", "added:my-id", "waiting:my-id", "active:1", "active:my-id", "drained:", "completed:1", "completed:my-id"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if _, err := x.b.Job(x.ctx, "q", "nope"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("missing job: %v", err)
	}
	page, err := x.b.Jobs(x.ctx, "q", &backend.JobsRequest{State: backend.StateCompleted})
	if err != nil || len(page.Jobs) != 2 {
		t.Fatalf("Jobs: %v %v", page, err)
	}
	if err := x.b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := x.b.Counts(x.ctx, "q"); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func testPriorityFIFO(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	x.add(t, "q",
		backend.NewJob{Name: "p5a", Priority: 5}, backend.NewJob{Name: "p0a"}, backend.NewJob{Name: "p5b", Priority: 5},
		backend.NewJob{Name: "p1", Priority: 1}, backend.NewJob{Name: "p0b"}, backend.NewJob{Name: "max", Priority: backend.MaxPriority})
	var names []string
	for _, j := range x.lease(t, "q", 10) {
		names = append(names, j.Name)
	}
	want := []string{"p0a", "p0b", "p1", "p5a", "p5b", "max"}
	if !slices.Equal(names, want) {
		t.Fatalf("order %v, want %v", names, want)
	}
}

func testDuplicateID(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	x.add(t, "q", backend.NewJob{Name: "a", ID: "x"})
	r := x.add(t, "q", backend.NewJob{Name: "b", ID: "x"}, backend.NewJob{Name: "c"})
	if !r.Jobs[0].Duplicate || r.Jobs[0].ID != "x" || r.Jobs[1].Duplicate {
		t.Fatalf("result %+v", r.Jobs)
	}
	if j := x.job(t, "q", "x"); j.Name != "a" {
		t.Fatalf("duplicate overwrote: %+v", j)
	}
	// A flow child whose id exists is a conflict, and nothing is written.
	before := x.counts(t, "q")
	_, err := x.b.Add(x.ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "p", Children: []backend.NewJob{{Name: "c", ID: "x"}}}}})
	if !errors.Is(err, backend.ErrConflict) {
		t.Fatalf("conflict: %v", err)
	}
	if after := x.counts(t, "q"); after != before {
		t.Fatalf("counts changed: %+v -> %+v", before, after)
	}
}

func testInvalid(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{MaxPayload: 10})
	_, err := x.b.Add(x.ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "ok"}, {Name: "bad", Delay: -time.Second}}})
	var ve *backend.ValidationError
	if !errors.As(err, &ve) || ve.Index != 1 || !errors.Is(err, backend.ErrInvalid) {
		t.Fatalf("bad delay: %v", err)
	}
	_, err = x.b.Add(x.ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "big", Data: make([]byte, 11)}}})
	if !errors.Is(err, backend.ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	if _, err := x.b.Add(x.ctx, "bad{q}", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "x"}}}); !errors.Is(err, backend.ErrInvalid) {
		t.Fatalf("bad queue: %v", err)
	}
	if c := x.counts(t, "q"); c.Total() != 0 {
		t.Fatalf("invalid add wrote %+v", c)
	}
	if id, _ := x.b.LastEventID(x.ctx, "q"); id != 0 {
		t.Fatalf("invalid add appended events up to %d", id)
	}
}

func testDelayed(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	x.add(t, "q", backend.NewJob{Name: "later", Delay: time.Minute})
	if jobs := x.lease(t, "q", 1); len(jobs) != 0 {
		t.Fatalf("leased a delayed job early")
	}
	j := x.job(t, "q", "1")
	if j.State != backend.StateDelayed || !j.RunAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("delayed job %+v", j)
	}
	x.clock.Advance(time.Minute)
	if jobs := x.lease(t, "q", 1); len(jobs) != 1 {
		t.Fatalf("due job not leased")
	}
}

func testRenew(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	x.add(t, "q", backend.NewJob{Name: "a"}, backend.NewJob{Name: "b"})
	jobs := x.lease(t, "q", 2)
	x.clock.Advance(20 * time.Second)
	stale := backend.Lease{JobID: jobs[1].ID, Token: "stale"}
	r, err := x.b.Renew(x.ctx, "q", &backend.RenewRequest{Leases: []backend.Lease{jobs[0].Lease, stale}, TTL: 30 * time.Second})
	if err != nil || len(r.Lost) != 1 || r.Lost[0] != stale || !r.ExpiresAt.Equal(t0.Add(50*time.Second)) {
		t.Fatalf("renew %+v %v", r, err)
	}
	x.clock.Advance(15 * time.Second) // b expired, a renewed
	x.lease(t, "q", 0+1)
	if j := x.job(t, "q", jobs[0].ID); j.State != backend.StateActive {
		t.Fatalf("renewed job %s", j.State)
	}
}

func testStalled(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	x.add(t, "q", backend.NewJob{Name: "a"})
	first := x.lease(t, "q", 1)[0]
	x.clock.Advance(31 * time.Second)
	second := x.lease(t, "q", 1)
	if len(second) != 1 || second[0].StalledCount != 1 || second[0].Lease.Token == first.Lease.Token {
		t.Fatalf("recovered %+v", second)
	}
	if errs := x.settle(t, "q", complete(first, "")); !errors.Is(errs[0], backend.ErrLeaseLost) {
		t.Fatalf("stale settle: %v", errs[0])
	}
	x.clock.Advance(31 * time.Second)
	x.lease(t, "q", 1) // MaxStalled 1: the second recovery fails it
	j := x.job(t, "q", "1")
	if j.State != backend.StateFailed || j.StalledCount != 2 {
		t.Fatalf("after two stalls %+v", j)
	}
	evs := types(x.events(t, "q", 0))
	if !slices.Contains(evs, "stalled:1") || evs[len(evs)-1] != "failed:1" {
		t.Fatalf("events %v", evs)
	}
}

func testRetryRelease(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	x.add(t, "q", backend.NewJob{Name: "a", Attempts: 3}, backend.NewJob{Name: "b"})
	jobs := x.lease(t, "q", 2)
	x.settle(t, "q",
		backend.Settlement{Lease: jobs[0].Lease, Outcome: backend.OutcomeRetry, Reason: "boom", RetryDelay: time.Second},
		backend.Settlement{Lease: jobs[1].Lease, Outcome: backend.OutcomeRelease})
	a, b := x.job(t, "q", "1"), x.job(t, "q", "2")
	if a.State != backend.StateDelayed || a.AttemptsMade != 1 || a.FailedReason != "boom" {
		t.Fatalf("retried %+v", a)
	}
	if b.State != backend.StateWaiting || b.AttemptsMade != 0 {
		t.Fatalf("released %+v", b)
	}
	x.clock.Advance(time.Second)
	// The released job went back to the front; the retried one became
	// ready after it.
	jobs = x.lease(t, "q", 2)
	if len(jobs) != 2 || jobs[0].ID != "2" || jobs[1].ID != "1" {
		t.Fatalf("after retry %v", jobs)
	}
	x.settle(t, "q", backend.Settlement{Lease: jobs[1].Lease, Outcome: backend.OutcomeFail, Reason: "dead", Stacktrace: []string{"at x", "at y"}})
	a = x.job(t, "q", "1")
	if a.State != backend.StateFailed || a.AttemptsMade != 2 || !slices.Equal(a.Stacktrace, []string{"at x", "at y"}) {
		t.Fatalf("failed %+v", a)
	}
}

func testRetention(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	var jobs []backend.NewJob
	for range 5 {
		jobs = append(jobs, backend.NewJob{Name: "a", KeepCompleted: backend.Retention{Count: 2}, KeepFailed: backend.Retention{Remove: true}})
	}
	x.add(t, "q", jobs...)
	leased := x.lease(t, "q", 5)
	for i, j := range leased[:4] {
		x.clock.Advance(time.Second)
		x.settle(t, "q", complete(j, fmt.Sprint(i)))
	}
	x.settle(t, "q", backend.Settlement{Lease: leased[4].Lease, Outcome: backend.OutcomeFail})
	c := x.counts(t, "q")
	if c.Completed != 2 || c.Failed != 0 || c.Total() != 2 {
		t.Fatalf("counts %+v", c)
	}
	page, _ := x.b.Jobs(x.ctx, "q", &backend.JobsRequest{State: backend.StateCompleted})
	if len(page.Jobs) != 2 || page.Jobs[0].ID != "4" || page.Jobs[1].ID != "3" {
		t.Fatalf("kept %v", page.Jobs)
	}
}

func testAdmin(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	x.add(t, "q", backend.NewJob{Name: "a"}, backend.NewJob{Name: "b", Delay: time.Hour}, backend.NewJob{Name: "c"})
	if err := x.b.SetPaused(x.ctx, "q", true); err != nil {
		t.Fatal(err)
	}
	if jobs := x.lease(t, "q", 5); len(jobs) != 0 || !x.counts(t, "q").Paused {
		t.Fatal("leased from a paused queue")
	}
	if err := x.b.SetPaused(x.ctx, "q", false); err != nil {
		t.Fatal(err)
	}
	active := x.lease(t, "q", 1)[0]
	if err := x.b.RemoveJob(x.ctx, "q", active.ID); !errors.Is(err, backend.ErrJobActive) {
		t.Fatalf("remove active: %v", err)
	}
	if err := x.b.RemoveJob(x.ctx, "q", "nope"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("remove missing: %v", err)
	}
	d, err := x.b.Drain(x.ctx, "q", &backend.DrainRequest{Delayed: true})
	if err != nil || d.Removed != 2 {
		t.Fatalf("drain %+v %v", d, err)
	}
	if err := x.b.Obliterate(x.ctx, "q", nil); !errors.Is(err, backend.ErrJobActive) {
		t.Fatalf("obliterate with active: %v", err)
	}
	x.settle(t, "q", complete(active, ""))
	x.clock.Advance(time.Hour)
	cl, err := x.b.Clean(x.ctx, "q", &backend.CleanRequest{State: backend.StateCompleted, Grace: time.Minute})
	if err != nil || len(cl.IDs) != 1 || cl.IDs[0] != active.ID {
		t.Fatalf("clean %+v %v", cl, err)
	}
	last, _ := x.b.LastEventID(x.ctx, "q")
	if err := x.b.Obliterate(x.ctx, "q", nil); err != nil {
		t.Fatal(err)
	}
	// The events are gone, their IDs stay taken.
	if id, _ := x.b.LastEventID(x.ctx, "q"); id != last {
		t.Fatalf("LastEventID after obliterate = %d, want %d", id, last)
	}
	if _, err := x.b.Events(x.ctx, "q", &backend.EventsRequest{After: 0}); !errors.Is(err, backend.ErrEventsTrimmed) {
		t.Fatalf("events after 0 once obliterated: %v, want ErrEventsTrimmed", err)
	}
}

func testProgressLogs(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	x.add(t, "q", backend.NewJob{Name: "a"})
	if err := x.b.UpdateProgress(x.ctx, "q", "1", []byte("50")); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if n, err := x.b.AddLog(x.ctx, "q", "1", fmt.Sprint("line", i)); err != nil || n != i+1 {
			t.Fatalf("AddLog: %d %v", n, err)
		}
	}
	l, err := x.b.Logs(x.ctx, "q", "1", &backend.LogsRequest{Offset: 1, Limit: 1})
	if err != nil || l.Total != 3 || !slices.Equal(l.Lines, []string{"line1"}) {
		t.Fatalf("Logs %+v %v", l, err)
	}
	if j := x.job(t, "q", "1"); string(j.Progress) != "50" || j.LogCount != 3 {
		t.Fatalf("job %+v", j)
	}
	if err := x.b.UpdateProgress(x.ctx, "q", "nope", nil); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("progress of missing: %v", err)
	}
}

func testEventsTrimmed(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{EventRetention: backend.EventRetention{Count: 5}})
	for range 5 {
		x.add(t, "q", backend.NewJob{Name: "a"}) // two events each
	}
	last, err := x.b.LastEventID(x.ctx, "q")
	if err != nil || last != 10 {
		t.Fatalf("last %d %v", last, err)
	}
	_, err = x.b.Events(x.ctx, "q", &backend.EventsRequest{After: 2})
	var te *backend.EventsTrimmedError
	if !errors.As(err, &te) || te.FirstAvailable != 6 || !errors.Is(err, backend.ErrEventsTrimmed) {
		t.Fatalf("trimmed read: %v", err)
	}
	evs := x.events(t, "q", 5)
	if len(evs) != 5 || evs[0].ID != 6 || evs[4].ID != 10 {
		t.Fatalf("events %v", evs)
	}
	if evs := x.events(t, "q", 10); len(evs) != 0 {
		t.Fatalf("after last: %v", evs)
	}
}

// testWakeN: N idle leasers, an add of N jobs: every leaser gets one
// without waiting for its timeout.
func testWakeN(t *testing.T, f storeFactory) {
	b := f(t, storeOptions{})
	x := &bundle{b: b, ctx: t.Context()}
	const n = 4
	var wg sync.WaitGroup
	got := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := b.Lease(x.ctx, "q", &backend.LeaseRequest{Max: 1, TTL: time.Minute, Wait: time.Minute})
			if err != nil || len(r.Jobs) != 1 {
				t.Errorf("lease: %v %v", r.Jobs, err)
				return
			}
			got <- r.Jobs[0].ID
		}()
	}
	waitFor(t, "leasers to block", func() bool {
		c := b.(*Backend).client
		n, _ := c.Do(x.ctx, "client", "list").Text()
		return strings.Count(n, "cmd=blpop") >= 4 || isMini(b)
	})
	x.add(t, "q", backend.NewJob{Name: "1"}, backend.NewJob{Name: "2"}, backend.NewJob{Name: "3"}, backend.NewJob{Name: "4"})
	wg.Wait()
	close(got)
	seen := map[string]bool{}
	for id := range got {
		seen[id] = true
	}
	if len(seen) != n {
		t.Fatalf("leased %v", seen)
	}
}

func isMini(b backend.Full) bool {
	err := b.(*Backend).client.Do(t0ctx, "client", "list").Err()
	return err != nil
}

// leaseLater starts a Lease of one job of q that waits up to two hours,
// and returns the channel its jobs come on.
func (x *bundle) leaseLater(t *testing.T, q string) <-chan []*backend.Job {
	done := make(chan []*backend.Job, 1)
	go func() {
		r, err := x.b.Lease(x.ctx, q, &backend.LeaseRequest{Max: 1, TTL: time.Minute, Wait: 2 * time.Hour})
		if err != nil {
			t.Errorf("lease: %v", err)
		}
		done <- r.Jobs
	}()
	return done
}

// testWakeDelayed: an idle leaser wakes when a delayed job falls due.
func testWakeDelayed(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	x.add(t, "q", backend.NewJob{Name: "later", Delay: time.Hour})
	done := x.leaseLater(t, "q")
	waitFor(t, "the leaser's timer", func() bool { return x.clock.Timers() > 0 })
	x.clock.Advance(time.Hour)
	if jobs := <-done; len(jobs) != 1 {
		t.Fatalf("leased %v", jobs)
	}
}

func testEventsWait(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	last, _ := x.b.LastEventID(x.ctx, "q")
	done := make(chan []backend.Event, 1)
	go func() {
		r, err := x.b.Events(x.ctx, "q", &backend.EventsRequest{After: last, Wait: time.Hour})
		if err != nil {
			t.Errorf("events: %v", err)
		}
		done <- r.Events
	}()
	waitFor(t, "the reader's timer", func() bool { return x.clock.Timers() > 0 })
	x.add(t, "q", backend.NewJob{Name: "a"})
	if evs := <-done; len(evs) == 0 || evs[0].Type != backend.EventAdded {
		t.Fatalf("events %v", evs)
	}
}

// testJobControl runs each job-control script once on its straight path
// and once on a job in the wrong state; the conformance suite covers them
// in full.
func testJobControl(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	ctl := x.b.(backend.JobController)
	x.add(t, "q", backend.NewJob{Name: "a"}, backend.NewJob{Name: "later", Delay: time.Hour})
	j := x.lease(t, "q", 1)[0]
	x.settle(t, "q", backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeFail, Reason: "no"})
	if res, err := ctl.Retry(x.ctx, "q", &backend.RetryRequest{ID: j.ID}); err != nil || len(res.IDs) != 1 {
		t.Fatalf("retry %+v %v", res, err)
	}
	var ws *backend.WrongStateError
	if _, err := ctl.Retry(x.ctx, "q", &backend.RetryRequest{ID: j.ID}); !errors.As(err, &ws) || ws.State != backend.StateWaiting {
		t.Fatalf("retry of a waiting job: %v", err)
	}
	if res, err := ctl.Promote(x.ctx, "q", &backend.PromoteRequest{}); err != nil || len(res.IDs) != 1 || res.IDs[0] != "2" {
		t.Fatalf("promote %+v %v", res, err)
	}
	prio := 3
	if err := ctl.Change(x.ctx, "q", &backend.ChangeRequest{ID: "2", Priority: &prio}); err != nil {
		t.Fatal(err)
	}
	if got := x.job(t, "q", "2"); got.Priority != 3 || got.State != backend.StateWaiting {
		t.Fatalf("changed %+v", got)
	}
	if res, err := ctl.Cancel(x.ctx, "q", &backend.CancelRequest{ID: "2", Reason: "no need"}); err != nil || res.Active {
		t.Fatalf("cancel %+v %v", res, err)
	}
	if got := x.job(t, "q", "2"); got.State != backend.StateFailed || got.FailedReason != backend.CancelFailure("no need") {
		t.Fatalf("cancelled %+v", got)
	}
	id, err := ctl.Publish(x.ctx, "q", &backend.PublishRequest{Name: "deploy", Data: []byte("v2")})
	if err != nil {
		t.Fatal(err)
	}
	evs := x.events(t, "q", id-1)
	if len(evs) != 1 || evs[0].Type != backend.EventPublished || evs[0].Name != "deploy" || string(evs[0].Data) != "v2" {
		t.Fatalf("published %+v", evs)
	}
}
