package queue

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/internal/fakeclock"
)

// schedOp is one operation of the property test, run concurrently with the
// others of its step.
type schedOp struct {
	kind   string // "upsert", "remove", "iterate"
	id     string
	repeat Repeat
	data   string
}

type upsertDone struct {
	id       string
	data     string
	revision uint64
}

// TestSchedulerProperties: random upserts, removes and iteration runs,
// several at a time, with a moving clock. After each step each scheduler has
// at most one record and at most one pending iteration, which matches the
// record and carries the data of the last upsert.
func TestSchedulerProperties(t *testing.T) {
	dir := t.TempDir()
	n := 0
	repeats := []Repeat{
		{Every: 30 * time.Second},
		{Every: 45 * time.Second, Immediately: true},
		{Pattern: "*/20 * * * * *"},
		{Pattern: "0 * * * *", TZ: "Europe/Paris"},
	}
	ids := []string{"a", "b"}
	rapid.Check(t, func(rt *rapid.T) {
		n++
		clock := fakeclock.New(envStart)
		store, err := bolt.Open(filepath.Join(dir, fmt.Sprintf("p%d.db", n)), &bolt.Options{Clock: clock, NoSync: true})
		if err != nil {
			rt.Fatal(err)
		}
		defer store.Close()
		q, err := New(store, "prop", &Options{Clock: clock})
		if err != nil {
			rt.Fatal(err)
		}
		ctx := context.Background()
		model := map[string]string{} // scheduler ID → data of its last upsert
		seq := 0

		steps := rapid.IntRange(1, 25).Draw(rt, "steps")
		for step := range steps {
			clock.Advance(time.Duration(rapid.IntRange(0, 90).Draw(rt, "advance")) * time.Second)
			nops := rapid.IntRange(1, 4).Draw(rt, "ops")
			ops := make([]schedOp, nops)
			for i := range ops {
				seq++
				ops[i] = schedOp{
					kind:   rapid.SampledFrom([]string{"upsert", "upsert", "remove", "iterate"}).Draw(rt, "kind"),
					id:     rapid.SampledFrom(ids).Draw(rt, "id"),
					repeat: rapid.SampledFrom(repeats).Draw(rt, "repeat"),
					data:   fmt.Sprintf(`"d%d"`, seq),
				}
			}
			var (
				mu      sync.Mutex
				upserts []upsertDone
				removed = map[string]bool{}
				errs    []error
				wg      sync.WaitGroup
			)
			for _, op := range ops {
				wg.Go(func() {
					var err error
					switch op.kind {
					case "upsert":
						var js *JobScheduler
						js, err = q.UpsertJobScheduler(ctx, op.id, op.repeat, JobTemplate{Name: "it", Data: []byte(op.data)})
						if err == nil {
							mu.Lock()
							upserts = append(upserts, upsertDone{op.id, op.data, js.Revision})
							mu.Unlock()
						}
					case "remove":
						err = q.RemoveJobScheduler(ctx, op.id)
						if errors.Is(err, ErrNotFound) {
							err = nil
						}
						mu.Lock()
						removed[op.id] = true
						mu.Unlock()
					case "iterate":
						err = iterateOnce(ctx, q, store)
					}
					if err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("%s %s: %w", op.kind, op.id, err))
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if len(errs) > 0 {
				rt.Fatalf("step %d: %v", step, errors.Join(errs...))
			}

			// The model: the last upsert in linearisation order is the one
			// that got the highest revision, when no remove intervened.
			for _, id := range ids {
				var mine []upsertDone
				for _, u := range upserts {
					if u.id == id {
						mine = append(mine, u)
					}
				}
				switch {
				case removed[id]:
					delete(model, id)
					if rec, err := store.Scheduler(ctx, q.name, id); err == nil {
						if !slices.ContainsFunc(mine, func(u upsertDone) bool { return u.data == string(rec.Template.Data) }) {
							rt.Fatalf("step %d: %s survived a remove with data %s of no concurrent upsert", step, id, rec.Template.Data)
						}
						model[id] = string(rec.Template.Data)
					}
				case len(mine) > 0:
					last := slices.MaxFunc(mine, func(a, b upsertDone) int { return int(a.revision) - int(b.revision) })
					model[id] = last.data
				}
			}
			checkSchedulerInvariants(rt, ctx, store, q.name, ids, model)
		}
	})
}

// iterateOnce leases one ready job, tops up its scheduler's plan and
// completes it: what a worker does.
func iterateOnce(ctx context.Context, q *Queue, store *bolt.Backend) error {
	res, err := store.Lease(ctx, q.name, &backend.LeaseRequest{Worker: "prop", Max: 1, TTL: time.Hour, MaxStalled: 1})
	if err != nil || len(res.Jobs) == 0 {
		return err
	}
	j := res.Jobs[0]
	if j.SchedulerID != "" {
		if err := q.replanScheduler(ctx, j.SchedulerID); err != nil {
			return err
		}
	}
	sr, err := store.Settle(ctx, q.name, &backend.SettleRequest{Settlements: []backend.Settlement{{Lease: j.Lease, Outcome: backend.OutcomeComplete}}})
	if err != nil {
		return err
	}
	return sr.Errs[0]
}

func checkSchedulerInvariants(rt *rapid.T, ctx context.Context, store *bolt.Backend, queue string, ids []string, model map[string]string) {
	rt.Helper()
	res, err := store.Schedulers(ctx, queue, &backend.SchedulersRequest{Limit: 1000})
	if err != nil {
		rt.Fatal(err)
	}
	records := map[string]*backend.Scheduler{}
	for _, s := range res.Schedulers {
		if records[s.ID] != nil {
			rt.Fatalf("two records for scheduler %s", s.ID)
		}
		records[s.ID] = s
	}
	pending := map[string][]*backend.Job{}
	for _, st := range []JobState{StateDelayed, StateWaiting} {
		jr, err := store.Jobs(ctx, queue, &backend.JobsRequest{State: st, Limit: 10000})
		if err != nil {
			rt.Fatal(err)
		}
		for _, j := range jr.Jobs {
			pending[j.SchedulerID] = append(pending[j.SchedulerID], j)
		}
	}
	for _, id := range ids {
		rec, p := records[id], pending[id]
		want, exists := model[id]
		if len(p) > 1 {
			rt.Fatalf("scheduler %s has %d pending iterations", id, len(p))
		}
		if (rec != nil) != exists {
			rt.Fatalf("scheduler %s: record %v, model says exists=%v", id, rec != nil, exists)
		}
		if rec == nil {
			if len(p) != 0 {
				rt.Fatalf("scheduler %s removed but iteration %s pending", id, p[0].ID)
			}
			continue
		}
		if string(rec.Template.Data) != want {
			rt.Fatalf("scheduler %s has data %s, last upsert had %s", id, rec.Template.Data, want)
		}
		if len(p) != 1 {
			rt.Fatalf("scheduler %s has %d pending iterations, want 1 (Next %v)", id, len(p), rec.Next)
		}
		if string(p[0].Data) != want || p[0].ID != backend.IterationID(id, rec.Next) {
			rt.Fatalf("scheduler %s: pending %s with %s, want %s with %s", id, p[0].ID, p[0].Data, backend.IterationID(id, rec.Next), want)
		}
	}
}
