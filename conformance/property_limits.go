package conformance

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/fakeclock"
)

// flowControlMachine drives a queue with deduplication keys, a concurrency
// limit, a rate limit and (on a store that serves them) limited groups through random adds, leases from many goroutines
// at once, settlements, holds and clock moves, and checks what the limits
// promise from the store's own records: the event log's order of starts
// and ends, and the keys of the unfinished jobs.
type flowControlMachine struct {
	store  backend.Full
	clock  interface{ Advance(time.Duration) }
	limits backend.Limits
	// active are the jobs leased and not settled yet.
	active []*backend.Job
	keys   []string
	// released marks the keys released by hand: that is the one way to
	// make a second job while the first is unfinished, by design.
	released map[string]bool
	// groups are the groups jobs are added to, when the store serves
	// them, each limited to groupLimit active jobs.
	groups     []string
	groupLimit int
	groupOf    map[string]string
}

func (m *flowControlMachine) add(t *rapid.T) {
	n := rapid.IntRange(1, 4).Draw(t, "jobs")
	jobs := make([]backend.NewJob, n)
	for i := range jobs {
		jobs[i] = backend.NewJob{Name: "j", Data: []byte(fmt.Sprint(i)), Attempts: 2}
		if len(m.groups) > 0 {
			jobs[i].Group = rapid.SampledFrom(m.groups).Draw(t, "group")
		}
		if k := rapid.IntRange(-1, len(m.keys)-1).Draw(t, "key"); k >= 0 {
			mode := rapid.SampledFrom([]backend.DedupMode{backend.DedupUntilFinished, backend.DedupDebounce}).Draw(t, "mode")
			jobs[i].Dedup = backend.Dedup{Key: m.keys[k], Mode: mode, KeepLastIfActive: mode == backend.DedupDebounce && rapid.Bool().Draw(t, "keep last")}
			if rapid.Bool().Draw(t, "delayed") {
				jobs[i].Delay = time.Duration(rapid.IntRange(1, 3).Draw(t, "delay")) * 100 * time.Millisecond
			}
		}
	}
	res, err := m.store.Add(t.Context(), propQueue, &backend.AddRequest{Jobs: jobs})
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	for i, a := range res.Jobs {
		if a.Dedup != "" && (!a.Duplicate || jobs[i].Dedup.Key == "") {
			t.Fatalf("Added %+v for job %+v", a, jobs[i])
		}
	}
}

// lease leases from several goroutines at once, as workers of several
// processes would.
func (m *flowControlMachine) lease(t *rapid.T) {
	callers := rapid.IntRange(1, 4).Draw(t, "callers")
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		got []*backend.Job
	)
	errs := make([]error, callers)
	for c := range callers {
		maxJobs := rapid.IntRange(1, 3).Draw(t, fmt.Sprint("max ", c))
		wg.Go(func() {
			res, err := m.store.Lease(t.Context(), propQueue, &backend.LeaseRequest{Worker: fmt.Sprint("w", c), Max: maxJobs, TTL: time.Hour})
			errs[c] = err
			mu.Lock()
			got = append(got, res.Jobs...)
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("Lease: %v", err)
		}
	}
	m.active = append(m.active, got...)
}

func (m *flowControlMachine) settle(t *rapid.T) {
	if len(m.active) == 0 {
		t.Skip("nothing active")
	}
	j := drawJob(t, &m.active)
	s := backend.Settlement{Lease: j.Lease}
	switch rapid.IntRange(0, 3).Draw(t, "outcome") {
	case 0:
		s.Outcome = backend.OutcomeComplete
	case 1:
		s.Outcome = backend.OutcomeRetry
	case 2:
		s.Outcome = backend.OutcomeFail
	default:
		s.Outcome = backend.OutcomeRelease
		if rapid.Bool().Draw(t, "hold") {
			s.HoldQueue = time.Duration(rapid.IntRange(1, 5).Draw(t, "hold for")) * 100 * time.Millisecond
		}
	}
	res, err := m.store.Settle(t.Context(), propQueue, &backend.SettleRequest{Settlements: []backend.Settlement{s}})
	if err != nil || res.Errs[0] != nil {
		t.Fatalf("Settle %s of %s: %v %v", s.Outcome, j.ID, err, res.Errs)
	}
}

func (m *flowControlMachine) release(t *rapid.T) {
	key := rapid.SampledFrom(m.keys).Draw(t, "key")
	m.released[key] = true
	if _, err := m.store.ReleaseDedup(t.Context(), propQueue, key); err != nil {
		t.Fatalf("ReleaseDedup: %v", err)
	}
}

func (m *flowControlMachine) advance(t *rapid.T) {
	m.clock.Advance(time.Duration(rapid.IntRange(1, 8).Draw(t, "ticks")) * 50 * time.Millisecond)
}

// check replays the starts and ends of the event log against the limits,
// and counts the unfinished jobs of each key.
func (m *flowControlMachine) check(t *rapid.T) {
	ctx := t.Context()
	evs, err := allEvents(ctx, m.store, propQueue, 0)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	active := map[string]bool{}
	perGroup := map[string]int{}
	group := func(id string) string { return groupOf(t, m.store, m.groupOf, id) }
	var starts []time.Time
	for _, e := range evs {
		switch e.Type {
		case backend.EventActive:
			active[e.JobID] = true
			if len(active) > m.limits.Concurrency {
				t.Fatalf("event %d: %d jobs active at once, limit %d", e.ID, len(active), m.limits.Concurrency)
			}
			if g := group(e.JobID); g != "" {
				perGroup[g]++
				if perGroup[g] > m.groupLimit {
					t.Fatalf("event %d: %d jobs of group %s active at once, limit %d", e.ID, perGroup[g], g, m.groupLimit)
				}
			}
			starts = append(starts, e.Time)
		case backend.EventCompleted, backend.EventFailed, backend.EventRetrying, backend.EventWaiting, backend.EventRemoved:
			// A release or a retry leaves active with waiting or
			// retrying; a waiting event of a job not active is
			// harmless here.
			if active[e.JobID] {
				delete(active, e.JobID)
				if g := group(e.JobID); g != "" {
					perGroup[g]--
				}
			}
		}
	}
	for i := m.limits.Rate; i < len(starts); i++ {
		if d := starts[i].Sub(starts[i-m.limits.Rate]); d < m.limits.RatePer {
			t.Fatalf("%d starts within %v, limit %d per %v", m.limits.Rate+1, d, m.limits.Rate, m.limits.RatePer)
		}
	}
	holders := map[string][]string{}
	for _, s := range []backend.JobState{backend.StateWaiting, backend.StateDelayed, backend.StateActive} {
		jobs, err := allJobs(ctx, m.store, propQueue, s)
		if err != nil {
			t.Fatalf("Jobs(%s): %v", s, err)
		}
		for _, j := range jobs {
			if j.DedupKey != "" {
				holders[j.DedupKey] = append(holders[j.DedupKey], j.ID)
			}
		}
	}
	for key, ids := range holders {
		if len(ids) > 1 && !m.released[key] {
			t.Fatalf("key %s has %d unfinished jobs: %v", key, len(ids), ids)
		}
	}
	for _, e := range invariantErrors(ctx, m.store, propQueue) {
		t.Fatalf("invariant: %v", e)
	}
}

// groupOf returns the group of job id of the property queue, looked up
// once and kept in known.
func groupOf(t *rapid.T, store backend.Full, known map[string]string, id string) string {
	g, ok := known[id]
	if !ok {
		j, err := store.Job(t.Context(), propQueue, id)
		if err != nil {
			t.Fatalf("Job(%s): %v", id, err)
		}
		g = j.Group
		known[id] = g
	}
	return g
}

// fairnessMachine drives a store that serves groups through random adds
// to a few groups (and to no group), leases, settlements, delays and
// clock moves, under a random concurrency limit of each group, and checks
// round robin from the event log's order alone: while a group may start
// a job (it has one waiting and is below its limit), no other group
// starts two jobs before it starts one. That bounds how long a group with
// few jobs waits behind one with many: one job of every other group.
type fairnessMachine struct {
	store backend.Full
	clock interface{ Advance(time.Duration) }
	// limit is the concurrency limit of each group; 0 means none.
	limit   int
	groups  []string
	active  []*backend.Job
	groupOf map[string]string

	// The replay of the event log so far (see check): the last event
	// read, each group's waiting and active jobs, the jobs active, and
	// for each group that may start a job, how many jobs each other group
	// started since it last started one or became able to.
	after        uint64
	ready, count map[string]int
	isActive     map[string]bool
	since        map[string]map[string]int
}

func (m *fairnessMachine) add(t *rapid.T) {
	jobs := make([]backend.NewJob, rapid.IntRange(1, 5).Draw(t, "jobs"))
	for i := range jobs {
		jobs[i] = backend.NewJob{Name: "j", Group: rapid.SampledFrom(m.groups).Draw(t, "group"), Priority: rapid.IntRange(0, 1).Draw(t, "priority")}
		if rapid.IntRange(0, 3).Draw(t, "delayed") == 0 {
			jobs[i].Delay = time.Duration(rapid.IntRange(1, 3).Draw(t, "delay")) * 100 * time.Millisecond
		}
	}
	if _, err := m.store.Add(t.Context(), propQueue, &backend.AddRequest{Jobs: jobs}); err != nil {
		t.Fatalf("Add: %v", err)
	}
}

func (m *fairnessMachine) lease(t *rapid.T) {
	res, err := m.store.Lease(t.Context(), propQueue, &backend.LeaseRequest{Worker: "w", Max: rapid.IntRange(1, 4).Draw(t, "max"), TTL: time.Hour})
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	m.active = append(m.active, res.Jobs...)
}

func (m *fairnessMachine) settle(t *rapid.T) {
	if len(m.active) == 0 {
		t.Skip("nothing active")
	}
	j := drawJob(t, &m.active)
	s := backend.Settlement{Lease: j.Lease, Outcome: rapid.SampledFrom([]backend.Outcome{backend.OutcomeComplete, backend.OutcomeRetry, backend.OutcomeFail, backend.OutcomeRelease}).Draw(t, "outcome")}
	res, err := m.store.Settle(t.Context(), propQueue, &backend.SettleRequest{Settlements: []backend.Settlement{s}})
	if err != nil || res.Errs[0] != nil {
		t.Fatalf("Settle %s of %s: %v %v", s.Outcome, j.ID, err, res.Errs)
	}
}

func (m *fairnessMachine) advance(t *rapid.T) {
	m.clock.Advance(time.Duration(rapid.IntRange(1, 4).Draw(t, "ticks")) * 100 * time.Millisecond)
}

// may reports whether group g may start a job, as the replay has it.
func (m *fairnessMachine) may(g string) bool {
	return m.ready[g] > 0 && (m.limit == 0 || g == "" || m.count[g] < m.limit)
}

// change applies f to the replay of group g, and starts or stops
// counting the starts of the others for g as it becomes able to start a
// job or not.
func (m *fairnessMachine) change(g string, f func()) {
	before := m.may(g)
	f()
	switch after := m.may(g); {
	case !after:
		delete(m.since, g)
	case !before:
		m.since[g] = map[string]int{}
	}
}

// check replays the events appended since the last check.
func (m *fairnessMachine) check(t *rapid.T) {
	evs, err := allEvents(t.Context(), m.store, propQueue, m.after)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	for _, e := range evs {
		m.after = e.ID
		switch e.Type {
		case backend.EventWaiting, backend.EventPrioritized:
			g := groupOf(t, m.store, m.groupOf, e.JobID)
			m.change(g, func() {
				if m.isActive[e.JobID] {
					m.isActive[e.JobID] = false
					m.count[g]--
				}
				m.ready[g]++
			})
		case backend.EventActive:
			g := groupOf(t, m.store, m.groupOf, e.JobID)
			for y, n := range m.since {
				if y == g {
					continue
				}
				if n[g]++; n[g] > 1 {
					t.Fatalf("event %d: group %q started a second job while group %q, able to start one, started none", e.ID, g, y)
				}
			}
			m.change(g, func() {
				m.ready[g]--
				m.count[g]++
				m.isActive[e.JobID] = true
			})
			if m.since[g] != nil {
				m.since[g] = map[string]int{}
			}
		case backend.EventCompleted, backend.EventFailed, backend.EventRetrying:
			if m.isActive[e.JobID] {
				g := groupOf(t, m.store, m.groupOf, e.JobID)
				m.change(g, func() {
					m.isActive[e.JobID] = false
					m.count[g]--
				})
			}
		}
	}
}

func testPropertyLimits(t *testing.T, f Factory) {
	checkProperty(t, f, "groups are served round robin: no group starts two jobs while another that may start one starts none", func(rt *rapid.T, store backend.Full, clock *fakeclock.Clock) {
		gs, ok := store.(backend.GroupStore)
		if !ok {
			rt.Skipf("store %T does not serve groups", store)
		}
		m := &fairnessMachine{store: store, clock: clock, groups: []string{"", "x", "y", "z"}, groupOf: map[string]string{},
			ready: map[string]int{}, count: map[string]int{}, isActive: map[string]bool{}, since: map[string]map[string]int{}}
		m.limit = rapid.IntRange(0, 2).Draw(rt, "group concurrency")
		if err := gs.SetGroupLimits(rt.Context(), propQueue, backend.Limits{Concurrency: m.limit}); err != nil {
			rt.Fatalf("SetGroupLimits: %v", err)
		}
		rt.Repeat(map[string]func(*rapid.T){
			"add":     m.add,
			"lease":   m.lease,
			"settle":  m.settle,
			"advance": m.advance,
			"":        m.check,
		})
	})

	checkProperty(t, f, "random adds, leases and settlements under limits and keys keep every limit", func(rt *rapid.T, store backend.Full, clock *fakeclock.Clock) {
		m := &flowControlMachine{store: store, clock: clock, keys: []string{"a", "b", "c"}, released: map[string]bool{}}
		m.limits = backend.Limits{
			Concurrency: rapid.IntRange(1, 4).Draw(rt, "concurrency"),
			Rate:        rapid.IntRange(1, 5).Draw(rt, "rate"),
			RatePer:     time.Duration(rapid.IntRange(1, 6).Draw(rt, "per")) * 100 * time.Millisecond,
		}
		if err := store.SetLimits(rt.Context(), propQueue, m.limits); err != nil {
			rt.Fatalf("SetLimits: %v", err)
		}
		m.groupOf = map[string]string{}
		if gs, ok := store.(backend.GroupStore); ok {
			m.groups = []string{"", "x", "y"}
			m.groupLimit = rapid.IntRange(1, 2).Draw(rt, "group concurrency")
			if err := gs.SetGroupLimits(rt.Context(), propQueue, backend.Limits{Concurrency: m.groupLimit}); err != nil {
				rt.Fatalf("SetGroupLimits: %v", err)
			}
		}
		rt.Repeat(map[string]func(*rapid.T){
			"add":     m.add,
			"lease":   m.lease,
			"settle":  m.settle,
			"advance": m.advance,
			"release": m.release,
			"":        m.check,
		})
	})
}
