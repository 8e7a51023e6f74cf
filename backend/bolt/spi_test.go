package bolt

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func TestAddAssignsMonotonicIDsAndReportsDuplicates(t *testing.T) {
	b, _ := setup(t)
	got := add(t, b, "q", backend.NewJob{Name: "a"}, backend.NewJob{Name: "b", ID: "mine"}, backend.NewJob{Name: "c"})
	if got[0].ID != "1" || got[1].ID != "mine" || got[2].ID != "3" {
		t.Fatalf("ids %+v", got)
	}
	before := job(t, b, "q", "mine")
	again := add(t, b, "q", backend.NewJob{Name: "x", ID: "mine"}, backend.NewJob{Name: "d"})
	if !again[0].Duplicate || again[0].ID != "mine" || again[1].Duplicate || again[1].ID != "4" {
		t.Fatalf("second add %+v", again)
	}
	if j := job(t, b, "q", "mine"); j.Name != "b" || j.Seq != before.Seq {
		t.Fatalf("duplicate changed the job: %+v", j)
	}
	if c := counts(t, b, "q"); c.Waiting != 4 {
		t.Fatalf("counts %+v", c)
	}
	want := []string{"added:1", "waiting:1", "added:mine", "waiting:mine", "added:3", "waiting:3", "duplicated:mine", "added:4", "waiting:4"}
	if got := eventTypes(events(t, b, "q", 0)); !slices.Equal(got, want) {
		t.Fatalf("events %v", got)
	}
}

func TestBadInputWritesNothing(t *testing.T) {
	b, _ := setup(t)
	add(t, b, "q", backend.NewJob{Name: "a"})
	before := counts(t, b, "q")
	last, _ := b.LastEventID(ctx, "q")
	_, err := b.Add(ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "ok"}, {Name: "bad", Delay: -1}}})
	var ve *backend.ValidationError
	if !errors.Is(err, backend.ErrInvalid) || !errors.As(err, &ve) || ve.Index != 1 {
		t.Fatalf("err %v", err)
	}
	_, err = b.Add(ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "big", Data: make([]byte, backend.DefaultMaxPayload+1)}}})
	if !errors.Is(err, backend.ErrTooLarge) {
		t.Fatalf("err %v", err)
	}
	if _, err := b.Job(ctx, "q", "404"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("err %v", err)
	}
	if err := b.RemoveJob(ctx, "q", "nope"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("err %v", err)
	}
	errs := settle(t, b, "q", backend.Settlement{Lease: backend.Lease{JobID: "1", Token: "stale"}, Outcome: backend.OutcomeComplete})
	if !errors.Is(errs[0], backend.ErrLeaseLost) {
		t.Fatalf("err %v", errs[0])
	}
	if after := counts(t, b, "q"); after != before {
		t.Fatalf("counts %+v, were %+v", after, before)
	}
	if l, _ := b.LastEventID(ctx, "q"); l != last {
		t.Fatalf("events appended: %d → %d", last, l)
	}
}

func TestLeasePriorityFIFOAndSettle(t *testing.T) {
	b, _ := setup(t)
	add(t, b, "q",
		backend.NewJob{Name: "low", Priority: 5},
		backend.NewJob{Name: "a"},
		backend.NewJob{Name: "b"},
		backend.NewJob{Name: "high", Priority: 1})
	jobs := lease(t, b, "q", 10)
	var names []string
	for _, j := range jobs {
		names = append(names, j.Name)
		if j.State != backend.StateActive || j.Lease.Token == "" || j.Lease.JobID != j.ID || j.LeaseExpiresAt.IsZero() {
			t.Fatalf("leased job %+v", j)
		}
	}
	if !slices.Equal(names, []string{"a", "b", "high", "low"}) {
		t.Fatalf("order %v", names)
	}
	errs := settle(t, b, "q",
		backend.Settlement{Lease: jobs[0].Lease, Outcome: backend.OutcomeComplete, Result: []byte("r")},
		backend.Settlement{Lease: jobs[1].Lease, Outcome: backend.OutcomeFail, Reason: "boom"},
		backend.Settlement{Lease: jobs[2].Lease, Outcome: backend.OutcomeRetry, Reason: "again", RetryDelay: time.Second},
		backend.Settlement{Lease: jobs[3].Lease, Outcome: backend.OutcomeRelease},
		backend.Settlement{Lease: jobs[0].Lease, Outcome: backend.OutcomeComplete},
	)
	for i, e := range errs[:4] {
		if e != nil {
			t.Fatalf("settle %d: %v", i, e)
		}
	}
	if !errors.Is(errs[4], backend.ErrLeaseLost) {
		t.Fatalf("second settle: %v", errs[4])
	}
	if j := job(t, b, "q", jobs[0].ID); j.State != backend.StateCompleted || string(j.Result) != "r" || j.AttemptsMade != 1 || j.Lease.Token != "" {
		t.Fatalf("completed %+v", j)
	}
	if j := job(t, b, "q", jobs[1].ID); j.State != backend.StateFailed || j.FailedReason != "boom" || j.AttemptsMade != 1 {
		t.Fatalf("failed %+v", j)
	}
	if j := job(t, b, "q", jobs[2].ID); j.State != backend.StateDelayed || j.AttemptsMade != 1 {
		t.Fatalf("retried %+v", j)
	}
	if j := job(t, b, "q", jobs[3].ID); j.State != backend.StateWaiting || j.AttemptsMade != 0 {
		t.Fatalf("released %+v", j)
	}
	c := counts(t, b, "q")
	if c.Completed != 1 || c.Failed != 1 || c.Delayed != 1 || c.Waiting != 1 || c.Active != 0 {
		t.Fatalf("counts %+v", c)
	}
}

func TestDelayedJobsArePromotedWhenDue(t *testing.T) {
	b, clock := setup(t)
	add(t, b, "q", backend.NewJob{Name: "later", Delay: time.Minute})
	if jobs := lease(t, b, "q", 1); len(jobs) != 0 {
		t.Fatalf("leased a delayed job")
	}
	clock.Advance(time.Minute)
	if jobs := lease(t, b, "q", 1); len(jobs) != 1 {
		t.Fatalf("due job not leased")
	}
}

func TestBlockedLeaseWakesOnAddAndDueTime(t *testing.T) {
	b, clock := setup(t)
	got := make(chan []*backend.Job, 4)
	for range 3 {
		go func() {
			res, err := b.Lease(ctx, "q", &backend.LeaseRequest{Max: 1, TTL: time.Minute, Wait: time.Hour})
			if err != nil {
				t.Error(err)
			}
			got <- res.Jobs
		}()
	}
	waitFor(t, 5*time.Second, func() bool { return clock.Timers() == 3 })
	add(t, b, "q", backend.NewJob{Name: "a"}, backend.NewJob{Name: "b"}, backend.NewJob{Name: "c"})
	for range 3 {
		if jobs := <-got; len(jobs) != 1 {
			t.Fatalf("woken with %d jobs", len(jobs))
		}
	}
	// A delayed job wakes a blocked leaser at its due time.
	add(t, b, "q", backend.NewJob{Name: "d", Delay: time.Minute})
	go func() {
		res, _ := b.Lease(ctx, "q", &backend.LeaseRequest{Max: 1, TTL: time.Hour, Wait: time.Hour})
		got <- res.Jobs
	}()
	waitFor(t, 5*time.Second, func() bool { return clock.Timers() == 1 })
	clock.Advance(time.Minute)
	if jobs := <-got; len(jobs) != 1 || jobs[0].Name != "d" {
		t.Fatalf("due job: %v", jobs)
	}
}

func TestStalledRecoveryAndMaxStalled(t *testing.T) {
	b, clock := setup(t)
	add(t, b, "q", backend.NewJob{Name: "a"})
	req := &backend.LeaseRequest{Max: 1, TTL: time.Second, MaxStalled: 1}
	for i := 1; i <= 2; i++ {
		res, err := b.Lease(ctx, "q", req)
		if err != nil || len(res.Jobs) != 1 {
			t.Fatalf("lease %d: %v %v", i, res.Jobs, err)
		}
		clock.Advance(time.Second)
	}
	res, err := b.Lease(ctx, "q", req)
	if err != nil || len(res.Jobs) != 0 {
		t.Fatalf("leased after too many stalls: %v %v", res.Jobs, err)
	}
	j := job(t, b, "q", "1")
	if j.State != backend.StateFailed || j.StalledCount != 2 || j.FailedReason != backend.StalledReason {
		t.Fatalf("job %+v", j)
	}
	var types []string
	for _, e := range events(t, b, "q", 0) {
		types = append(types, string(e.Type))
	}
	want := "added waiting active drained stalled waiting active drained stalled failed"
	if strings.Join(types, " ") != want {
		t.Fatalf("events %v", types)
	}
}

func TestRenewKeepsLeaseAndReportsLost(t *testing.T) {
	b, clock := setup(t)
	add(t, b, "q", backend.NewJob{Name: "a"})
	jobs := lease(t, b, "q", 1)
	clock.Advance(50 * time.Second)
	res, err := b.Renew(ctx, "q", &backend.RenewRequest{Leases: []backend.Lease{jobs[0].Lease, {JobID: "1", Token: "x"}}, TTL: time.Minute})
	if err != nil || len(res.Lost) != 1 || res.Lost[0].Token != "x" || !res.ExpiresAt.Equal(clock.Now().Add(time.Minute)) {
		t.Fatalf("renew %+v %v", res, err)
	}
	clock.Advance(50 * time.Second)
	if got := lease(t, b, "q", 1); len(got) != 0 {
		t.Fatal("renewed lease was recovered")
	}
	if errs := settle(t, b, "q", backend.Settlement{Lease: jobs[0].Lease, Outcome: backend.OutcomeComplete}); errs[0] != nil {
		t.Fatal(errs[0])
	}
}

func TestRetention(t *testing.T) {
	b, clock := setup(t)
	for i := range 5 {
		add(t, b, "q", backend.NewJob{Name: fmt.Sprint(i), KeepCompleted: backend.Retention{Count: 2}, KeepFailed: backend.Retention{Remove: true}})
	}
	for range 5 {
		j := lease(t, b, "q", 1)[0]
		clock.Advance(time.Second)
		settle(t, b, "q", backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeComplete})
	}
	if c := counts(t, b, "q"); c.Completed != 2 {
		t.Fatalf("counts %+v", c)
	}
	res, _ := b.Jobs(ctx, "q", &backend.JobsRequest{State: backend.StateCompleted})
	if len(res.Jobs) != 2 || res.Jobs[0].ID != "5" || res.Jobs[1].ID != "4" {
		t.Fatalf("kept %v", res.Jobs)
	}
	add(t, b, "q", backend.NewJob{Name: "f", KeepFailed: backend.Retention{Remove: true}})
	j := lease(t, b, "q", 1)[0]
	settle(t, b, "q", backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeFail})
	if _, err := b.Job(ctx, "q", j.ID); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("removed on fail: %v", err)
	}
	// Age.
	add(t, b, "a", backend.NewJob{Name: "x", KeepCompleted: backend.Retention{Age: time.Minute}})
	add(t, b, "a", backend.NewJob{Name: "y", KeepCompleted: backend.Retention{Age: time.Minute}})
	x := lease(t, b, "a", 1)[0]
	settle(t, b, "a", backend.Settlement{Lease: x.Lease, Outcome: backend.OutcomeComplete})
	clock.Advance(2 * time.Minute)
	y := lease(t, b, "a", 1)[0]
	settle(t, b, "a", backend.Settlement{Lease: y.Lease, Outcome: backend.OutcomeComplete})
	if c := counts(t, b, "a"); c.Completed != 1 {
		t.Fatalf("age retention: %+v", c)
	}
}

func TestEventsRetentionAndTrimmedError(t *testing.T) {
	clock := newClock()
	b := openTest(t, &Options{Clock: clock, EventRetention: backend.EventRetention{Count: 5}})
	for range 4 {
		add(t, b, "q", backend.NewJob{Name: "a"})
	}
	evs := events(t, b, "q", 3)
	if len(evs) != 5 || evs[0].ID != 4 || evs[4].ID != 8 {
		t.Fatalf("events %+v", evs)
	}
	_, err := b.Events(ctx, "q", &backend.EventsRequest{After: 2})
	var te *backend.EventsTrimmedError
	if !errors.As(err, &te) || te.FirstAvailable != 4 || !errors.Is(err, backend.ErrEventsTrimmed) {
		t.Fatalf("err %v", err)
	}
	if id, _ := b.LastEventID(ctx, "q"); id != 8 {
		t.Fatalf("last %d", id)
	}
	// A blocked reader wakes on the next event.
	got := make(chan []backend.Event)
	go func() {
		res, err := b.Events(ctx, "q", &backend.EventsRequest{After: 8, Wait: time.Hour})
		if err != nil {
			t.Error(err)
		}
		got <- res.Events
	}()
	waitFor(t, 5*time.Second, func() bool { return clock.Timers() == 1 })
	add(t, b, "q", backend.NewJob{Name: "b"})
	if evs := <-got; len(evs) != 2 || evs[0].ID != 9 || evs[0].Type != backend.EventAdded {
		t.Fatalf("woken with %+v", evs)
	}
}

func TestAdmin(t *testing.T) {
	b, clock := setup(t)
	add(t, b, "q", backend.NewJob{Name: "a"}, backend.NewJob{Name: "b"}, backend.NewJob{Name: "c", Delay: time.Hour})
	if err := b.SetPaused(ctx, "q", true); err != nil {
		t.Fatal(err)
	}
	if jobs := lease(t, b, "q", 1); len(jobs) != 0 || !counts(t, b, "q").Paused {
		t.Fatal("leased while paused")
	}
	if err := b.SetPaused(ctx, "q", false); err != nil {
		t.Fatal(err)
	}
	j := lease(t, b, "q", 1)[0]
	if err := b.RemoveJob(ctx, "q", j.ID); !errors.Is(err, backend.ErrJobActive) {
		t.Fatalf("remove active: %v", err)
	}
	if err := b.Obliterate(ctx, "q", nil); !errors.Is(err, backend.ErrJobActive) {
		t.Fatalf("obliterate with active: %v", err)
	}
	res, err := b.Drain(ctx, "q", &backend.DrainRequest{})
	if err != nil || res.Removed != 1 {
		t.Fatalf("drain %+v %v", res, err)
	}
	if c := counts(t, b, "q"); c.Waiting != 0 || c.Delayed != 1 || c.Active != 1 {
		t.Fatalf("counts %+v", c)
	}
	settle(t, b, "q", backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeComplete})
	clock.Advance(time.Minute)
	cl, err := b.Clean(ctx, "q", &backend.CleanRequest{State: backend.StateCompleted, Grace: time.Second})
	if err != nil || len(cl.IDs) != 1 || cl.IDs[0] != j.ID {
		t.Fatalf("clean %+v %v", cl, err)
	}
	if err := b.UpdateProgress(ctx, "q", "3", []byte(`50`)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if n, err := b.AddLog(ctx, "q", "3", fmt.Sprint("line ", i)); err != nil || n != i+1 {
			t.Fatalf("log %d %v", n, err)
		}
	}
	logs, err := b.Logs(ctx, "q", "3", &backend.LogsRequest{Offset: 1, Limit: 1})
	if err != nil || logs.Total != 3 || len(logs.Lines) != 1 || logs.Lines[0] != "line 1" {
		t.Fatalf("logs %+v %v", logs, err)
	}
	last, _ := b.LastEventID(ctx, "q")
	if err := b.Obliterate(ctx, "q", nil); err != nil {
		t.Fatal(err)
	}
	if c := counts(t, b, "q"); c.Total() != 0 {
		t.Fatalf("counts after obliterate %+v", c)
	}
	if _, err := b.Events(ctx, "q", &backend.EventsRequest{After: 0}); !errors.Is(err, backend.ErrEventsTrimmed) {
		t.Fatalf("events after obliterate: %v", err)
	}
	if id, _ := b.LastEventID(ctx, "q"); id != last {
		t.Fatalf("last event %d, was %d", id, last)
	}
	if got := add(t, b, "q", backend.NewJob{Name: "z"}); got[0].ID != "4" {
		t.Fatalf("id after obliterate %s", got[0].ID)
	}
}

func TestClosed(t *testing.T) {
	b, _ := setup(t)
	blocked := make(chan error)
	go func() {
		_, err := b.Lease(ctx, "q", &backend.LeaseRequest{Max: 1, TTL: time.Second, Wait: time.Hour})
		blocked <- err
	}()
	b.Close()
	if err := <-blocked; !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("blocked lease: %v", err)
	}
	if _, err := b.Add(ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "a"}}}); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("add: %v", err)
	}
	if _, err := b.Counts(ctx, "q"); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("counts: %v", err)
	}
}

func TestEventSegmentsReadAndTrim(t *testing.T) {
	clock := newClock()
	b := openTest(t, &Options{Clock: clock, EventRetention: backend.EventRetention{Count: 700, Age: time.Hour}})
	sizes := []int{1, 3, 200, 1, 1, 400, 7, 90, 1}
	for _, n := range sizes {
		jobs := make([]backend.NewJob, n)
		for i := range jobs {
			jobs[i] = backend.NewJob{Name: strings.Repeat("n", i%40+1)}
		}
		add(t, b, "q", jobs...)
		clock.Advance(time.Minute)
	}
	last, _ := b.LastEventID(ctx, "q")
	total := 0
	for _, n := range sizes {
		total += 2 * n
	}
	if last != uint64(total) {
		t.Fatalf("last %d, want %d", last, total)
	}
	first := last - 700 + 1
	for after := first - 1; after <= last; after += 13 {
		res, err := b.Events(ctx, "q", &backend.EventsRequest{After: after, Max: 50})
		if err != nil {
			t.Fatalf("after %d: %v", after, err)
		}
		for i, e := range res.Events {
			if e.ID != after+1+uint64(i) {
				t.Fatalf("after %d: event %d has ID %d", after, i, e.ID)
			}
		}
		if want := min(50, int(last-after)); len(res.Events) != want {
			t.Fatalf("after %d: %d events, want %d", after, len(res.Events), want)
		}
	}
	if _, err := b.Events(ctx, "q", &backend.EventsRequest{After: first - 2}); !errors.Is(err, backend.ErrEventsTrimmed) {
		t.Fatalf("before the first kept: %v", err)
	}
	// Age: an hour later, the next append drops everything older.
	clock.Advance(time.Hour)
	add(t, b, "q", backend.NewJob{Name: "late"})
	evs := events(t, b, "q", last)
	if len(evs) != 2 {
		t.Fatalf("after age trim: %d events", len(evs))
	}
	var te *backend.EventsTrimmedError
	if _, err := b.Events(ctx, "q", &backend.EventsRequest{After: last - 1}); !errors.As(err, &te) || te.FirstAvailable != last+1 {
		t.Fatalf("age-trimmed read: %v", err)
	}
}

func TestBlockedLeaseRearmsForDelayedJobAddedWhileWaiting(t *testing.T) {
	b, clock := setup(t)
	got := make(chan []*backend.Job, 1)
	go func() {
		res, err := b.Lease(ctx, "q", &backend.LeaseRequest{Max: 1, TTL: time.Minute, Wait: time.Hour})
		if err != nil {
			t.Error(err)
		}
		got <- res.Jobs
	}()
	waitFor(t, deadlineReal, func() bool { return clock.Timers() == 1 }) // armed for the whole hour
	add(t, b, "q", backend.NewJob{Name: "soon", Delay: 5 * time.Second})
	// The waiter re-arms for the due time: its timer is replaced.
	waitFor(t, deadlineReal, func() bool {
		b.wmu.Lock()
		defer b.wmu.Unlock()
		ws := b.waiters["q"]
		return clock.Timers() == 1 && len(ws) == 1 && ws[0].until.Equal(epoch.Add(5*time.Second))
	})
	clock.Advance(5 * time.Second)
	if jobs := <-got; len(jobs) != 1 || jobs[0].Name != "soon" {
		t.Fatalf("leased %v", jobs)
	}
}
