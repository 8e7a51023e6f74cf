package conformance

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

// badCall is one call with bad input and the error class it must get.
type badCall struct {
	name string
	want error
	call func(b *testBundle, fx *badFixture) error
}

// badFixture is a queue with a job in every state, a flow, a scheduler,
// a log line and progress: what a bad call must leave as it was.
type badFixture struct {
	active    *backend.Job
	completed string
	waiting   string
	iteration string
}

func newBadFixture(b *testBundle) *badFixture {
	b.t.Helper()
	fx := &badFixture{}
	fx.completed = b.addOne(backend.NewJob{Name: "done"})
	b.complete(b.leaseOne(), "ok")
	failed := b.addOne(backend.NewJob{Name: "broken"})
	if j := b.leaseOne(); j.ID == failed {
		b.fail(j, "boom")
	}
	b.addOne(backend.NewJob{Name: "later", Delay: time.Hour})
	b.add(backend.NewJob{Name: "parent", Children: []backend.NewJob{{Name: "child", Delay: time.Hour}}})
	b.upsert(backend.Scheduler{ID: "nightly", Repeat: []byte("rule"), Template: backend.NewJob{Name: "n"}, Next: epoch.Add(time.Hour)}, 0)
	fx.iteration = backend.IterationID("nightly", epoch.Add(time.Hour))
	run := b.addOne(backend.NewJob{Name: "running"})
	fx.active = b.leaseOne()
	if fx.active.ID != run {
		b.t.Fatalf("leased %s, want %s", fx.active.ID, run)
	}
	fx.waiting = b.addOne(backend.NewJob{Name: "waiting"})
	if err := b.store.UpdateProgress(b.ctx, b.q, fx.waiting, []byte("10")); err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.store.AddLog(b.ctx, b.q, fx.waiting, "a line"); err != nil {
		b.t.Fatal(err)
	}
	return fx
}

func addCall(name string, want error, jobs ...backend.NewJob) badCall {
	return badCall{name: "Add with " + name, want: want, call: func(b *testBundle, fx *badFixture) error {
		_, err := b.store.Add(b.ctx, b.q, &backend.AddRequest{Jobs: append([]backend.NewJob{{Name: "fine"}}, jobs...)})
		return err
	}}
}

func badCalls() []badCall {
	long := strings.Repeat("x", backend.MaxNameLen+1)
	big := strings.Repeat("x", 1025)
	deep := backend.NewJob{Name: "leaf"}
	for range backend.MaxFlowDepth {
		deep = backend.NewJob{Name: "node", Children: []backend.NewJob{deep}}
	}
	inv, tooLarge := backend.ErrInvalid, backend.ErrTooLarge
	calls := []badCall{
		{"Add with a nil request", inv, func(b *testBundle, _ *badFixture) error {
			_, err := b.store.Add(b.ctx, b.q, nil)
			return err
		}},
		{"Add of no job", inv, func(b *testBundle, _ *badFixture) error {
			_, err := b.store.Add(b.ctx, b.q, &backend.AddRequest{})
			return err
		}},
		addCall("an empty name", inv, backend.NewJob{}),
		addCall("a name over the limit", inv, backend.NewJob{Name: long}),
		addCall("data over the limit", tooLarge, backend.NewJob{Name: "n", Data: []byte(big)}),
		addCall("a negative delay", inv, backend.NewJob{Name: "n", Delay: -time.Nanosecond}),
		addCall("an absurd delay", inv, backend.NewJob{Name: "n", Delay: math.MaxInt64}),
		addCall("a negative priority", inv, backend.NewJob{Name: "n", Priority: -1}),
		addCall("a priority over the maximum", inv, backend.NewJob{Name: "n", Priority: backend.MaxPriority + 1}),
		addCall("negative attempts", inv, backend.NewJob{Name: "n", Attempts: -1}),
		addCall("attempts over the maximum", inv, backend.NewJob{Name: "n", Attempts: backend.MaxAttempts + 1}),
		addCall("a negative timeout", inv, backend.NewJob{Name: "n", Timeout: -time.Second}),
		addCall("an unknown backoff", inv, backend.NewJob{Name: "n", Backoff: backend.Backoff{Type: "linear"}}),
		addCall("a negative backoff delay", inv, backend.NewJob{Name: "n", Backoff: backend.Backoff{Type: backend.BackoffFixed, Delay: -time.Second}}),
		addCall("a NaN jitter", inv, backend.NewJob{Name: "n", Backoff: backend.Backoff{Type: backend.BackoffFixed, Delay: time.Second, Jitter: math.NaN()}}),
		addCall("a jitter over 1", inv, backend.NewJob{Name: "n", Backoff: backend.Backoff{Type: backend.BackoffFixed, Delay: time.Second, Jitter: 1.5}}),
		addCall("an infinite jitter", inv, backend.NewJob{Name: "n", Backoff: backend.Backoff{Jitter: math.Inf(1)}}),
		addCall("a negative retention", inv, backend.NewJob{Name: "n", KeepFailed: backend.Retention{Age: -time.Second}}),
		addCall("an unknown failure policy", inv, backend.NewJob{Name: "n", FailurePolicy: "maybe"}),
		addCall("an all-digit ID", inv, backend.NewJob{Name: "n", ID: "007"}),
		addCall("an ID over the limit", inv, backend.NewJob{Name: "n", ID: long}),
		addCall("a control character in the ID", inv, backend.NewJob{Name: "n", ID: "a\x00b"}),
		addCall("one ID twice", backend.ErrConflict, backend.NewJob{Name: "n", ID: "twin"}, backend.NewJob{Name: "n", ID: "twin"}),
		addCall("a flow too deep", inv, deep),
		addCall("a bad child", inv, backend.NewJob{Name: "p", Children: []backend.NewJob{{Name: "c", Priority: -1}}}),
		addCall("a child in a badly named queue", inv, backend.NewJob{Name: "p", Children: []backend.NewJob{{Name: "c", Queue: "a b"}}}),
		addCall("a control character in the group", inv, backend.NewJob{Name: "n", Group: "a\tb"}),
		addCall("a group name over the limit", inv, backend.NewJob{Name: "n", Group: long}),
		addCall("a deduplication mode without a key", inv, backend.NewJob{Name: "n", Dedup: backend.Dedup{Mode: backend.DedupDebounce}}),
		addCall("a deduplication key over the limit", inv, backend.NewJob{Name: "n", Dedup: backend.Dedup{Key: strings.Repeat("k", backend.MaxDedupKeyLen+1)}}),
		addCall("a control character in the deduplication key", inv, backend.NewJob{Name: "n", Dedup: backend.Dedup{Key: "a\nb"}}),
		addCall("an unknown deduplication mode", inv, backend.NewJob{Name: "n", Dedup: backend.Dedup{Key: "k", Mode: "often"}}),
		addCall("a negative deduplication TTL", inv, backend.NewJob{Name: "n", Dedup: backend.Dedup{Key: "k", TTL: -time.Second}}),
		addCall("a throttle without a TTL", inv, backend.NewJob{Name: "n", Dedup: backend.Dedup{Key: "k", Mode: backend.DedupThrottle}}),
		addCall("KeepLastIfActive outside debounce", inv, backend.NewJob{Name: "n", Dedup: backend.Dedup{Key: "k", KeepLastIfActive: true}}),
		addCall("a deduplication key on a flow parent", backend.ErrUnsupported, backend.NewJob{Name: "p", Dedup: backend.Dedup{Key: "k"}, Children: []backend.NewJob{{Name: "c"}}}),
		addCall("a deduplication key on a flow child", backend.ErrUnsupported, backend.NewJob{Name: "p", Children: []backend.NewJob{{Name: "c", Dedup: backend.Dedup{Key: "k"}}}}),
		addCall("a child whose ID exists outside the flow", backend.ErrConflict, backend.NewJob{Name: "p", Children: []backend.NewJob{{Name: "c", Queue: "other", ID: "nightly-child"}}}),
		{"Add to a badly named queue", inv, func(b *testBundle, _ *badFixture) error {
			for _, q := range []string{"", "a{b}", "tab\tq", long, "nul\x00"} {
				if _, err := b.store.Add(b.ctx, q, &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n"}}}); !errors.Is(err, backend.ErrInvalid) {
					return fmt.Errorf("queue %q: %w", q, err)
				}
			}
			return backend.ErrInvalid
		}},
	}
	for _, r := range []*backend.LeaseRequest{nil, {Max: 0, TTL: time.Second}, {Max: -1, TTL: time.Second},
		{Max: backend.MaxLease + 1, TTL: time.Second}, {Max: 1}, {Max: 1, TTL: -time.Second}, {Max: 1, TTL: math.MaxInt64},
		{Max: 1, TTL: time.Second, Wait: -time.Second}, {Max: 1, TTL: time.Second, MaxStalled: -1}} {
		calls = append(calls, badCall{fmt.Sprintf("Lease of %+v", r), inv, func(b *testBundle, _ *badFixture) error {
			_, err := b.store.Lease(b.ctx, b.q, r)
			return err
		}})
	}
	calls = append(calls,
		badCall{"Renew with a nil request", inv, func(b *testBundle, _ *badFixture) error {
			_, err := b.store.Renew(b.ctx, b.q, nil)
			return err
		}},
		badCall{"Renew with no TTL", inv, func(b *testBundle, fx *badFixture) error {
			_, err := b.store.Renew(b.ctx, b.q, &backend.RenewRequest{Leases: []backend.Lease{fx.active.Lease}})
			return err
		}},
		badCall{"Settle with a nil request", inv, func(b *testBundle, _ *badFixture) error {
			_, err := b.store.Settle(b.ctx, b.q, nil)
			return err
		}},
	)
	for _, c := range []struct {
		name string
		want error
		s    backend.Settlement
	}{
		{"an unknown outcome", inv, backend.Settlement{Outcome: 9}},
		{"a result over the limit", tooLarge, backend.Settlement{Outcome: backend.OutcomeComplete, Result: []byte(big)}},
		{"a reason over the limit", tooLarge, backend.Settlement{Outcome: backend.OutcomeFail, Reason: big}},
		{"a stack trace over the limit", tooLarge, backend.Settlement{Outcome: backend.OutcomeFail, Stacktrace: []string{big[:600], big[:600]}}},
		{"a negative retry delay", inv, backend.Settlement{Outcome: backend.OutcomeRetry, RetryDelay: -time.Second}},
		{"an absurd retry delay", inv, backend.Settlement{Outcome: backend.OutcomeRetry, RetryDelay: math.MaxInt64}},
		{"a stale lease", backend.ErrLeaseLost, backend.Settlement{Outcome: backend.OutcomeComplete}},
	} {
		calls = append(calls, badCall{"Settle with " + c.name, c.want, func(b *testBundle, fx *badFixture) error {
			s := c.s
			s.Lease = fx.active.Lease
			if c.want == backend.ErrLeaseLost {
				s.Lease.Token = "stale"
			}
			res, err := b.store.Settle(b.ctx, b.q, &backend.SettleRequest{Settlements: []backend.Settlement{s}})
			if err != nil {
				return err
			}
			return res.Errs[0]
		}})
	}
	sched := func(mod func(s *backend.Scheduler)) func(b *testBundle, _ *badFixture) error {
		return func(b *testBundle, _ *badFixture) error {
			s := backend.Scheduler{ID: "fresh", Template: backend.NewJob{Name: "n"}, Next: epoch.Add(time.Minute), Upcoming: []time.Time{epoch.Add(2 * time.Minute)}}
			mod(&s)
			_, err := b.store.CompareAndUpsert(b.ctx, b.q, &backend.CompareAndUpsertRequest{Scheduler: s, ExpectRevision: backend.AnyRevision})
			return err
		}
	}
	calls = append(calls,
		badCall{"CompareAndUpsert with a nil request", inv, func(b *testBundle, _ *badFixture) error {
			_, err := b.store.CompareAndUpsert(b.ctx, b.q, nil)
			return err
		}},
		badCall{"CompareAndUpsert with an empty ID", inv, sched(func(s *backend.Scheduler) { s.ID = "" })},
		badCall{"CompareAndUpsert with an ID over the limit", inv, sched(func(s *backend.Scheduler) { s.ID = long })},
		badCall{"CompareAndUpsert with a control character in the ID", inv, sched(func(s *backend.Scheduler) { s.ID = "a\nb" })},
		badCall{"CompareAndUpsert with a repeat rule over the limit", tooLarge, sched(func(s *backend.Scheduler) { s.Repeat = []byte(big) })},
		badCall{"CompareAndUpsert with a template without a name", inv, sched(func(s *backend.Scheduler) { s.Template.Name = "" })},
		badCall{"CompareAndUpsert with a template with a group", backend.ErrUnsupported, sched(func(s *backend.Scheduler) { s.Template.Group = "g" })},
		badCall{"CompareAndUpsert with a template with a deduplication key", backend.ErrUnsupported, sched(func(s *backend.Scheduler) { s.Template.Dedup = backend.Dedup{Key: "k"} })},
		badCall{"CompareAndUpsert with run times not ascending", inv, sched(func(s *backend.Scheduler) { s.Upcoming = []time.Time{epoch} })},
		badCall{"CompareAndUpsert with a run time twice", inv, sched(func(s *backend.Scheduler) { s.Upcoming = []time.Time{s.Next} })},
		badCall{"CompareAndUpsert with a zero run time", inv, sched(func(s *backend.Scheduler) { s.Upcoming = []time.Time{{}} })},
		badCall{"CompareAndUpsert expecting another revision", backend.ErrRevisionMismatch, func(b *testBundle, _ *badFixture) error {
			_, err := b.store.CompareAndUpsert(b.ctx, b.q, &backend.CompareAndUpsertRequest{
				Scheduler: backend.Scheduler{ID: "nightly", Template: backend.NewJob{Name: "n"}, Next: epoch.Add(time.Minute)}, ExpectRevision: 7})
			return err
		}},
		badCall{"RemoveScheduler of an unknown scheduler", backend.ErrNotFound, func(b *testBundle, _ *badFixture) error {
			return b.store.RemoveScheduler(b.ctx, b.q, "ghost")
		}},
		badCall{"RemoveJob of an unknown job", backend.ErrNotFound, func(b *testBundle, _ *badFixture) error {
			return b.store.RemoveJob(b.ctx, b.q, "ghost")
		}},
		badCall{"RemoveJob of an active job", backend.ErrJobActive, func(b *testBundle, fx *badFixture) error {
			return b.store.RemoveJob(b.ctx, b.q, fx.active.ID)
		}},
		badCall{"RemoveJob of a pending iteration", backend.ErrSchedulerIteration, func(b *testBundle, fx *badFixture) error {
			return b.store.RemoveJob(b.ctx, b.q, fx.iteration)
		}},
		badCall{"Obliterate with an active job", backend.ErrJobActive, func(b *testBundle, _ *badFixture) error {
			return b.store.Obliterate(b.ctx, b.q, &backend.ObliterateRequest{})
		}},
		badCall{"Clean with a nil request", inv, func(b *testBundle, _ *badFixture) error {
			_, err := b.store.Clean(b.ctx, b.q, nil)
			return err
		}},
		badCall{"Clean of the active state", inv, func(b *testBundle, _ *badFixture) error {
			_, err := b.store.Clean(b.ctx, b.q, &backend.CleanRequest{State: backend.StateActive})
			return err
		}},
		badCall{"Clean with a negative grace", inv, func(b *testBundle, _ *badFixture) error {
			_, err := b.store.Clean(b.ctx, b.q, &backend.CleanRequest{State: backend.StateCompleted, Grace: -time.Second})
			return err
		}},
		badCall{"Clean with a negative limit", inv, func(b *testBundle, _ *badFixture) error {
			_, err := b.store.Clean(b.ctx, b.q, &backend.CleanRequest{State: backend.StateCompleted, Limit: -1})
			return err
		}},
		badCall{"UpdateProgress over the limit", tooLarge, func(b *testBundle, fx *badFixture) error {
			return b.store.UpdateProgress(b.ctx, b.q, fx.waiting, []byte(big))
		}},
		badCall{"UpdateProgress of an unknown job", backend.ErrNotFound, func(b *testBundle, _ *badFixture) error {
			return b.store.UpdateProgress(b.ctx, b.q, "ghost", []byte("1"))
		}},
		badCall{"AddLog over the limit", tooLarge, func(b *testBundle, fx *badFixture) error {
			_, err := b.store.AddLog(b.ctx, b.q, fx.waiting, big)
			return err
		}},
		badCall{"AddLog to an unknown job", backend.ErrNotFound, func(b *testBundle, _ *badFixture) error {
			_, err := b.store.AddLog(b.ctx, b.q, "ghost", "x")
			return err
		}},
		badCall{"Events after a cursor ahead of the log", backend.ErrEventsAhead, func(b *testBundle, _ *badFixture) error {
			_, err := b.store.Events(b.ctx, b.q, &backend.EventsRequest{After: math.MaxUint64})
			return err
		}},
		badCall{"Events with a negative Max", inv, func(b *testBundle, _ *badFixture) error {
			_, err := b.store.Events(b.ctx, b.q, &backend.EventsRequest{Max: -1})
			return err
		}},
		badCall{"Jobs of an unknown state", inv, func(b *testBundle, _ *badFixture) error {
			_, err := b.store.Jobs(b.ctx, b.q, &backend.JobsRequest{State: "lost"})
			return err
		}},
		badCall{"Jobs with a negative offset", inv, func(b *testBundle, _ *badFixture) error {
			_, err := b.store.Jobs(b.ctx, b.q, &backend.JobsRequest{State: backend.StateWaiting, Offset: -1})
			return err
		}},
		badCall{"Logs with a negative limit", inv, func(b *testBundle, fx *badFixture) error {
			_, err := b.store.Logs(b.ctx, b.q, fx.waiting, &backend.LogsRequest{Limit: -1})
			return err
		}},
		addCall("both a delay and a run time", inv, backend.NewJob{Name: "n", Delay: time.Second, RunAt: epoch.Add(time.Hour)}),
		addCall("an absurd run time", inv, backend.NewJob{Name: "n", RunAt: epoch.Add(backend.MaxDelay + time.Hour)}),
	)
	calls = append(calls, controlCalls(long, big)...)
	calls = append(calls,
		badCall{"Add with a cancelled context", context.Canceled, func(b *testBundle, _ *badFixture) error {
			ctx, cancel := context.WithCancel(b.ctx)
			cancel()
			_, err := b.store.Add(ctx, b.q, &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n"}}})
			return err
		}},
	)
	return calls
}

// controlCalls are the bad calls of a JobController: bad requests, and
// jobs that do not exist or are not in a state the call accepts.
func controlCalls(long, big string) []badCall {
	inv, tooLarge := backend.ErrInvalid, backend.ErrTooLarge
	retry := func(r *backend.RetryRequest) func(b *testBundle, _ *badFixture) error {
		return func(b *testBundle, _ *badFixture) error {
			_, err := b.store.Retry(b.ctx, b.q, r)
			return err
		}
	}
	promote := func(r *backend.PromoteRequest) func(b *testBundle, _ *badFixture) error {
		return func(b *testBundle, _ *badFixture) error {
			_, err := b.store.Promote(b.ctx, b.q, r)
			return err
		}
	}
	change := func(r *backend.ChangeRequest) func(b *testBundle, _ *badFixture) error {
		return func(b *testBundle, _ *badFixture) error { return b.store.Change(b.ctx, b.q, r) }
	}
	cancel := func(r *backend.CancelRequest) func(b *testBundle, _ *badFixture) error {
		return func(b *testBundle, _ *badFixture) error {
			_, err := b.store.Cancel(b.ctx, b.q, r)
			return err
		}
	}
	publish := func(q string, r *backend.PublishRequest) func(b *testBundle, _ *badFixture) error {
		return func(b *testBundle, _ *badFixture) error {
			_, err := b.store.Publish(b.ctx, q, r)
			return err
		}
	}
	prio, badPrio, absurd, bigData := 1, backend.MaxPriority+1, epoch.Add(backend.MaxDelay+time.Hour), []byte(big)
	neg := -1
	return []badCall{
		{"Retry with a nil request", inv, retry(nil)},
		{"Retry with both a job and a state", inv, retry(&backend.RetryRequest{ID: "x", State: backend.StateFailed})},
		{"Retry of waiting jobs", inv, retry(&backend.RetryRequest{State: backend.StateWaiting})},
		{"Retry with a negative limit", inv, retry(&backend.RetryRequest{State: backend.StateFailed, Limit: -1})},
		{"Retry with a limit over MaxBulk", inv, retry(&backend.RetryRequest{State: backend.StateFailed, Limit: backend.MaxBulk + 1})},
		{"Retry of an unknown job", backend.ErrNotFound, retry(&backend.RetryRequest{ID: "ghost"})},
		{"Retry of an active job", backend.ErrWrongState, func(b *testBundle, fx *badFixture) error {
			_, err := b.store.Retry(b.ctx, b.q, &backend.RetryRequest{ID: fx.active.ID})
			return err
		}},
		{"Promote with a nil request", inv, promote(nil)},
		{"Promote with a negative limit", inv, promote(&backend.PromoteRequest{Limit: -1})},
		{"Promote with a limit over MaxBulk", inv, promote(&backend.PromoteRequest{Limit: backend.MaxBulk + 1})},
		{"Promote of an unknown job", backend.ErrNotFound, promote(&backend.PromoteRequest{ID: "ghost"})},
		{"Promote of a waiting job", backend.ErrWrongState, func(b *testBundle, fx *badFixture) error {
			_, err := b.store.Promote(b.ctx, b.q, &backend.PromoteRequest{ID: fx.waiting})
			return err
		}},
		{"Change with a nil request", inv, change(nil)},
		{"Change without a job ID", inv, change(&backend.ChangeRequest{Priority: &prio})},
		{"Change of nothing", inv, change(&backend.ChangeRequest{ID: "x"})},
		{"Change to a negative priority", inv, change(&backend.ChangeRequest{ID: "x", Priority: &neg})},
		{"Change to a priority over the maximum", inv, change(&backend.ChangeRequest{ID: "x", Priority: &badPrio})},
		{"Change to an absurd run time", inv, change(&backend.ChangeRequest{ID: "x", RunAt: &absurd})},
		{"Change to data over the limit", tooLarge, change(&backend.ChangeRequest{ID: "x", Data: &bigData})},
		{"Change of an unknown job", backend.ErrNotFound, change(&backend.ChangeRequest{ID: "ghost", Priority: &prio})},
		{"Change of an active job", backend.ErrWrongState, func(b *testBundle, fx *badFixture) error {
			return b.store.Change(b.ctx, b.q, &backend.ChangeRequest{ID: fx.active.ID, Priority: &prio})
		}},
		{"Change of a completed job", backend.ErrWrongState, func(b *testBundle, fx *badFixture) error {
			return b.store.Change(b.ctx, b.q, &backend.ChangeRequest{ID: fx.completed, Priority: &prio})
		}},
		{"Cancel with a nil request", inv, cancel(nil)},
		{"Cancel without a job ID", inv, cancel(&backend.CancelRequest{Reason: "r"})},
		{"Cancel with a reason over the limit", tooLarge, cancel(&backend.CancelRequest{ID: "x", Reason: big})},
		{"Cancel of an unknown job", backend.ErrNotFound, cancel(&backend.CancelRequest{ID: "ghost"})},
		{"Cancel of a completed job", backend.ErrWrongState, func(b *testBundle, fx *badFixture) error {
			_, err := b.store.Cancel(b.ctx, b.q, &backend.CancelRequest{ID: fx.completed})
			return err
		}},
		{"Publish with a nil request", inv, publish(defaultQueue, nil)},
		{"Publish without a name", inv, publish(defaultQueue, &backend.PublishRequest{Data: []byte("d")})},
		{"Publish with a name over the limit", inv, publish(defaultQueue, &backend.PublishRequest{Name: long})},
		{"Publish with a control character in the name", inv, publish(defaultQueue, &backend.PublishRequest{Name: "a\nb"})},
		{"Publish with data over the limit", tooLarge, publish(defaultQueue, &backend.PublishRequest{Name: "n", Data: bigData})},
		{"Publish to a badly named queue", inv, publish("a b", &backend.PublishRequest{Name: "n"})},
	}
}

func testBadInput(t *testing.T, f Factory, cfg Config) {
	t.Run("every bad call gets its typed error and leaves the store byte for byte as it was", func(t *testing.T) {
		t.Parallel()
		b := setupWith(t, f, Options{MaxPayload: 1024})
		fx := newBadFixture(b)
		b.addTo("other", backend.NewJob{Name: "elsewhere", ID: "nightly-child"})
		before := b.fingerprint(cfg)
		for _, c := range badCalls() {
			err := c.call(b, fx)
			if !errors.Is(err, c.want) {
				t.Errorf("%s = %v, want %v", c.name, err, c.want)
			}
			if errors.Is(err, backend.ErrUnavailable) {
				t.Errorf("%s = %v, which also says to retry (ErrUnavailable)", c.name, err)
			}
			if after := b.fingerprint(cfg); after != before {
				t.Errorf("%s changed the store", c.name)
				before = after
			}
		}
	})
}

// fingerprint returns the digest of everything the store holds when cfg
// has one, else what the store reports of the case's queues (describe):
// a call that changed nothing leaves it as it was.
func (b *testBundle) fingerprint(cfg Config) string {
	b.t.Helper()
	if cfg.Digest == nil {
		return b.describe()
	}
	d, err := cfg.Digest(b.store)
	if err != nil {
		b.t.Fatalf("Digest: %v", err)
	}
	return d
}

// describe returns what the store reports of the case's queues: counts,
// every job, every scheduler and the last event ID.
func (b *testBundle) describe() string {
	b.t.Helper()
	var sb strings.Builder
	for _, q := range b.usedQueues() {
		fmt.Fprintf(&sb, "queue %s: %+v last event %d\n", q, b.countsOf(q), b.lastEventID(q))
		for _, s := range backend.States {
			jobs, err := allJobs(b.ctx, b.store, q, s)
			if err != nil {
				b.t.Fatalf("Jobs(%s): %v", s, err)
			}
			for _, j := range jobs {
				// The parent by value: its pointer differs on every read.
				jc := *j
				jc.Parent = nil
				fmt.Fprintf(&sb, "%+v parent %v\n", jc, j.Parent)
			}
		}
		scheds, err := allSchedulers(b.ctx, b.store, q)
		if err != nil {
			b.t.Fatalf("Schedulers: %v", err)
		}
		for _, s := range scheds {
			fmt.Fprintf(&sb, "%+v\n", *s)
		}
	}
	return sb.String()
}
