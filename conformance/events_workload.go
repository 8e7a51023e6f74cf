package conformance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/fakeclock"
	"github.com/droverhq/drover/queue"
)

// bigRetention keeps every event of the heavy cases.
var bigRetention = backend.EventRetention{Count: 10_000_000}

func testEventsWorkload(t *testing.T, f Factory, cfg Config) {
	t.Run("a subscriber from the start sees every event of ten thousand jobs with retries, in order, once each", func(t *testing.T) {
		t.Parallel()
		heavy(t)
		b := setupWith(t, f, Options{EventRetention: bigRetention})
		jobs := cfg.size(10_000)
		const bulk, every = 500, 7 // every 7th job fails once
		q := b.queueHandle(b.q)
		sub, err := q.Subscribe(b.ctx, queue.FromStart(), &queue.SubscribeOptions{Batch: 1000})
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		defer sub.Close()
		h := func(ctx context.Context, j *queue.Job) ([]byte, error) {
			if string(j.Data) == "flaky" && j.AttemptsMade == 0 {
				return nil, errors.New("first attempt fails")
			}
			return []byte("ok"), nil
		}
		for range 2 {
			b.startWorker(b.store, h, queue.WorkerOptions{Concurrency: 64, LeaseTTL: time.Hour, LeaseWait: time.Hour})
		}
		// The jobs go in bulks as the workers make room, so that the
		// store's queues stay short while its logs grow to the whole
		// workload.
		added, retried := 0, 0
		addBulk := func() {
			bj := make([]queue.BulkJob, bulk)
			for k := range bj {
				n := added + k
				bj[k] = queue.BulkJob{Name: "job", Data: []byte(fmt.Sprint(n)), Options: &queue.AddOptions{Attempts: 2}}
				if n%every == 0 {
					bj[k].Data = []byte("flaky")
					retried++
				}
			}
			if _, err := q.AddBulk(b.ctx, bj); err != nil {
				t.Fatalf("AddBulk: %v", err)
			}
			added += bulk
		}
		start := time.Now()
		var c backend.Counts
		// The clock stands still: adds and retries without delay wake the
		// workers. A workload, not one thing that should happen at once,
		// is timed by its progress: it fails only if no job completes for
		// the usual deadline, however slow the machine.
		done := pollProgress(deadline, 20*time.Millisecond, func() (bool, int) {
			c = b.counts()
			if c.Completed == jobs {
				return true, c.Completed
			}
			if added < jobs && c.Waiting+c.Active < bulk {
				addBulk()
			}
			return false, c.Completed
		})
		if !done {
			t.Fatalf("after %v: no job completed for %v; %d jobs added, counts %+v", time.Since(start), deadline, added, c)
		}
		// The subscription pinned the start before the first add; it reads
		// the whole log now, in batches, each read with its own deadline.
		last := b.lastEventID(b.q)
		var evs []backend.Event
		for len(evs) == 0 || evs[len(evs)-1].ID < last {
			ctx, cancel := context.WithTimeout(b.ctx, deadline)
			e, err := sub.Next(ctx)
			cancel()
			if err != nil {
				t.Fatalf("after %d events: Next: %v", len(evs), err)
			}
			evs = append(evs, e)
		}
		wantGapFree(t, evs, 1)
		if evs[len(evs)-1].ID != last {
			t.Fatalf("the subscriber's last event is %d, the log's is %d", evs[len(evs)-1].ID, last)
		}
		got := make(map[backend.EventType]int)
		perJob := make(map[string][]backend.EventType)
		drained := 0
		for _, e := range evs {
			if e.Type == backend.EventDrained {
				// The queue ran out of waiting jobs, between bulks.
				if e.JobID != "" || e.Count != 0 {
					t.Fatalf("drained event %+v names a job or a count", e)
				}
				drained++
				continue
			}
			got[e.Type]++
			perJob[e.JobID] = append(perJob[e.JobID], e.Type)
		}
		if drained == 0 {
			t.Errorf("no drained event, though the workers took the last waiting job")
		}
		want := map[backend.EventType]int{
			backend.EventAdded:     jobs,
			backend.EventWaiting:   jobs + retried,
			backend.EventActive:    jobs + retried,
			backend.EventRetrying:  retried,
			backend.EventCompleted: jobs,
		}
		if !maps.Equal(got, want) {
			t.Errorf("events per type %v, want %v", got, want)
		}
		once := []backend.EventType{backend.EventAdded, backend.EventWaiting, backend.EventActive, backend.EventCompleted}
		twice := []backend.EventType{backend.EventAdded, backend.EventWaiting, backend.EventActive, backend.EventRetrying, backend.EventWaiting, backend.EventActive, backend.EventCompleted}
		flaky := 0
		for id, types := range perJob {
			switch {
			case slices.Equal(types, once):
			case slices.Equal(types, twice):
				flaky++
			default:
				t.Fatalf("events of job %s: %v", id, types)
			}
		}
		if len(perJob) != jobs || flaky != retried {
			t.Errorf("events name %d jobs, %d of them retried; want %d and %d", len(perJob), flaky, jobs, retried)
		}
	})

	t.Run("a thousand rounds of subscribing from now and adding a job at once each see the added event", func(t *testing.T) {
		t.Parallel()
		heavy(t)
		b := setupWith(t, f, Options{EventRetention: bigRetention})
		q := b.queueHandle(b.q)
		for round := range cfg.size(1000) {
			sub, err := q.Subscribe(b.ctx, queue.FromNow(), nil)
			if err != nil {
				t.Fatalf("round %d: Subscribe: %v", round, err)
			}
			j, err := q.Add(b.ctx, "round", nil, nil)
			if err != nil {
				t.Fatalf("round %d: Add: %v", round, err)
			}
			ctx, cancel := context.WithTimeout(b.ctx, deadline)
			e, err := sub.Next(ctx)
			cancel()
			sub.Close()
			if err != nil || e.Type != backend.EventAdded || e.JobID != j.ID {
				t.Fatalf("round %d: first event %+v, %v; want the added event of job %s", round, e, err, j.ID)
			}
		}
	})

	t.Run("random operations: replaying the event log gives the job states the store holds", func(t *testing.T) {
		t.Parallel()
		heavy(t)
		run := 0
		checkN(t, cfg.size(30), func(rt *rapid.T) {
			store, clock := propertyStore(t, rt, f, &run)
			m := &replayMachine{store: store, clock: clock, states: make(map[string]backend.JobState), seen: make(map[string]bool)}
			rt.Repeat(map[string]func(*rapid.T){
				"add":      m.add,
				"add flow": m.addFlow,
				"lease":    m.lease,
				"settle":   m.settle,
				"remove":   m.remove,
				"progress": m.progress,
				"advance": func(t *rapid.T) {
					m.clock.Advance(time.Duration(rapid.IntRange(1, 15).Draw(t, "seconds")) * time.Second)
				},
				"": m.check,
			})
		})
	})
}

// replayMachine drives random operations and keeps the job states that
// replaying the event log gives.
type replayMachine struct {
	store backend.Full
	clock *fakeclock.Clock
	// held are the leases handed out and not yet settled, with their
	// deadlines.
	held []heldLease
	// states is the replayed state of every job not removed; seen holds
	// every job ID ever added.
	states map[string]backend.JobState
	seen   map[string]bool
	cursor uint64
}

type heldLease struct {
	lease   backend.Lease
	expires time.Time
}

func (m *replayMachine) add(t *rapid.T) {
	n := rapid.IntRange(1, 3).Draw(t, "n")
	jobs := make([]backend.NewJob, n)
	for i := range jobs {
		jobs[i] = backend.NewJob{
			Name:     "r",
			Priority: rapid.IntRange(0, 1).Draw(t, "priority"),
			Delay:    time.Duration(rapid.SampledFrom([]int{0, 0, 5}).Draw(t, "delay")) * time.Second,
			Attempts: rapid.IntRange(1, 3).Draw(t, "attempts"),
		}
	}
	m.addJobs(t, jobs)
}

func (m *replayMachine) addFlow(t *rapid.T) {
	kids := make([]backend.NewJob, rapid.IntRange(1, 3).Draw(t, "children"))
	for i := range kids {
		kids[i] = backend.NewJob{
			Name:     "child",
			Attempts: rapid.IntRange(1, 2).Draw(t, "attempts"),
			FailurePolicy: rapid.SampledFrom([]backend.FailurePolicy{
				backend.PolicyFailParent, backend.PolicyIgnore, backend.PolicyRemove, backend.PolicyContinue,
			}).Draw(t, "policy"),
		}
	}
	m.addJobs(t, []backend.NewJob{{Name: "parent", Children: kids}})
}

func (m *replayMachine) addJobs(t *rapid.T, jobs []backend.NewJob) {
	res, err := m.store.Add(t.Context(), propQueue, &backend.AddRequest{Jobs: jobs})
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	var note func(a backend.Added)
	note = func(a backend.Added) {
		m.seen[a.ID] = true
		for _, c := range a.Children {
			note(c)
		}
	}
	for _, a := range res.Jobs {
		note(a)
	}
}

func (m *replayMachine) lease(t *rapid.T) {
	res, err := m.store.Lease(t.Context(), propQueue, &backend.LeaseRequest{Worker: "replay", Max: rapid.IntRange(1, 3).Draw(t, "max"), TTL: propTTL, MaxStalled: propMaxStalled})
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	for _, j := range res.Jobs {
		m.held = append(m.held, heldLease{j.Lease, m.clock.Now().Add(propTTL)})
	}
}

func (m *replayMachine) settle(t *rapid.T) {
	if len(m.held) == 0 {
		t.Skip("no lease to settle")
	}
	i := rapid.IntRange(0, len(m.held)-1).Draw(t, "lease")
	h := m.held[i]
	m.held = slices.Delete(m.held, i, i+1)
	s := backend.Settlement{Lease: h.lease, Reason: "r", Result: []byte("ok"), Outcome: rapid.SampledFrom([]backend.Outcome{
		backend.OutcomeComplete, backend.OutcomeFail, backend.OutcomeRetry, backend.OutcomeRelease,
	}).Draw(t, "outcome")}
	if s.Outcome == backend.OutcomeRetry {
		s.RetryDelay = time.Duration(rapid.SampledFrom([]int{0, 3}).Draw(t, "retry delay")) * time.Second
	}
	res, err := m.store.Settle(t.Context(), propQueue, &backend.SettleRequest{Settlements: []backend.Settlement{s}})
	if err != nil || len(res.Errs) != 1 {
		t.Fatalf("Settle: %v %v", err, res.Errs)
	}
	switch err := res.Errs[0]; {
	case err == nil:
	case errors.Is(err, backend.ErrLeaseLost) && !m.clock.Now().Before(h.expires):
		// Expired, and perhaps recovered by a lease since.
	default:
		t.Fatalf("Settle %s of %s: %v", s.Outcome, h.lease.JobID, err)
	}
}

func (m *replayMachine) remove(t *rapid.T) {
	var ids []string
	for id, s := range m.states {
		if s != backend.StateActive {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		t.Skip("no job to remove")
	}
	slices.Sort(ids)
	id := rapid.SampledFrom(ids).Draw(t, "job")
	if err := m.store.RemoveJob(t.Context(), propQueue, id); err != nil {
		t.Fatalf("RemoveJob(%s), replayed as %s: %v", id, m.states[id], err)
	}
}

func (m *replayMachine) progress(t *rapid.T) {
	ids := slices.Sorted(maps.Keys(m.states))
	if len(ids) == 0 {
		t.Skip("no job")
	}
	id := rapid.SampledFrom(ids).Draw(t, "job")
	if err := m.store.UpdateProgress(t.Context(), propQueue, id, []byte(`1`)); err != nil {
		t.Fatalf("UpdateProgress(%s): %v", id, err)
	}
}

// replay applies the events appended since the last check.
func (m *replayMachine) replay(t *rapid.T) {
	for {
		res, err := m.store.Events(t.Context(), propQueue, &backend.EventsRequest{After: m.cursor, Max: 1000})
		if err != nil {
			t.Fatalf("Events after %d: %v", m.cursor, err)
		}
		if len(res.Events) == 0 {
			return
		}
		for _, e := range res.Events {
			if e.ID != m.cursor+1 {
				t.Fatalf("event %d follows %d", e.ID, m.cursor)
			}
			m.cursor = e.ID
			if e.JobID != "" && !m.seen[e.JobID] {
				t.Fatalf("event %d (%s) names job %s, which was never added", e.ID, e.Type, e.JobID)
			}
			switch e.Type {
			case backend.EventWaiting, backend.EventPrioritized:
				m.states[e.JobID] = backend.StateWaiting
			case backend.EventDelayed:
				m.states[e.JobID] = backend.StateDelayed
			case backend.EventActive:
				m.states[e.JobID] = backend.StateActive
			case backend.EventWaitingChildren:
				m.states[e.JobID] = backend.StateWaitingChildren
			case backend.EventCompleted:
				m.states[e.JobID] = backend.StateCompleted
			case backend.EventFailed:
				m.states[e.JobID] = backend.StateFailed
			case backend.EventRemoved:
				delete(m.states, e.JobID)
			case backend.EventAdded, backend.EventRetrying, backend.EventStalled, backend.EventProgress, backend.EventDuplicated,
				backend.EventDrained:
				// The state event that follows, if any, tells the state; a
				// drained event is about the queue.
			default:
				t.Fatalf("event %d of unexpected type %s", e.ID, e.Type)
			}
		}
	}
}

func (m *replayMachine) check(t *rapid.T) {
	m.replay(t)
	ctx := t.Context()
	for id := range m.seen {
		j, err := m.store.Job(ctx, propQueue, id)
		want, exists := m.states[id]
		switch {
		case !exists && errors.Is(err, backend.ErrNotFound):
		case !exists:
			t.Fatalf("job %s: the log says removed, the store has %s (%v)", id, stateOf(j), err)
		case err != nil:
			t.Fatalf("job %s: the log says %s, the store: %v", id, want, err)
		case j.State != want:
			t.Fatalf("job %s: the log says %s, the store has %s", id, want, j.State)
		}
	}
	listed := 0
	for _, s := range backend.States {
		jobs, err := allJobs(ctx, m.store, propQueue, s)
		if err != nil {
			t.Fatalf("Jobs(%s): %v", s, err)
		}
		for _, j := range jobs {
			if m.states[j.ID] != s {
				t.Fatalf("job %s listed as %s, the log says %q", j.ID, s, m.states[j.ID])
			}
		}
		listed += len(jobs)
	}
	if listed != len(m.states) {
		t.Fatalf("the store lists %d jobs, the log has %d", listed, len(m.states))
	}
}
