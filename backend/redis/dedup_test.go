package redis

import (
	"errors"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/redis/internal/layout"
)

// testDedup: what the store keeps of deduplication keys. A job that fails
// by stalling too often lets go of its key and runs the add kept with it;
// keys whose TTL ran out are swept by later adds; Obliterate deletes the
// keys' entries, a throttle's included, which would hold otherwise.
func testDedup(t *testing.T, f storeFactory) {
	x := setup(t, f, storeOptions{})
	rb := x.b.(*Backend)
	dd := layout.KeySuffixes[layout.KeyDedup]
	hlen := func() int64 {
		t.Helper()
		n, err := rb.client.HLen(x.ctx, rb.key("q", layout.KeyDedup)).Result()
		if err != nil {
			t.Fatalf("HLEN %s: %v", dd, err)
		}
		return n
	}
	holder := func(key string) backend.DedupHolder {
		t.Helper()
		h, err := rb.DedupHolder(x.ctx, "q", key)
		if errors.Is(err, backend.ErrNotFound) {
			return backend.DedupHolder{}
		}
		if err != nil {
			t.Fatalf("DedupHolder(%s): %v", key, err)
		}
		return h
	}

	// Stalled more than MaxStalled (1) times: failed, and the kept add
	// runs.
	deb := backend.Dedup{Key: "deb", Mode: backend.DedupDebounce, KeepLastIfActive: true}
	a := x.add(t, "q", backend.NewJob{Name: "n", Dedup: deb}).Jobs[0]
	x.lease(t, "q", 1)
	if r := x.add(t, "q", backend.NewJob{Name: "n", Data: []byte("later"), Dedup: deb}).Jobs[0]; r.Dedup != backend.DedupDeferred {
		t.Fatalf("add while active = %+v, want deferred", r)
	}
	x.clock.Advance(time.Minute)
	x.lease(t, "q", 1) // recovered once, and leased again
	x.clock.Advance(time.Minute)
	got := x.lease(t, "q", 1) // recovered twice: failed
	if j := x.job(t, "q", a.ID); j.State != backend.StateFailed {
		t.Fatalf("job %s is %s, want failed", a.ID, j.State)
	}
	if len(got) != 1 || got[0].ID == a.ID || string(got[0].Data) != "later" || got[0].DedupKey != "deb" {
		t.Fatalf("leased %+v, want the kept add's job", got)
	}
	if h := holder("deb"); h.JobID != got[0].ID || h.Deferred {
		t.Fatalf("holder = %+v, want %s", h, got[0].ID)
	}

	// Entries whose TTL ran out are swept by the next add with a key.
	for _, k := range []string{"t1", "t2", "t3"} {
		x.add(t, "q", backend.NewJob{Name: "n", Dedup: backend.Dedup{Key: k, Mode: backend.DedupThrottle, TTL: time.Second}})
	}
	if n := hlen(); n != 4 {
		t.Fatalf("%s has %d entries, want 4", dd, n)
	}
	x.clock.Advance(time.Second)
	thr := backend.Dedup{Key: "thr", Mode: backend.DedupThrottle, TTL: time.Hour}
	x.add(t, "q", backend.NewJob{Name: "n", Dedup: thr})
	if n := hlen(); n != 2 {
		t.Fatalf("%s has %d entries after the TTLs ran out, want deb's and thr's", dd, n)
	}

	// Obliterate deletes every entry.
	if err := x.b.Obliterate(x.ctx, "q", &backend.ObliterateRequest{Force: true}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{layout.KeyDedup, layout.KeyDedupExpiry} {
		if n, err := rb.client.Exists(x.ctx, rb.key("q", k)).Result(); err != nil || n != 0 {
			t.Fatalf("key %s after Obliterate: %d, %v", layout.KeySuffixes[k], n, err)
		}
	}
	if h := holder("thr"); h.JobID != "" {
		t.Fatalf("holder of a throttle's key after Obliterate = %+v, want none", h)
	}
	if r := x.add(t, "q", backend.NewJob{Name: "n", Dedup: thr}).Jobs[0]; r.Duplicate {
		t.Fatalf("add after Obliterate = %+v, want a new job", r)
	}
	if held, err := rb.ReleaseDedup(x.ctx, "q", "thr"); err != nil || !held {
		t.Fatalf("ReleaseDedup = %v, %v; want true", held, err)
	}
}
