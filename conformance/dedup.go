package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

// --- deduplication helpers ---

// capability returns the store as the optional interface T, and fails
// the case when it is not one.
func capability[T any](b *testBundle) T {
	b.t.Helper()
	c, ok := b.store.(T)
	if !ok {
		b.t.Fatalf("store %T lacks the capability %T", b.store, (*T)(nil))
	}
	return c
}

func (b *testBundle) deduper() backend.Deduplicator { return capability[backend.Deduplicator](b) }

// holder returns who holds key in the default queue, or "" when no job
// does.
func (b *testBundle) holder(key string) backend.DedupHolder {
	b.t.Helper()
	h, err := b.deduper().DedupHolder(b.ctx, b.q, key)
	if errors.Is(err, backend.ErrNotFound) {
		return backend.DedupHolder{}
	}
	if err != nil {
		b.t.Fatalf("DedupHolder(%s): %v", key, err)
	}
	if h.Key != key || h.JobID == "" {
		b.t.Fatalf("DedupHolder(%s) = %+v", key, h)
	}
	return h
}

// addKeyed adds one job with deduplication d and returns what Add reported.
func (b *testBundle) addKeyed(name, data string, delay time.Duration, d backend.Dedup) backend.Added {
	b.t.Helper()
	return b.add(backend.NewJob{Name: name, Data: []byte(data), Delay: delay, Dedup: d})[0]
}

// wantDeduped fails the case unless a is a deduplicated add of outcome o
// onto job id, announced by a deduplicated event among evs.
func (b *testBundle) wantDeduped(a backend.Added, id string, o backend.DedupOutcome, key string, evs []backend.Event) {
	b.t.Helper()
	if !a.Duplicate || a.ID != id || a.Dedup != o {
		b.t.Fatalf("Added = %+v, want Duplicate of %s with outcome %s", a, id, o)
	}
	for _, e := range evs {
		if e.Type == backend.EventDeduplicated {
			if e.JobID != id || e.Key != key || e.Reason != string(o) {
				b.t.Fatalf("deduplicated event = %+v, want job %s key %q reason %s", e, id, key, o)
			}
			return
		}
	}
	b.t.Fatalf("no deduplicated event among %v", typesOf(evs))
}

func typesOf(evs []backend.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = string(e.Type) + " " + e.JobID
	}
	return out
}

func testDedup(t *testing.T, f Factory) {
	t.Run("a key held until its job finishes returns the holder", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		d := backend.Dedup{Key: "user-7"}
		first := b.addKeyed("sync", "1", 0, d)
		if first.Duplicate || first.Dedup != "" {
			t.Fatalf("first add = %+v, want a new job", first)
		}
		if j := b.job(first.ID); j.DedupKey != "user-7" {
			t.Fatalf("job DedupKey = %q, want user-7", j.DedupKey)
		}
		if h := b.holder("user-7"); h.JobID != first.ID || h.Mode != backend.DedupUntilFinished || !h.ExpiresAt.IsZero() || h.Deferred {
			t.Fatalf("holder = %+v, want job %s for ever", h, first.ID)
		}
		mark := b.lastEventID(b.q)
		again := b.addKeyed("sync", "2", 0, d)
		evs := b.events(b.q, mark)
		b.wantDeduped(again, first.ID, backend.DedupIgnored, "user-7", evs)
		if len(evs) != 1 {
			t.Fatalf("events of an ignored add: %v, want deduplicated only", typesOf(evs))
		}
		if j := b.job(first.ID); string(j.Data) != "1" {
			t.Fatalf("holder's data = %q, want it unchanged", j.Data)
		}
		b.wantCounts(b.q, backend.Counts{Waiting: 1})

		// Still held while it runs.
		j := b.leaseOne()
		b.wantDeduped(b.addKeyed("sync", "3", 0, d), first.ID, backend.DedupIgnored, "user-7", b.events(b.q, b.lastEventID(b.q)-1))
		b.complete(j, "ok")
		if h := b.holder("user-7"); h.JobID != "" {
			t.Fatalf("holder after completion = %+v, want none", h)
		}
		next := b.addKeyed("sync", "4", 0, d)
		if next.Duplicate || next.ID == first.ID {
			t.Fatalf("add after the holder completed = %+v, want a new job", next)
		}
		b.wantCounts(b.q, backend.Counts{Waiting: 1, Completed: 1})
	})

	t.Run("a key lets go when its job fails, is cancelled or is removed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		d := backend.Dedup{Key: "k"}
		a := b.addKeyed("n", "", 0, d)
		b.fail(b.leaseOne(), "boom")
		c := b.addKeyed("n", "", 0, d)
		if c.Duplicate {
			t.Fatalf("add after the holder failed = %+v, want a new job", c)
		}
		b.cancel(b.q, c.ID, "no")
		e := b.addKeyed("n", "", 0, d)
		if e.Duplicate {
			t.Fatalf("add after the holder was cancelled = %+v, want a new job", e)
		}
		if err := b.store.RemoveJob(b.ctx, b.q, e.ID); err != nil {
			t.Fatal(err)
		}
		g := b.addKeyed("n", "", 0, d)
		if g.Duplicate || g.ID == a.ID || g.ID == c.ID || g.ID == e.ID {
			t.Fatalf("add after the holder was removed = %+v, want a new job", g)
		}
		if h := b.holder("k"); h.JobID != g.ID {
			t.Fatalf("holder = %+v, want %s", h, g.ID)
		}
	})

	t.Run("a key with a TTL lets go when it runs out", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		d := backend.Dedup{Key: "k", TTL: 10 * time.Second}
		a := b.addKeyed("n", "", 0, d)
		if h := b.holder("k"); !h.ExpiresAt.Equal(epoch.Add(10 * time.Second)) {
			t.Fatalf("holder = %+v, want it to expire at %v", h, epoch.Add(10*time.Second))
		}
		b.clock.Advance(10*time.Second - time.Millisecond)
		b.wantDeduped(b.addKeyed("n", "", 0, d), a.ID, backend.DedupIgnored, "k", b.events(b.q, b.lastEventID(b.q)-1))
		b.clock.Advance(time.Millisecond)
		if h := b.holder("k"); h.JobID != "" {
			t.Fatalf("holder after its TTL = %+v, want none", h)
		}
		c := b.addKeyed("n", "", 0, d)
		if c.Duplicate {
			t.Fatalf("add after the TTL = %+v, want a new job", c)
		}
	})

	t.Run("throttle holds a key for its TTL whatever becomes of the job", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		d := backend.Dedup{Key: "report", Mode: backend.DedupThrottle, TTL: time.Minute}
		a := b.addKeyed("report", "1", 0, d)
		b.complete(b.leaseOne(), "done")
		b.wantDeduped(b.addKeyed("report", "2", 0, d), a.ID, backend.DedupIgnored, "report", b.events(b.q, b.lastEventID(b.q)-1))
		if err := b.store.RemoveJob(b.ctx, b.q, a.ID); err != nil {
			t.Fatal(err)
		}
		b.clock.Advance(59 * time.Second)
		again := b.addKeyed("report", "3", 0, d)
		if !again.Duplicate || again.ID != a.ID || again.Dedup != backend.DedupIgnored {
			t.Fatalf("add within the TTL after removal = %+v, want ignored onto %s", again, a.ID)
		}
		b.wantCounts(b.q, backend.Counts{})
		b.clock.Advance(time.Second)
		c := b.addKeyed("report", "4", 0, d)
		if c.Duplicate {
			t.Fatalf("add after the TTL = %+v, want a new job", c)
		}
		if h := b.holder("report"); h.JobID != c.ID || h.Mode != backend.DedupThrottle || !h.ExpiresAt.Equal(b.clock.Now().Add(time.Minute)) {
			t.Fatalf("holder = %+v, want %s until a minute from now", h, c.ID)
		}
	})

	t.Run("debounce replaces a delayed job's data and restarts its delay", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		d := backend.Dedup{Key: "search-index", Mode: backend.DedupDebounce}
		a := b.addKeyed("reindex", "v1", 5*time.Second, d)
		b.clock.Advance(3 * time.Second)
		mark := b.lastEventID(b.q)
		r := b.addKeyed("reindex", "v2", 5*time.Second, d)
		evs := b.events(b.q, mark)
		b.wantDeduped(r, a.ID, backend.DedupReplaced, "search-index", evs)
		if len(evs) != 2 || evs[1].Type != backend.EventChanged || evs[1].JobID != a.ID || !evs[1].RunAt.Equal(epoch.Add(8*time.Second)) {
			t.Fatalf("events = %+v, want deduplicated then changed with RunAt %v", evs, epoch.Add(8*time.Second))
		}
		j := b.wantState(b.q, a.ID, backend.StateDelayed)
		if string(j.Data) != "v2" || !j.RunAt.Equal(epoch.Add(8*time.Second)) {
			t.Fatalf("job data %q run at %v, want v2 at %v", j.Data, j.RunAt, epoch.Add(8*time.Second))
		}
		// Not due at the first add's time any more.
		b.clock.Advance(2 * time.Second)
		if got := b.lease(1); len(got) != 0 {
			t.Fatalf("leased %s before its restarted delay ran out", got[0].ID)
		}
		b.clock.Advance(3 * time.Second)
		got := b.leaseOne()
		if got.ID != a.ID || string(got.Data) != "v2" {
			t.Fatalf("leased %s with %q, want %s with v2", got.ID, got.Data, a.ID)
		}
		b.wantCounts(b.q, backend.Counts{Active: 1})
	})

	t.Run("debounce of a waiting job replaces its data", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		d := backend.Dedup{Key: "k", Mode: backend.DedupDebounce}
		a := b.addKeyed("n", "v1", 0, d)
		r := b.addKeyed("n", "v2", 0, d)
		if r.ID != a.ID || r.Dedup != backend.DedupReplaced {
			t.Fatalf("Added = %+v, want replaced onto %s", r, a.ID)
		}
		j := b.wantState(b.q, a.ID, backend.StateWaiting)
		if string(j.Data) != "v2" {
			t.Fatalf("data = %q, want v2", j.Data)
		}
		// A later add with a delay makes it delayed again.
		b.addKeyed("n", "v3", time.Second, d)
		j = b.wantState(b.q, a.ID, backend.StateDelayed)
		if string(j.Data) != "v3" || !j.RunAt.Equal(epoch.Add(time.Second)) {
			t.Fatalf("job = %q at %v, want v3 delayed a second", j.Data, j.RunAt)
		}
		b.wantCounts(b.q, backend.Counts{Delayed: 1})
	})

	t.Run("debounce ignores an add while the job runs", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		d := backend.Dedup{Key: "k", Mode: backend.DedupDebounce}
		a := b.addKeyed("n", "v1", 0, d)
		j := b.leaseOne()
		b.wantDeduped(b.addKeyed("n", "v2", 0, d), a.ID, backend.DedupIgnored, "k", b.events(b.q, b.lastEventID(b.q)-1))
		b.complete(j, "")
		b.wantCounts(b.q, backend.Counts{Completed: 1})
	})

	t.Run("debounce keeps the last add while the job runs and adds it after", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		d := backend.Dedup{Key: "k", Mode: backend.DedupDebounce, KeepLastIfActive: true}
		a := b.addKeyed("n", "v1", 0, d)
		j := b.leaseOne()
		mark := b.lastEventID(b.q)
		b.wantDeduped(b.addKeyed("n", "v2", 0, d), a.ID, backend.DedupDeferred, "k", b.events(b.q, mark))
		b.wantDeduped(b.addKeyed("n", "v3", time.Second, d), a.ID, backend.DedupDeferred, "k", b.events(b.q, b.lastEventID(b.q)-1))
		if h := b.holder("k"); h.JobID != a.ID || !h.Deferred {
			t.Fatalf("holder = %+v, want %s with an add deferred", h, a.ID)
		}
		b.wantCounts(b.q, backend.Counts{Active: 1})
		mark = b.lastEventID(b.q)
		b.complete(j, "")
		h := b.holder("k")
		if h.JobID == "" || h.JobID == a.ID || h.Deferred {
			t.Fatalf("holder after the active job completed = %+v, want the deferred add's job", h)
		}
		next := b.wantState(b.q, h.JobID, backend.StateDelayed)
		if string(next.Data) != "v3" || next.Name != "n" || next.DedupKey != "k" || !next.RunAt.Equal(b.clock.Now().Add(time.Second)) {
			t.Fatalf("deferred job = %q %q key %q at %v, want the last add's v3 a second from now", next.Name, next.Data, next.DedupKey, next.RunAt)
		}
		types := typesFor(b.events(b.q, mark), next.ID)
		if len(types) < 2 || types[0] != backend.EventAdded || types[1] != backend.EventDelayed {
			t.Fatalf("events of the deferred job = %v, want added, delayed", types)
		}
		b.wantCounts(b.q, backend.Counts{Delayed: 1, Completed: 1})
	})

	t.Run("a deferred add runs after a failure too, not after a retry", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		d := backend.Dedup{Key: "k", Mode: backend.DedupDebounce, KeepLastIfActive: true}
		a := b.add(backend.NewJob{Name: "n", Attempts: 2, Dedup: d})[0]
		j := b.leaseOne()
		b.addKeyed("n", "later", 0, d)
		b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeRetry, Reason: "again"})
		if h := b.holder("k"); h.JobID != a.ID || !h.Deferred {
			t.Fatalf("holder after a retry = %+v, want %s still, with the add deferred", h, a.ID)
		}
		b.wantCounts(b.q, backend.Counts{Waiting: 1})
		j = b.leaseOne()
		b.fail(j, "for good")
		h := b.holder("k")
		if h.JobID == "" || h.JobID == a.ID {
			t.Fatalf("holder after the failure = %+v, want the deferred job", h)
		}
		if got := b.wantState(b.q, h.JobID, backend.StateWaiting); string(got.Data) != "later" {
			t.Fatalf("deferred job data = %q, want later", got.Data)
		}
	})

	t.Run("the add that took a key says what later adds do", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		a := b.addKeyed("n", "v1", 0, backend.Dedup{Key: "k"})
		r := b.addKeyed("n", "v2", 0, backend.Dedup{Key: "k", Mode: backend.DedupDebounce})
		if r.ID != a.ID || r.Dedup != backend.DedupIgnored {
			t.Fatalf("a debounce add onto an until-finished key = %+v, want ignored", r)
		}
		if j := b.job(a.ID); string(j.Data) != "v1" {
			t.Fatalf("data = %q, want v1 kept", j.Data)
		}
		if h := b.holder("k"); h.Mode != backend.DedupUntilFinished {
			t.Fatalf("holder mode = %q, want the first add's", h.Mode)
		}
	})

	t.Run("a deferred add is dropped when the key's TTL runs out first", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		d := backend.Dedup{Key: "k", Mode: backend.DedupDebounce, KeepLastIfActive: true, TTL: time.Minute}
		b.addKeyed("n", "v1", 0, d)
		j := b.leaseOne()
		b.wantDeduped(b.addKeyed("n", "v2", 0, d), j.ID, backend.DedupDeferred, "k", b.events(b.q, b.lastEventID(b.q)-1))
		b.clock.Advance(time.Minute)
		b.complete(j, "")
		b.wantCounts(b.q, backend.Counts{Completed: 1})
		if h := b.holder("k"); h.JobID != "" {
			t.Fatalf("holder = %+v, want none", h)
		}
	})

	t.Run("one request with a key twice makes one job", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		d := backend.Dedup{Key: "k"}
		res := b.add(
			backend.NewJob{Name: "a", Dedup: d},
			backend.NewJob{Name: "plain"},
			backend.NewJob{Name: "b", Dedup: d},
		)
		if res[0].Duplicate || res[1].Duplicate || !res[2].Duplicate || res[2].ID != res[0].ID || res[2].Dedup != backend.DedupIgnored {
			t.Fatalf("Added = %+v, want the third a duplicate of the first", res)
		}
		b.wantCounts(b.q, backend.Counts{Waiting: 2})
		if j := b.job(res[1].ID); j.Name != "plain" {
			t.Fatalf("job %s is %q", res[1].ID, j.Name)
		}
	})

	t.Run("keys are per queue and a chosen ID wins over a key", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		d := backend.Dedup{Key: "k"}
		a := b.add(backend.NewJob{Name: "n", ID: "chosen", Dedup: d})[0]
		other := b.addTo("other", backend.NewJob{Name: "n", Dedup: d})[0]
		if a.Duplicate || other.Duplicate {
			t.Fatalf("adds = %+v, %+v; want two new jobs in two queues", a, other)
		}
		byID := b.add(backend.NewJob{Name: "n", ID: "chosen", Dedup: backend.Dedup{Key: "k2"}})[0]
		if !byID.Duplicate || byID.Dedup != "" || byID.ID != "chosen" {
			t.Fatalf("add of an existing ID = %+v, want a duplicate by ID", byID)
		}
		if h := b.holder("k2"); h.JobID != "" {
			t.Fatalf("an add that was a duplicate by ID took key k2: %+v", h)
		}
	})

	t.Run("a key released by hand lets the next add make a job", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		dd := b.deduper()
		d := backend.Dedup{Key: "k", Mode: backend.DedupDebounce, KeepLastIfActive: true}
		a := b.addKeyed("n", "", 0, d)
		j := b.leaseOne()
		b.addKeyed("n", "deferred", 0, d)
		ok, err := dd.ReleaseDedup(b.ctx, b.q, "k")
		if err != nil || !ok {
			t.Fatalf("ReleaseDedup = %v, %v; want true", ok, err)
		}
		if ok, err := dd.ReleaseDedup(b.ctx, b.q, "k"); err != nil || ok {
			t.Fatalf("second ReleaseDedup = %v, %v; want false", ok, err)
		}
		if _, err := dd.DedupHolder(b.ctx, b.q, "k"); !errors.Is(err, backend.ErrNotFound) {
			t.Fatalf("DedupHolder after release: %v, want ErrNotFound", err)
		}
		c := b.addKeyed("n", "", 0, d)
		if c.Duplicate || c.ID == a.ID {
			t.Fatalf("add after release = %+v, want a new job", c)
		}
		// The deferred add was dropped with the key: completing the first
		// job adds nothing.
		b.complete(j, "")
		b.wantCounts(b.q, backend.Counts{Waiting: 1, Completed: 1})
		if h := b.holder("k"); h.JobID != c.ID {
			t.Fatalf("holder = %+v, want %s", h, c.ID)
		}
		if _, err := dd.ReleaseDedup(b.ctx, b.q, ""); !errors.Is(err, backend.ErrInvalid) {
			t.Fatalf("ReleaseDedup of an empty key: %v, want ErrInvalid", err)
		}
		if _, err := dd.DedupHolder(b.ctx, "a b", "k"); !errors.Is(err, backend.ErrInvalid) {
			t.Fatalf("DedupHolder in a bad queue name: %v, want ErrInvalid", err)
		}
	})

	t.Run("an unused key is held by no job", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		if _, err := b.deduper().DedupHolder(b.ctx, b.q, "never"); !errors.Is(err, backend.ErrNotFound) {
			t.Fatalf("DedupHolder of an unused key: %v, want ErrNotFound", err)
		}
	})
}
