package conformance

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func testMeta(t *testing.T, f Factory, cfg Config) {
	trace := map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": ""}

	t.Run("metadata round-trips through adds, reads, leases and settles", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		want := map[string]map[string]string{} // by queue "/" ID; nil for none

		single := b.addOne(backend.NewJob{Name: "single", Attempts: 2, Meta: trace})
		want[b.q+"/"+single] = trace
		bulk := b.add(
			backend.NewJob{Name: "bulk-0", Meta: map[string]string{"tenant": "7", "request": "r-1\n\x00ü"}},
			backend.NewJob{Name: "bulk-1"},
			backend.NewJob{Name: "bulk-2", ID: "chosen", Meta: map[string]string{"k": strings.Repeat("v", 4096)}},
		)
		want[b.q+"/"+bulk[0].ID] = map[string]string{"tenant": "7", "request": "r-1\n\x00ü"}
		want[b.q+"/"+bulk[1].ID] = nil
		want[b.q+"/"+bulk[2].ID] = map[string]string{"k": strings.Repeat("v", 4096)}
		flow := b.add(backend.NewJob{Name: "parent", Meta: map[string]string{"role": "parent"}, Children: []backend.NewJob{
			{Name: "child", Meta: map[string]string{"role": "child"}},
			{Name: "elsewhere", Queue: "other", Meta: trace},
			{Name: "bare"},
		}})[0]
		want[b.q+"/"+flow.ID] = map[string]string{"role": "parent"}
		want[flow.Children[0].Queue+"/"+flow.Children[0].ID] = map[string]string{"role": "child"}
		want[flow.Children[1].Queue+"/"+flow.Children[1].ID] = trace
		want[flow.Children[2].Queue+"/"+flow.Children[2].ID] = nil
		b.use("other")

		check := func(how string, j *backend.Job) {
			t.Helper()
			key := j.Queue + "/" + j.ID
			w, ok := want[key]
			if !ok {
				t.Fatalf("%s: unexpected job %s", how, key)
			}
			if !maps.Equal(j.Meta, w) || (w == nil && j.Meta != nil) {
				t.Errorf("%s: job %s has Meta %q, want %q", how, key, j.Meta, w)
			}
		}
		for key := range want {
			q, id, _ := strings.Cut(key, "/")
			check("Job", b.jobIn(q, id))
		}
		seen := 0
		for _, q := range []string{b.q, "other"} {
			for _, s := range []backend.JobState{backend.StateWaiting, backend.StateWaitingChildren} {
				jobs, err := allJobs(b.ctx, b.store, q, s)
				if err != nil {
					t.Fatal(err)
				}
				for _, j := range jobs {
					check("Jobs", j)
					seen++
				}
			}
		}
		if seen != len(want) {
			t.Fatalf("Jobs listed %d jobs, want %d", seen, len(want))
		}

		leased := append(b.leaseAll(b.q), b.leaseAll("other")...)
		if len(leased) != len(want)-1 { // all but the parent
			t.Fatalf("leased %d jobs, want %d", len(leased), len(want)-1)
		}
		for _, j := range leased {
			check("Lease", j)
			if j.Queue == b.q && j.ID == single {
				b.mustSettle(b.q, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeRetry, Reason: "again"})
			} else {
				b.complete(j, "ok")
			}
		}
		check("Job after a retry", b.job(single))
		again := b.leaseAll(b.q)
		for _, j := range again {
			check("Lease after a retry", j)
			b.complete(j, "ok")
		}
		check("Job after completing", b.job(single))
		check("Job after completing", b.job(bulk[0].ID))
	})

	t.Run("a scheduler's template gives its metadata to every iteration", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		meta := map[string]string{"tenant": "7"}
		at := epoch.Add(time.Minute)
		b.upsert(backend.Scheduler{ID: "tick", Repeat: []byte("rule"), Template: backend.NewJob{Name: "tick", Meta: meta},
			Next: at, Upcoming: []time.Time{at.Add(time.Minute)}}, backend.AnyRevision)
		if s := b.scheduler("tick"); !maps.Equal(s.Template.Meta, meta) {
			t.Errorf("scheduler template Meta = %q, want %q", s.Template.Meta, meta)
		}
		if j := b.wantPending("tick", at, ""); !maps.Equal(j.Meta, meta) {
			t.Errorf("first iteration Meta = %q, want %q", j.Meta, meta)
		}
		b.clock.Set(at)
		j := b.leaseOne()
		if !maps.Equal(j.Meta, meta) {
			t.Errorf("leased iteration Meta = %q, want %q", j.Meta, meta)
		}
		if next := b.wantPending("tick", at.Add(time.Minute), ""); !maps.Equal(next.Meta, meta) {
			t.Errorf("next iteration Meta = %q, want %q", next.Meta, meta)
		}
		b.complete(j, "ok")
	})

	t.Run("metadata goes with its job: an ID used again carries only its new metadata", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		removed := map[string]string{"role": "removed"}
		// Each job leaves in another way: by RemoveJob, by its retention
		// when it completes, and by Clean.
		b.addOne(backend.NewJob{Name: "a", ID: "by-remove", Meta: removed})
		if err := b.store.RemoveJob(b.ctx, b.q, "by-remove"); err != nil {
			t.Fatalf("RemoveJob: %v", err)
		}
		b.addOne(backend.NewJob{Name: "a", ID: "by-retention", Meta: removed, KeepCompleted: backend.Retention{Remove: true}})
		b.addOne(backend.NewJob{Name: "a", ID: "by-clean", Meta: removed})
		for _, j := range b.leaseAll(b.q) {
			b.complete(j, "ok")
		}
		if _, err := b.store.Clean(b.ctx, b.q, &backend.CleanRequest{State: backend.StateCompleted}); err != nil {
			t.Fatalf("Clean: %v", err)
		}
		again := map[string]map[string]string{"by-remove": nil, "by-retention": {"role": "new"}, "by-clean": nil}
		for id, m := range again {
			b.addOne(backend.NewJob{Name: "b", ID: id, Meta: m})
		}
		for _, j := range b.leaseAll(b.q) {
			if want := again[j.ID]; !maps.Equal(j.Meta, want) || (want == nil && j.Meta != nil) {
				t.Errorf("leased %s has Meta %q, want %q", j.ID, j.Meta, want)
			}
			b.complete(j, "ok")
			if got, want := b.job(j.ID).Meta, again[j.ID]; !maps.Equal(got, want) || (want == nil && got != nil) {
				t.Errorf("completed %s has Meta %q, want %q", j.ID, got, want)
			}
		}
	})

	t.Run("bad metadata is refused and changes nothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.addOne(backend.NewJob{Name: "kept", Meta: trace})
		b.add(backend.NewJob{Name: "parent", Children: []backend.NewJob{{Name: "child", Meta: trace}}})
		b.upsert(backend.Scheduler{ID: "tick", Repeat: []byte("rule"), Template: backend.NewJob{Name: "tick", Meta: trace}, Next: epoch.Add(time.Hour)}, backend.AnyRevision)
		many := make(map[string]string)
		for i := range backend.MaxMetaEntries + 1 {
			many[strings.Repeat("k", i+1)] = "v"
		}
		big := map[string]string{"k": strings.Repeat("v", backend.MaxMetaSize)}
		bad := []struct {
			name     string
			meta     map[string]string
			tooLarge bool
		}{
			{"an empty key", map[string]string{"": "v"}, false},
			{"a key with a control character", map[string]string{"trace\nparent": "v"}, false},
			{"a key over the name limit", map[string]string{strings.Repeat("k", backend.MaxNameLen+1): "v"}, false},
			{"too many entries", many, true},
			{"too many bytes", big, true},
		}
		before := b.fingerprint(cfg)
		for _, c := range bad {
			calls := map[string]func() error{
				"Add": func() error {
					_, err := b.store.Add(b.ctx, b.q, &backend.AddRequest{Jobs: []backend.NewJob{{Name: "fine"}, {Name: "bad", Meta: c.meta}}})
					return err
				},
				"Add of a flow child": func() error {
					_, err := b.store.Add(b.ctx, b.q, &backend.AddRequest{Jobs: []backend.NewJob{{Name: "p", Children: []backend.NewJob{{Name: "fine"}, {Name: "bad", Meta: c.meta}}}}})
					return err
				},
				"CompareAndUpsert": func() error {
					_, err := b.store.CompareAndUpsert(b.ctx, b.q, &backend.CompareAndUpsertRequest{ExpectRevision: backend.AnyRevision,
						Scheduler: backend.Scheduler{ID: "tick", Repeat: []byte("rule"), Template: backend.NewJob{Name: "tick", Meta: c.meta}, Next: epoch.Add(time.Hour)}})
					return err
				},
			}
			for what, call := range calls {
				err := call()
				var ve *backend.ValidationError
				if !errors.As(err, &ve) || !errors.Is(err, backend.ErrInvalid) || !strings.HasSuffix(ve.Field, "Meta") {
					t.Errorf("%s with %s = %v, want a *ValidationError on Meta", what, c.name, err)
				}
				if errors.Is(err, backend.ErrTooLarge) != c.tooLarge {
					t.Errorf("%s with %s = %v; matches ErrTooLarge: %v, want %v", what, c.name, err, !c.tooLarge, c.tooLarge)
				}
				if after := b.fingerprint(cfg); after != before {
					t.Errorf("%s with %s changed the store", what, c.name)
					before = after
				}
			}
		}
	})
}
